//! Endpoint credentials as stored: an id, the kind with its non-secret properties, and the
//! argon2id hash of the secret. The secret itself is never stored.

use serde::{Deserialize, Serialize};

/// How the identity server presents the credential (CONTRACT.md T4–T6).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CredentialKind {
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String },
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `<header>: <value>`, header name matched case-insensitively.
    ApiKey { header: String },
    /// OAuth 2.0 client credentials with profilegate as the token endpoint: the identity
    /// server gets a token at `/oauth2/token` with `client_id` and the secret (the hash below),
    /// then calls with `Authorization: Bearer <token>`.
    ClientCredential { client_id: String },
    /// OAuth 2.0 client credentials with another identity provider as the token endpoint: the
    /// caller presents that provider's JWT, checked against its published keys. No secret is
    /// stored (`hash` is empty).
    Jwt(JwtIssuer),
}

/// The identity provider whose JWT access tokens are accepted, and what they must say.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtIssuer {
    /// The `iss` claim, exactly.
    pub issuer: String,
    /// A value the `aud` claim must hold (WSO2 IS puts the application's client id there).
    pub audience: String,
    /// A scope the `scope` claim must list, when set.
    #[serde(default)]
    pub scope: Option<String>,
    /// `https://…` URL of the provider's JSON Web Key Set.
    pub jwks_url: String,
    /// A CA certificate (PEM) to trust besides the system's, for a provider with a private CA.
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
}

impl CredentialKind {
    /// The type name the WSO2 console and REST API use.
    pub fn wso2_name(&self) -> &'static str {
        match self {
            CredentialKind::Basic { .. } => "BASIC",
            CredentialKind::Bearer => "BEARER",
            CredentialKind::ApiKey { .. } => "API_KEY",
            // Both are OAuth client credentials in the console; only the token endpoint differs.
            CredentialKind::ClientCredential { .. } | CredentialKind::Jwt(_) => "CLIENT_CREDENTIAL",
        }
    }

    /// The name `credentials create --type` and the admin API take.
    pub fn type_name(&self) -> &'static str {
        match self {
            CredentialKind::Basic { .. } => "basic",
            CredentialKind::Bearer => "bearer",
            CredentialKind::ApiKey { .. } => "api-key",
            CredentialKind::ClientCredential { .. } => "client-credential",
            CredentialKind::Jwt(_) => "jwt",
        }
    }
}

/// One stored credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRecord {
    pub id: String,
    #[serde(flatten)]
    pub kind: CredentialKind,
    /// argon2id PHC string of the secret (empty for [`CredentialKind::Jwt`], which has none).
    #[serde(default)]
    pub hash: String,
    pub created: String,
    #[serde(default)]
    pub last_used: Option<String>,
}

/// At most this many credentials are active: the one in use and its replacement during a
/// rotation. Fewer live secrets is less to leak.
pub const MAX_ACTIVE: usize = 2;

/// Why a new credential does not fit beside the active ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoRoom {
    #[error("{} credentials are already active (the one in use and its replacement); revoke one first: {}", .0.len(), .0.join(" "))]
    Full(Vec<String>),
    #[error("an API key credential with header {0} already exists; choose another header name or revoke it first")]
    HeaderTaken(String),
}

/// The rule for adding a credential: two active at most, and one API key per header name. The
/// service checks it before the slow hashing; the store again when it writes, for a creation
/// that raced it.
pub fn check_room(active: &[CredentialRecord], kind: &CredentialKind) -> Result<(), NoRoom> {
    if active.len() >= MAX_ACTIVE {
        return Err(NoRoom::Full(active.iter().map(|c| c.id.clone()).collect()));
    }
    if let CredentialKind::ApiKey { header } = kind {
        let taken = active.iter().any(
            |c| matches!(&c.kind, CredentialKind::ApiKey { header: h } if h.eq_ignore_ascii_case(header)),
        );
        if taken {
            return Err(NoRoom::HeaderTaken(header.clone()));
        }
    }
    Ok(())
}
