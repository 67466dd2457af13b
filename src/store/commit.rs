//! Group commit: many requests, one batch insert, one disk flush.
//!
//! A request hands its serialized audit entry to the committer and waits. One task owns the
//! chain's tail: it takes every entry queued so far, appends them to the chain as one sled
//! value, runs a single `flush()` on the blocking pool, and then tells each waiter its
//! sequence number. Entries that arrive meanwhile form the next batch. (sled 0.34's
//! `flush_async` deadlocks when called from many tasks at once, and concurrent blocking flushes
//! share little; see DESIGN.md. Per-record inserts cost more than the flush itself.)

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError};

/// Most entries in one batch; bounds one sled value's size (a few hundred KiB at most).
const MAX_BATCH: usize = 512;

struct Job {
    /// An entry's JSON, or `None` to wait for durability only.
    entry: Option<Vec<u8>>,
    reply: oneshot::Sender<Result<u64, String>>,
}

/// Handle to the committer task. Clone freely.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    tx: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Starts the committer. It ends when every handle is dropped, after a last flush.
    pub fn start(store: Arc<Store>) -> (GroupCommit, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let task = tokio::spawn(async move {
            let mut batch: Vec<Job> = Vec::new();
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => batch.push(j),
                        Err(_) => break,
                    }
                }
                let has_entry: Vec<bool> = batch.iter().map(|j| j.entry.is_some()).collect();
                let entries: Vec<Vec<u8>> =
                    batch.iter_mut().filter_map(|j| j.entry.take()).collect();
                let s = store.clone();
                let res = tokio::task::spawn_blocking(move || -> Result<u64, StoreError> {
                    let first = s.append_entries(&entries)?;
                    s.flush()?;
                    Ok(first)
                })
                .await
                .map_err(|e| format!("commit task failed: {e}"))
                .and_then(|r| r.map_err(|e| e.to_string()));
                if let Err(e) = &res {
                    tracing::error!(error = %e, "audit commit failed");
                }
                let mut next = res.clone();
                // Entries got consecutive sequence numbers in queue order.
                for (job, has_entry) in batch.drain(..).zip(has_entry) {
                    let _ = job.reply.send(next.clone());
                    if let (Ok(seq), true) = (&mut next, has_entry) {
                        *seq += 1;
                    }
                }
            }
            if let Err(e) = store.flush() {
                tracing::error!(error = %e, "final flush failed");
            }
        });
        (GroupCommit { tx }, task)
    }

    fn submit(&self, entry: Option<Vec<u8>>) -> oneshot::Receiver<Result<u64, String>> {
        let (reply, rx) = oneshot::channel();
        // A closed channel drops `reply`; the receiver then reports the committer stopped.
        let _ = self.tx.send(Job { entry, reply });
        rx
    }

    /// Appends an entry (its JSON) to the audit chain and returns its sequence number once it
    /// is on disk.
    pub async fn append(&self, entry_json: Vec<u8>) -> Result<u64, StoreError> {
        match self.submit(Some(entry_json)).await {
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
