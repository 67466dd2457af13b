//! The append-only, hash-chained audit log.
//!
//! Records are written in batches: one frame per group commit in a segment file of our own,
//! indexed in sled by the batch's first sequence number (big-endian, so sled's order is the
//! chain's order; see `segments`). One write per batch instead of one per record keeps the
//! durable audit cheap (sled's per-insert cost dominated the request path).
//!
//! A batch's records are a run of `u32 length (big-endian) || sha256(body) || body`, where
//! `body` is the record's JSON exactly as written. The stored value is those bytes packed:
//! `0xff`, their length (u32 LE), then their lz4 block. A value in any other form is damaged.
//!
//! Each body carries `seq` and `prev_hash`, the previous record's hash, so changing, removing
//! or reordering any record breaks the chain at that point. Verification hashes the stored
//! bytes; it never re-serializes, so nothing a reader adds or drops can hide a change.
//!
//! Beside the records, the `request_keys` tree keeps each batch's request keys (see `keylog`).
//!
//! This module is the record codec, the chain, reading, export and verification. Inserting a
//! batch with its side writes and making it durable (the committer, the journal, checkpoints
//! and replay) is [`durable`](super::durable).

mod chain;
mod codec;
mod keylog;
mod log;
mod read;
pub mod segments;

/// The tree a data dir of format 2 keeps its batches in (format 3 moved them to segments).
pub(in crate::store) const LEGACY_TREE: &str = "audit";

pub use chain::{ChainHead, GENESIS_HASH};
/// What `durable` needs of the codec: the key log's encoding (for a new batch) and a stored
/// batch's records and link (to check a journal frame against the chain on replay).
pub(in crate::store) use codec::{damaged, decode_batch, key_seq, Link};
pub use codec::{pack_batch_value, unpack_batch_value};
pub(in crate::store) use keylog::KeyLog;
pub use keylog::KeyedRecord;

/// A serialized admin entry "change N", for the tests.
#[cfg(test)]
pub(in crate::store) fn admin_entry(n: u32) -> Vec<u8> {
    use crate::model::{AdminEntry, AuditEntry};
    serde_json::to_vec(&AuditEntry::Admin(AdminEntry {
        actor: "cli".into(),
        action: format!("change {n}"),
        before: None,
        after: None,
    }))
    .unwrap()
}
