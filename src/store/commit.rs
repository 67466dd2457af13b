//! Group commit: many requests, one batch insert, one disk flush.
//!
//! A request hands its serialized audit entry to the committer and waits. The committer owns
//! the chain's tail: it takes every entry queued so far, appends them to the chain as one sled
//! value (one insert per batch: per-record inserts cost more than the flush), and hands the
//! batch to a flush on the blocking pool, which wakes the batch's waiters once the data is on
//! disk. Entries arriving during a flush form the next batch. A flush covers everything
//! appended before it, so each batch is durable when its own flush returns. (sled 0.34's
//! `flush_async` deadlocks when called from many tasks at once; see DESIGN.md.)

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{Store, StoreError};
use crate::idempotency::IdempotencyIndex;

/// Most entries in one batch; bounds one sled value's size (a few hundred KiB at most).
const MAX_BATCH: usize = 256;
/// Flushes waiting on the disk at once. Measured with the load benchmark: 1 gave the most
/// throughput; 2 was slower and 4 or 8 halved it (concurrent sled flushes contend).
const FLUSHES_IN_FLIGHT: u32 = 1;

type Reply = oneshot::Sender<Result<u64, String>>;

struct Job {
    /// An entry's JSON and the request key to remember it under, or `None` to wait for
    /// durability only.
    entry: Option<(Vec<u8>, Option<[u8; 16]>)>,
    reply: Reply,
}

/// Handle to the committer task. Clone freely.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    tx: mpsc::UnboundedSender<Job>,
}

impl GroupCommit {
    /// Starts the committer. Committed entries with a key are remembered in `index` before
    /// their waiters are woken, so a retry never misses a decision that was acknowledged (or
    /// whose caller went away after it was committed). The task ends when every handle is
    /// dropped, after a last flush.
    pub fn start(
        store: Arc<Store>,
        index: Arc<IdempotencyIndex>,
    ) -> (GroupCommit, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let task = tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(FLUSHES_IN_FLIGHT as usize));
            while let Some(first) = rx.recv().await {
                // Waiting for a flush slot lets the batch grow meanwhile.
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => batch.push(j),
                        Err(_) => break,
                    }
                }
                let mut entries = Vec::with_capacity(batch.len());
                let mut waiters = Vec::with_capacity(batch.len());
                for job in batch {
                    match job.entry {
                        Some((json, key)) => {
                            entries.push(json);
                            waiters.push((job.reply, Some(key)));
                        }
                        None => waiters.push((job.reply, None)),
                    }
                }
                // Appending is short and keeps the chain in queue order; only the flush waits.
                let appended = store.append_entries(&entries).map_err(|e| e.to_string());
                let (store, index) = (store.clone(), index.clone());
                tokio::task::spawn_blocking(move || {
                    let res = appended
                        .and_then(|first| store.flush().map(|_| first).map_err(|e| e.to_string()));
                    if let Err(e) = &res {
                        tracing::error!(error = %e, "audit commit failed");
                    }
                    let mut seq = res.clone();
                    for (reply, entry) in waiters {
                        match (&mut seq, entry) {
                            (Ok(s), Some(key)) => {
                                if let Some(key) = key {
                                    index.insert(key, *s);
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
                    drop(permit);
                });
            }
            // Wait for flushes in flight, then a last one.
            let _ = permits.acquire_many(FLUSHES_IN_FLIGHT).await;
            if let Err(e) = store.flush() {
                tracing::error!(error = %e, "final flush failed");
            }
        });
        (GroupCommit { tx }, task)
    }

    fn submit(
        &self,
        entry: Option<(Vec<u8>, Option<[u8; 16]>)>,
    ) -> oneshot::Receiver<Result<u64, String>> {
        let (reply, rx) = oneshot::channel();
        // A closed channel drops `reply`; the receiver then reports the committer stopped.
        let _ = self.tx.send(Job { entry, reply });
        rx
    }

    /// Appends an entry (its JSON) to the audit chain, remembers it under `key` for retries,
    /// and returns its sequence number once it is on disk. The commit happens even if the
    /// caller stops waiting.
    pub async fn append(
        &self,
        entry_json: Vec<u8>,
        key: Option<[u8; 16]>,
    ) -> Result<u64, StoreError> {
        match self.submit(Some((entry_json, key))).await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(e)) => Err(StoreError::Invalid(format!("audit commit failed: {e}"))),
            Err(_) => Err(StoreError::Invalid("the committer has stopped".into())),
        }
    }

    /// Returns once everything written before this call is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        match self.submit(None).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Invalid(format!("flush failed: {e}"))),
            Err(_) => Err(StoreError::Invalid("the committer has stopped".into())),
        }
    }
}
