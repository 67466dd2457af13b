//! Settings kept in the data dir and changed by an administrator.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::password::PasswordPolicy;
use crate::policy::PolicySettings;
use crate::sync::SyncSettings;

/// Whether callers must authenticate.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointAuth {
    /// A valid endpoint credential is required (the default).
    #[default]
    Required,
    /// Anyone who can reach the endpoint may call it; chosen explicitly, warned at start-up.
    None,
}

/// How the SMTP connection is secured.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encryption {
    /// Plain SMTP (a relay on localhost, say).
    None,
    /// Plain connection upgraded with STARTTLS (usually port 587 or 25).
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// The mail server to send through.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub encryption: Encryption,
    #[serde(default)]
    pub username: Option<String>,
    /// Needed in clear to log in; kept only in the data dir (mode 0700), never printed, never
    /// logged, redacted in the audit chain.
    #[serde(default)]
    pub password: Option<String>,
    pub from: String,
    /// Connection and command timeout, and the budget of a blocking send.
    pub timeout_ms: u64,
    /// A CA certificate (PEM) to trust besides the system's, for a relay with a private or
    /// self-signed certificate.
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("encryption", &self.encryption)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .field("from", &self.from)
            .field("timeout_ms", &self.timeout_ms)
            .field("tls_ca_pem", &self.tls_ca_pem.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// When the security-team e-mail is sent.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// Before answering, within the SMTP timeout; a failure answers FAILED `email_error` (the
    /// seed's behaviour).
    #[default]
    Blocking,
    /// Written to a durable outbox together with the audit record, then delivered in the
    /// background with retries; the update is answered without waiting for SMTP.
    Queued,
}

/// Security-team notification settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifySettings {
    pub smtp: Option<SmtpSettings>,
    pub recipients: Vec<String>,
    /// Claim URIs whose change is reported.
    pub sensitive: Vec<String>,
    pub mode: DeliveryMode,
    /// First retry delay of a queued e-mail; doubles per attempt, up to 10 minutes.
    pub retry_base_ms: u64,
    /// When a test message last went out with the current SMTP settings (cleared when they
    /// change), for the setup checklist.
    pub smtp_tested: Option<String>,
}

/// The claims reported by default: e-mail, mobile and department, single- and multi-valued.
pub const DEFAULT_SENSITIVE: &[&str] = &[
    "http://wso2.org/claims/emailaddress",
    "http://wso2.org/claims/mobile",
    "http://wso2.org/claims/department",
    "http://wso2.org/claims/emailAddresses",
    "http://wso2.org/claims/mobileNumbers",
];

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            smtp: None,
            recipients: Vec::new(),
            sensitive: DEFAULT_SENSITIVE.iter().map(|s| s.to_string()).collect(),
            mode: DeliveryMode::Blocking,
            retry_base_ms: 1000,
            smtp_tested: None,
        }
    }
}

impl NotifySettings {
    /// The SMTP settings, when there is somewhere and someone to send to.
    pub fn configured(&self) -> Option<&SmtpSettings> {
        self.smtp.as_ref().filter(|_| !self.recipients.is_empty())
    }
}

/// A syslog collector: RFC 5424 messages over TCP, octet-counted (RFC 6587).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyslogTarget {
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (RFC 5425), trusting the system's roots and `tls_ca_pem`.
    #[serde(default)]
    pub tls: bool,
    /// A CA certificate (PEM) to trust besides the system's.
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
}

/// An HTTP collector taking POSTs of JSON lines (Splunk HEC, Elastic and the like).
#[derive(utoipa::ToSchema, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpTarget {
    /// `https://…` (`http://` only to a loopback host).
    pub url: String,
    /// Sent as `Authorization: Bearer …`; kept only in the data dir, masked in the audit.
    #[serde(default)]
    pub token: Option<String>,
    /// A CA certificate (PEM) to trust besides the system's.
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
}

impl std::fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTarget")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "********"))
            .field("tls_ca_pem", &self.tls_ca_pem.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// Where every audit record is forwarded once durable (none by default).
#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForwardSettings {
    pub syslog: Option<SyslogTarget>,
    pub http: Option<HttpTarget>,
}

/// How long the live database keeps audit records before they move to archive files (see
/// `store::archive`). Neither limit set: everything is kept.
#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionSettings {
    /// Archive a month once it ended more than this many days ago.
    pub keep_days: Option<u32>,
    /// Archive the oldest records while more than this many are live.
    pub keep_records: Option<u64>,
    /// Where the archive files go (absolute); `None`: `<data-dir>/archive`.
    pub dir: Option<String>,
}

impl RetentionSettings {
    /// Whether anything is ever archived.
    pub fn enabled(&self) -> bool {
        self.keep_days.is_some() || self.keep_records.is_some()
    }
}

/// Everything an administrator sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub policy: PolicySettings,
    pub endpoint_auth: EndpointAuth,
    pub notify: NotifySettings,
    /// How long a decision is replayed for a retried request id. The caller's worst case
    /// is two attempts of 2 s connect + 5 s read, so anything at or above 14 s covers it.
    pub idempotency_window_secs: u64,
    /// The pre-update-password action's policy (absent in settings stored before it existed:
    /// the defaults, NIST's).
    pub password: PasswordPolicy,
    /// Department lists kept in step with a company source, by organization id (`""`: the
    /// root organization). An organization without an entry keeps its hand-kept list.
    pub department_sync: BTreeMap<String, SyncSettings>,
    /// SIEM forwarding of the audit records.
    pub audit_forward: ForwardSettings,
    /// When audit records move from the live database to archive files.
    pub audit_retention: RetentionSettings,
    /// How long an access token issued at `/oauth2/token` is accepted, in seconds.
    pub oauth_token_lifetime_secs: u64,
}

/// The default access-token lifetime: an hour, as most token endpoints issue.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3600;
/// The range an administrator may set: a token that lives a day is a static secret again.
pub const TOKEN_LIFETIME_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            policy: PolicySettings::default(),
            endpoint_auth: EndpointAuth::Required,
            notify: NotifySettings::default(),
            idempotency_window_secs: 120,
            password: PasswordPolicy::default(),
            department_sync: BTreeMap::new(),
            audit_forward: ForwardSettings::default(),
            audit_retention: RetentionSettings::default(),
            oauth_token_lifetime_secs: DEFAULT_TOKEN_LIFETIME_SECS,
        }
    }
}

impl Settings {
    /// The settings as the audit chain and any display show them: the SMTP password and the
    /// department sources' secrets masked.
    pub fn redacted(&self) -> Settings {
        let mut s = self.clone();
        for sync in s.department_sync.values_mut() {
            *sync = sync.redacted();
        }
        if let Some(smtp) = s.notify.smtp.as_mut() {
            if smtp.password.is_some() {
                smtp.password = Some("********".into());
            }
        }
        if let Some(http) = s.audit_forward.http.as_mut() {
            if http.token.is_some() {
                http.token = Some("********".into());
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings stored before the password action existed still load, with its defaults.
    #[test]
    fn settings_without_the_password_policy_still_load() {
        let old = r#"{"policy":{},"endpoint_auth":"required","notify":{"recipients":["sec@example.com"]},"idempotency_window_secs":300}"#;
        let s: Settings = serde_json::from_str(old).unwrap();
        assert_eq!(s.idempotency_window_secs, 300);
        assert_eq!(s.notify.recipients, ["sec@example.com"]);
        assert_eq!(s.password, PasswordPolicy::default());
        assert_eq!(s.password.rules_for(Some("any")).min_length, 15);
    }
}
