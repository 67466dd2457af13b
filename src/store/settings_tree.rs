//! The settings tree: the settings snapshot, changing it with its audit record, and the admin
//! password's hash. The settings themselves are [`crate::model::settings`].

use std::sync::Arc;

use super::{json_err, Result, Store};
use crate::model::{AdminEntry, AuditEntry, Settings};

pub(super) const KEY: &[u8] = b"settings";

impl Store {
    pub(super) fn reload_settings(&self) -> Result<()> {
        let s = match self.settings_tree.get(KEY)? {
            Some(v) => serde_json::from_slice(&v).map_err(|e| json_err("settings", e))?,
            None => Settings::default(),
        };
        *self.settings.write() = Arc::new(s);
        Ok(())
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().clone()
    }

    /// Changes the settings with `f` and records before and after in the audit chain.
    pub fn update_settings(
        &self,
        actor: &str,
        action: &str,
        f: impl FnOnce(&mut Settings),
    ) -> Result<Settings> {
        let before = (*self.settings()).clone();
        let mut after = before.clone();
        f(&mut after);
        if after == before {
            return Ok(after);
        }
        let bytes = serde_json::to_vec(&after).map_err(|e| json_err("settings", e))?;
        let entry = AuditEntry::Admin(AdminEntry {
            actor: actor.into(),
            action: action.into(),
            before: serde_json::to_value(before.redacted()).ok(),
            after: serde_json::to_value(after.redacted()).ok(),
        });
        self.transact_with_audit(&self.settings_tree, &entry, |t| {
            t.insert(KEY, bytes.as_slice())?;
            Ok(())
        })?;
        *self.settings.write() = Arc::new(after.clone());
        Ok(after)
    }
}

const ADMIN_PASSWORD_KEY: &[u8] = b"admin_password";

impl Store {
    /// The admin password's argon2id hash, if one is set.
    pub fn admin_password_hash(&self) -> Result<Option<String>> {
        Ok(self
            .settings_tree
            .get(ADMIN_PASSWORD_KEY)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Stores a new admin password hash; the audit chain records that it changed, not the hash.
    pub fn set_admin_password_hash(&self, actor: &str, hash: &str) -> Result<()> {
        let entry = AuditEntry::Admin(AdminEntry {
            actor: actor.into(),
            action: "admin.password".into(),
            before: None,
            after: None,
        });
        self.transact_with_audit(&self.settings_tree, &entry, |t| {
            t.insert(ADMIN_PASSWORD_KEY, hash.as_bytes())?;
            Ok(())
        })?;
        Ok(())
    }
}
