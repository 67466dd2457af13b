//! Endpoint credentials as stored: an id, the kind with its non-secret properties, and the
//! argon2id hash of the secret. The secret itself is never stored.

use serde::{Deserialize, Serialize};

/// How the identity server presents the credential (CONTRACT.md T4–T6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CredentialKind {
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String },
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `<header>: <value>`, header name matched case-insensitively.
    ApiKey { header: String },
}

impl CredentialKind {
    /// The type name the WSO2 console and REST API use.
    pub fn wso2_name(&self) -> &'static str {
        match self {
            CredentialKind::Basic { .. } => "BASIC",
            CredentialKind::Bearer => "BEARER",
            CredentialKind::ApiKey { .. } => "API_KEY",
        }
    }
}

/// One stored credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRecord {
    pub id: String,
    #[serde(flatten)]
    pub kind: CredentialKind,
    /// argon2id PHC string of the secret.
    pub hash: String,
    pub created: String,
    #[serde(default)]
    pub last_used: Option<String>,
}
