//! Where each SIEM forwarding target stands: the last sequence number its collector accepted,
//! where forwarding started, and the last failure. Kept beside the chain, never in it (a
//! cursor moves with every batch sent; recording that in the chain would feed itself).
//!
//! The durable watermark lives here too: the forwarder reads only records at or below
//! [`Store::durable_seq`], so a record a crash could still take back is never sent.

use serde::{Deserialize, Serialize};

use super::{json_err, Result, Store};

/// One target's cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForwardCursor {
    /// The last record the collector accepted (0: none yet).
    pub seq: u64,
    /// The cursor when forwarding was switched on (records up to it were not sent).
    pub started_after: u64,
    /// The last failure, cleared by the next accepted batch.
    pub last_error: Option<String>,
    /// When the last failure happened (unix ms).
    pub last_error_at: Option<u64>,
}

impl Store {
    /// The cursor of `target` (`syslog`, `http`), if forwarding to it was ever switched on.
    pub fn forward_cursor(&self, target: &str) -> Result<Option<ForwardCursor>> {
        self.forward_cursors
            .get(target.as_bytes())?
            .map(|v| serde_json::from_slice(&v).map_err(|e| json_err("forward cursor", e)))
            .transpose()
    }

    /// Stores the cursor of `target`. Not flushed here: sled writes it out within half a
    /// second, and a cursor that falls back after a crash only sends some records again.
    pub fn set_forward_cursor(&self, target: &str, cursor: &ForwardCursor) -> Result<()> {
        let bytes = serde_json::to_vec(cursor).map_err(|e| json_err("forward cursor", e))?;
        self.forward_cursors.insert(target.as_bytes(), bytes)?;
        Ok(())
    }

    /// Forgets the cursor of `target` (forwarding to it was switched off).
    pub fn remove_forward_cursor(&self, target: &str) -> Result<()> {
        self.forward_cursors.remove(target.as_bytes())?;
        Ok(())
    }

    /// The last sequence number known to be on disk.
    pub fn durable_seq(&self) -> u64 {
        *self.durable_seq.borrow()
    }

    /// Follows [`Store::durable_seq`]: changes whenever more records are on disk.
    pub fn watch_durable(&self) -> tokio::sync::watch::Receiver<u64> {
        self.durable_seq.subscribe()
    }

    /// Notes that every record up to `seq` is on disk (never lowers the mark).
    pub(super) fn raise_durable(&self, seq: u64) {
        self.durable_seq.send_if_modified(|d| {
            let raise = seq > *d;
            if raise {
                *d = seq;
            }
            raise
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::admin_entry;

    /// Appending alone does not raise the mark; a flush does, and reopening keeps it.
    #[test]
    fn the_durable_mark_follows_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.durable_seq(), 0);
        store.append_entries(&[admin_entry(1)]).unwrap();
        assert_eq!(store.durable_seq(), 0);
        store.flush().unwrap();
        assert_eq!(store.durable_seq(), 1);
        let c = ForwardCursor {
            seq: 1,
            ..Default::default()
        };
        store.set_forward_cursor("http", &c).unwrap();
        store.flush().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.durable_seq(), 1);
        assert_eq!(store.forward_cursor("http").unwrap(), Some(c));
        assert_eq!(store.forward_cursor("syslog").unwrap(), None);
    }
}
