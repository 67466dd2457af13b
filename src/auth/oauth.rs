//! The token endpoint's request and answers (RFC 6749 §2.3.1, §4.4, §5): pure. The identity
//! server posts `grant_type=client_credentials[&scope=…]` as a form with the client in HTTP
//! Basic; the older JSON body and the client in the body are read too.

use base64::Engine;
use serde_json::json;

/// Largest token request read: a form of a few short fields.
pub const MAX_TOKEN_BODY: usize = 8 * 1024;

/// A token request's parameters (unknown ones are ignored, as RFC 6749 §3.2 says).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// An error answer (RFC 6749 §5.2), with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// Too many failed attempts from the address: argon2 did not run.
    #[error("too many failed attempts")]
    Throttled,
    #[error("server_error")]
    Server,
}

impl OAuthError {
    pub fn status(&self) -> u16 {
        match self {
            OAuthError::InvalidRequest(_) | OAuthError::UnsupportedGrantType => 400,
            // 401 with WWW-Authenticate: the client may always authenticate by Basic.
            OAuthError::InvalidClient(_) => 401,
            OAuthError::Throttled => 429,
            OAuthError::Server => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::Throttled => "temporarily_unavailable",
            OAuthError::Server => "server_error",
        }
    }

    /// The JSON body: `error` and a description that names no secret.
    pub fn body(&self) -> Vec<u8> {
        let description = match self {
            OAuthError::InvalidRequest(d) | OAuthError::InvalidClient(d) => d.clone(),
            OAuthError::UnsupportedGrantType => {
                "only grant_type=client_credentials is supported".into()
            }
            OAuthError::Throttled => {
                "too many failed attempts from this address; try again later".into()
            }
            OAuthError::Server => "the token could not be issued".into(),
        };
        json!({ "error": self.code(), "error_description": description })
            .to_string()
            .into_bytes()
    }
}

/// The success body (RFC 6749 §5.1): no refresh token; scopes are not issued.
pub fn success_body(access_token: &str, expires_in: u64) -> Vec<u8> {
    json!({ "access_token": access_token, "token_type": "Bearer", "expires_in": expires_in })
        .to_string()
        .into_bytes()
}

/// Reads the body as a form (`application/x-www-form-urlencoded`) or JSON.
pub fn parse_request(content_type: Option<&str>, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let media = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    let pairs: Vec<(String, String)> = match media.as_deref() {
        Some("application/x-www-form-urlencoded") => serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::InvalidRequest("the form body does not parse".into()))?,
        Some("application/json") => {
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
                .map_err(|_| OAuthError::InvalidRequest("the JSON body is not an object".into()))?;
            map.into_iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::String(s) => Some((k, s)),
                    _ => None,
                })
                .collect()
        }
        _ => {
            return Err(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            ))
        }
    };
    let mut req = TokenRequest::default();
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "grant_type" => &mut req.grant_type,
            "scope" => &mut req.scope,
            "client_id" => &mut req.client_id,
            "client_secret" => &mut req.client_secret,
            _ => continue,
        };
        if slot.is_some() {
            return Err(OAuthError::InvalidRequest(format!(
                "{k} is given more than once"
            )));
        }
        *slot = Some(v);
    }
    Ok(req)
}

/// The grant: only `client_credentials`.
pub fn check_grant(req: &TokenRequest) -> Result<(), OAuthError> {
    match req.grant_type.as_deref() {
        Some("client_credentials") => Ok(()),
        Some(_) => Err(OAuthError::UnsupportedGrantType),
        None => Err(OAuthError::InvalidRequest("grant_type is missing".into())),
    }
}

/// The client's id and secret: from HTTP Basic or from the body, not both (§2.3).
/// Our ids and secrets use only unreserved characters, so the form-encoding §2.3.1 asks for
/// before Basic changes nothing and is not undone here.
pub fn client(
    authorization: Option<&str>,
    req: &TokenRequest,
) -> Result<(String, String), OAuthError> {
    let basic = match authorization.map(str::trim) {
        None => None,
        Some(a) => {
            let (scheme, param) = a.split_once(' ').unwrap_or((a, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::InvalidClient(
                    "only HTTP Basic client authentication is supported".into(),
                ));
            }
            let pair = base64::engine::general_purpose::STANDARD
                .decode(param.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                })
                .ok_or_else(|| {
                    OAuthError::InvalidClient("the Basic credentials do not parse".into())
                })?;
            Some(pair)
        }
    };
    let in_body = req.client_id.is_some() || req.client_secret.is_some();
    match (basic, in_body) {
        (Some(_), true) => Err(OAuthError::InvalidRequest(
            "give the client credentials once: in the Authorization header or in the body".into(),
        )),
        (Some(pair), false) => Ok(pair),
        (None, true) => match (&req.client_id, &req.client_secret) {
            (Some(id), Some(secret)) => Ok((id.clone(), secret.clone())),
            _ => Err(OAuthError::InvalidClient(
                "client_id and client_secret are both needed".into(),
            )),
        },
        (None, false) => Err(OAuthError::InvalidClient(
            "client authentication is missing".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded; charset=UTF-8");

    #[test]
    fn form_json_and_their_errors() {
        let r = parse_request(FORM, b"grant_type=client_credentials&scope=a+b&x=1").unwrap();
        assert_eq!(r.grant_type.as_deref(), Some("client_credentials"));
        assert_eq!(r.scope.as_deref(), Some("a b"));
        assert!(check_grant(&r).is_ok());
        let r = parse_request(
            Some("application/json"),
            br#"{"grant_type":"client_credentials","client_id":"c","client_secret":"s"}"#,
        )
        .unwrap();
        assert_eq!(client(None, &r).unwrap(), ("c".into(), "s".into()));
        for (ct, body) in [
            (Some("text/plain"), &b"grant_type=client_credentials"[..]),
            (None, b"grant_type=client_credentials"),
            (FORM, b"grant_type=a&grant_type=b"),
            (Some("application/json"), b"[1]"),
        ] {
            let e = parse_request(ct, body).unwrap_err();
            assert_eq!((e.status(), e.code()), (400, "invalid_request"), "{ct:?}");
        }
        let e = check_grant(&parse_request(FORM, b"grant_type=password").unwrap()).unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "unsupported_grant_type"));
        let e = check_grant(&TokenRequest::default()).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
    }

    #[test]
    fn client_authentication() {
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("id:se:cret")
        );
        let none = TokenRequest::default();
        assert_eq!(
            client(Some(&basic), &none).unwrap(),
            ("id".into(), "se:cret".into())
        );
        let in_body = TokenRequest {
            client_id: Some("id".into()),
            client_secret: Some("s".into()),
            ..Default::default()
        };
        assert_eq!(
            client(Some(&basic), &in_body).unwrap_err().code(),
            "invalid_request"
        );
        for (authz, req) in [
            (None, &none),
            (Some("Bearer x"), &none),
            (Some("Basic !!"), &none),
        ] {
            let e = client(authz, req).unwrap_err();
            assert_eq!((e.status(), e.code()), (401, "invalid_client"), "{authz:?}");
        }
        let only_id = TokenRequest {
            client_id: Some("id".into()),
            ..Default::default()
        };
        assert_eq!(client(None, &only_id).unwrap_err().code(), "invalid_client");
        let body: serde_json::Value =
            serde_json::from_slice(&OAuthError::UnsupportedGrantType.body()).unwrap();
        assert_eq!(body["error"], "unsupported_grant_type");
        let ok: serde_json::Value = serde_json::from_slice(&success_body("t", 60)).unwrap();
        assert_eq!(ok["token_type"], "Bearer");
        assert!(ok.get("refresh_token").is_none());
    }
}
