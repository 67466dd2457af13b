//! Each synced organization's [`SyncState`], keyed by organization id (`""`: the root).
//! Written by every sync attempt; read by the schedule, the status pages and metrics.

use super::{json_err, Result, Store};
use crate::sync::SyncState;

fn key(org: Option<&str>) -> &[u8] {
    org.unwrap_or("").as_bytes()
}

impl Store {
    /// One organization's sync state (the default when it has none yet).
    pub fn sync_state(&self, org: Option<&str>) -> Result<SyncState> {
        match self.sync_state.get(key(org))? {
            Some(v) => serde_json::from_slice(&v).map_err(|e| json_err("sync state", e)),
            None => Ok(SyncState::default()),
        }
    }

    pub fn put_sync_state(&self, org: Option<&str>, state: &SyncState) -> Result<()> {
        let bytes = serde_json::to_vec(state).map_err(|e| json_err("sync state", e))?;
        self.sync_state.insert(key(org), bytes)?;
        Ok(())
    }

    pub fn clear_sync_state(&self, org: Option<&str>) -> Result<()> {
        self.sync_state.remove(key(org))?;
        Ok(())
    }

    /// Held while a sync runs: syncs of the directory happen one at a time.
    pub async fn sync_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.sync_lock.lock().await
    }
}
