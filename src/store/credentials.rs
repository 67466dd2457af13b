//! The credentials tree: the active credentials' snapshot, adding and revoking them with their
//! audit records, and their last use. The records themselves are [`crate::model::credentials`].

use std::sync::Arc;

use super::{json_err, Result, Store, StoreError};
use crate::model::credentials::{check_room, CredentialRecord};
use crate::model::{AdminEntry, AuditEntry};

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

    /// Stores a new credential if [`check_room`] allows it.
    pub fn add_credential(&self, actor: &str, rec: &CredentialRecord) -> Result<()> {
        // The service checked this before hashing; checked again here for a racing creation.
        check_room(&self.credentials(), &rec.kind).map_err(StoreError::NoRoom)?;
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
        // Its tokens are refused already (the credential is gone); this frees their space.
        self.remove_tokens(super::now_unix_ms() / 1000, Some(id))?;
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
