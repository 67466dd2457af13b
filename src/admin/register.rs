//! The values an administrator enters in the WSO2 console or sends to the Action Management
//! REST API to register profilegate (CONTRACT.md §8): the profile action, and the password
//! action with its `passwordSharing` block (the same authentication settings). Pure: the same inputs give the same
//! panel, so every rule is unit-tested.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::model::EndpointAuth;
use crate::model::{CredentialKind, CredentialRecord};

/// The identity server accepts at most this many shared attributes for a profile action.
pub const MAX_ATTRIBUTES: usize = 10;
/// The identity server refuses this attribute.
pub const ROLES_CLAIM: &str = "http://wso2.org/claims/roles";

/// A value the panel cannot use, with its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// What the panel shows.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq)]
pub struct Registration {
    pub name: String,
    pub endpoint_url: String,
    /// NONE, BASIC, BEARER or API_KEY.
    pub authentication_type: &'static str,
    /// Property names and values; the secret is a placeholder (it was shown once).
    pub properties: Map<String, Value>,
    /// Claims to share so that old values appear in the e-mails.
    pub attributes: Vec<String>,
    /// Sensitive claims left out (over the limit of 10, or refused by the server).
    pub attributes_left_out: Vec<String>,
    /// The body for `POST /t/{tenant}/api/server/v1/actions/preUpdateProfile`.
    pub rest_body: Value,
    /// Things to know, e.g. plain HTTP.
    pub notes: Vec<String>,
}

/// Checks an action name as the identity server does: 2..255 characters, letters, digits,
/// `-`, `_` and inner spaces.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let n = name.chars().count();
    if !(2..=255).contains(&n) {
        return Err("the action name must be 2 to 255 characters".into());
    }
    if !name.chars().all(|c| ok_char(c) || c == ' ') || name.starts_with(' ') || name.ends_with(' ')
    {
        return Err(
            "the action name may hold only letters, digits, '-', '_' and spaces (not at either end)"
                .into(),
        );
    }
    Ok(())
}

/// Checks an endpoint URL as the identity server does (`^https?://[^\s/$.?#]\S*`).
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| {
        r.chars()
            .next()
            .is_some_and(|c| !c.is_whitespace() && !"/$.?#".contains(c))
            && !r.chars().any(char::is_whitespace)
    });
    if ok {
        Ok(())
    } else {
        Err(
            "the endpoint URL must start with https:// (or http://) and a host, without spaces"
                .into(),
        )
    }
}

/// Builds the panel. `credential` is the one to register (the newest when `None`).
pub fn registration(
    name: &str,
    endpoint_url: &str,
    auth: EndpointAuth,
    credential: Option<&CredentialRecord>,
    sensitive: &[String],
) -> Result<Registration, FieldError> {
    let EndpointValues {
        authentication_type,
        properties,
        mut notes,
    } = endpoint_values(name, endpoint_url, auth, credential)?;
    let mut attributes = Vec::new();
    let mut attributes_left_out = Vec::new();
    for claim in sensitive {
        if claim == ROLES_CLAIM || attributes.len() == MAX_ATTRIBUTES {
            attributes_left_out.push(claim.clone());
        } else if !attributes.contains(claim) {
            attributes.push(claim.clone());
        }
    }
    if !attributes_left_out.is_empty() {
        notes.push(format!(
            "The identity server shares at most {MAX_ATTRIBUTES} attributes and never roles; left out: {}. Their old values will be missing from the e-mails.",
            attributes_left_out.join(", ")
        ));
    }
    let rest_body = json!({
        "name": name,
        "description": "profilegate: department directory check, security-team e-mail and audit",
        "endpoint": {
            "uri": endpoint_url,
            "authentication": { "type": authentication_type, "properties": properties },
        },
        "attributes": attributes,
    });
    Ok(Registration {
        name: name.into(),
        endpoint_url: endpoint_url.into(),
        authentication_type,
        properties,
        attributes,
        attributes_left_out,
        rest_body,
        notes,
    })
}

/// The authentication settings, the same for both actions: NONE, or the credential's type and
/// properties with a placeholder for the secret (it was shown once).
fn authentication(
    auth: EndpointAuth,
    credential: Option<&CredentialRecord>,
    endpoint_url: &str,
    notes: &mut Vec<String>,
) -> Result<(&'static str, Map<String, Value>), FieldError> {
    Ok(match (auth, credential) {
        (EndpointAuth::None, _) => {
            notes.push(
                "Endpoint authentication is off: anyone who can reach the endpoint can call it."
                    .into(),
            );
            ("NONE", Map::new())
        }
        (EndpointAuth::Required, None) => {
            return Err(FieldError {
                field: "credential",
                message: "create an endpoint credential first".into(),
            })
        }
        (EndpointAuth::Required, Some(c)) => {
            let secret = format!(
                "<the secret shown once when credential {} was created>",
                c.id
            );
            let mut m = Map::new();
            match &c.kind {
                CredentialKind::Basic { username } => {
                    m.insert("username".into(), username.clone().into());
                    m.insert("password".into(), secret.into());
                }
                CredentialKind::Bearer => {
                    m.insert("accessToken".into(), secret.into());
                }
                CredentialKind::ApiKey { header } => {
                    m.insert("header".into(), header.clone().into());
                    m.insert("value".into(), secret.into());
                }
                CredentialKind::ClientCredential { client_id } => {
                    m.insert("clientId".into(), client_id.clone().into());
                    m.insert("clientSecret".into(), secret.into());
                    m.insert(
                        "tokenEndpoint".into(),
                        token_endpoint_for(endpoint_url).into(),
                    );
                    m.insert("scopes".into(), "".into());
                    notes.push(TOKEN_ENDPOINT_NOTE.into());
                }
                CredentialKind::Jwt(cfg) => {
                    m.extend(crate::auth::jwt_properties(cfg));
                    notes.push(format!(
                        "Register an application in your identity provider with the client credentials grant (in WSO2 IS: a standard-based OAuth application, access token type JWT); its tokens must carry iss {}, aud {}{}. Enter its client id and secret here.",
                        cfg.issuer,
                        cfg.audience,
                        cfg.scope.as_deref().map(|s| format!(" and scope {s}")).unwrap_or_default()
                    ));
                }
            }
            (c.kind.wso2_name(), m)
        }
    })
}

/// What both actions register alike.
struct EndpointValues {
    authentication_type: &'static str,
    properties: Map<String, Value>,
    /// So far: authentication off, plain HTTP.
    notes: Vec<String>,
}

/// Checks the name and URL and gives the values both actions register alike.
fn endpoint_values(
    name: &str,
    endpoint_url: &str,
    auth: EndpointAuth,
    credential: Option<&CredentialRecord>,
) -> Result<EndpointValues, FieldError> {
    check_name(name).map_err(|message| FieldError {
        field: "name",
        message,
    })?;
    check_url(endpoint_url).map_err(|message| FieldError {
        field: "url",
        message,
    })?;
    let mut notes = Vec::new();
    let (authentication_type, properties) =
        authentication(auth, credential, endpoint_url, &mut notes)?;
    if endpoint_url.starts_with("http://") {
        notes.push(PLAIN_HTTP_NOTE.into());
    }
    Ok(EndpointValues {
        authentication_type,
        properties,
        notes,
    })
}

/// profilegate's token endpoint on the host of an action's endpoint URL.
pub fn token_endpoint_for(endpoint_url: &str) -> String {
    let base = match endpoint_url.find("://") {
        Some(i) => {
            let after = i + 3;
            match endpoint_url[after..].find(['/', '?']) {
                Some(j) => &endpoint_url[..after + j],
                None => endpoint_url,
            }
        }
        None => endpoint_url,
    };
    format!("{base}{}", crate::conn::TOKEN_PATH)
}

/// What the identity server does with a client credential, in its console's terms.
const TOKEN_ENDPOINT_NOTE: &str = "The identity server gets an access token from the token endpoint with the client id and secret, calls with it, and fetches a new one when it expires.";

/// A plain-HTTP endpoint URL's warning.
const PLAIN_HTTP_NOTE: &str = "The URL is plain HTTP: the credential crosses the network readable. Asgardeo needs a public HTTPS URL.";

/// How the identity server shares the new password (`passwordSharing.format`, its names).
#[derive(
    utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize,
)]
pub enum PasswordFormat {
    /// The password itself (encrypted to our certificate when one is given): every rule applies.
    #[default]
    PlainText,
    /// base64(SHA-256(password)): only exact-match checks are possible.
    Sha256Hashed,
}

impl PasswordFormat {
    pub const fn wso2_name(self) -> &'static str {
        match self {
            PasswordFormat::PlainText => "PLAIN_TEXT",
            PasswordFormat::Sha256Hashed => "SHA256_HASHED",
        }
    }

    /// The format WSO2 names so; `None` for any other name.
    pub fn from_wso2_name(name: &str) -> Option<Self> {
        [PasswordFormat::PlainText, PasswordFormat::Sha256Hashed]
            .into_iter()
            .find(|f| f.wso2_name() == name)
    }
}

/// The `passwordSharing` block: the format, and the certificate (base64 of its PEM) when there
/// is an active key.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq)]
pub struct PasswordSharing {
    /// PLAIN_TEXT or SHA256_HASHED.
    pub format: &'static str,
    /// base64 of the PEM of the newest active key's certificate; absent without a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// What the password action's registration panel shows.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq)]
pub struct PasswordRegistration {
    pub name: String,
    pub endpoint_url: String,
    /// NONE, BASIC, BEARER or API_KEY.
    pub authentication_type: &'static str,
    /// Property names and values; the secret is a placeholder (it was shown once).
    pub properties: Map<String, Value>,
    #[serde(rename = "passwordSharing")]
    pub password_sharing: PasswordSharing,
    /// The id of the key whose certificate is given; null without an active key.
    pub certificate_key_id: Option<String>,
    /// The body for `POST /t/{tenant}/api/server/v1/actions/preUpdatePassword`.
    pub rest_body: Value,
    /// Things to know, e.g. plain HTTP, the HASH format's limits.
    pub notes: Vec<String>,
}

/// Builds the password action's panel. `certificate` is the newest active key's id and the
/// base64 of its certificate's PEM.
pub fn password_registration(
    name: &str,
    endpoint_url: &str,
    auth: EndpointAuth,
    credential: Option<&CredentialRecord>,
    format: PasswordFormat,
    certificate: Option<(&str, &str)>,
) -> Result<PasswordRegistration, FieldError> {
    let EndpointValues {
        authentication_type,
        properties,
        mut notes,
    } = endpoint_values(name, endpoint_url, auth, credential)?;
    match (format, certificate) {
        (PasswordFormat::Sha256Hashed, _) => notes.push(
            "SHA256_HASHED allows only exact-match checks (the common-password list and context words): length, patterns and the stricter contains rule cannot be checked. PLAIN_TEXT with the certificate is recommended."
                .into(),
        ),
        (PasswordFormat::PlainText, None) => notes.push(
            "No active password-sharing key: without a certificate the identity server sends the password unencrypted. Generate a key first."
                .into(),
        ),
        (PasswordFormat::PlainText, Some(_)) => {}
    }
    let sharing = PasswordSharing {
        format: format.wso2_name(),
        certificate: certificate.map(|(_, c)| c.to_owned()),
    };
    let rest_body = json!({
        "name": name,
        "description": "profilegate: password policy (length, common and breached passwords, context words) and audit",
        "endpoint": {
            "uri": endpoint_url,
            "authentication": { "type": authentication_type, "properties": properties },
        },
        "passwordSharing": sharing,
    });
    Ok(PasswordRegistration {
        name: name.into(),
        endpoint_url: endpoint_url.into(),
        authentication_type,
        properties,
        password_sharing: sharing,
        certificate_key_id: certificate.map(|(id, _)| id.to_owned()),
        rest_body,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(kind: CredentialKind) -> CredentialRecord {
        CredentialRecord {
            id: "abc".into(),
            kind,
            hash: "x".into(),
            created: "t".into(),
            last_used: None,
        }
    }

    #[test]
    fn names_follow_the_servers_rule() {
        assert!(check_name("profilegate").is_ok());
        assert!(check_name("pre update_profile-1").is_ok());
        assert!(check_name("a").is_err());
        assert!(check_name(" lead").is_err());
        assert!(check_name("trail ").is_err());
        assert!(check_name("dots.not").is_err());
        assert!(check_name(&"x".repeat(256)).is_err());
    }

    #[test]
    fn urls_follow_the_servers_rule() {
        assert!(check_url("https://pg.example.com/actions/pre-update-profile").is_ok());
        assert!(check_url("http://10.0.0.1:8080/a").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("https:///path").is_err());
        assert!(check_url("https://a b").is_err());
    }

    #[test]
    fn basic_credential_gives_console_and_rest_values() {
        let c = cred(CredentialKind::Basic {
            username: "wso2".into(),
        });
        let mut sensitive: Vec<String> = (0..12).map(|i| format!("http://x/{i}")).collect();
        sensitive.insert(1, ROLES_CLAIM.into());
        let r = registration(
            "profilegate",
            "https://pg/actions/pre-update-profile",
            EndpointAuth::Required,
            Some(&c),
            &sensitive,
        )
        .unwrap();
        assert_eq!(r.authentication_type, "BASIC");
        assert_eq!(r.properties["username"], "wso2");
        assert!(r.properties["password"].as_str().unwrap().contains("abc"));
        assert_eq!(r.attributes.len(), MAX_ATTRIBUTES);
        assert!(!r.attributes.contains(&ROLES_CLAIM.to_string()));
        assert_eq!(r.attributes_left_out.len(), 3);
        assert_eq!(r.rest_body["endpoint"]["authentication"]["type"], "BASIC");
        assert_eq!(r.rest_body["attributes"].as_array().unwrap().len(), 10);
    }

    #[test]
    fn client_credential_and_jwt_give_the_token_endpoint() {
        let c = cred(CredentialKind::ClientCredential {
            client_id: "profilegate-abc".into(),
        });
        let r = registration(
            "pg",
            "https://pg.example:8443/actions/pre-update-profile",
            EndpointAuth::Required,
            Some(&c),
            &[],
        )
        .unwrap();
        assert_eq!(r.authentication_type, "CLIENT_CREDENTIAL");
        assert_eq!(r.properties["clientId"], "profilegate-abc");
        assert_eq!(
            r.rest_body["endpoint"]["authentication"]["properties"]["tokenEndpoint"],
            "https://pg.example:8443/oauth2/token"
        );
        assert!(r.properties["clientSecret"]
            .as_str()
            .unwrap()
            .contains("abc"));
        let j = cred(CredentialKind::Jwt(crate::model::credentials::JwtIssuer {
            issuer: "https://is:9443/oauth2/token".into(),
            audience: "app".into(),
            scope: Some("pg".into()),
            jwks_url: "https://is:9443/oauth2/jwks".into(),
            tls_ca_pem: None,
        }));
        let r = registration("pg", "https://pg/a", EndpointAuth::Required, Some(&j), &[]).unwrap();
        assert_eq!(r.authentication_type, "CLIENT_CREDENTIAL");
        assert_eq!(
            r.properties["tokenEndpoint"],
            "https://is:9443/oauth2/token"
        );
        assert_eq!(r.properties["scopes"], "pg");
        assert!(
            r.notes.iter().any(|n| n.contains("aud app")),
            "{:?}",
            r.notes
        );
        assert_eq!(token_endpoint_for("http://h:1"), "http://h:1/oauth2/token");
    }

    #[test]
    fn missing_credential_and_bad_fields_name_the_field() {
        let e =
            registration("ok name", "https://pg/a", EndpointAuth::Required, None, &[]).unwrap_err();
        assert_eq!(e.field, "credential");
        let e = registration("-", "https://pg/a", EndpointAuth::None, None, &[]).unwrap_err();
        assert_eq!(e.field, "name");
        let e = registration("ok", "pg/a", EndpointAuth::None, None, &[]).unwrap_err();
        assert_eq!(e.field, "url");
        let r = registration("ok", "http://pg/a", EndpointAuth::None, None, &[]).unwrap();
        assert_eq!(r.authentication_type, "NONE");
        assert_eq!(r.notes.len(), 2);
    }

    #[test]
    fn password_registration_carries_the_sharing_block() {
        let c = cred(CredentialKind::Bearer);
        let r = password_registration(
            "profilegate-password",
            "https://pg/actions/pre-update-password",
            EndpointAuth::Required,
            Some(&c),
            PasswordFormat::PlainText,
            Some(("k1", "LS0tLS1CRUdJTi")),
        )
        .unwrap();
        assert_eq!(r.authentication_type, "BEARER");
        assert_eq!(r.rest_body["passwordSharing"]["format"], "PLAIN_TEXT");
        assert_eq!(
            r.rest_body["passwordSharing"]["certificate"],
            "LS0tLS1CRUdJTi"
        );
        assert_eq!(r.rest_body["endpoint"]["authentication"]["type"], "BEARER");
        assert_eq!(r.certificate_key_id.as_deref(), Some("k1"));
        assert!(r.notes.is_empty(), "{:?}", r.notes);

        let r = password_registration(
            "pw",
            "http://pg/a",
            EndpointAuth::None,
            None,
            PasswordFormat::Sha256Hashed,
            None,
        )
        .unwrap();
        assert_eq!(r.rest_body["passwordSharing"]["format"], "SHA256_HASHED");
        assert!(r.rest_body["passwordSharing"].get("certificate").is_none());
        assert!(r.notes.iter().any(|n| n.contains("exact-match")));
        let e = password_registration(
            "pw",
            "https://pg/a",
            EndpointAuth::Required,
            None,
            PasswordFormat::PlainText,
            None,
        )
        .unwrap_err();
        assert_eq!(e.field, "credential");
    }
}
