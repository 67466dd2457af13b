//! A batch and its side writes: chaining entries into one stored value with their request keys
//! and queued e-mails, inserting it into sled (keys first), and making it durable through the
//! journal or a checkpoint.

use super::journal::{Frame, CHECKPOINT_BYTES};
use super::JournalState;
use crate::store::audit::{pack_batch_value, ChainHead, KeyLog};
use crate::store::{now_unix_ms, Result, Store, StoreError};

impl Store {
    /// Appends serialized entries as one batch and returns the first sequence number (the
    /// others follow in order). Not yet durable: the caller flushes before acknowledging.
    pub fn append_entries(&self, entries: &[Vec<u8>]) -> Result<u64> {
        self.append_batch(entries, &[], &[])
    }

    /// Like [`Store::append_entries`], and stores outbox items in the same transaction: item
    /// `(i, bytes)` belongs to `entries[i]` and is keyed by that record's sequence number.
    pub fn append_entries_with_outbox(
        &self,
        entries: &[Vec<u8>],
        outbox: &[(usize, Vec<u8>)],
    ) -> Result<u64> {
        self.append_batch(entries, &[], outbox)
    }

    /// Appends a commit's entries with their request keys (`(i, key)`: `entries[i]` answered
    /// the request `key`, for retries after a restart) and queued e-mails. The keys are
    /// written before the records, so a log cut short by a crash never holds a record without
    /// its key (a key without its record is ignored: see [`Store::recent_request_keys`]).
    /// Not yet durable: the server's commits go through [`GroupCommit`](super::GroupCommit).
    pub fn append_batch(
        &self,
        entries: &[Vec<u8>],
        keys: &[(usize, [u8; 16])],
        outbox: &[(usize, Vec<u8>)],
    ) -> Result<u64> {
        let mut head = self.chain.lock();
        let first = head.seq + 1;
        self.insert_batch(&mut head, entries, keys, outbox, &[])?;
        Ok(first)
    }

    /// Appends a batch like [`Store::append_batch`] and returns once it is durable: through
    /// the commit journal (one small write and sync on this thread; see `journal`), or, when
    /// `flush_all` is set, when the journal does not continue from this batch's start or has
    /// grown large, by a sled flush, after which the journal starts afresh. `delivered` are
    /// outbox items the mail server accepted: removed, and journaled with the batch (or alone
    /// when there is no batch). `flush_all` also covers every other change made so far
    /// outside the chain (settings, say); an empty batch with it set is a durability barrier.
    pub(super) fn commit_batch(
        &self,
        entries: &[Vec<u8>],
        keys: &[(usize, [u8; 16])],
        outbox: &[(usize, Vec<u8>)],
        delivered: &[u64],
        flush_all: bool,
    ) -> Result<u64> {
        let mut head = self.chain.lock();
        let before = head.seq;
        let frame = self.insert_batch(&mut head, entries, keys, outbox, delivered)?;
        let mut j = self.journal.lock();
        match frame {
            Some(frame)
                if !flush_all && j.continues == before && j.journal.len() < CHECKPOINT_BYTES =>
            {
                j.journal.append(&frame).map_err(|e| self.dir_error(e))?;
                j.continues = head.seq;
                self.raise_durable(head.seq);
            }
            Some(_) => self.checkpoint_locked(head.seq, &mut j)?,
            None if flush_all => self.checkpoint_locked(head.seq, &mut j)?,
            None => {}
        }
        Ok(before + 1)
    }

    /// Flushes sled and empties the commit journal (a clean stop leaves it empty).
    pub fn checkpoint(&self) -> Result<()> {
        let head = self.chain.lock();
        let mut j = self.journal.lock();
        self.checkpoint_locked(head.seq, &mut j)
    }

    /// With the chain locked at `head_seq`: after the flush every record is in sled's log on
    /// disk, so no frame is needed any more.
    pub(super) fn checkpoint_locked(&self, head_seq: u64, j: &mut JournalState) -> Result<()> {
        self.sync_segments(head_seq)?;
        self.db.flush()?;
        if !j.journal.is_empty() {
            j.journal.reset().map_err(|e| self.dir_error(e))?;
        }
        j.continues = head_seq;
        self.raise_durable(head_seq);
        Ok(())
    }

    /// Chains and inserts a batch after `head` (locked by the caller) and advances it, and
    /// removes the `delivered` outbox items; returns what was changed, as a journal frame
    /// (`None` when nothing was).
    fn insert_batch(
        &self,
        head: &mut ChainHead,
        entries: &[Vec<u8>],
        keys: &[(usize, [u8; 16])],
        outbox: &[(usize, Vec<u8>)],
        delivered: &[u64],
    ) -> Result<Option<Frame>> {
        if entries.is_empty() {
            if delivered.is_empty() {
                return Ok(None);
            }
            let notes = Frame {
                first: 0,
                keys: None,
                outbox: Vec::new(),
                delivered: delivered.to_vec(),
                value: Vec::new(),
            };
            self.insert_frame(&notes)?;
            return Ok(Some(notes));
        }
        let first = head.seq + 1;
        let (raw, new_head) = Self::chain_batch(*head, entries);
        let frame = Frame {
            first,
            keys: (!keys.is_empty()).then(|| KeyLog::encode(now_unix_ms(), keys)),
            outbox: outbox
                .iter()
                .map(|(i, item)| (first + *i as u64, item.clone()))
                .collect(),
            delivered: delivered.to_vec(),
            value: pack_batch_value(&raw),
        };
        self.insert_frame(&frame)?;
        *head = new_head;
        Ok(Some(frame))
    }

    /// Inserts a batch's values into sled (keys first; with e-mails, in one transaction).
    pub(super) fn insert_frame(&self, frame: &Frame) -> Result<()> {
        use sled::transaction::Transactional;
        self.remove_delivered(&frame.delivered)?;
        if frame.first == 0 {
            return Ok(());
        }
        let key = frame.first.to_be_bytes();
        let stored = self.stored_batch(frame.first, &frame.value)?;
        if frame.outbox.is_empty() {
            if let Some(log) = &frame.keys {
                self.request_keys.insert(key, log.as_slice())?;
            }
            self.audit_tree().insert(key, stored)?;
        } else {
            (self.audit_tree(), &self.outbox, &self.request_keys).transaction(|(a, o, r)| {
                if let Some(log) = &frame.keys {
                    r.insert(&key, log.as_slice())?;
                }
                a.insert(&key, stored.as_slice())?;
                for (seq, item) in &frame.outbox {
                    o.insert(&seq.to_be_bytes(), item.as_slice())?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<StoreError>>(())
            })?;
        }
        Ok(())
    }

    /// Removes delivered outbox items (all or none). Removing one twice is harmless: a
    /// replayed note may find its item gone.
    pub(super) fn remove_delivered(&self, ids: &[u64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for id in ids {
            batch.remove(&id.to_be_bytes());
        }
        self.outbox.apply_batch(batch)?;
        Ok(())
    }
}
