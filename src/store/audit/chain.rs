//! Appending to the chain: each record is linked to the one before it. A batch's records become
//! one stored batch (see `log`); inserting it with its side writes and making it durable is
//! [`durable`](crate::store::durable)'s job.

use sha2::{Digest, Sha256};

use super::codec::{damaged, decode_batch, encode_record, record_bytes};
use super::{pack_batch_value, unpack_batch_value};
use crate::model::AuditEntry;
use crate::store::{json_err, now_rfc3339, Result, Store, StoreError};

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
        match self.audit_batches(..).next_back().transpose()? {
            // Nothing live: the chain ends at the last archived record (or is empty).
            None => {
                let (seq, hash) = self.base_link()?;
                Ok(ChainHead { seq, hash })
            }
            Some((first, v)) => {
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
    pub(in crate::store) fn chain_batch(
        head: ChainHead,
        entries: &[Vec<u8>],
    ) -> (Vec<u8>, ChainHead) {
        Self::chain_batch_at(head, entries, &now_rfc3339())
    }

    /// [`Store::chain_batch`] with the records' time given (stored format).
    fn chain_batch_at(head: ChainHead, entries: &[Vec<u8>], time: &str) -> (Vec<u8>, ChainHead) {
        let mut value = Vec::with_capacity(entries.iter().map(|e| e.len() + 200).sum());
        let mut head = head;
        for entry_json in entries {
            let seq = head.seq + 1;
            let body = record_bytes(seq, time, &head.hash, entry_json);
            let hash: [u8; 32] = Sha256::digest(&body).into();
            encode_record(&mut value, &hash, &body);
            head = ChainHead { seq, hash };
        }
        (value, head)
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
        let stored = self.stored_batch(seq, &pack_batch_value(&raw))?;
        (tree, self.audit_tree()).transaction(|(t, a)| {
            f(t)?;
            a.insert(&seq.to_be_bytes(), stored.as_slice())?;
            Ok(())
        })?;
        *head = new_head;
        Ok(seq)
    }

    /// Appends `entries` (each an entry's JSON object) as one batch whose records carry `time`
    /// (stored format) instead of now: for benchmarks and tests that need records of past
    /// months, as archives are cut by month. Returns the first sequence number; not yet
    /// durable.
    pub fn append_entries_dated(&self, entries: &[Vec<u8>], time: &str) -> Result<u64> {
        let mut head = self.chain.lock();
        let first = head.seq + 1;
        let (raw, new_head) = Self::chain_batch_at(*head, entries, time);
        let stored = self.stored_batch(first, &pack_batch_value(&raw))?;
        self.audit_tree().insert(first.to_be_bytes(), stored)?;
        *head = new_head;
        Ok(first)
    }

    /// The chain's tip.
    pub fn chain_head(&self) -> ChainHead {
        *self.chain.lock()
    }
}
