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

    /// Moves the cursor of `target` from `from` (as the forwarder read it before sending) to
    /// `to`, unless it was placed anew or removed meanwhile (forwarding switched off, or on
    /// again from another record): a step that was in flight then must not put back where
    /// it had been. Returns whether it moved.
    pub fn advance_forward_cursor(
        &self,
        target: &str,
        from: &ForwardCursor,
        to: &ForwardCursor,
    ) -> Result<bool> {
        let new = serde_json::to_vec(to).map_err(|e| json_err("forward cursor", e))?;
        loop {
            let Some(raw) = self.forward_cursors.get(target.as_bytes())? else {
                return Ok(false);
            };
            let now: ForwardCursor =
                serde_json::from_slice(&raw).map_err(|e| json_err("forward cursor", e))?;
            if (now.seq, now.started_after) != (from.seq, from.started_after) {
                return Ok(false);
            }
            // Only a failure note can have changed it meanwhile: try again over that.
            if self
                .forward_cursors
                .compare_and_swap(target.as_bytes(), Some(raw), Some(new.as_slice()))?
                .is_ok()
            {
                return Ok(true);
            }
        }
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

    /// A step in flight while forwarding was switched off, or on again from elsewhere, does
    /// not put its cursor back.
    #[test]
    fn a_cursor_placed_anew_is_not_moved_by_a_step_that_read_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let at = |seq, started_after| ForwardCursor {
            seq,
            started_after,
            ..ForwardCursor::default()
        };
        store.set_forward_cursor("http", &at(10, 10)).unwrap();
        // A failure noted meanwhile does not stop the step.
        let mut noted = at(10, 10);
        noted.last_error = Some("timed out".into());
        store.set_forward_cursor("http", &noted).unwrap();
        assert!(store
            .advance_forward_cursor("http", &at(10, 10), &at(20, 10))
            .unwrap());
        assert_eq!(store.forward_cursor("http").unwrap(), Some(at(20, 10)));
        // Switched on again after record 500, while a step from 20 was in flight.
        store.set_forward_cursor("http", &at(500, 500)).unwrap();
        assert!(!store
            .advance_forward_cursor("http", &at(20, 10), &at(30, 10))
            .unwrap());
        assert_eq!(store.forward_cursor("http").unwrap(), Some(at(500, 500)));
        // Switched off.
        store.remove_forward_cursor("http").unwrap();
        assert!(!store
            .advance_forward_cursor("http", &at(500, 500), &at(510, 500))
            .unwrap());
        assert_eq!(store.forward_cursor("http").unwrap(), None);
    }

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
