//! The admin API's OpenAPI description, generated from the types the handlers answer with
//! (`api`) and read (the request forms of each page's file). Served at
//! `/admin/api/openapi.json`.
//!
//! The functions in `ops.rs` only carry each operation's description (warp routes are filters, not
//! attributed functions); the routes themselves are in the page files. The integration test
//! `admin_openapi` calls every operation listed here and checks each answer against its schema.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

mod ops;

/// The description, as served.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "profilegate admin API",
        description = "Admin API of profilegate. Every call except login, setup and this description needs the session cookie (pg_session) set by POST /admin/api/login (or /admin/api/setup on first start); every mutating call also needs the X-CSRF-Token header returned by login or GET /admin/api/session. Errors are {\"error\": string, \"field\": string|null}: the field is the form field the message belongs to. Bodies are limited to 1 MiB (413)."
    ),
    paths(ops::login, ops::setup, ops::logout, ops::session, ops::change_password, ops::overview, ops::organizations, ops::list_departments, ops::add_departments, ops::remove_departments, ops::import_departments, ops::export_departments, ops::department_source, ops::set_department_source, ops::remove_department_source, ops::sync_departments, ops::list_credentials, ops::create_credential, ops::revoke_credential, ops::endpoint, ops::set_endpoint_auth, ops::registration, ops::notifications, ops::set_smtp, ops::set_recipients, ops::set_sensitive, ops::set_mode, ops::send_test, ops::outbox, ops::retry_outbox, ops::audit, ops::verify_audit, ops::audit_checkpoint, ops::export_audit, ops::audit_retention, ops::set_audit_retention, ops::archive_audit, ops::settings, ops::save_settings, ops::password_policy, ops::save_password_policy, ops::remove_password_policy, ops::set_password_notify, ops::set_password_online, ops::password_breached, ops::import_password_breached, ops::try_password, ops::password_keys, ops::generate_password_key, ops::export_password_key, ops::retire_password_key, ops::password_registration, ops::simulate_samples, ops::simulate, ops::openapi),
    modifiers(&Security),
    security(("session" = [])),
    tags((name = "admin", description = "The admin UI's API"))
)]
pub struct ApiDoc;

/// The session cookie and the CSRF header.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::COOKIE,
                "the session, set by login or setup (HttpOnly, SameSite=Strict)",
            ))),
        );
        c.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "the session's CSRF token, from login, setup or GET /admin/api/session; needed by every mutating call",
            ))),
        );
    }
}

/// The description as JSON bytes, built once when the routes are.
pub fn document() -> bytes::Bytes {
    match ApiDoc::openapi().to_json() {
        Ok(s) => bytes::Bytes::from(s),
        Err(e) => {
            tracing::error!(error = %e, "admin API: generating the OpenAPI description");
            bytes::Bytes::from_static(b"{}")
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    /// The schema's password rule is a literal; it must be the one `validate_password` applies.
    #[test]
    fn the_password_rule_is_the_real_one() {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).unwrap();
        for field in ["PasswordChange/properties/new", "Setup/properties/password"] {
            assert_eq!(
                doc.pointer(&format!("/components/schemas/{field}/minLength")),
                Some(&serde_json::json!(crate::service::access::MIN_PASSWORD_LEN)),
                "{field}"
            );
        }
    }

    /// The password page's operations carry an example of each request body they read, for
    /// whoever scripts against them.
    #[test]
    fn password_request_bodies_have_examples() {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).unwrap();
        let mut bodies = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !path.starts_with("/admin/api/password/") {
                continue;
            }
            for (method, op) in item.as_object().unwrap() {
                if let Some(body) = op.get("requestBody") {
                    bodies += 1;
                    let example = body["content"]["application/json"]["example"].is_object()
                        || body["content"]["text/plain"]["example"].is_string();
                    assert!(example, "{method} {path}: no example body");
                }
            }
        }
        assert_eq!(
            bodies, 7,
            "policy, policy/remove, notify, online, breached, try, keys"
        );
    }
}
