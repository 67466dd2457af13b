//! The admin password: its rule, and storing its hash (audited, durable). Hashing and
//! checking a password stay with their callers: the admin API runs them under the login
//! throttle (`auth::gate`), the CLI, which holds the data dir itself, does not need one.

use super::{blocking, Ctx, ServiceError};

/// Shortest admin password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// Checks a new admin password, for the form field `field` (`new` on the change form, where
/// it is "the new password").
pub fn validate_password(field: &'static str, p: &str) -> Result<(), ServiceError> {
    let what = if field == "new" {
        "the new password"
    } else {
        "the password"
    };
    if p.chars().count() < MIN_PASSWORD_LEN {
        return Err(ServiceError::invalid(
            field,
            format!("{what} must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if p.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            field,
            format!("{what} must not contain control characters"),
        ));
    }
    Ok(())
}

/// Stores the hash of a password that passed [`validate_password`] (the admin API hashes it
/// under its throttle).
pub async fn store_hash(ctx: Ctx<'_>, hash: &str) -> Result<(), ServiceError> {
    ctx.store.set_admin_password_hash(ctx.actor, hash)?;
    ctx.durable().await
}

/// Checks, hashes and stores a new admin password.
pub async fn set_password(ctx: Ctx<'_>, password: &str) -> Result<(), ServiceError> {
    validate_password("password", password)?;
    let p = password.to_string();
    let hash = blocking("password hashing", move || crate::auth::secret::hash(&p))
        .await?
        .map_err(|e| ServiceError::fault("password hashing", e))?;
    store_hash(ctx, &hash).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{run, TestStore};

    /// The password rule, tested once here. The CLI's `admin set-password` goes through
    /// `set_password`; the admin API's setup link (POST /admin/api/setup) and password change
    /// (POST /admin/api/password, field `new`) call `validate_password` before hashing.
    #[test]
    fn the_rule_names_the_field_and_nothing_is_stored() {
        let t = TestStore::new();
        for (field, p, says) in [
            ("password", "short", "the password must be at least 12"),
            ("new", "short", "the new password must be at least 12"),
            ("password", "twelve chars\u{7}", "must not contain control"),
        ] {
            match validate_password(field, p).unwrap_err() {
                ServiceError::Invalid { field: f, message } => {
                    assert_eq!(f, field);
                    assert!(
                        message.starts_with(says) || message.contains(says),
                        "{message}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(validate_password("password", "ünïcödé-twelve").is_ok());
        let e = run(set_password(t.ctx(), "too short")).unwrap_err();
        assert!(
            matches!(
                e,
                ServiceError::Invalid {
                    field: "password",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(t.store.admin_password_hash().unwrap(), None);
    }

    #[test]
    fn set_password_stores_a_verifiable_hash() {
        let t = TestStore::new();
        run(set_password(t.ctx(), "correct horse battery")).unwrap();
        let hash = t.store.admin_password_hash().unwrap().expect("stored");
        assert!(crate::auth::secret::verify("correct horse battery", &hash));
        assert!(!crate::auth::secret::verify("wrong horse battery", &hash));
    }
}
