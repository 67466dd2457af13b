//! The domain's records: settings, endpoint credentials and the audit chain's entries, as
//! plain data (serde types with their pure helpers). Storage, the admin API, the CLI and the
//! notifier all use them; this module uses nothing of theirs (only `policy` and `contract`,
//! for the pure types a decision carries).

pub mod audit;
pub mod credentials;
pub mod password;
pub mod settings;
pub mod stats;

pub use audit::{
    AdminEntry, AuditEntry, AuditRecord, DecisionEntry, PasswordDecision, VerifyReport,
};
pub use credentials::{CredentialKind, CredentialRecord};
pub use password::{PasswordEventMail, PasswordKeyInfo, PasswordPolicy};
pub use settings::{
    DeliveryMode, Encryption, EndpointAuth, ForwardSettings, HttpTarget, NotifySettings,
    RetentionSettings, Settings, SmtpSettings, SyslogTarget, DEFAULT_SENSITIVE,
};
