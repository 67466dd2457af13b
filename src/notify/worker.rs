//! Delivers queued e-mails: wakes when the committer stored new ones (and every few seconds
//! for retries), sends each due item, removes it once the mail server accepted it, and
//! otherwise backs off exponentially until `MAX_ATTEMPTS`, when the item is marked failed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;

use super::Notifier;
use crate::store::outbox::{OutboxStatus, MAX_ATTEMPTS};
use crate::store::{now_unix_ms, GroupCommit, Store};

/// Longest wait between two attempts of one item.
const MAX_BACKOFF_MS: u64 = 10 * 60 * 1000;
/// E-mails sent concurrently by one pass. An e-mail the mail server accepted holds its slot
/// until its delivery note is on disk, so a crash can leave at most this many accepted but
/// unnoted (each then sent again after the restart).
pub const PARALLEL_SENDS: usize = 16;
/// How often due retries are looked for without a wake-up.
const TICK: Duration = Duration::from_millis(500);

/// Delay before attempt `attempts + 1`: base, 2 x base, 4 x base, ... capped.
pub fn backoff_ms(base_ms: u64, attempts: u32) -> u64 {
    base_ms
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
        .min(MAX_BACKOFF_MS)
}

/// Runs until the task is aborted. Each delivery is noted durably through `commit` (in the
/// commit journal) as soon as the mail server accepted it.
pub async fn run(
    store: Arc<Store>,
    notifier: Arc<Notifier>,
    wake: Arc<Notify>,
    commit: GroupCommit,
) {
    loop {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(TICK) => {}
        }
        // Work through a backlog slice by slice, without waiting for the next wake-up.
        loop {
            match deliver_due(&store, &notifier, Some(&commit)).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "outbox delivery pass failed");
                    break;
                }
            }
        }
    }
}

/// The stable `Message-ID` of outbox item `id` (its audit record's sequence number, with the
/// time it was queued to keep it unique across data dirs).
pub fn message_id(id: u64, created: &str) -> String {
    let stamp: String = created.chars().filter(char::is_ascii_digit).collect();
    format!("<outbox.{id}.{stamp}@profilegate>")
}

/// One pass over (a slice of) the due items; returns how many were delivered. With `commit`,
/// each delivery note is on disk right after the mail server's acceptance (journaled with the
/// audit's batches): a crash in between resends that e-mail, so the gap is kept as short as it
/// can be. Without it, the notes are flushed at the end of the pass.
pub async fn deliver_due(
    store: &Arc<Store>,
    notifier: &Notifier,
    commit: Option<&GroupCommit>,
) -> Result<usize, crate::store::StoreError> {
    let settings = store.settings();
    let due = store.outbox_due(now_unix_ms(), 64)?;
    if due.is_empty() {
        return Ok(0);
    }
    let Some(smtp) = settings.notify.configured() else {
        // Settings were removed after queuing: keep the items until they are back.
        return Ok(0);
    };
    let mut delivered = 0;
    let mut failed = false;
    // Several at once: each SMTP transaction waits on the network, not on us.
    let recipients = &settings.notify.recipients;
    let sends = due.into_iter().map(|(id, item)| async move {
        let res = notifier
            .send_with_id(
                smtp,
                recipients,
                &item.subject,
                item.body.clone(),
                Some(message_id(id, &item.created)),
            )
            .await;
        // Note the delivery at once (not after the whole pass): the shorter the time between
        // the server's acceptance and our note, the rarer a resend after a crash.
        if res.is_ok() {
            let noted = match commit {
                Some(commit) => commit.delivered(id).await,
                None => store.outbox_remove(id),
            };
            if let Err(e) = noted {
                tracing::error!(id, error = %e, "could not note a delivered e-mail");
            }
        }
        (id, item, res)
    });
    let results: Vec<_> = futures_util::stream::iter(sends)
        .buffer_unordered(PARALLEL_SENDS)
        .collect()
        .await;
    for (id, mut item, res) in results {
        match res {
            Ok(()) => delivered += 1,
            Err(e) => {
                failed = true;
                item.attempts += 1;
                item.last_error = Some(e.to_string());
                if item.attempts >= MAX_ATTEMPTS {
                    item.status = OutboxStatus::Failed;
                    store.pending_counts().mail_failed();
                    notifier
                        .stats
                        .gave_up
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(id, error = %e, "queued e-mail failed for good; retry it from the outbox");
                } else {
                    item.next_attempt_ms =
                        now_unix_ms() + backoff_ms(settings.notify.retry_base_ms, item.attempts);
                    tracing::warn!(id, attempt = item.attempts, error = %e, "queued e-mail not delivered yet");
                }
                store.outbox_put(id, &item)?;
            }
        }
    }
    store.pending_counts().mail_sent(delivered as u64);
    // Failure counts are bookkeeping (a lost one means one more attempt), and without the
    // committer so are the delivery notes (a lost one means a resend). Flush them anyway so a
    // restart sees what happened; with the committer, delivery notes are durable already.
    if failed || commit.is_none() {
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.flush())
            .await
            .map_err(|e| crate::store::StoreError::Task {
                what: "the outbox flush",
                detail: e.to_string(),
            })??;
    }
    Ok(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1000, 1), 1000);
        assert_eq!(backoff_ms(1000, 2), 2000);
        assert_eq!(backoff_ms(1000, 4), 8000);
        assert_eq!(backoff_ms(1000, 40), MAX_BACKOFF_MS);
    }
}
