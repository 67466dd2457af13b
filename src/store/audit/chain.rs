//! Appending to the chain: each record is linked to the one before it, and a batch's records
//! are inserted into sled as one value (with their request keys and queued e-mails).

use sha2::{Digest, Sha256};

use super::codec::{damaged, decode_batch, encode_record, key_seq, record_bytes};
use super::keylog::KeyLog;
use super::{pack_batch_value, unpack_batch_value};
use crate::model::AuditEntry;
use crate::store::journal::Frame;
use crate::store::{json_err, now_rfc3339, now_unix_ms, Result, Store, StoreError};

/// The hash before the first record.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The chain's tip: the last sequence number written and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: [u8; 32],
}

impl ChainHead {
    pub fn genesis() -> Self {
        ChainHead {
            seq: 0,
            hash: GENESIS_HASH,
        }
    }
}

impl Store {
    /// Reads the chain's tip from the last stored record.
    pub(in crate::store) fn load_chain_head(&self) -> Result<ChainHead> {
        match self.audit.last()? {
            None => Ok(ChainHead::genesis()),
            Some((k, v)) => {
                let first = key_seq(&k)?;
                let raw = unpack_batch_value(&v).ok_or_else(|| damaged(first))?;
                let records = decode_batch(&raw).ok_or_else(|| damaged(first))?;
                let last = records.last().ok_or_else(|| damaged(first))?;
                Ok(ChainHead {
                    seq: first + records.len() as u64 - 1,
                    hash: last.hash,
                })
            }
        }
    }

    /// Chains `entries` (each an entry's JSON object) after `head`; returns the batch's
    /// records (framed, not yet packed) and the new head.
    pub(super) fn chain_batch(head: ChainHead, entries: &[Vec<u8>]) -> (Vec<u8>, ChainHead) {
        let time = now_rfc3339();
        let mut value = Vec::with_capacity(entries.iter().map(|e| e.len() + 200).sum());
        let mut head = head;
        for entry_json in entries {
            let seq = head.seq + 1;
            let body = record_bytes(seq, &time, &head.hash, entry_json);
            let hash: [u8; 32] = Sha256::digest(&body).into();
            encode_record(&mut value, &hash, &body);
            head = ChainHead { seq, hash };
        }
        (value, head)
    }

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
    /// Not yet durable: see [`Store::commit_batch`].
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

    /// Appends one record and returns its sequence number (not yet durable).
    pub fn append_audit(&self, entry: &AuditEntry) -> Result<u64> {
        let entry_json = serde_json::to_vec(entry).map_err(|e| json_err("audit entry", e))?;
        self.append_entries(&[entry_json])
    }

    /// Runs `f` on the given tree and appends `entry` to the chain in one sled transaction:
    /// an admin change and its audit record are stored together or not at all.
    pub(crate) fn transact_with_audit<F>(
        &self,
        tree: &sled::Tree,
        entry: &AuditEntry,
        f: F,
    ) -> Result<u64>
    where
        F: Fn(
            &sled::transaction::TransactionalTree,
        ) -> sled::transaction::ConflictableTransactionResult<(), StoreError>,
    {
        use sled::transaction::Transactional;
        let entry_json = serde_json::to_vec(entry).map_err(|e| json_err("audit entry", e))?;
        let mut head = self.chain.lock();
        let seq = head.seq + 1;
        let (raw, new_head) = Self::chain_batch(*head, &[entry_json]);
        let value = pack_batch_value(&raw);
        (tree, &self.audit).transaction(|(t, a)| {
            f(t)?;
            a.insert(&seq.to_be_bytes(), value.as_slice())?;
            Ok(())
        })?;
        *head = new_head;
        Ok(seq)
    }

    /// The chain's tip.
    pub fn chain_head(&self) -> ChainHead {
        *self.chain.lock()
    }

    /// Chains and inserts a batch after `head` (locked by the caller) and advances it, and
    /// removes the `delivered` outbox items; returns what was changed, as a journal frame
    /// (`None` when nothing was).
    pub(super) fn insert_batch(
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
        if frame.outbox.is_empty() {
            if let Some(log) = &frame.keys {
                self.request_keys.insert(key, log.as_slice())?;
            }
            self.audit.insert(key, frame.value.as_slice())?;
        } else {
            (&self.audit, &self.outbox, &self.request_keys).transaction(|(a, o, r)| {
                if let Some(log) = &frame.keys {
                    r.insert(&key, log.as_slice())?;
                }
                a.insert(&key, frame.value.as_slice())?;
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
