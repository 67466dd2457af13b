//! The credentials the identity server calls with (created with the secret shown once,
//! listed, revoked) and whether callers must authenticate at all. Each rule (usernames,
//! header names, how many may be active) is here once; the CLI and the admin API only parse
//! and render.

use std::sync::Arc;

use super::{blocking, Ctx, ServiceError};
use crate::auth::secret;
use crate::model::credentials::{check_room, JwtIssuer};
use crate::model::settings::TOKEN_LIFETIME_RANGE;
use crate::model::{CredentialKind, CredentialRecord, EndpointAuth};
use crate::store::{now_rfc3339, Store, StoreError};

pub use crate::auth::{Created, NewCredential};

/// The Basic username when none is given.
pub const DEFAULT_USERNAME: &str = "profilegate";
/// The API-key header when none is given.
pub const DEFAULT_HEADER: &str = "x-api-key";

/// Header names the identity server may send (T6) and that do not collide with HTTP itself.
pub fn validate_api_key_header(h: &str) -> Result<(), ServiceError> {
    let valid_chars = h.len() >= 2
        && h.len() <= 64
        && h.as_bytes()[0].is_ascii_alphanumeric()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !valid_chars {
        return Err(ServiceError::invalid("header", format!(
            "header name {h:?} is not accepted by the identity server: 2 to 64 characters, letters, digits, '-' and '.', starting with a letter or digit"
        )));
    }
    const RESERVED: &[&str] = &[
        "authorization",
        "host",
        "content-type",
        "content-length",
        "accept",
        "connection",
        "user-agent",
        "accept-encoding",
        "x-wso2-api-version",
        "transfer-encoding",
        "cookie",
    ];
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(h)) {
        return Err(ServiceError::invalid(
            "header",
            format!("header name {h:?} is a standard HTTP header; choose another, e.g. x-api-key"),
        ));
    }
    Ok(())
}

/// Basic usernames: the identity server splits nothing, but the Basic scheme splits at ':'.
pub fn validate_username(u: &str) -> Result<(), ServiceError> {
    if u.is_empty() || u.len() > 64 || u.contains(':') || !u.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ServiceError::invalid(
            "username",
            format!("username {u:?} is not usable: 1 to 64 visible ASCII characters, without ':'"),
        ));
    }
    Ok(())
}

/// Checks a JWT credential's provider settings: an issuer and audience, a scope without
/// spaces, an `https://` key-set URL and a CA that parses.
pub fn validate_jwt(cfg: &JwtIssuer) -> Result<(), ServiceError> {
    let text = |field: &'static str, v: &str, max: usize| {
        if v.trim().is_empty() || v.len() > max || v.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                field,
                format!("give the {field}: 1 to {max} characters, no control characters"),
            ));
        }
        Ok(())
    };
    text("issuer", &cfg.issuer, 512)?;
    text("audience", &cfg.audience, 256)?;
    if let Some(scope) = &cfg.scope {
        text("scope", scope, 128)?;
        if scope.contains(' ') {
            return Err(ServiceError::invalid(
                "scope",
                "give one scope, without spaces",
            ));
        }
    }
    crate::outbound::check_url(&cfg.jwks_url, 512)
        .map_err(|m| ServiceError::invalid("jwks_url", m))?;
    if !cfg.jwks_url.starts_with("https://") {
        return Err(ServiceError::invalid(
            "jwks_url",
            "the key set is fetched over HTTPS only: give an https:// URL",
        ));
    }
    if let Some(pem) = &cfg.tls_ca_pem {
        crate::outbound::client_config(Some(pem), None)
            .map_err(|e| ServiceError::invalid("tls_ca_pem", e.to_string()))?;
    }
    Ok(())
}

/// Checks an access-token lifetime, in seconds.
pub fn validate_token_lifetime(secs: u64) -> Result<(), ServiceError> {
    if !TOKEN_LIFETIME_RANGE.contains(&secs) {
        return Err(ServiceError::invalid(
            "token_lifetime_secs",
            format!(
                "the token lifetime is {} to {} seconds",
                TOKEN_LIFETIME_RANGE.start(),
                TOKEN_LIFETIME_RANGE.end()
            ),
        ));
    }
    Ok(())
}

/// Reads a credential type as the admin API names it (`basic`, `bearer`, `api-key`,
/// `client-credential`, `jwt`, or the WSO2 names); a missing username or header takes its
/// default; `jwt` needs the provider's settings.
pub fn spec(
    kind: &str,
    username: Option<String>,
    header: Option<String>,
    jwt: Option<JwtIssuer>,
) -> Result<NewCredential, ServiceError> {
    match kind {
        "basic" | "BASIC" => Ok(NewCredential::Basic {
            username: username.unwrap_or_else(|| DEFAULT_USERNAME.into()),
        }),
        "bearer" | "BEARER" => Ok(NewCredential::Bearer),
        "api-key" | "API_KEY" => Ok(NewCredential::ApiKey {
            header: header.unwrap_or_else(|| DEFAULT_HEADER.into()),
        }),
        "client-credential" | "CLIENT_CREDENTIAL" => Ok(NewCredential::ClientCredential),
        "jwt" | "JWT" => jwt.map(NewCredential::Jwt).ok_or_else(|| {
            ServiceError::invalid(
                "issuer",
                "a jwt credential needs issuer, audience and jwks_url",
            )
        }),
        other => Err(ServiceError::invalid(
            "type",
            format!("unknown type {other:?}: basic, bearer, api-key, client-credential or jwt"),
        )),
    }
}

/// The active credentials (never their secrets: only hashes are stored).
pub fn list(store: &Store) -> Arc<Vec<CredentialRecord>> {
    store.credentials()
}

/// Checks a request: its username, header name or provider, and that there is room for it.
/// A client credential's id is made here, from the credential id `id`.
fn checked_kind(
    store: &Store,
    spec: &NewCredential,
    id: &str,
) -> Result<CredentialKind, ServiceError> {
    let kind = match spec {
        NewCredential::Basic { username } => {
            validate_username(username)?;
            CredentialKind::Basic {
                username: username.clone(),
            }
        }
        NewCredential::Bearer => CredentialKind::Bearer,
        NewCredential::ApiKey { header } => {
            validate_api_key_header(header)?;
            CredentialKind::ApiKey {
                header: header.to_ascii_lowercase(),
            }
        }
        NewCredential::ClientCredential => CredentialKind::ClientCredential {
            client_id: format!("profilegate-{id}"),
        },
        NewCredential::Jwt(cfg) => {
            validate_jwt(cfg)?;
            CredentialKind::Jwt(cfg.clone())
        }
    };
    check_room(&store.credentials(), &kind).map_err(|e| ServiceError::Conflict(e.to_string()))?;
    Ok(kind)
}

fn new_id() -> Result<String, ServiceError> {
    secret::new_id().map_err(|e| ServiceError::fault("creating a credential", e))
}

/// Generates the secret and hashes it (argon2: slow, keep it off runtime threads). A JWT
/// credential has no secret: nothing is generated or stored.
fn generate(id: String, kind: CredentialKind) -> Result<Created, ServiceError> {
    let fault = |e| ServiceError::fault("creating a credential", e);
    let (secret, hash) = if matches!(kind, CredentialKind::Jwt(_)) {
        (String::new(), String::new())
    } else {
        let secret = secret::new_secret(&id).map_err(fault)?;
        let hash = secret::hash(&secret).map_err(fault)?;
        (secret, hash)
    };
    let record = CredentialRecord {
        id,
        kind,
        hash,
        created: now_rfc3339(),
        last_used: None,
    };
    Ok(Created { record, secret })
}

fn store_it(store: &Store, actor: &str, created: &Created) -> Result<(), ServiceError> {
    store
        .add_credential(actor, &created.record)
        .map_err(|e| match e {
            // A creation that raced this one took the room.
            StoreError::NoRoom(e) => ServiceError::Conflict(e.to_string()),
            other => other.into(),
        })
}

/// [`create`] without a runtime and without waiting for durability, for callers that hold
/// the store themselves (the integration tests' set-up).
pub fn create_now(
    store: &Store,
    actor: &str,
    spec: &NewCredential,
) -> Result<Created, ServiceError> {
    let id = new_id()?;
    let created = generate(id.clone(), checked_kind(store, spec, &id)?)?;
    store_it(store, actor, &created)?;
    Ok(created)
}

/// Generates a credential, stores its hash, and returns the secret once.
pub async fn create(ctx: Ctx<'_>, spec: NewCredential) -> Result<Created, ServiceError> {
    let id = new_id()?;
    let kind = checked_kind(ctx.store, &spec, &id)?;
    let created = blocking("creating a credential", move || generate(id, kind)).await??;
    store_it(ctx.store, ctx.actor, &created)?;
    ctx.durable().await?;
    Ok(created)
}

/// Revokes a credential; callers presenting it are refused from then on.
pub async fn revoke(ctx: Ctx<'_>, id: &str) -> Result<CredentialRecord, ServiceError> {
    let rec = ctx.store.revoke_credential(ctx.actor, id)?;
    ctx.durable().await?;
    Ok(rec)
}

/// Sets how long an access token issued at `/oauth2/token` lives, in seconds. Tokens already
/// issued keep their expiry.
pub async fn set_token_lifetime(ctx: Ctx<'_>, secs: u64) -> Result<u64, ServiceError> {
    validate_token_lifetime(secs)?;
    ctx.store
        .update_settings(ctx.actor, "endpoint.token_lifetime", |s| {
            s.oauth_token_lifetime_secs = secs
        })?;
    ctx.durable().await?;
    Ok(secs)
}

/// Sets whether callers must present a credential.
pub async fn set_auth(ctx: Ctx<'_>, mode: EndpointAuth) -> Result<EndpointAuth, ServiceError> {
    ctx.store
        .update_settings(ctx.actor, "endpoint.auth", |s| s.endpoint_auth = mode)?;
    ctx.durable().await?;
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{field, run, TestStore};

    #[test]
    fn header_names_and_usernames() {
        assert!(validate_api_key_header("x-api-key").is_ok());
        assert!(validate_api_key_header("X.Key-2").is_ok());
        for bad in ["-x", "x", "x_key", "Authorization"] {
            let e = validate_api_key_header(bad).unwrap_err();
            assert_eq!(field(&e), Some("header"), "{bad:?}");
        }
        assert!(validate_username("profilegate").is_ok());
        assert_eq!(
            field(&validate_username("a:b").unwrap_err()),
            Some("username")
        );
        assert_eq!(
            field(&spec("ntlm", None, None, None).unwrap_err()),
            Some("type")
        );
        assert_eq!(
            spec("jwt", None, None, None).unwrap_err().to_string(),
            spec("JWT", None, None, None).unwrap_err().to_string()
        );
        assert_eq!(
            spec("client-credential", None, None, None).unwrap(),
            NewCredential::ClientCredential
        );
        assert_eq!(
            spec("API_KEY", None, None, None).unwrap(),
            NewCredential::ApiKey {
                header: DEFAULT_HEADER.into()
            }
        );
    }

    #[test]
    fn create_list_revoke() {
        let t = TestStore::new();
        let (store, ctx) = (&t.store, t.ctx());
        let e = run(create(
            ctx,
            NewCredential::Basic {
                username: "a:b".into(),
            },
        ))
        .unwrap_err();
        assert_eq!(field(&e), Some("username"), "{e:?}");
        assert!(list(store).is_empty(), "nothing stored");

        let key = run(create(
            ctx,
            NewCredential::ApiKey {
                header: "X-Key".into(),
            },
        ))
        .unwrap();
        assert_eq!(
            key.record.kind,
            CredentialKind::ApiKey {
                header: "x-key".into()
            }
        );
        assert!(secret::verify(&key.secret, &key.record.hash));
        // One API key per header name, compared ignoring case.
        let e = run(create(
            ctx,
            NewCredential::ApiKey {
                header: "x-KEY".into(),
            },
        ))
        .unwrap_err();
        assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
        run(create(ctx, NewCredential::Bearer)).unwrap();
        // Two at most.
        let e = run(create(ctx, NewCredential::Bearer)).unwrap_err();
        assert!(e.to_string().contains("revoke one first"), "{e}");
        assert_eq!(list(store).len(), 2);

        let gone = run(revoke(ctx, &key.record.id)).unwrap();
        assert_eq!(gone.id, key.record.id);
        assert_eq!(list(store).len(), 1);
        let e = run(revoke(ctx, &key.record.id)).unwrap_err();
        assert!(matches!(e, ServiceError::NotFound(_)), "{e:?}");
    }

    #[test]
    fn client_and_jwt_credentials() {
        let t = TestStore::new();
        let c = run(create(t.ctx(), NewCredential::ClientCredential)).unwrap();
        let CredentialKind::ClientCredential { client_id } = &c.record.kind else {
            panic!("{:?}", c.record.kind)
        };
        assert_eq!(client_id, &format!("profilegate-{}", c.record.id));
        assert!(secret::verify(&c.secret, &c.record.hash));
        assert_eq!(c.wso2_properties()["clientSecret"], c.secret.as_str());
        let good = JwtIssuer {
            issuer: "https://is.example:9443/oauth2/token".into(),
            audience: "abc".into(),
            scope: Some("profilegate".into()),
            jwks_url: "https://is.example:9443/oauth2/jwks".into(),
            tls_ca_pem: None,
        };
        for (bad, f) in [
            (
                JwtIssuer {
                    jwks_url: "http://is.example/jwks".into(),
                    ..good.clone()
                },
                "jwks_url",
            ),
            (
                JwtIssuer {
                    issuer: " ".into(),
                    ..good.clone()
                },
                "issuer",
            ),
            (
                JwtIssuer {
                    scope: Some("a b".into()),
                    ..good.clone()
                },
                "scope",
            ),
            (
                JwtIssuer {
                    tls_ca_pem: Some("x".into()),
                    ..good.clone()
                },
                "tls_ca_pem",
            ),
        ] {
            let e = run(create(t.ctx(), NewCredential::Jwt(bad))).unwrap_err();
            assert_eq!(field(&e), Some(f), "{e:?}");
        }
        let j = run(create(t.ctx(), NewCredential::Jwt(good))).unwrap();
        assert!(j.secret.is_empty() && j.record.hash.is_empty(), "no secret");
        assert_eq!(j.record.kind.wso2_name(), "CLIENT_CREDENTIAL");
        assert_eq!(
            j.wso2_properties()["tokenEndpoint"],
            "https://is.example:9443/oauth2/token"
        );
        assert_eq!(list(&t.store).len(), 2);
        assert!(run(set_token_lifetime(t.ctx(), 0)).is_err());
        run(set_token_lifetime(t.ctx(), 120)).unwrap();
        assert_eq!(t.store.settings().oauth_token_lifetime_secs, 120);
    }

    #[test]
    fn auth_mode() {
        let t = TestStore::new();
        run(set_auth(t.ctx(), EndpointAuth::None)).unwrap();
        assert_eq!(t.store.settings().endpoint_auth, EndpointAuth::None);
        run(set_auth(t.ctx(), EndpointAuth::Required)).unwrap();
        assert_eq!(t.store.settings().endpoint_auth, EndpointAuth::Required);
    }
}
