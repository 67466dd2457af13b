//! The append-only, hash-chained audit log.
//!
//! Records are written in batches: one sled value per group commit, keyed by the batch's first
//! sequence number (big-endian, so sled's order is the chain's order). A batch value is a run
//! of records, each `u32 length || sha256(body) || body`, where `body` is the record's JSON
//! exactly as written. One insert per batch instead of one per record is what keeps the
//! durable audit cheap (sled's per-insert cost dominated the request path).
//!
//! Each body carries `seq` and `prev_hash`, the previous record's hash, so changing, removing
//! or reordering any record breaks the chain at that point. Verification hashes the stored
//! bytes; it never re-serializes, so nothing a reader adds or drops can hide a change.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::journal::Frame;
use super::{json_err, now_rfc3339, now_unix_ms, Result, Store, StoreError};
use crate::contract::Organization;
use crate::policy::{ClaimChange, Rule};

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

/// An action decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DecisionEntry {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_id: Option<String>,
    /// Hex key under which a retry finds this decision (from the request id or the body).
    pub idempotency_key: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tenant_name: Option<String>,
    /// The accessing organization (sub-organization flows).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub organization: Option<Organization>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<String>,
    /// The user's resident organization, for shared users.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_organization: Option<Organization>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shared_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub initiator: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub claims: Vec<ClaimChange>,
    /// SUCCESS, FAILED or ERROR.
    pub decision: String,
    pub http_status: u16,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rule: Option<Rule>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// What happened about the security notification.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub notification: Option<String>,
    /// Which endpoint credential the caller used (its id, never the secret).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential: Option<String>,
    /// Microseconds from receiving the request to writing this record.
    pub latency_us: u64,
}

/// A change made by an administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminEntry {
    /// Who: `cli`, or the admin session.
    pub actor: String,
    /// What, e.g. `departments.add`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub before: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<serde_json::Value>,
}

/// What a record is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditEntry {
    Decision(Box<DecisionEntry>),
    Admin(AdminEntry),
}

/// A record as read back: its position in the chain, its time, its link and its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub time: String,
    pub prev_hash: String,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// The fields verification needs; reading only these keeps `audit verify` fast.
#[derive(Deserialize)]
struct Link {
    seq: u64,
    prev_hash: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked (all of them when intact).
    pub records: u64,
    /// The first record that does not fit, and why.
    pub first_bad: Option<(u64, String)>,
}

/// One record as stored inside a batch.
struct Stored<'a> {
    hash: [u8; 32],
    body: &'a [u8],
}

/// Splits a batch value into its records; `None` if the framing is damaged.
fn decode_batch(v: &[u8]) -> Option<Vec<Stored<'_>>> {
    let mut out = Vec::new();
    let mut rest = v;
    while !rest.is_empty() {
        if rest.len() < 36 {
            return None;
        }
        let len = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&rest[4..36]);
        let body = rest.get(36..36 + len)?;
        out.push(Stored { hash, body });
        rest = &rest[36 + len..];
    }
    Some(out)
}

/// First byte of a compressed batch value. A plain batch starts with a record's length
/// (big-endian u32, far below 2^24), so its first byte is 0.
const PACKED: u8 = 0xff;

/// Largest decompressed batch accepted: a batch holds at most 256 records of at most a
/// 64 KiB request each. A damaged length must not make us allocate gigabytes.
const MAX_UNPACKED: usize = 32 * 1024 * 1024;

/// The records' bytes of a stored value: as stored, or decompressed; `None` if damaged.
fn unpack(v: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    match v.split_first() {
        Some((&PACKED, rest)) => {
            let (len, data) = rest.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            if len > MAX_UNPACKED {
                return None;
            }
            let raw = lz4_flex::block::decompress(data, len).ok()?;
            (raw.len() == len).then_some(std::borrow::Cow::Owned(raw))
        }
        _ => Some(std::borrow::Cow::Borrowed(v)),
    }
}

/// The records' bytes (framing, hashes, bodies) of a stored batch value, decompressed; `None`
/// if damaged. For tools and tests that look beneath the store.
pub fn unpack_batch_value(v: &[u8]) -> Option<Vec<u8>> {
    unpack(v).map(std::borrow::Cow::into_owned)
}

/// The stored form of a batch's records' bytes (the inverse of [`unpack_batch_value`]).
pub fn pack_batch_value(raw: &[u8]) -> Vec<u8> {
    pack(raw)
}

/// A stored value for a batch's records: compressed (records repeat keys and claim URIs;
/// less to write means less for sled to rewrite).
fn pack(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() / 2 + 16);
    out.push(PACKED);
    out.extend_from_slice(&lz4_flex::block::compress_prepend_size(raw));
    out
}

/// Appends one record's framing and body to a batch value.
fn encode_record(out: &mut Vec<u8>, hash: &[u8; 32], body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(hash);
    out.extend_from_slice(body);
}

/// A request key and the sequence number of the record that answered it.
pub type KeyedRecord = ([u8; 16], u64);

/// One batch's request keys as stored: the commit time (Unix ms, big-endian), then for each
/// keyed record its key (16 bytes) and its offset in the batch (u16, big-endian).
struct KeyLog<'a> {
    time_ms: u64,
    items: &'a [u8],
}

impl<'a> KeyLog<'a> {
    const ITEM: usize = 18;

    fn encode(time_ms: u64, keys: &[(usize, [u8; 16])]) -> Vec<u8> {
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

fn damaged(seq: u64) -> StoreError {
    StoreError::Corrupt {
        what: format!("audit batch starting at record {seq}"),
        detail: "its framing is damaged".into(),
    }
}

/// Lower-case hex, as every hash and key is written (table lookup: this runs for each record).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Builds a record's bytes: the chain fields first, then the entry's own fields. The entry is
/// serialized before the chain lock is taken; only this concatenation happens under it.
fn record_bytes(seq: u64, time: &str, prev: &[u8; 32], entry_json: &[u8]) -> Vec<u8> {
    // entry_json is a JSON object: `{"kind":...}`; splice the chain fields in front.
    let mut body = Vec::with_capacity(entry_json.len() + 160);
    body.extend_from_slice(b"{\"seq\":");
    body.extend_from_slice(seq.to_string().as_bytes());
    body.extend_from_slice(b",\"time\":\"");
    body.extend_from_slice(time.as_bytes());
    body.extend_from_slice(b"\",\"prev_hash\":\"");
    body.extend_from_slice(hex(prev).as_bytes());
    body.extend_from_slice(b"\",");
    body.extend_from_slice(entry_json.get(1..).unwrap_or_default());
    body
}

impl Store {
    /// Reads the chain's tip from the last stored record.
    pub(super) fn load_chain_head(&self) -> Result<ChainHead> {
        match self.audit.last()? {
            None => Ok(ChainHead::genesis()),
            Some((k, v)) => {
                let first = key_seq(&k)?;
                let raw = unpack(&v).ok_or_else(|| damaged(first))?;
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
    fn chain_batch(head: ChainHead, entries: &[Vec<u8>]) -> (Vec<u8>, ChainHead) {
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

    /// Appends a batch like [`Store::append_batch`] and returns once it is durable: through
    /// the commit journal (one small write and sync on this thread; see `journal`), or, when
    /// `flush_all` is set, when the journal does not continue from this batch's start or has
    /// grown large, by a sled flush, after which the journal starts afresh. `delivered` are
    /// outbox items the mail server accepted: removed, and journaled with the batch (or alone
    /// when there is no batch). `flush_all` also covers every other change made so far
    /// outside the chain (settings, say); an empty batch with it set is a durability barrier.
    pub fn commit_batch(
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
                if !flush_all
                    && j.continues == before
                    && j.journal.len() < super::journal::CHECKPOINT_BYTES =>
            {
                j.journal
                    .append(&frame)
                    .map_err(|e| self.journal_error(e))?;
                j.continues = head.seq;
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
    fn checkpoint_locked(&self, head_seq: u64, j: &mut super::JournalState) -> Result<()> {
        self.db.flush()?;
        if !j.journal.is_empty() {
            j.journal.reset().map_err(|e| self.journal_error(e))?;
        }
        j.continues = head_seq;
        Ok(())
    }

    fn journal_error(&self, source: std::io::Error) -> StoreError {
        StoreError::DataDir {
            dir: self.dir.clone(),
            source,
        }
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
            value: pack(&raw),
        };
        self.insert_frame(&frame)?;
        *head = new_head;
        Ok(Some(frame))
    }

    /// Inserts a batch's values into sled (keys first; with e-mails, in one transaction).
    fn insert_frame(&self, frame: &Frame) -> Result<()> {
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
    fn remove_delivered(&self, ids: &[u64]) -> Result<()> {
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

    /// Applies the journal's frames that continue the chain sled recovered (`head`), then
    /// flushes and empties the journal; returns the new head. Frames the chain already has
    /// are skipped, but their delivery notes applied (sled may have the batch and not the
    /// note that followed it). A frame that would leave a gap, or whose records do not link
    /// to the chain, means records are missing: refused, like a damaged database.
    pub(super) fn replay_journal(&self, head: ChainHead, frames: Vec<Frame>) -> Result<ChainHead> {
        let mut head = head;
        let (mut batches, mut records) = (0u64, 0u64);
        let had_frames = !frames.is_empty();
        for frame in frames {
            if frame.first <= head.seq {
                self.remove_delivered(&frame.delivered)?;
                continue;
            }
            let broken = |detail: String| StoreError::Corrupt {
                what: "the commit journal".into(),
                detail,
            };
            if frame.first != head.seq + 1 {
                return Err(broken(format!(
                    "its batch starting at record {} does not follow the chain, which ends at record {}",
                    frame.first, head.seq
                )));
            }
            let raw = unpack(&frame.value).ok_or_else(|| damaged(frame.first))?;
            let batch = decode_batch(&raw).ok_or_else(|| damaged(frame.first))?;
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                return Err(damaged(frame.first));
            };
            let link: Link = serde_json::from_slice(first.body)
                .map_err(|e| broken(format!("record {}: {e}", frame.first)))?;
            if link.seq != frame.first || link.prev_hash != hex(&head.hash) {
                return Err(broken(format!(
                    "record {} does not link to the chain's last record",
                    frame.first
                )));
            }
            self.insert_frame(&frame)?;
            head = ChainHead {
                seq: frame.first + batch.len() as u64 - 1,
                hash: last.hash,
            };
            batches += 1;
            records += batch.len() as u64;
        }
        if had_frames {
            let mut j = self.journal.lock();
            self.checkpoint_locked(head.seq, &mut j)?;
        } else {
            self.journal.lock().continues = head.seq;
        }
        if batches > 0 {
            tracing::info!(
                batches,
                records,
                "recovered acknowledged records from the commit journal"
            );
        }
        Ok(head)
    }

    /// The request keys recorded at or after `since_ms` (Unix ms) with the sequence numbers of
    /// the records that answered them, oldest first; `None` when no key was ever recorded this
    /// way (a data dir from before, or a restored one: the caller then reads the chain).
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
        let value = pack(&raw);
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

    /// Reads one record.
    pub fn audit_record(&self, seq: u64) -> Result<Option<AuditRecord>> {
        let Some(item) = self.audit.range(..=seq.to_be_bytes()).next_back() else {
            return Ok(None);
        };
        let (k, v) = item?;
        let first = key_seq(&k)?;
        let raw = unpack(&v).ok_or_else(|| damaged(first))?;
        let records = decode_batch(&raw).ok_or_else(|| damaged(first))?;
        match records.get((seq - first) as usize) {
            Some(r) => parse_record(seq, r.body).map(Some),
            None => Ok(None),
        }
    }

    /// Iterates over the records from `from_seq` on, oldest first, as (seq, hash hex, body).
    pub fn audit_raw_iter(
        &self,
        from_seq: u64,
    ) -> impl Iterator<Item = Result<(u64, String, Vec<u8>)>> + '_ {
        // Start at the batch that holds `from_seq`.
        let start = self
            .audit
            .range(..=from_seq.to_be_bytes())
            .next_back()
            .and_then(|r| r.ok())
            .map_or_else(|| from_seq.to_be_bytes().to_vec(), |(k, _)| k.to_vec());
        self.audit
            .range(start..)
            .flat_map(move |item| -> Vec<Result<(u64, String, Vec<u8>)>> {
                match records_of(item) {
                    Ok(records) => records
                        .into_iter()
                        .filter(|(seq, _, _)| *seq >= from_seq)
                        .map(|(seq, hash, body)| Ok((seq, hex(&hash), body)))
                        .collect(),
                    Err(e) => vec![Err(e)],
                }
            })
    }

    /// The request keys of the decisions recorded at or after `since` (a stored-format time),
    /// newest first, with their sequence numbers. Reads only the fields it needs and stops at
    /// the first older record, so a restart over a long chain stays quick.
    pub fn recent_decision_keys(&self, since: &str) -> Result<Vec<(String, u64)>> {
        #[derive(Deserialize)]
        struct KeyView<'a> {
            #[serde(borrow)]
            time: std::borrow::Cow<'a, str>,
            #[serde(borrow)]
            kind: std::borrow::Cow<'a, str>,
            #[serde(borrow, default)]
            idempotency_key: Option<std::borrow::Cow<'a, str>>,
        }
        let mut out = Vec::new();
        for item in self.audit.iter().rev() {
            let (k, v) = item?;
            let first = key_seq(&k)?;
            let raw = unpack(&v).ok_or_else(|| damaged(first))?;
            let batch = decode_batch(&raw).ok_or_else(|| damaged(first))?;
            for (i, r) in batch.iter().enumerate().rev() {
                let seq = first + i as u64;
                let view: KeyView<'_> = serde_json::from_slice(r.body)
                    .map_err(|e| json_err(&format!("audit record {seq}"), e))?;
                if *view.time < *since {
                    return Ok(out);
                }
                if view.kind == "decision" {
                    if let Some(key) = view.idempotency_key {
                        out.push((key.into_owned(), seq));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Iterates newest first.
    pub fn audit_iter_rev(&self) -> impl Iterator<Item = Result<AuditRecord>> + '_ {
        self.audit
            .iter()
            .rev()
            .flat_map(|item| -> Vec<Result<AuditRecord>> {
                match records_of(item) {
                    Ok(records) => records
                        .into_iter()
                        .rev()
                        .map(|(seq, _, body)| parse_record(seq, &body))
                        .collect(),
                    Err(e) => vec![Err(e)],
                }
            })
    }

    /// Writes every record as one JSON object a line (NDJSON), each with its `hash`.
    pub fn export_audit(&self, out: &mut dyn std::io::Write) -> Result<u64> {
        let mut n = 0;
        for item in self.audit_raw_iter(0) {
            let (seq, hash, body) = item?;
            let mut v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&body)
                    .map_err(|e| json_err(&format!("audit record {seq}"), e))?;
            v.insert("hash".into(), serde_json::Value::String(hash));
            let line = serde_json::to_vec(&v).map_err(|e| json_err("audit export", e))?;
            let io =
                |e: std::io::Error| StoreError::Invalid(format!("cannot write the export: {e}"));
            out.write_all(&line).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
            n += 1;
        }
        Ok(n)
    }

    /// Walks the whole chain and reports the first record that does not fit: a body whose
    /// hash differs from the stored one, a `prev_hash` that is not the previous record's hash,
    /// or a gap or jump in the sequence.
    pub fn verify_audit(&self) -> Result<VerifyReport> {
        let mut prev = GENESIS_HASH;
        let mut records = 0u64;
        for item in self.audit.iter() {
            let (k, v) = item?;
            let bad = |records: u64, why: String| {
                Ok(VerifyReport {
                    records,
                    first_bad: Some((records + 1, why)),
                })
            };
            let Ok(first) = key_seq(&k) else {
                return bad(records, "key is not a sequence number".into());
            };
            if first != records + 1 {
                return bad(
                    records,
                    format!(
                        "expected sequence {}, found {first}: a record is missing",
                        records + 1
                    ),
                );
            }
            let raw = unpack(&v);
            let Some(batch) = raw.as_deref().and_then(decode_batch) else {
                return bad(records, "the stored batch is damaged".into());
            };
            if batch.is_empty() {
                return bad(records, "the stored batch is empty".into());
            }
            for r in batch {
                let expected = records + 1;
                let actual: [u8; 32] = Sha256::digest(r.body).into();
                if actual != r.hash {
                    return bad(
                        records,
                        "record content does not match its hash: it was changed".into(),
                    );
                }
                let link: Link = match serde_json::from_slice(r.body) {
                    Ok(l) => l,
                    Err(e) => return bad(records, format!("record is not readable: {e}")),
                };
                if link.seq != expected {
                    return bad(
                        records,
                        format!(
                            "record says sequence {} but is stored as {expected}",
                            link.seq
                        ),
                    );
                }
                if link.prev_hash != hex(&prev) {
                    return bad(
                        records,
                        "prev_hash does not match the previous record's hash".into(),
                    );
                }
                prev = r.hash;
                records += 1;
            }
        }
        Ok(VerifyReport {
            records,
            first_bad: None,
        })
    }
}

fn key_seq(k: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = k.try_into().map_err(|_| StoreError::Corrupt {
        what: "audit key".into(),
        detail: format!("{} bytes, expected 8", k.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}

/// One record read out of a batch: sequence number, stored hash, body.
type OwnedRecord = (u64, [u8; 32], Vec<u8>);

/// The records of one stored batch, oldest first.
fn records_of(item: sled::Result<(sled::IVec, sled::IVec)>) -> Result<Vec<OwnedRecord>> {
    let (k, v) = item?;
    let first = key_seq(&k)?;
    let raw = unpack(&v).ok_or_else(|| damaged(first))?;
    let records = decode_batch(&raw).ok_or_else(|| damaged(first))?;
    Ok(records
        .into_iter()
        .enumerate()
        .map(|(i, r)| (first + i as u64, r.hash, r.body.to_vec()))
        .collect())
}

fn parse_record(seq: u64, body: &[u8]) -> Result<AuditRecord> {
    serde_json::from_slice(body).map_err(|e| json_err(&format!("audit record {seq}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spliced_body_is_valid_json() {
        let e = AuditEntry::Admin(AdminEntry {
            actor: "cli".into(),
            action: "x".into(),
            before: None,
            after: Some(serde_json::json!(["a"])),
        });
        let j = serde_json::to_vec(&e).unwrap();
        let body = record_bytes(7, "2026-01-01T00:00:00.000Z", &[1; 32], &j);
        let rec: AuditRecord = serde_json::from_slice(&body).unwrap();
        assert_eq!(rec.seq, 7);
        assert_eq!(rec.entry, e);
        assert_eq!(rec.prev_hash, "01".repeat(32));
        let _ = now_rfc3339();
    }

    fn framed(n: u8) -> Vec<u8> {
        let mut raw = Vec::new();
        for i in 0..n {
            encode_record(&mut raw, &[i; 32], format!("{{\"n\":{i}}}").as_bytes());
        }
        raw
    }

    #[test]
    fn packed_values_round_trip_and_damage_is_refused() {
        let raw = framed(3);
        let packed = pack(&raw);
        assert_eq!(packed[0], PACKED);
        assert_eq!(unpack(&packed).as_deref(), Some(raw.as_slice()));
        // A value written before compression (first byte 0) reads as it is.
        assert_eq!(unpack(&raw).as_deref(), Some(raw.as_slice()));
        assert_eq!(
            decode_batch(&unpack(&raw).unwrap()).map(|r| r.len()),
            Some(3)
        );
        // A damaged length must not allocate what it claims.
        let mut huge = packed.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(unpack(&huge).is_none());
        let mut longer = packed.clone();
        longer[1..5].copy_from_slice(&((raw.len() + 1) as u32).to_le_bytes());
        assert!(unpack(&longer).is_none());
        assert!(unpack(&packed[..packed.len() - 3]).is_none());
        assert!(unpack(&[PACKED, 1]).is_none());
    }

    /// A serialized admin entry "change N".
    fn admin_entry(n: u32) -> Vec<u8> {
        serde_json::to_vec(&AuditEntry::Admin(AdminEntry {
            actor: "cli".into(),
            action: format!("change {n}"),
            before: None,
            after: None,
        }))
        .unwrap()
    }

    #[test]
    fn batches_stored_before_compression_still_read_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let entry = admin_entry;
        // A batch as an older profilegate stored it: framed records, no compression.
        {
            let mut head = store.chain.lock();
            let (raw, new_head) = Store::chain_batch(*head, &[entry(1), entry(2)]);
            store.audit.insert(1u64.to_be_bytes(), raw).unwrap();
            *head = new_head;
        }
        let third = store.append_entries(&[entry(3)]).unwrap();
        assert_eq!(third, 3);
        let stored = store.audit.get(3u64.to_be_bytes()).unwrap().unwrap();
        assert_eq!(stored[0], PACKED, "new batches are compressed");
        let report = store.verify_audit().unwrap();
        assert_eq!((report.records, report.first_bad), (3, None));
        for (seq, action) in [(2, "change 2"), (3, "change 3")] {
            match store.audit_record(seq).unwrap().unwrap().entry {
                AuditEntry::Admin(a) => assert_eq!(a.action, action),
                other => panic!("unexpected {other:?}"),
            }
        }
        drop(store);
        let reopened = Store::open(&dir.path().join("data")).unwrap();
        assert_eq!(reopened.chain_head().seq, 3);
    }

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

    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }

    /// What a crash leaves: sled's log up to its last flush, and journal frames after it.
    /// Built exactly: a copy of a database made right after a checkpoint, then the journal
    /// the same database wrote for the next commits.
    #[test]
    fn journal_frames_sled_never_got_are_applied_on_open() {
        let tmp = tempfile::tempdir().unwrap();
        let (live, crashed, other) = (
            tmp.path().join("live"),
            tmp.path().join("crashed"),
            tmp.path().join("other"),
        );
        let entry = admin_entry;
        let store = Store::open(&live).unwrap();
        // Two queued e-mails the crashed copy holds; their delivery notes are journaled below.
        for id in [50u64, 51] {
            store
                .outbox
                .insert(id.to_be_bytes(), b"{}".as_slice())
                .unwrap();
        }
        assert_eq!(
            store
                .commit_batch(&[entry(1)], &[], &[], &[], true)
                .unwrap(),
            1
        );
        drop(store);
        copy_dir(&live, &crashed);
        copy_dir(&live, &other.join("gap"));
        let store = Store::open(&live).unwrap();
        let mail = br#"{"queued":true}"#.to_vec();
        let keys = [(0, [2u8; 16]), (1, [3u8; 16])];
        assert_eq!(
            store
                .commit_batch(
                    &[entry(2), entry(3)],
                    &keys,
                    &[(1, mail.clone())],
                    &[],
                    false
                )
                .unwrap(),
            2
        );
        // A delivery note alone, then one with the next batch.
        store.commit_batch(&[], &[], &[], &[50], false).unwrap();
        assert_eq!(
            store
                .commit_batch(&[entry(4)], &[], &[], &[51], false)
                .unwrap(),
            4
        );
        let journal = std::fs::read(live.join("journal")).unwrap();
        assert!(!journal.is_empty(), "the commits went to the journal");
        drop(store);

        std::fs::write(crashed.join("journal"), &journal).unwrap();
        let store = Store::open(&crashed).unwrap();
        assert_eq!(store.chain_head().seq, 4);
        let report = store.verify_audit().unwrap();
        assert_eq!((report.records, report.first_bad), (4, None));
        assert_eq!(
            store.recent_request_keys(0).unwrap(),
            Some(vec![([2; 16], 2), ([3; 16], 3)])
        );
        assert_eq!(
            store.outbox.get(3u64.to_be_bytes()).unwrap().as_deref(),
            Some(mail.as_slice())
        );
        // The delivery notes sled never got: the e-mails are not sent again.
        for id in [50u64, 51] {
            assert_eq!(store.outbox.get(id.to_be_bytes()).unwrap(), None, "{id}");
        }
        assert!(
            store.journal.lock().journal.is_empty(),
            "a checkpoint after the replay empties the journal"
        );
        drop(store);
        // Frames the database already has (left in the file until the next epoch's first
        // frame is written over them) are skipped.
        std::fs::write(crashed.join("journal"), &journal).unwrap();
        let store = Store::open(&crashed).unwrap();
        assert_eq!(store.chain_head().seq, 4);
        assert_eq!(store.verify_audit().unwrap().records, 4);
        drop(store);

        // A frame that leaves a gap, or that links to another chain, is refused.
        let (_, frames) = super::super::journal::Journal::open(&live.join("journal")).unwrap();
        assert_eq!(frames.len(), 3);
        let gap = other.join("gap");
        let (mut j, _) = super::super::journal::Journal::open(&gap.join("journal")).unwrap();
        j.append(&frames[2]).unwrap();
        drop(j);
        let err = Store::open(&gap).unwrap_err().to_string();
        assert!(err.contains("does not follow the chain"), "{err}");
        let foreign = other.join("foreign");
        let store = Store::open(&foreign).unwrap();
        store
            .commit_batch(&[entry(99)], &[], &[], &[], true)
            .unwrap();
        drop(store);
        std::fs::write(foreign.join("journal"), &journal).unwrap();
        let err = Store::open(&foreign).unwrap_err().to_string();
        assert!(err.contains("does not link"), "{err}");
    }
}
