//! The admin API's answers as types: each operation's 200 body and the error body. They are
//! what the handlers serialize and what `openapi` describes, so the two cannot drift apart.
//!
//! Field names and shapes are the wire format the UI (`static/app.js`) reads; answers are
//! serialized through `serde_json::Value` (see `super::json`), so their keys come out sorted
//! as they always have.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::checklist::Check;
use crate::model::{AuditRecord, CredentialKind, CredentialRecord, DeliveryMode, EndpointAuth};
use crate::model::{Encryption, PasswordEventMail, PasswordKeyInfo, SmtpSettings};
use crate::policy::password::{PasswordRules, Rule as PasswordRule};
use crate::policy::{MatchMode, Messages};
use crate::service::password::KeyExport;
use crate::store::departments::ImportPlan;
use crate::store::outbox::{OutboxItem, OutboxStatus};

/// Every error: the reason, and the form field it concerns (shown next to it), if any.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: String,
    /// The form field the message belongs to.
    #[schema(value_type = Option<String>)]
    pub field: Option<&'static str>,
}

/// A started or current session: the token every mutating call sends as `X-CSRF-Token`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    pub csrf_token: String,
    /// Whether this server speaks HTTPS.
    pub tls: bool,
}

/// `{"ok": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedOut {
    pub ok: bool,
}

/// `{"changed": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChanged {
    pub changed: bool,
}

/// `{"saved": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Saved {
    pub saved: bool,
}

/// One department list, and the organizations that have one.
#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentList {
    /// Sub-organization id; null for the root organization.
    pub org: Option<String>,
    pub names: Vec<String>,
    /// Sub-organizations with a list of their own.
    pub orgs: Vec<String>,
}

/// The names added.
#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentsAdded {
    pub added: Vec<String>,
}

/// How many names were removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentsRemoved {
    pub removed: usize,
}

/// An import's plan, and whether it was applied.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub applied: bool,
    pub plan: ImportPlan,
}

/// An endpoint credential as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialInfo {
    pub id: String,
    pub kind: CredentialKind,
    /// BASIC, BEARER, API_KEY or CLIENT_CREDENTIAL.
    #[serde(rename = "type")]
    pub type_name: &'static str,
    pub created: String,
    pub last_used: Option<String>,
}

impl From<&CredentialRecord> for CredentialInfo {
    fn from(c: &CredentialRecord) -> Self {
        CredentialInfo {
            id: c.id.clone(),
            kind: c.kind.clone(),
            type_name: c.kind.wso2_name(),
            created: c.created.clone(),
            last_used: c.last_used.clone(),
        }
    }
}

/// The active endpoint credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    pub credentials: Vec<CredentialInfo>,
}

/// A new credential: its id, type and the WSO2 properties, the secret among them (shown this
/// once): `username`/`password` (BASIC), `accessToken` (BEARER) or `header`/`value` (API_KEY).
#[derive(Debug, Serialize, ToSchema)]
pub struct NewCredentialInfo {
    pub id: String,
    /// BASIC, BEARER or API_KEY.
    #[serde(rename = "type")]
    pub type_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(rename = "accessToken", skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "clientId", skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(rename = "clientSecret", skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// profilegate's token endpoint as this browser reached it (client-credential).
    #[serde(rename = "tokenEndpoint", skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
}

impl From<&crate::auth::Created> for NewCredentialInfo {
    fn from(c: &crate::auth::Created) -> Self {
        let mut n = NewCredentialInfo {
            id: c.record.id.clone(),
            type_name: c.record.kind.wso2_name(),
            username: None,
            password: None,
            access_token: None,
            header: None,
            value: None,
            client_id: None,
            client_secret: None,
            token_endpoint: None,
        };
        let secret = Some(c.secret.clone());
        match &c.record.kind {
            CredentialKind::Basic { username } => {
                n.username = Some(username.clone());
                n.password = secret;
            }
            CredentialKind::Bearer => n.access_token = secret,
            CredentialKind::ApiKey { header } => {
                n.header = Some(header.clone());
                n.value = secret;
            }
            CredentialKind::ClientCredential { client_id } => {
                n.client_id = Some(client_id.clone());
                n.client_secret = secret;
            }
            // No secret: the provider's values are entered in the console.
            CredentialKind::Jwt(cfg) => {
                n.token_endpoint = crate::auth::jwt_properties(cfg)
                    .get("tokenEndpoint")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
            }
        }
        n
    }
}

/// The id of the revoked credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: String,
}

/// The endpoint's authentication mode.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthMode {
    pub auth: EndpointAuth,
}

/// The endpoint page: authentication, credentials, and defaults for the registration panel.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointInfo {
    pub auth: EndpointAuth,
    /// How long access tokens issued at /oauth2/token live, in seconds.
    pub token_lifetime_secs: u64,
    /// profilegate's token endpoint as this browser reached the server.
    pub token_url: String,
    pub action_path: &'static str,
    /// The endpoint URL as this browser reached the server.
    pub default_url: String,
    pub default_name: &'static str,
    pub credentials: Vec<CredentialInfo>,
}

/// Today's decisions by outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct TodayCounts {
    /// SUCCESS, FAILED and ERROR (always present), and any other outcome seen.
    pub counts: BTreeMap<String, u64>,
    /// False when the day had more records than were counted ("at least").
    pub complete: bool,
}

/// Queued e-mail at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailHealth {
    pub configured: bool,
    pub mode: DeliveryMode,
    pub pending: usize,
    pub failed: usize,
    pub oldest_pending: Option<String>,
}

/// The overview page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub version: &'static str,
    pub checklist: Vec<Check>,
    pub today: TodayCounts,
    /// The latest decisions, newest first.
    pub latest: Vec<AuditRecord>,
    pub email: EmailHealth,
    /// The synced department lists: last success, age, a held sync.
    pub department_sync: Vec<crate::service::sync::SourceStatus>,
    /// The data dir's volume: free space, and whether it is too little.
    pub disk: Option<crate::service::disk::DiskState>,
    /// The SIEM forwarding targets switched on: cursor, backlog, lag, last error.
    pub audit_forward: Vec<crate::service::forward::TargetStatus>,
    /// Decisions, e-mail and refused calls over the last 24 hours and 30 days.
    pub series: crate::service::stats::Series,
}

/// Organizations seen in authenticated action calls (at most 1,000, by id), to pick from.
#[derive(Debug, Serialize, ToSchema)]
pub struct Organizations {
    pub organizations: Vec<crate::model::stats::SeenOrg>,
}

/// The SMTP settings as shown: the password never, only whether one is set.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmtpInfo {
    pub host: String,
    pub port: u16,
    pub encryption: Encryption,
    pub username: Option<String>,
    pub password_set: bool,
    pub from: String,
    pub timeout_ms: u64,
    pub tls_ca_pem: Option<String>,
}

impl From<&SmtpSettings> for SmtpInfo {
    fn from(s: &SmtpSettings) -> Self {
        SmtpInfo {
            host: s.host.clone(),
            port: s.port,
            encryption: s.encryption,
            username: s.username.clone(),
            password_set: s.password.is_some(),
            from: s.from.clone(),
            timeout_ms: s.timeout_ms,
            tls_ca_pem: s.tls_ca_pem.clone(),
        }
    }
}

/// One queued e-mail as listed (without its body).
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxEntry {
    pub id: u64,
    pub status: OutboxStatus,
    pub created: String,
    pub request_id: Option<String>,
    pub subject: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// When the next attempt is due (none scheduled: null).
    pub next_attempt: Option<String>,
}

impl OutboxEntry {
    pub fn new(id: u64, it: &OutboxItem) -> Self {
        OutboxEntry {
            id,
            status: it.status,
            created: it.created.clone(),
            request_id: it.request_id.clone(),
            subject: it.subject.clone(),
            attempts: it.attempts,
            last_error: it.last_error.clone(),
            next_attempt: (it.next_attempt_ms > 0)
                .then(|| crate::store::format_unix_ms(it.next_attempt_ms)),
        }
    }
}

/// The outbox: counts and the first items (failed first).
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxInfo {
    pub pending: usize,
    pub failed: usize,
    pub oldest_pending: Option<String>,
    pub items: Vec<OutboxEntry>,
}

/// The notifications page.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationsInfo {
    pub smtp: Option<SmtpInfo>,
    /// When the stored SMTP settings last sent a test message.
    pub smtp_tested: Option<String>,
    pub recipients: Vec<String>,
    pub sensitive: Vec<String>,
    pub mode: DeliveryMode,
    pub outbox: OutboxInfo,
}

/// The recipient list as saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientList {
    pub recipients: Vec<String>,
}

/// The sensitive-claim list as saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct SensitiveList {
    pub sensitive: Vec<String>,
}

/// The delivery mode as saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModeInfo {
    pub mode: DeliveryMode,
}

/// A test message went out, to these recipients.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    pub sent: bool,
    pub to: Vec<String>,
}

/// How many failed e-mails were queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    pub retried: usize,
}

/// One page of audit records, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Pass as `before` for the next page; null at the start of the chain.
    pub next_before: Option<u64>,
}

/// The first record that does not fit the chain, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct FirstBad {
    pub seq: u64,
    pub problem: String,
}

/// The result of walking the hash chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    pub ok: bool,
    /// Records checked (all of them when intact).
    pub records: u64,
    /// Present only when the chain is broken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<FirstBad>,
}

/// Policy settings, and the default messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyInfo {
    pub department_match: MatchMode,
    pub messages: Messages,
    pub defaults: Messages,
}

/// The password policy: the root's rules, each organization's own, the e-mail choice, and the
/// default rules (to fill a form with).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordPolicyInfo {
    pub root: PasswordRules,
    /// Sub-organizations (by id) with rules of their own; the others use the root's.
    pub orgs: BTreeMap<String, PasswordRules>,
    pub notify: PasswordEventMail,
    /// The optional online breach check (one setting for every organization).
    pub online: crate::model::password::OnlineBreachCheck,
    pub defaults: PasswordRules,
}

/// Rules as saved, and whose (null: the root's).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordRulesSaved {
    pub org: Option<String>,
    pub rules: PasswordRules,
}

/// The organization that uses the root's rules again.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordRulesRemoved {
    pub removed: String,
}

/// The e-mail choice as saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordNotifyInfo {
    pub notify: PasswordEventMail,
}

/// A tried password's verdict (the password itself is never echoed).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordTryResult {
    pub accepted: bool,
    /// The rule that failed; null when accepted.
    pub rule: Option<PasswordRule>,
    /// The failureReason the identity server would get; null when accepted.
    pub reason: Option<String>,
    /// The failureDescription the user would see; null when accepted.
    pub description: Option<String>,
    /// Rules checked, up to and including the one that failed.
    pub applied: Vec<PasswordRule>,
    /// Enabled rules that could not be checked.
    pub unchecked: Vec<PasswordRule>,
    /// Whose rules were applied (null: the root's).
    pub org: Option<String>,
    /// False when the organization uses the root's rules.
    pub own: bool,
}

/// The password-sharing keys, newest first, and how many may be active at once.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordKeyList {
    pub keys: Vec<PasswordKeyInfo>,
    pub max_active: usize,
}

/// A new key and its certificate (never the private key).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordKeyCreated {
    pub key: PasswordKeyInfo,
    pub export: KeyExport,
}

/// The key as retired.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordKeyRetired {
    pub retired: PasswordKeyInfo,
}

/// The breached-password filter: the file imported in the data dir, the one this server uses
/// (they differ for up to 5 s after a command-line import), and whether an upload is running.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordBreachedStatus {
    pub imported: Option<crate::service::password::BreachedInfo>,
    pub loaded: Option<crate::service::password::BreachedInfo>,
    pub importing: bool,
}

/// An uploaded file's import: the new filter, and whether it is in use.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordBreachedImported {
    pub imported: crate::service::password::BreachedInfo,
    pub in_use: bool,
}
