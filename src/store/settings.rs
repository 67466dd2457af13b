//! Settings kept in the data dir and changed by an administrator.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::audit::{AdminEntry, AuditEntry};
use super::{json_err, Result, Store};
use crate::policy::PolicySettings;

const KEY: &[u8] = b"settings";

/// Whether callers must authenticate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointAuth {
    /// A valid endpoint credential is required (the default).
    #[default]
    Required,
    /// Anyone who can reach the endpoint may call it; chosen explicitly, warned at start-up.
    None,
}

/// Everything an administrator sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub policy: PolicySettings,
    pub endpoint_auth: EndpointAuth,
    /// How long a decision is replayed for a retried request id. The caller's worst case
    /// is two attempts of 2 s connect + 5 s read, so anything at or above 14 s covers it.
    pub idempotency_window_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            policy: PolicySettings::default(),
            endpoint_auth: EndpointAuth::Required,
            idempotency_window_secs: 120,
        }
    }
}

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
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        });
        self.transact_with_audit(&self.settings_tree, &entry, |t| {
            t.insert(KEY, bytes.as_slice())?;
            Ok(())
        })?;
        *self.settings.write() = Arc::new(after.clone());
        Ok(after)
    }
}
