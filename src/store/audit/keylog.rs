//! The request-key log: for each batch, the request keys its decisions answered, so that a
//! restart can rebuild the retry index without reading the audit records themselves.

use super::codec::key_seq;
use crate::store::{Result, Store, StoreError};

/// A request key and the sequence number of the record that answered it.
pub type KeyedRecord = ([u8; 16], u64);

/// One batch's request keys as stored: the commit time (Unix ms, big-endian), then for each
/// keyed record its key (16 bytes) and its offset in the batch (u16, big-endian).
pub(in crate::store) struct KeyLog<'a> {
    time_ms: u64,
    items: &'a [u8],
}

impl<'a> KeyLog<'a> {
    const ITEM: usize = 18;

    pub(in crate::store) fn encode(time_ms: u64, keys: &[(usize, [u8; 16])]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + keys.len() * Self::ITEM);
        out.extend_from_slice(&time_ms.to_be_bytes());
        for (i, key) in keys {
            out.extend_from_slice(key);
            // A batch holds at most a few hundred records.
            out.extend_from_slice(&(u16::try_from(*i).unwrap_or(u16::MAX)).to_be_bytes());
        }
        out
    }

    fn decode(v: &'a [u8]) -> Option<KeyLog<'a>> {
        let (time, items) = v.split_first_chunk::<8>()?;
        (items.len() % Self::ITEM == 0).then_some(KeyLog {
            time_ms: u64::from_be_bytes(*time),
            items,
        })
    }

    /// `(key, sequence number)` of each keyed record, newest first.
    fn entries(&self, first: u64) -> impl Iterator<Item = ([u8; 16], u64)> + 'a {
        self.items.chunks_exact(Self::ITEM).rev().map(move |c| {
            let mut key = [0u8; 16];
            key.copy_from_slice(&c[..16]);
            (key, first + u64::from(u16::from_be_bytes([c[16], c[17]])))
        })
    }
}

impl Store {
    /// The request keys recorded at or after `since_ms` (Unix ms) with the sequence numbers of
    /// the records that answered them, oldest first; `None` when the store holds no request
    /// keys (a data dir restored from a backup, which does not carry them: the caller then
    /// reads the chain).
    pub fn recent_request_keys(&self, since_ms: u64) -> Result<Option<Vec<KeyedRecord>>> {
        if self.request_keys.is_empty() {
            return Ok(None);
        }
        let head = self.chain.lock().seq;
        let mut newest_first = Vec::new();
        for item in self.request_keys.iter().rev() {
            let (k, v) = item?;
            let first = key_seq(&k)?;
            let log = KeyLog::decode(&v).ok_or_else(|| StoreError::Corrupt {
                what: format!("request keys of the batch starting at record {first}"),
                detail: "their framing is damaged".into(),
            })?;
            if log.time_ms < since_ms {
                break;
            }
            // Keys written just before a crash whose records never made it.
            newest_first.extend(log.entries(first).filter(|(_, seq)| *seq <= head));
        }
        newest_first.reverse();
        Ok(Some(newest_first))
    }

    /// Forgets request keys recorded before `before_ms`, at most `max` batches of them (called
    /// in small steps so that no commit waits long). Returns how many batches were removed.
    pub fn prune_request_keys(&self, before_ms: u64, max: usize) -> Result<usize> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in self.request_keys.iter().take(max) {
            let (k, v) = item?;
            match KeyLog::decode(&v) {
                Some(log) if log.time_ms >= before_ms => break,
                // Expired, or unreadable (only ever used as a hint): either way, drop it.
                _ => batch.remove(k),
            }
            n += 1;
        }
        if n > 0 {
            self.request_keys.apply_batch(batch)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AuditEntry;
    use crate::store::now_unix_ms;

    #[test]
    fn request_keys_are_kept_per_batch_and_pruned_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let entry = || serde_json::to_vec(&AuditEntry::Decision(Box::default())).unwrap();
        assert_eq!(
            store.recent_request_keys(0).unwrap(),
            None,
            "none stored yet"
        );
        // Records 1-3 (the second has no key), then 4-5.
        store
            .append_batch(
                &[entry(), entry(), entry()],
                &[(0, [1; 16]), (2, [3; 16])],
                &[],
            )
            .unwrap();
        store
            .append_batch(&[entry(), entry()], &[(0, [4; 16]), (1, [5; 16])], &[])
            .unwrap();
        let all = vec![([1; 16], 1), ([3; 16], 3), ([4; 16], 4), ([5; 16], 5)];
        assert_eq!(store.recent_request_keys(0).unwrap(), Some(all.clone()));
        assert_eq!(
            store.recent_request_keys(now_unix_ms() + 60_000).unwrap(),
            Some(vec![]),
            "nothing that recent"
        );
        // Keys whose records a crash cut off are not reported.
        store
            .request_keys
            .insert(
                6u64.to_be_bytes(),
                KeyLog::encode(now_unix_ms(), &[(0, [6; 16])]),
            )
            .unwrap();
        assert_eq!(store.recent_request_keys(0).unwrap(), Some(all));
        // Pruning removes batches older than the cut-off, a bounded number at a time.
        assert_eq!(store.prune_request_keys(now_unix_ms() + 1, 1).unwrap(), 1);
        assert_eq!(store.request_keys.len(), 2);
        assert_eq!(
            store.prune_request_keys(0, 10).unwrap(),
            0,
            "the rest is newer"
        );
        assert_eq!(store.prune_request_keys(now_unix_ms() + 1, 10).unwrap(), 2);
        assert_eq!(store.recent_request_keys(0).unwrap(), None);
    }
}
