//! The credentials the identity server calls with (created with the secret shown once,
//! listed, revoked) and whether callers must authenticate at all. Each rule (usernames,
//! header names, how many may be active) is here once; the CLI and the admin API only parse
//! and render.

use std::sync::Arc;

use super::{blocking, Ctx, ServiceError};
use crate::auth::secret;
use crate::model::credentials::check_room;
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

/// Reads a credential type as the admin API names it (`basic`, `bearer`, `api-key`, or the
/// WSO2 names); a missing username or header takes its default.
pub fn spec(
    kind: &str,
    username: Option<String>,
    header: Option<String>,
) -> Result<NewCredential, ServiceError> {
    match kind {
        "basic" | "BASIC" => Ok(NewCredential::Basic {
            username: username.unwrap_or_else(|| DEFAULT_USERNAME.into()),
        }),
        "bearer" | "BEARER" => Ok(NewCredential::Bearer),
        "api-key" | "API_KEY" => Ok(NewCredential::ApiKey {
            header: header.unwrap_or_else(|| DEFAULT_HEADER.into()),
        }),
        other => Err(ServiceError::invalid(
            "type",
            format!("unknown type {other:?}: basic, bearer or api-key"),
        )),
    }
}

/// The active credentials (never their secrets: only hashes are stored).
pub fn list(store: &Store) -> Arc<Vec<CredentialRecord>> {
    store.credentials()
}

/// Checks a request: its username or header name, and that there is room for it.
fn checked_kind(store: &Store, spec: &NewCredential) -> Result<CredentialKind, ServiceError> {
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
    };
    check_room(&store.credentials(), &kind).map_err(|e| ServiceError::Conflict(e.to_string()))?;
    Ok(kind)
}

/// Generates the id and secret and hashes it (argon2: slow, keep it off runtime threads).
fn generate(kind: CredentialKind) -> Result<Created, ServiceError> {
    let fault = |e| ServiceError::fault("creating a credential", e);
    let id = secret::new_id().map_err(fault)?;
    let secret = secret::new_secret(&id).map_err(fault)?;
    let record = CredentialRecord {
        id,
        kind,
        hash: secret::hash(&secret).map_err(fault)?,
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
    let created = generate(checked_kind(store, spec)?)?;
    store_it(store, actor, &created)?;
    Ok(created)
}

/// Generates a credential, stores its hash, and returns the secret once.
pub async fn create(ctx: Ctx<'_>, spec: NewCredential) -> Result<Created, ServiceError> {
    let kind = checked_kind(ctx.store, &spec)?;
    let created = blocking("creating a credential", move || generate(kind)).await??;
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
        assert_eq!(field(&spec("ntlm", None, None).unwrap_err()), Some("type"));
        assert_eq!(
            spec("API_KEY", None, None).unwrap(),
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
    fn auth_mode() {
        let t = TestStore::new();
        run(set_auth(t.ctx(), EndpointAuth::None)).unwrap();
        assert_eq!(t.store.settings().endpoint_auth, EndpointAuth::None);
        run(set_auth(t.ctx(), EndpointAuth::Required)).unwrap();
        assert_eq!(t.store.settings().endpoint_auth, EndpointAuth::Required);
    }
}
