//! Group commit: many requests, one disk flush.
//!
//! A request appends its records, then waits here until a flush that started after its writes
//! has finished. One task owns flushing: it takes every waiter queued so far, runs a single
//! `flush()` on the blocking pool and wakes them all. Waiters that arrive during a flush are
//! served by the next one. (sled 0.34's `flush_async` deadlocks when called from many tasks
//! at once, and concurrent blocking flushes share little; see DESIGN.md.)

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError};

type Waiter = oneshot::Sender<Result<(), String>>;

/// Handle to the flusher task. Clone freely.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl GroupCommit {
    /// Starts the flusher. It ends when every handle is dropped, after a last flush.
    pub fn start(store: Arc<Store>) -> (GroupCommit, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Waiter>();
        let task = tokio::spawn(async move {
            let mut batch: Vec<Waiter> = Vec::new();
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while let Ok(w) = rx.try_recv() {
                    batch.push(w);
                }
                let s = store.clone();
                let res = tokio::task::spawn_blocking(move || s.flush())
                    .await
                    .map_err(|e| format!("flush task failed: {e}"))
                    .and_then(|r| r.map_err(|e| e.to_string()));
                if let Err(e) = &res {
                    tracing::error!(error = %e, "audit flush failed");
                }
                for w in batch.drain(..) {
                    let _ = w.send(res.clone());
                }
            }
            if let Err(e) = store.flush() {
                tracing::error!(error = %e, "final flush failed");
            }
        });
        (GroupCommit { tx }, task)
    }

    /// Returns once everything written before this call is on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(tx)
            .map_err(|_| StoreError::Invalid("the flusher has stopped".into()))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Invalid(format!("flush failed: {e}"))),
            Err(_) => Err(StoreError::Invalid("the flusher has stopped".into())),
        }
    }
}
