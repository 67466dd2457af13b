//! Group commit: many requests, one batch insert, one durable write.
//!
//! A request hands its serialized audit entry to the committer and waits. The committer is one
//! dedicated thread that owns the chain's tail: it takes every entry queued so far, appends them
//! to the chain as one sled value (one insert per batch: per-record inserts cost more than the
//! sync), makes the batch durable with one write and sync of the commit journal (see
//! `journal`: a sled flush per commit cost more than everything else the committer does),
//! remembers the decisions for retries, and then wakes the batch's waiters. Entries arriving
//! meanwhile form the next batch. A plain thread, not a task plus the blocking pool: fewer
//! wake-ups per batch, which measurably matters on two cores. (sled 0.34's `flush_async`
//! deadlocks when called from many tasks at once, and overlapping blocking flushes were slower
//! in the load benchmark; see DESIGN.md.)

use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::{oneshot, Notify};

use crate::model::stats::{hour_of, HourCounts, Outcome};
use crate::store::{Store, StoreError};

/// Commits between two steps of forgetting old request keys.
const PRUNE_EVERY: usize = 64;

/// A batch smaller than this, while the previous one had company (concurrent load), waits
/// `LINGER` for more entries before it is written. Each commit costs about the same CPU
/// whatever its size (sled's insert, the journal's write and sync, waking the committer and
/// the runtime), and on two cores that CPU is what the action path runs out of. In the load
/// benchmark, with the journal, alternating action-only runs gave a median of 46.5k req/s
/// with the wait and 42.3k without (CPU per request 39.6 vs 41.9 µs), p99 lower too; waiting
/// for 48 instead of 24 changed nothing. A lone request (previous batch of one) never waits.
const LINGER_BELOW: usize = 24;
const LINGER: std::time::Duration = std::time::Duration::from_micros(100);

/// Most entries in one batch; bounds one sled value's size (a few hundred KiB at most).
const MAX_BATCH: usize = 256;

/// The committer's answer: the first sequence number of what was committed, or why the batch
/// was not made durable (shared by every waiter of the batch).
type Reply = oneshot::Sender<Result<u64, Arc<StoreError>>>;

/// Why a change was not made durable. Nothing of it was acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// The committer thread has ended (the server is stopping, or the thread panicked).
    #[error("the committer has stopped")]
    Stopped,
    /// Writing or syncing the batch failed.
    #[error("{what} failed: {source}")]
    Failed {
        what: &'static str,
        #[source]
        source: Arc<StoreError>,
    },
}

/// An entry's JSON, the request key to remember it under, a queued e-mail (outbox item
/// JSON) to store in the same transaction, and the decision's outcome to count.
type Entry = (Vec<u8>, Option<[u8; 16]>, Option<Vec<u8>>, Option<Outcome>);

enum Work {
    /// An entry to append.
    Append(Entry),
    /// An outbox item the mail server accepted: remove it, journaled with the batch.
    Delivered(u64),
    /// Wait until everything written so far (outside the chain too) is on disk.
    Durable,
}

struct Job {
    work: Work,
    reply: Reply,
}

/// Handle to the committer thread. Clone freely.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

/// Appends one batch (and its delivery notes) and makes it durable, then answers its waiters
/// (and wakes the outbox worker when the batch queued e-mail). A waiter for durability alone
/// (`durable()`: changes made outside the chain) makes it a full sled flush.
fn commit_batch(
    store: &Store,
    index: &dyn CommitObserver,
    outbox_signal: &Notify,
    batch: Vec<Job>,
) {
    let mut entries = Vec::with_capacity(batch.len());
    let mut keys = Vec::with_capacity(batch.len());
    let mut outbox = Vec::new();
    let mut delivered = Vec::new();
    let mut flush_all = false;
    let mut waiters = Vec::with_capacity(batch.len());
    let mut counts = HourCounts::default();
    for job in batch {
        match job.work {
            Work::Append((json, key, mail, outcome)) => {
                if let Some(o) = outcome {
                    counts.add_outcome(o);
                }
                if let Some(mail) = mail {
                    outbox.push((entries.len(), mail));
                }
                if let Some(key) = key {
                    keys.push((entries.len(), key));
                }
                entries.push(json);
                waiters.push((job.reply, Some(key)));
            }
            Work::Delivered(id) => {
                delivered.push(id);
                waiters.push((job.reply, None));
            }
            Work::Durable => {
                flush_all = true;
                waiters.push((job.reply, None));
            }
        }
    }
    let res = store
        .commit_batch(&entries, &keys, &outbox, &delivered, flush_all)
        .map_err(Arc::new);
    if res.is_ok() && !outbox.is_empty() {
        outbox_signal.notify_one();
    }
    if let Err(e) = &res {
        tracing::error!(error = %e, "audit commit failed");
    } else if let Err(e) = store.add_counts(hour_of(crate::store::now_unix_ms()), &counts) {
        // The overview's counts only: the batch itself is durable.
        tracing::warn!(error = %e, "could not count the batch's decisions");
    }
    // Entries got consecutive sequence numbers in queue order.
    let mut seq = res;
    for (reply, entry) in waiters {
        match (&mut seq, entry) {
            (Ok(s), Some(key)) => {
                if let Some(key) = key {
                    index.committed(key, *s);
                }
                let _ = reply.send(Ok(*s));
                *s += 1;
            }
            (Ok(s), None) => {
                let _ = reply.send(Ok(*s));
            }
            (Err(e), _) => {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Forgets stored request keys older than two retry windows, a few batches at a time, after
/// a commit's waiters are woken (so no request waits for it). Every `PRUNE_EVERY` commits it
/// removes up to `2 * PRUNE_EVERY` batches of keys: faster than they are added, so the tree
/// stays about two windows long.
fn prune_keys(store: &Store, window: std::time::Duration) {
    let cutoff = crate::store::now_unix_ms()
        .saturating_sub(2 * u64::try_from(window.as_millis()).unwrap_or(u64::MAX));
    if let Err(e) = store.prune_request_keys(cutoff, 2 * PRUNE_EVERY) {
        tracing::warn!(error = %e, "could not forget old request keys");
    }
}

/// Learns each committed entry's request key and sequence number before the entry's waiter
/// is woken (the retry index, so that a retry never misses an acknowledged decision), and
/// how long request keys are kept.
pub trait CommitObserver: Send + Sync {
    fn committed(&self, key: [u8; 16], seq: u64);
    /// Stored request keys older than two of these are forgotten.
    fn window(&self) -> std::time::Duration;
}

impl GroupCommit {
    /// Starts the committer. Committed entries with a key are remembered in `index` before
    /// their waiters are woken, so a retry never misses a decision that was acknowledged (or
    /// whose caller went away after it was committed). The thread ends when every handle is
    /// dropped, after a last flush (which leaves the commit journal empty).
    pub fn start(
        store: Arc<Store>,
        index: Arc<dyn CommitObserver>,
        outbox_signal: Arc<Notify>,
    ) -> std::io::Result<(GroupCommit, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("profilegate-commit".into())
            .spawn(move || {
                let mut commits = 0usize;
                let mut last_batch = 0usize;
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter().take(MAX_BATCH - 1));
                    // Under concurrent load, wait a moment for more: see `LINGER`.
                    if last_batch > 1 && batch.len() < LINGER_BELOW {
                        std::thread::sleep(LINGER);
                        batch.extend(rx.try_iter().take(MAX_BATCH - batch.len()));
                    }
                    last_batch = batch.len();
                    commit_batch(&store, index.as_ref(), &outbox_signal, batch);
                    commits += 1;
                    if commits % PRUNE_EVERY == 0 {
                        prune_keys(&store, index.window());
                    }
                }
                if let Err(e) = store.checkpoint() {
                    tracing::error!(error = %e, "final flush failed");
                }
            })?;
        Ok((GroupCommit { tx }, thread))
    }

    fn submit(&self, work: Work) -> oneshot::Receiver<Result<u64, Arc<StoreError>>> {
        let (reply, rx) = oneshot::channel();
        // A closed channel drops `reply`; the receiver then reports the committer stopped.
        let _ = self.tx.send(Job { work, reply });
        rx
    }

    /// Appends an entry (its JSON) to the audit chain, with its queued e-mail if any,
    /// remembers it under `key` for retries, counts a decision's `outcome` with its batch (one
    /// counter write per batch), and returns its sequence number once it is on disk. The
    /// commit happens even if the caller stops waiting.
    pub async fn append(
        &self,
        entry_json: Vec<u8>,
        key: Option<[u8; 16]>,
        outbox_item: Option<Vec<u8>>,
        outcome: Option<Outcome>,
    ) -> Result<u64, StoreError> {
        Self::answer(
            "audit commit",
            self.submit(Work::Append((entry_json, key, outbox_item, outcome)))
                .await,
        )
    }

    /// Returns once everything written before this call is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        Self::answer("flush", self.submit(Work::Durable).await).map(drop)
    }

    /// Removes outbox item `id` (its e-mail was accepted by the mail server) and returns once
    /// that is on disk: journaled with the next batch, so a delivery costs no sled flush.
    pub async fn delivered(&self, id: u64) -> Result<(), StoreError> {
        Self::answer("flush", self.submit(Work::Delivered(id)).await).map(drop)
    }

    /// The committer's reply as the caller gets it; a dropped reply means the committer
    /// stopped.
    fn answer(
        what: &'static str,
        reply: Result<Result<u64, Arc<StoreError>>, oneshot::error::RecvError>,
    ) -> Result<u64, StoreError> {
        match reply {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(source)) => Err(CommitError::Failed { what, source }.into()),
            Err(_) => Err(CommitError::Stopped.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A committer that is gone answers a typed "unavailable", never the caller's mistake.
    #[test]
    fn a_stopped_committer_answers_unavailable() {
        let (tx, rx) = mpsc::channel::<Job>();
        drop(rx);
        let commit = GroupCommit { tx };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for res in [
            rt.block_on(commit.durable()),
            rt.block_on(commit.delivered(1)),
            rt.block_on(commit.append(b"{}".to_vec(), None, None, None))
                .map(drop),
        ] {
            let err = res.unwrap_err();
            assert!(
                matches!(err, StoreError::Unavailable(CommitError::Stopped)),
                "{err:?}"
            );
            assert_eq!(err.to_string(), "the committer has stopped");
        }
    }
}
