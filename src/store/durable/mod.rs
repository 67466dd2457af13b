//! Durability behind one seam: the committer, the commit journal, checkpoints and replay.
//!
//! # API
//!
//! - [`GroupCommit::start`] starts the committer thread (the one writer of the chain's tail)
//!   with a [`CommitObserver`], which learns every committed request key (the retry index).
//! - [`GroupCommit::append`]: append an audit entry with its side writes (its request key, a
//!   queued e-mail) and wait until it is durable; answers its sequence number.
//! - [`GroupCommit::delivered`]: remove an outbox item whose e-mail the mail server accepted,
//!   and wait until that is durable.
//! - [`GroupCommit::durable`]: wait until everything written before the call, in the chain or
//!   outside it (an admin change made with `Store::transact_with_audit`), is durable.
//! - [`Store::checkpoint`] and [`Store::mark_durable_head`] for a process without the
//!   committer (the CLI) or at a clean stop; [`Store::append_batch`] and friends append without
//!   waiting (tests, benchmarks, restore).
//! - [`Store::durable_seq`] and [`Store::watch_durable`]: the durable mark, the last record
//!   known to be on disk, raised after each durable batch, checkpoint and flush (the SIEM
//!   forwarder sends nothing past it).
//! - [`Store::journal_replay`]: the last start that replayed the journal, as this process's
//!   start found it (noted in the settings tree at open; `profilegate doctor` reports it).
//!
//! Failures are [`StoreError::Unavailable`](crate::store::StoreError::Unavailable) with a
//! [`CommitError`]: the committer has stopped, or writing or syncing the batch failed.
//!
//! # Guarantees
//!
//! - **Nothing is acknowledged before it is on disk.** `append`, `delivered` and `durable`
//!   answer `Ok` only after the batch holding the change was written and synced: as one frame
//!   of the journal (`<data-dir>/journal`, `sync_file_range`) or by a checkpoint (a sled
//!   flush, after which the journal is emptied). An error means nothing of the batch was
//!   acknowledged; the caller must not answer as if it were recorded.
//! - **A batch is all or nothing.** Its records, request keys, queued e-mails and delivery
//!   notes go into sled together (keys first, so a record never lacks its key) and into one
//!   checksummed frame; a torn frame ends the journal and was never acknowledged.
//! - **Order.** Entries get consecutive sequence numbers in the order the committer received
//!   them; the observer learns each key before its waiter is woken, so a retry never misses an
//!   acknowledged decision. The outbox worker is woken after a batch that queued e-mail.
//! - **Recovery.** On open ([`Store::open`](crate::store::Store::open)), the journal's frames
//!   that continue the chain sled recovered are applied again in order (a gap or a frame that
//!   does not link is refused like a damaged database), then a checkpoint empties the journal,
//!   and a chain shorter than the head last recorded in `audit-head.json` is refused as lost.
//! - **What it does not promise**: the journal and sled sync with `sync_file_range`, which
//!   survives a crash of the process but not necessarily a power loss on a disk with a
//!   volatile write cache (docs/ARCHITECTURE.md, "What survives what").
//!
//! The journal's on-disk format (`PGJ3` frames carrying lz4-packed batches) is described in
//! `journal.rs`; the record codec, the chain and verification are `audit`'s.

mod batch;
mod commit;
mod journal;
mod replay;

use std::fs;
use std::path::Path;

pub use commit::{CommitError, CommitObserver, GroupCommit};

use super::audit::ChainHead;
use super::{Result, Store, StoreError};

/// Where the chain is known to be on disk, beside the database.
const HEAD_MARKER_FILE: &str = "audit-head.json";

/// The commit journal, beside the database.
const JOURNAL_FILE: &str = "journal";

/// The journal and how far it can be trusted to carry the chain.
#[derive(Debug)]
pub(in crate::store) struct JournalState {
    journal: journal::Journal,
    /// The chain position the journal continues from: every record up to it is in sled's
    /// log on disk or in a frame. A batch that starts elsewhere (records were appended
    /// without the journal in between, e.g. an admin change not yet flushed) is made durable
    /// by a sled flush instead.
    continues: u64,
}

/// The journal's frames as found on open, to apply with [`Store::recover`].
pub(in crate::store) struct Recovery {
    frames: Vec<journal::Frame>,
}

/// Opens (or creates) the data dir's journal and reads its frames.
pub(in crate::store) fn open_journal(dir: &Path) -> Result<(JournalState, Recovery)> {
    let (journal, frames) =
        journal::Journal::open(&dir.join(JOURNAL_FILE)).map_err(|source| StoreError::DataDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    Ok((
        JournalState {
            journal,
            continues: 0,
        },
        Recovery { frames },
    ))
}

impl Store {
    /// On open, with sled's chain loaded: applies the acknowledged batches that reached the
    /// journal but not sled's log, then checks the chain against the head last known to be on
    /// disk. Returns the chain's tip.
    pub(in crate::store) fn recover(&self, recovery: Recovery) -> Result<ChainHead> {
        self.drop_unsynced_tail()?;
        let head = self.load_chain_head()?;
        let head = self.replay_journal(head, recovery.frames)?;
        // sled reads a damaged log as a shorter one (a crash's torn tail looks the same), so a
        // damaged database could open as an empty one. The head last known to be durable is
        // kept beside it; a chain shorter than that lost data.
        if let Some(had) = read_head_marker(&self.dir) {
            if had > head.seq {
                return Err(StoreError::Lost {
                    dir: self.dir.clone(),
                    had,
                    has: head.seq,
                });
            }
        }
        Ok(head)
    }

    /// Flushes, then records how long the chain is known to be on disk (see `recover`). The
    /// head is read before the flush, so every record up to it is durable when the note is
    /// written.
    pub fn mark_durable_head(&self) -> Result<()> {
        let seq = self.chain_head().seq;
        self.flush()?;
        let path = self.dir.join(HEAD_MARKER_FILE);
        let tmp = self.dir.join(format!("{HEAD_MARKER_FILE}.tmp"));
        let err = |e| self.dir_error(e);
        fs::write(&tmp, format!("{{\"seq\":{seq}}}\n")).map_err(err)?;
        fs::rename(&tmp, &path).map_err(err)?;
        Ok(())
    }
}

/// Where the last journal replay is noted: one entry of the settings tree.
const REPLAY_NOTE_KEY: &[u8] = b"journal_replay";

/// The last start that had to replay the commit journal (the process before it did not stop
/// cleanly), kept so `profilegate doctor` can tell it later.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JournalReplay {
    /// When that start replayed (RFC 3339).
    pub at: String,
    pub batches: u64,
    pub records: u64,
    /// That start was the latest before this process's (or this process's own).
    pub last_start: bool,
}

impl Store {
    /// Notes at open whether this start replayed the journal: a replay is written down, and
    /// a clean start after one clears `last_start`. Keeps, for [`Store::journal_replay`], the
    /// note as this process found it (or its own replay's).
    pub(in crate::store) fn note_replay(&self, batches: u64, records: u64) -> Result<()> {
        let before: Option<JournalReplay> = self
            .settings_tree
            .get(REPLAY_NOTE_KEY)?
            .and_then(|v| serde_json::from_slice(&v).ok());
        let (seen, write) = if batches > 0 {
            let note = JournalReplay {
                at: super::now_rfc3339(),
                batches,
                records,
                last_start: true,
            };
            (Some(note.clone()), Some(note))
        } else {
            let cleared = before
                .as_ref()
                .filter(|b| b.last_start)
                .map(|b| JournalReplay {
                    last_start: false,
                    ..b.clone()
                });
            (before, cleared)
        };
        if let Some(note) = write {
            let bytes =
                serde_json::to_vec(&note).map_err(|e| super::json_err("journal replay note", e))?;
            self.settings_tree.insert(REPLAY_NOTE_KEY, bytes)?;
        }
        *self.replay_note.lock() = seen;
        Ok(())
    }

    /// The last journal replay as this process's start found it (see [`JournalReplay`]).
    pub fn journal_replay(&self) -> Option<JournalReplay> {
        self.replay_note.lock().clone()
    }
}

fn read_head_marker(dir: &Path) -> Option<u64> {
    let bytes = fs::read(dir.join(HEAD_MARKER_FILE)).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("seq")?
        .as_u64()
}
