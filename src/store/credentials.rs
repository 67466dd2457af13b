//! Endpoint credentials as stored: an id, the kind with its non-secret properties, and the
//! argon2id hash of the secret. The secret itself is never stored.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::audit::{AdminEntry, AuditEntry};
use super::{json_err, Result, Store, StoreError};

/// At most this many credentials are active: the one in use and its replacement during a
/// rotation. Fewer live secrets is less to leak.
pub const MAX_ACTIVE: usize = 2;

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

/// What the audit chain says about a credential: everything but the hash.
fn public_view(c: &CredentialRecord) -> serde_json::Value {
    serde_json::json!({ "id": c.id, "kind": c.kind, "created": c.created })
}

impl Store {
    pub(super) fn reload_credentials(&self) -> Result<()> {
        let mut list = Vec::new();
        for item in self.credentials.iter() {
            let (_, v) = item?;
            list.push(serde_json::from_slice(&v).map_err(|e| json_err("credential", e))?);
        }
        *self.credential_list.write() = Arc::new(list);
        Ok(())
    }

    /// The active credentials (a snapshot; cheap to call on every request).
    pub fn credentials(&self) -> Arc<Vec<CredentialRecord>> {
        self.credential_list.read().clone()
    }

    /// Stores a new credential, refusing a third one.
    pub fn add_credential(&self, actor: &str, rec: &CredentialRecord) -> Result<()> {
        let active = self.credentials();
        if active.len() >= MAX_ACTIVE {
            return Err(StoreError::Invalid(format!(
                "{} credentials are already active (the one in use and its replacement); revoke one first: {}",
                active.len(),
                active.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(" ")
            )));
        }
        if let CredentialKind::ApiKey { header } = &rec.kind {
            if active.iter().any(|c| matches!(&c.kind, CredentialKind::ApiKey { header: h } if h.eq_ignore_ascii_case(header))) {
                return Err(StoreError::Invalid(format!(
                    "an API key credential with header {header} already exists; choose another header name or revoke it first"
                )));
            }
        }
        let bytes = serde_json::to_vec(rec).map_err(|e| json_err("credential", e))?;
        let entry = AuditEntry::Admin(AdminEntry {
            actor: actor.into(),
            action: "credentials.create".into(),
            before: None,
            after: Some(public_view(rec)),
        });
        self.transact_with_audit(&self.credentials, &entry, |t| {
            t.insert(rec.id.as_bytes(), bytes.as_slice())?;
            Ok(())
        })?;
        self.reload_credentials()
    }

    /// Deletes a credential; callers presenting it are refused from then on.
    pub fn revoke_credential(&self, actor: &str, id: &str) -> Result<CredentialRecord> {
        let rec = self
            .credentials()
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("no active credential with id {id}")))?;
        let entry = AuditEntry::Admin(AdminEntry {
            actor: actor.into(),
            action: "credentials.revoke".into(),
            before: Some(public_view(&rec)),
            after: None,
        });
        self.transact_with_audit(&self.credentials, &entry, |t| {
            t.remove(id.as_bytes())?;
            Ok(())
        })?;
        self.reload_credentials()?;
        Ok(rec)
    }

    /// Records when credentials were last used. Not audited: it is bookkeeping, written in the
    /// background, and losing the latest value in a crash harms nothing.
    pub fn touch_credentials(&self, used: &[(String, String)]) -> Result<()> {
        for (id, when) in used {
            let Some(v) = self.credentials.get(id.as_bytes())? else {
                continue;
            };
            let mut rec: CredentialRecord =
                serde_json::from_slice(&v).map_err(|e| json_err("credential", e))?;
            rec.last_used = Some(when.clone());
            let bytes = serde_json::to_vec(&rec).map_err(|e| json_err("credential", e))?;
            // Only if unchanged meanwhile: a revoke wins over a late "last used".
            let _ = self
                .credentials
                .compare_and_swap(id.as_bytes(), Some(v), Some(bytes))?;
        }
        self.reload_credentials()
    }
}
