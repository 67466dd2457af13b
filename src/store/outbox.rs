//! The outbox of queued security-team e-mails. An item is written in the same sled transaction
//! as the audit record of its decision (keyed by that record's sequence number), so an
//! acknowledged update's e-mail survives a crash; the delivery worker removes it once the mail
//! server accepted it, or marks it failed after `MAX_ATTEMPTS` (then it stays, visible and
//! retryable).

use serde::{Deserialize, Serialize};

use super::{json_err, Result, Store, StoreError};

/// Attempts before an item is marked failed.
pub const MAX_ATTEMPTS: u32 = 8;

/// Where an item stands.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    Pending,
    Failed,
}

/// One queued e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub created: String,
    #[serde(default)]
    pub request_id: Option<String>,
    pub subject: String,
    pub body: String,
    pub status: OutboxStatus,
    #[serde(default)]
    pub attempts: u32,
    /// Unix milliseconds of the next attempt.
    #[serde(default)]
    pub next_attempt_ms: u64,
    #[serde(default)]
    pub last_error: Option<String>,
}

impl Store {
    /// Every item, oldest first, with its id (the sequence number of its audit record).
    pub fn outbox_items(&self) -> Result<Vec<(u64, OutboxItem)>> {
        self.outbox
            .iter()
            .map(|item| {
                let (k, v) = item?;
                let id =
                    u64::from_be_bytes(k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                        what: "outbox key".into(),
                        detail: format!("{} bytes", k.len()),
                    })?);
                let it: OutboxItem =
                    serde_json::from_slice(&v).map_err(|e| json_err("outbox item", e))?;
                Ok((id, it))
            })
            .collect()
    }

    /// Up to `limit` items due for an attempt, oldest first (a long queue is worked through in
    /// slices, not read whole on every pass).
    pub fn outbox_due(&self, now_ms: u64, limit: usize) -> Result<Vec<(u64, OutboxItem)>> {
        let mut out = Vec::new();
        for item in self.outbox.iter() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let Ok(key) = <[u8; 8]>::try_from(k.as_ref()) else {
                continue;
            };
            let it: OutboxItem =
                serde_json::from_slice(&v).map_err(|e| json_err("outbox item", e))?;
            if it.status == OutboxStatus::Pending && it.next_attempt_ms <= now_ms {
                out.push((u64::from_be_bytes(key), it));
            }
        }
        Ok(out)
    }

    /// Number of items in the outbox, pending or failed (no parsing: cheap enough to scrape).
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Number of items waiting for delivery.
    pub fn outbox_pending_count(&self) -> Result<usize> {
        Ok(self
            .outbox_items()?
            .iter()
            .filter(|(_, it)| it.status == OutboxStatus::Pending)
            .count())
    }

    /// Replaces an item (after a failed attempt).
    pub fn outbox_put(&self, id: u64, item: &OutboxItem) -> Result<()> {
        let v = serde_json::to_vec(item).map_err(|e| json_err("outbox item", e))?;
        self.outbox.insert(id.to_be_bytes(), v)?;
        Ok(())
    }

    /// Removes a delivered item.
    pub fn outbox_remove(&self, id: u64) -> Result<()> {
        self.outbox.remove(id.to_be_bytes())?;
        Ok(())
    }

    /// Puts failed items (one, or all with `None`) back in the queue for an immediate attempt,
    /// and records who did so in the audit chain. Returns how many.
    pub fn outbox_retry(&self, actor: &str, id: Option<u64>) -> Result<usize> {
        let mut n = 0;
        for (i, mut it) in self.outbox_items()? {
            if id.is_some_and(|want| want != i) || it.status != OutboxStatus::Failed {
                continue;
            }
            it.status = OutboxStatus::Pending;
            it.attempts = 0;
            it.next_attempt_ms = 0;
            self.outbox_put(i, &it)?;
            n += 1;
        }
        if let (Some(want), 0) = (id, n) {
            return Err(StoreError::NotFound(format!(
                "no failed outbox item {want}"
            )));
        }
        self.append_audit(&crate::model::AuditEntry::Admin(crate::model::AdminEntry {
            actor: actor.into(),
            action: "outbox.retry".into(),
            before: None,
            after: Some(serde_json::json!({ "id": id, "items": n })),
        }))?;
        Ok(n)
    }

    /// Counts by status and the first `limit` items (oldest first), failed ones before
    /// pending ones, for the admin's outbox view. One pass over the queue.
    pub fn outbox_summary(&self, limit: usize) -> Result<OutboxSummary> {
        let mut sum = OutboxSummary::default();
        let mut pending = Vec::new();
        for (id, it) in self.outbox_items()? {
            match it.status {
                OutboxStatus::Pending => {
                    sum.pending += 1;
                    if sum.oldest_pending.is_none() {
                        sum.oldest_pending = Some(it.created.clone());
                    }
                    if pending.len() < limit {
                        pending.push((id, it));
                    }
                }
                OutboxStatus::Failed => {
                    sum.failed += 1;
                    if sum.items.len() < limit {
                        sum.items.push((id, it));
                    }
                }
            }
        }
        let room = limit.saturating_sub(sum.items.len());
        sum.items.extend(pending.into_iter().take(room));
        Ok(sum)
    }
}

/// The state of the outbox at a glance.
#[derive(Debug, Clone, Default)]
pub struct OutboxSummary {
    pub pending: usize,
    pub failed: usize,
    /// When the oldest waiting e-mail was queued.
    pub oldest_pending: Option<String>,
    pub items: Vec<(u64, OutboxItem)>,
}
