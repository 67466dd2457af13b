//! One description-only function per operation of the admin API (see the module above).

#[allow(unused_imports)]
use super::super::api::*;
#[allow(unused_imports)]
use serde_json::json;

#[utoipa::path(
    post,
    path = "/admin/api/login",
    operation_id = "login",
    tag = "admin",
    summary = "Log in with the admin password",
    description = "Sets the session cookie (HttpOnly, SameSite=Strict, Secure under TLS). Failed attempts are throttled per address and overall.",
    security(()),
    request_body = crate::admin::access::Login,
    responses(
        (status = 200, description = "logged in; sets the session cookie", body = SessionInfo),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 409, description = "a conflict with the current state", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
        (status = 429, description = "too many attempts; Retry-After says how long to wait", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn login() {}

#[utoipa::path(
    post,
    path = "/admin/api/setup",
    operation_id = "setup",
    tag = "admin",
    summary = "First start: set the admin password with the one-time setup link's token, and log in",
    description = "The token is printed at start-up while no admin password is set; it works once, and only until the server restarts.",
    security(()),
    request_body = crate::admin::access::Setup,
    responses(
        (status = 200, description = "session started (cookie set)", body = SessionInfo),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 409, description = "a conflict with the current state", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
        (status = 429, description = "too many attempts; Retry-After says how long to wait", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn setup() {}

#[utoipa::path(
    post,
    path = "/admin/api/logout",
    operation_id = "logout",
    tag = "admin",
    summary = "End the session",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 200, description = "logged out; the cookie is cleared", body = LoggedOut),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn logout() {}

#[utoipa::path(
    get,
    path = "/admin/api/session",
    operation_id = "session",
    tag = "admin",
    summary = "The session's CSRF token",
    responses(
        (status = 200, description = "the token", body = SessionInfo),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn session() {}

#[utoipa::path(
    post,
    path = "/admin/api/password",
    operation_id = "change_password",
    tag = "admin",
    summary = "Change the admin password",
    description = "The new password needs at least 12 characters and no control characters. Every other session ends.",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::access::PasswordChange,
    responses(
        (status = 200, description = "changed; other sessions end", body = PasswordChanged),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 409, description = "a conflict with the current state", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
        (status = 429, description = "too many attempts; Retry-After says how long to wait", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn change_password() {}

#[utoipa::path(
    get,
    path = "/admin/api/overview",
    operation_id = "overview",
    tag = "admin",
    summary = "Setup checklist, today's decisions by outcome, latest decisions, queued e-mail health",
    responses(
        (status = 200, description = "the overview", body = Overview),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn overview() {}

#[utoipa::path(
    get,
    path = "/admin/api/organizations",
    operation_id = "organizations",
    tag = "admin",
    summary = "Organizations seen in authenticated action calls",
    description = "Id, name and when last seen (to the hour), by id; at most 1,000 (the one seen longest ago makes room). Offered wherever an organization id is typed.",
    responses(
        (status = 200, description = "the organizations", body = Organizations),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn organizations() {}

#[utoipa::path(
    get,
    path = "/admin/api/departments",
    operation_id = "list_departments",
    tag = "admin",
    summary = "A department list",
    description = "The root organization's list, or a sub-organization's with `org`.",
    params(crate::admin::departments::OrgQuery),
    responses(
        (status = 200, description = "the names", body = DepartmentList),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn list_departments() {}

#[utoipa::path(
    post,
    path = "/admin/api/departments",
    operation_id = "add_departments",
    tag = "admin",
    summary = "Add names (all or nothing)",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::departments::DepartmentsChange,
    responses(
        (status = 200, description = "the names added", body = DepartmentsAdded),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn add_departments() {}

#[utoipa::path(
    post,
    path = "/admin/api/departments/remove",
    operation_id = "remove_departments",
    tag = "admin",
    summary = "Remove names; an unknown name changes nothing",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::departments::DepartmentsChange,
    responses(
        (status = 200, description = "how many were removed", body = DepartmentsRemoved),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn remove_departments() {}

#[utoipa::path(
    post,
    path = "/admin/api/departments/import",
    operation_id = "import_departments",
    tag = "admin",
    summary = "Import CSV: the plan, applied only with apply=true",
    description = "One name a line, a header line optional. With `replace`, names not in the file are removed. Applied whole or not at all.",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::departments::Import,
    responses(
        (status = 200, description = "the plan", body = ImportResult),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn import_departments() {}

#[utoipa::path(
    get,
    path = "/admin/api/departments/export",
    operation_id = "export_departments",
    tag = "admin",
    summary = "The department list as CSV (header line 'department')",
    description = "Read back unchanged by the import.",
    params(crate::admin::departments::OrgQuery),
    responses(
        (status = 200, description = "CSV file", body = String, content_type = "text/csv"),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn export_departments() {}

#[utoipa::path(
    get,
    path = "/admin/api/departments/source",
    operation_id = "department_source",
    tag = "admin",
    summary = "A list's sync source and its last syncs (null: kept by hand)",
    description = "Secrets come back as ********. `held` is a sync waiting for approval, with its diff.",
    params(crate::admin::departments::OrgQuery),
    responses(
        (status = 200, description = "the source's settings and status", body = crate::admin::departments::SourceInfo),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn department_source() {}

#[utoipa::path(
    post,
    path = "/admin/api/departments/source",
    operation_id = "set_department_source",
    tag = "admin",
    summary = "Keep a list in step with an HTTP(S) API or LDAP / Active Directory",
    description = "Checked before it is stored (URLs, TLS material, limits); nothing is fetched. A changed source starts afresh.",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::departments::SourceSet,
    responses(
        (status = 200, description = "the stored source (secrets masked) and its status", body = crate::admin::departments::SourceInfo),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn set_department_source() {}

#[utoipa::path(
    post,
    path = "/admin/api/departments/source-remove",
    operation_id = "remove_department_source",
    tag = "admin",
    summary = "Stop syncing a list; it stays as it is, kept by hand",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::departments::OrgOnly,
    responses(
        (status = 200, description = "the list has no source now", body = crate::admin::departments::SourceInfo),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 404, description = "the list has no source", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn remove_department_source() {}

#[utoipa::path(
    post,
    path = "/admin/api/departments/sync",
    operation_id = "sync_departments",
    tag = "admin",
    summary = "Sync a list now, show the diff (dry_run), or approve a held sync",
    description = "A sync that would empty the list or remove more than its limit is held (outcome `held`) until approved. A failing source changes nothing (502, field `source`).",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::departments::SyncReq,
    responses(
        (status = 200, description = "what the sync did or would do, and its diff", body = crate::service::sync::SyncReport),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 404, description = "the list has no source", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 409, description = "approve: nothing is held, or the list changed since the diff", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
        (status = 502, description = "the source failed; the list is unchanged", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn sync_departments() {}

#[utoipa::path(
    get,
    path = "/admin/api/credentials",
    operation_id = "list_credentials",
    tag = "admin",
    summary = "Active endpoint credentials (never secrets)",
    responses(
        (status = 200, description = "the credentials", body = CredentialList),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn list_credentials() {}

#[utoipa::path(
    post,
    path = "/admin/api/credentials",
    operation_id = "create_credential",
    tag = "admin",
    summary = "Create a credential; the secret is returned once",
    description = "`type` is basic, bearer, api-key, client-credential or jwt (or the WSO2 names BASIC, BEARER, API_KEY, CLIENT_CREDENTIAL); `username` (basic, default profilegate) and `header` (api-key, default x-api-key) are optional; jwt needs `issuer`, `audience` and `jwks_url` (https), and takes `scope` and `tls_ca_pem`.",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::endpoint::NewCredentialReq,
    responses(
        (status = 200, description = "id, type and the WSO2 properties (username/password, accessToken, header/value, or clientId/clientSecret/tokenEndpoint)", body = NewCredentialInfo),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 409, description = "a conflict with the current state", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn create_credential() {}

#[utoipa::path(
    delete,
    path = "/admin/api/credentials/{id}",
    operation_id = "revoke_credential",
    tag = "admin",
    summary = "Revoke a credential",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "the credential's id")),
    responses(
        (status = 200, description = "revoked", body = Revoked),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn revoke_credential() {}

#[utoipa::path(
    get,
    path = "/admin/api/endpoint",
    operation_id = "endpoint",
    tag = "admin",
    summary = "Authentication mode, credentials, and defaults for the registration panel",
    responses(
        (status = 200, description = "the endpoint page", body = EndpointInfo),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn endpoint() {}

#[utoipa::path(
    post,
    path = "/admin/api/endpoint/auth",
    operation_id = "set_endpoint_auth",
    tag = "admin",
    summary = "Require endpoint credentials, or switch authentication off; optionally set the access-token lifetime",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::endpoint::AuthChange,
    responses(
        (status = 200, description = "the mode as saved", body = AuthMode),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn set_endpoint_auth() {}

#[utoipa::path(
    get,
    path = "/admin/api/endpoint/registration",
    operation_id = "registration",
    tag = "admin",
    summary = "Values for the WSO2 console and a ready Action Management REST API body (CONTRACT.md §8)",
    params(crate::admin::endpoint::RegistrationQuery),
    responses(
        (status = 200, description = "the registration values", body = crate::admin::register::Registration),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn registration() {}

#[utoipa::path(
    get,
    path = "/admin/api/notifications",
    operation_id = "notifications",
    tag = "admin",
    summary = "SMTP settings (the password never, only whether one is set), recipients, sensitive claims, mode, outbox summary",
    responses(
        (status = 200, description = "the notifications page", body = NotificationsInfo),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn notifications() {}

#[utoipa::path(
    post,
    path = "/admin/api/notifications/smtp",
    operation_id = "set_smtp",
    tag = "admin",
    summary = "Set the SMTP server; a test message is needed again afterwards",
    description = "An absent or empty `password` keeps the stored one; `clear_password` forgets it.",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::notifications::SmtpForm,
    responses(
        (status = 200, description = "saved", body = Saved),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn set_smtp() {}

#[utoipa::path(
    post,
    path = "/admin/api/notifications/recipients",
    operation_id = "set_recipients",
    tag = "admin",
    summary = "Replace the recipient list (all valid, or nothing changes)",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::notifications::Recipients,
    responses(
        (status = 200, description = "the list as saved", body = RecipientList),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn set_recipients() {}

#[utoipa::path(
    post,
    path = "/admin/api/notifications/sensitive",
    operation_id = "set_sensitive",
    tag = "admin",
    summary = "Replace the sensitive-claim list",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::notifications::Sensitive,
    responses(
        (status = 200, description = "the list as saved", body = SensitiveList),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn set_sensitive() {}

#[utoipa::path(
    post,
    path = "/admin/api/notifications/mode",
    operation_id = "set_mode",
    tag = "admin",
    summary = "Delivery mode",
    description = "blocking: the e-mail is sent before the identity server is answered (a failure refuses the update); queued: it goes to the outbox with the audit record.",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::notifications::Mode,
    responses(
        (status = 200, description = "the mode as saved", body = ModeInfo),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn set_mode() {}

#[utoipa::path(
    post,
    path = "/admin/api/notifications/test",
    operation_id = "send_test",
    tag = "admin",
    summary = "Send a test message with the stored settings",
    description = "To `to`, or to the recipients when absent. A failure is answered 502 with the mail server's words.",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::notifications::TestReq,
    responses(
        (status = 200, description = "sent", body = TestSent),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
        (status = 502, description = "the mail server refused or failed, in its own words", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn send_test() {}

#[utoipa::path(
    get,
    path = "/admin/api/outbox",
    operation_id = "outbox",
    tag = "admin",
    summary = "Queued e-mails: counts and the first 100 items (failed first)",
    responses(
        (status = 200, description = "the outbox", body = OutboxInfo),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn outbox() {}

#[utoipa::path(
    post,
    path = "/admin/api/outbox/retry",
    operation_id = "retry_outbox",
    tag = "admin",
    summary = "Queue failed e-mails again now (one by id, or all)",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::notifications::Retry,
    responses(
        (status = 200, description = "how many were queued again", body = Retried),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn retry_outbox() {}

#[utoipa::path(
    get,
    path = "/admin/api/audit",
    operation_id = "audit",
    tag = "admin",
    summary = "Audit records, newest first, filtered; next_before continues the walk",
    description = "At most 100,000 records are examined per page: a filter that matches nothing in a long chain still answers quickly, with `next_before` to go on.",
    params(crate::service::audit::Query),
    responses(
        (status = 200, description = "the records", body = AuditPage),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn audit() {}

#[utoipa::path(
    get,
    path = "/admin/api/audit/verify",
    operation_id = "verify_audit",
    tag = "admin",
    summary = "Walk the hash chain: ok, records checked, the first bad record",
    responses(
        (status = 200, description = "the result", body = Verification),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn verify_audit() {}

#[utoipa::path(
    get,
    path = "/admin/api/audit/checkpoint",
    operation_id = "audit_checkpoint",
    tag = "admin",
    summary = "The latest signed checkpoint of the chain's head, and the public key it verifies under",
    description = "A fresh checkpoint is signed when the head moved since the latest. `line` is the footer line the security team's e-mails end with; `profilegate audit verify --checkpoint LINE --public-key KEY` checks it against the chain. The signed bytes are `profilegate-checkpoint v1\\n{seq}\\n{hash}\\n{time}\\n` (Ed25519, base64).",
    responses(
        (status = 200, description = "the checkpoint", body = crate::service::audit::CheckpointInfo),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn audit_checkpoint() {}

#[utoipa::path(
    get,
    path = "/admin/api/audit/export",
    operation_id = "export_audit",
    tag = "admin",
    summary = "Every record as NDJSON, each with its hash",
    responses(
        (status = 200, description = "NDJSON file", body = String, content_type = "application/x-ndjson"),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn export_audit() {}

#[utoipa::path(
    get,
    path = "/admin/api/audit/retention",
    operation_id = "audit_retention",
    tag = "admin",
    summary = "The audit retention: its settings, live records, the archived base and every archive file",
    description = "`base` is the last archived record (the live chain continues after it; null: nothing archived). Each archive is listed as recorded at its cut (period, range, records, SHA-256); `present` is false when the archive directory no longer has it.",
    responses(
        (status = 200, description = "the status", body = crate::service::retention::Status),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn audit_retention() {}

#[utoipa::path(
    post,
    path = "/admin/api/audit/retention",
    operation_id = "set_audit_retention",
    tag = "admin",
    summary = "Set the audit retention (keep days, keep records, archive directory), or switch it off",
    description = "Records younger than a day never go; a month goes whole once it ended `keep_days` ago; `keep_records` keeps at least that many live (1000 or more). `archive_dir` must be absolute; null keeps the directory set before. `{\"off\": true}` switches it off (archives stay). Refusals name `keep_days`, `keep_records` or `dir`.",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::admin::audit::RetentionForm, example = json!({"keep_days": 90, "keep_records": null, "archive_dir": "/var/lib/profilegate-archive"})),
    responses(
        (status = 200, description = "the status after the change", body = crate::service::retention::Status),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "the change could not be made durable", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn set_audit_retention() {}

#[utoipa::path(
    post,
    path = "/admin/api/audit/archive",
    operation_id = "archive_audit",
    tag = "admin",
    summary = "Run the audit retention now (or dry): the records it lets go move to archive files",
    description = "The server also runs it an hour apart. With retention off nothing moves (`records` 0). The cut is one `audit.archive` record, durable before the answer, and a fresh signed checkpoint.",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::admin::audit::ArchiveReq, example = json!({"dry_run": true})),
    responses(
        (status = 200, description = "the files written (dry: that would be) and the records moved", body = crate::service::retention::Outcome),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
        (status = 500, description = "writing the archive files failed; nothing was cut", body = ErrorBody),
        (status = 503, description = "the cut could not be made durable", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn archive_audit() {}

#[utoipa::path(
    get,
    path = "/admin/api/settings",
    operation_id = "settings",
    tag = "admin",
    summary = "Policy settings: department match mode and failure messages (and their defaults)",
    responses(
        (status = 200, description = "the policy settings", body = PolicyInfo),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn settings() {}

#[utoipa::path(
    post,
    path = "/admin/api/settings",
    operation_id = "save_settings",
    tag = "admin",
    summary = "Save policy settings; each message is checked against the identity server's charset and length rules",
    description = "A message the identity server would turn into a 500 is refused, naming its field (e.g. `messages.invalid_department.reason`).",
    security(("session" = [], "csrf" = [])),
    request_body = crate::admin::settings::PolicyForm,
    responses(
        (status = 200, description = "saved", body = Saved),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn save_settings() {}

#[utoipa::path(
    get,
    path = "/admin/api/openapi.json",
    operation_id = "openapi",
    tag = "admin",
    summary = "This document",
    description = "Served without a session.",
    security(()),
    responses(
        (status = 200, description = "OpenAPI 3.1", body = Object, content_type = "application/json"),
    ),
)]
#[allow(dead_code)]
fn openapi() {}

#[utoipa::path(
    get,
    path = "/admin/api/password/policy",
    operation_id = "password_policy",
    tag = "admin",
    summary = "The password policy: the root's rules, each organization's own, the security-team e-mail choice, the default rules",
    responses(
        (status = 200, description = "the policy", body = PasswordPolicyInfo),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn password_policy() {}

#[utoipa::path(
    post,
    path = "/admin/api/password/policy",
    operation_id = "save_password_policy",
    tag = "admin",
    summary = "Save one organization's password rules (without `org`: the root's)",
    description = "Checked before saving: `min_length` at least the factor mode's floor (15, or 8 for mfa), `max_length` 64..1024, at most 50 extra words, every message in the identity server's charset. A refusal names its field (e.g. `min_length`, `messages.too_short.description`).",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::admin::password::RulesForm, example = json!({"org": "10084a8d-113f-4211-a0d5-efe36b082211", "rules": {"factor_mode": "single-factor", "min_length": 16, "max_length": 256, "common_passwords": true, "patterns": true, "context_words": true, "context_contains": false, "extra_words": ["acme"]}})),
    responses(
        (status = 200, description = "the rules as saved", body = PasswordRulesSaved, example = json!({"org": "10084a8d-113f-4211-a0d5-efe36b082211", "rules": {"factor_mode": "single-factor", "min_length": 16, "max_length": 256}})),
        (status = 400, description = "the value refused, and its field", body = ErrorBody, example = json!({"error": "min_length must be at least 15 for SingleFactor", "field": "min_length"})),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn save_password_policy() {}

#[utoipa::path(
    post,
    path = "/admin/api/password/policy/remove",
    operation_id = "remove_password_policy",
    tag = "admin",
    summary = "Remove an organization's own password rules: it uses the root's again",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::admin::password::OrgForm, example = json!({"org": "10084a8d-113f-4211-a0d5-efe36b082211"})),
    responses(
        (status = 200, description = "the organization", body = PasswordRulesRemoved, example = json!({"removed": "10084a8d-113f-4211-a0d5-efe36b082211"})),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn remove_password_policy() {}

#[utoipa::path(
    post,
    path = "/admin/api/password/notify",
    operation_id = "set_password_notify",
    tag = "admin",
    summary = "Which password events are mailed to the security team: none, admin-initiated or all",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::admin::password::NotifyForm, example = json!({"notify": "admin-initiated"})),
    responses(
        (status = 200, description = "the choice as saved", body = PasswordNotifyInfo, example = json!({"notify": "admin-initiated"})),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn set_password_notify() {}

#[utoipa::path(
    post,
    path = "/admin/api/password/online",
    operation_id = "set_password_online",
    tag = "admin",
    summary = "The optional online breach check: a k-anonymity range API (only 5 hex digits of the SHA-1 leave)",
    description = "Asked only for a password every local rule accepted, within `timeout_ms` (50 to 1000). When the source does not answer: accepted with an audit note, or refused with `fail_closed`. The URL is kept when the check is switched off.",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::admin::password::OnlineForm, example = json!({"enabled": false, "url": "https://range.example/range/", "timeout_ms": 800, "fail_closed": false})),
    responses(
        (status = 200, description = "the setting as saved", body = crate::model::password::OnlineBreachCheck, example = json!({"enabled": false, "url": "https://range.example/range/", "timeout_ms": 800, "fail_closed": false})),
        (status = 400, description = "the value refused, and its field (`url`, `timeout_ms`)", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn set_password_online() {}

#[utoipa::path(
    get,
    path = "/admin/api/password/breached",
    operation_id = "password_breached",
    tag = "admin",
    summary = "The breached-password filter: the file imported in the data dir, the one in use, and whether an upload is being imported",
    responses(
        (status = 200, description = "the filter's status (null: none)", body = PasswordBreachedStatus, example = json!({"imported": null, "loaded": null, "importing": false})),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn password_breached() {}

#[utoipa::path(
    post,
    path = "/admin/api/password/breached",
    operation_id = "import_password_breached",
    tag = "admin",
    summary = "Import a Pwned-Passwords file (the body: `SHA1HEX:COUNT` lines, or bare hashes) into the breached-password filter",
    description = "The body is streamed to the data dir (at most 8 GiB, no pause over 30 s), imported beside the filter in use, and used at once; the import is recorded in the audit log. A malformed line refuses the whole file (the line is named) and the filter in use stays. One import at a time. The whole list is better imported with `profilegate password breached import FILE` on the machine.",
    params(crate::admin::password::ImportQuery),
    security(("session" = [], "csrf" = [])),
    request_body(content = String, content_type = "text/plain", example = json!("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:9545824\r\n7C4A8D09CA3762AF61E59520943DC26494F8941B:4527")),
    responses(
        (status = 200, description = "the new filter, in use", body = PasswordBreachedImported),
        (status = 400, description = "a malformed line or no hash left (field `file`), or `min_count` refused", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the upload paused for more than 30 s", body = ErrorBody),
        (status = 409, description = "an import is already running", body = ErrorBody),
        (status = 413, description = "the file is larger than 8 GiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn import_password_breached() {}

#[utoipa::path(
    post,
    path = "/admin/api/password/try",
    operation_id = "try_password",
    tag = "admin",
    summary = "Try a password against an organization's rules (without `org`: the root's)",
    description = "Evaluates only: nothing is stored, audited, counted or logged, and the password is not echoed. `context` plays the event's user (names, e-mail, organization name) so the context-word rules can be tried. The breached-password check is not part of a try. At most 16 KiB.",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::admin::password::TryForm, example = json!({"password": "acme-password", "org": null, "context": {"username": "alice", "email": "alice@acme.example", "given_name": "Alice", "family_name": "Smith"}})),
    responses(
        (status = 200, description = "the verdict", body = PasswordTryResult, example = json!({"accepted": false, "rule": "min_length", "reason": "password_too_short", "description": "Use at least 15 characters. A passphrase of several unrelated words is long and easy to remember.", "applied": ["min_length"], "unchecked": [], "org": null, "own": true})),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn try_password() {}

#[utoipa::path(
    get,
    path = "/admin/api/password/keys",
    operation_id = "password_keys",
    tag = "admin",
    summary = "The password-sharing keys, active and retired, newest first (never key bytes)",
    responses(
        (status = 200, description = "the keys", body = PasswordKeyList),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn password_keys() {}

#[utoipa::path(
    post,
    path = "/admin/api/password/keys",
    operation_id = "generate_password_key",
    tag = "admin",
    summary = "Generate an RSA key pair (2048 or 3072 bits) and its self-signed certificate",
    description = "At most two keys are active (rotation: generate the new one, give WSO2 its certificate, retire the old one); a third is refused with 409 before any work. 3072-bit generation can take seconds.",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::admin::password::GenerateForm, example = json!({"bits": 2048})),
    responses(
        (status = 200, description = "the key and its certificate (PEM and base64 of the PEM)", body = PasswordKeyCreated),
        (status = 400, description = "the value refused, and its field", body = ErrorBody, example = json!({"error": "unsupported key size 1024", "field": "bits"})),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 409, description = "two keys are active already; retire one first", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn generate_password_key() {}

#[utoipa::path(
    get,
    path = "/admin/api/password/keys/{id}",
    operation_id = "export_password_key",
    tag = "admin",
    summary = "An active key's certificate as PEM and as base64 of the PEM (passwordSharing.certificate)",
    params(("id" = String, Path, description = "the key's id")),
    responses(
        (status = 200, description = "the certificate", body = crate::service::password::KeyExport),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn export_password_key() {}

#[utoipa::path(
    post,
    path = "/admin/api/password/keys/{id}/retire",
    operation_id = "retire_password_key",
    tag = "admin",
    summary = "Retire an active key: its private key is erased; passwords encrypted to its certificate no longer open",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "the key's id")),
    responses(
        (status = 200, description = "the key as retired", body = PasswordKeyRetired),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 404, description = "no such item", body = ErrorBody),
        (status = 409, description = "a conflict with the current state", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn retire_password_key() {}

#[utoipa::path(
    get,
    path = "/admin/api/password/registration",
    operation_id = "password_registration",
    tag = "admin",
    summary = "Values to register the pre-update-password action in WSO2: endpoint, authentication, passwordSharing (format and the newest active key's certificate) and a ready Action Management REST API body",
    params(crate::admin::password::PasswordRegistrationQuery),
    responses(
        (status = 200, description = "the registration values", body = crate::admin::register::PasswordRegistration),
        (status = 400, description = "the value refused, and its field", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn password_registration() {}

#[utoipa::path(
    get,
    path = "/admin/api/simulate/samples",
    operation_id = "simulate_samples",
    tag = "admin",
    summary = "The bundled sample events (real requests of WSO2 Identity Server: profile and password, docs, organization user, shared user, v1/v2, REGISTER)",
    responses(
        (status = 200, description = "the samples", body = crate::admin::simulate::SampleList),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn simulate_samples() {}

#[utoipa::path(
    post,
    path = "/admin/api/simulate",
    operation_id = "simulate",
    tag = "admin",
    summary = "Dry run of an event: what the identity server would get back, the rule that decided, the e-mail and the audit record, with nothing written, sent or counted",
    description = "Runs the action endpoints' own decision on `event` (the body as the identity server POSTs it; the endpoint by default from its actionType) under the current settings, or under a copy with `overrides` applied (settings as edited, not saved: departments of one organization, sensitive claims, the profile messages, the password rules of the event's organization). A bad event is not an error: the answer is the 400 ERROR the identity server would get. Not simulated: the caller's authentication, retries and the online breach source. Events over 64 KiB are answered as the endpoint answers them.",
    security(("session" = [], "csrf" = [])),
    request_body(content = crate::service::simulate::SimulateRequest, example = json!({"event": "{\"actionType\": \"PRE_UPDATE_PROFILE\", \"event\": {\"request\": {\"claims\": [{\"uri\": \"http://wso2.org/claims/department\", \"value\": \"HR\"}]}}}", "endpoint": "profile", "overrides": {"departments": {"org": null, "names": ["HR", "Sales"]}}})),
    responses(
        (status = 200, description = "the simulated call", body = crate::service::simulate::Simulation),
        (status = 400, description = "an override refused, and its field (overrides.departments, overrides.sensitive, overrides.messages, overrides.password_rules)", body = ErrorBody),
        (status = 401, description = "not logged in, or the session expired (login: a wrong password)", body = ErrorBody),
        (status = 403, description = "a cross-site request, or a missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "the body did not arrive within 10 s", body = ErrorBody),
        (status = 413, description = "the body is larger than 1 MiB", body = ErrorBody),
    ),
)]
#[allow(dead_code)]
fn simulate() {}
