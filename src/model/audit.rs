//! What the audit chain holds: the entries administrators and decisions add, a record as read
//! back, and the result of verifying the chain. How they are stored, chained and made durable
//! is the storage layer's business.

use serde::{Deserialize, Serialize};

use crate::contract::Organization;
use crate::policy::password::Rule as PasswordRule;
use crate::policy::{ClaimChange, Rule};

/// An action decision.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DecisionEntry {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_id: Option<String>,
    /// Hex key under which a retry finds this decision (from the request id or the body).
    pub idempotency_key: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tenant_name: Option<String>,
    /// The accessing organization (sub-organization flows).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub organization: Option<Organization>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<String>,
    /// The user's resident organization, for shared users.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_organization: Option<Organization>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shared_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub initiator: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub claims: Vec<ClaimChange>,
    /// SUCCESS, FAILED or ERROR.
    pub decision: String,
    pub http_status: u16,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rule: Option<Rule>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// What happened about the security notification.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub notification: Option<String>,
    /// Which endpoint credential the caller used (its id, never the secret).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential: Option<String>,
    /// Microseconds from receiving the request to writing this record.
    pub latency_us: u64,
    /// A password decision's own facts (absent on profile decisions and on records written
    /// before the password action existed). Never the password, its hash or the JWE.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub password: Option<PasswordDecision>,
}

/// What a pre-update-password decision rests on, beside the common fields (user id, or
/// `new user` on REGISTER; organizations; initiator; the answer).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PasswordDecision {
    /// `event.action`: UPDATE, RESET, INVITE, REGISTER (or a later contract's label).
    pub action: String,
    /// How the credential arrived: PLAIN_TEXT, HASH or JWE.
    pub form: String,
    /// Rules checked, up to and including the one that failed.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub rules_applied: Vec<PasswordRule>,
    /// Enabled rules that could not be checked (the HASH form, a breach source that did not answer).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub rules_unchecked: Vec<PasswordRule>,
    /// The rule that refused the password.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failed_rule: Option<PasswordRule>,
    /// What went wrong around the rules (an online breach source that did not answer).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// A change made by an administrator.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminEntry {
    /// Who: `cli`, or the admin session.
    pub actor: String,
    /// What, e.g. `departments.add`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub before: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<serde_json::Value>,
}

/// What a record is about.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditEntry {
    Decision(Box<DecisionEntry>),
    Admin(AdminEntry),
}

/// A record as read back: its position in the chain, its time, its link and its content.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub time: String,
    pub prev_hash: String,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked (all of them when intact).
    pub records: u64,
    /// The first record that does not fit, and why.
    pub first_bad: Option<(u64, String)>,
}
