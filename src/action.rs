//! The action flow around the pure policy: parse, replay or decide, record, make durable,
//! answer. This is where I/O meets the decision; the rules themselves live in `policy`.

use std::sync::Arc;
use std::time::Instant;

use crate::app::App;
use crate::auth::Caller;
use crate::contract::response::ErrorStatus;
use crate::contract::{parse_request, ActionRequest, ActionResponse};
use crate::idempotency::{idempotency_key, key_hex};
use crate::metrics::ActionKind;
use crate::model::{AuditEntry, DecisionEntry, DeliveryMode, Settings};
use crate::notify::message;
use crate::policy::{decide, notification_failed, take_claim_changes, ClaimChange, Rule, Verdict};
use crate::store::outbox::{OutboxItem, OutboxStatus};
use crate::store::{json_err, StoreError};
use tracing::Instrument;

impl App {
    /// Decides an authenticated request body under `settings` (the snapshot it was
    /// authenticated under) and records the decision durably.
    ///
    /// A caller hanging up drops this future. Without e-mail that is safe: once a decision is
    /// handed to the committer it is written and remembered for retries whether or not anyone
    /// waits. With e-mail configured the work runs in its own task, so an e-mail that went out
    /// is always recorded (and a retry does not send it again).
    pub async fn handle(
        self: &Arc<Self>,
        caller: Caller,
        body: bytes::Bytes,
        settings: Arc<Settings>,
    ) -> ActionResponse {
        let started = Instant::now();
        if settings.notify.configured().is_none() {
            return self.handle_inner(caller, body, settings, started).await;
        }
        let app = self.clone();
        match tokio::spawn(async move { app.handle_inner(caller, body, settings, started).await })
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "action task failed");
                ActionResponse::error(
                    ErrorStatus::Internal,
                    "internal error",
                    "profilegate could not process the request.",
                )
            }
        }
    }

    async fn handle_inner(
        &self,
        caller: Caller,
        body: bytes::Bytes,
        settings: Arc<Settings>,
        started: Instant,
    ) -> ActionResponse {
        let req = match parse_request(&body) {
            Ok(r) => r,
            Err(e) => {
                let resp = ActionResponse::error(
                    ErrorStatus::BadRequest,
                    "Invalid request body",
                    &e.to_string(),
                );
                let entry = DecisionEntry {
                    idempotency_key: key_hex(&idempotency_key(None, None, &body)),
                    decision: resp.status_name().into(),
                    http_status: resp.http_status(),
                    reason: resp.reason().map(str::to_string),
                    description: resp.description().map(str::to_string),
                    credential: caller.credential_id.clone(),
                    latency_us: elapsed_us(started),
                    ..Default::default()
                };
                if self.log_limit.allow("malformed body") {
                    tracing::info!(problem = %e.log_safe(), "rejected a malformed request body");
                }
                let resp = match self
                    .record(&AuditEntry::Decision(Box::new(entry)), None, None)
                    .await
                {
                    Ok(()) => resp,
                    Err(e) => store_failure(&e),
                };
                self.metrics
                    .request(ActionKind::Unparsed, resp.status_name(), started.elapsed());
                return resp;
            }
        };
        let tenant = req
            .event
            .as_ref()
            .and_then(|e| e.tenant.as_ref())
            .and_then(|t| t.id.as_deref());
        let key = idempotency_key(tenant, req.request_id.as_deref(), &body);
        let kind = if req.action_type.as_deref() == Some(crate::contract::PRE_UPDATE_PROFILE) {
            ActionKind::PreUpdateProfile
        } else {
            ActionKind::Other
        };
        // Every log line of this request carries its id (the caller's, cut to a sane length).
        let rid: String = req
            .request_id
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(64)
            .filter(|c| !c.is_control())
            .collect();
        let span = tracing::info_span!("action", request_id = %rid);
        let resp = self
            .inflight
            .run(key, move || {
                self.decide_once(req, caller, key, settings, started)
            })
            .instrument(span)
            .await;
        self.metrics
            .request(kind, resp.status_name(), started.elapsed());
        resp
    }

    /// Replays a stored decision for this key, or decides and records a new one.
    /// Takes the request by value: its fields move into the audit record instead of being
    /// copied (the request is not needed once it is decided).
    async fn decide_once(
        &self,
        mut req: ActionRequest,
        caller: Caller,
        key: [u8; 16],
        settings: Arc<Settings>,
        started: Instant,
    ) -> ActionResponse {
        match self.replay(&key) {
            Ok(Some(resp)) => {
                tracing::info!(
                    request_id = req.request_id.as_deref().unwrap_or(""),
                    "replayed the stored decision for a retried request"
                );
                return resp;
            }
            Ok(None) => {}
            Err(e) => return store_failure(&e),
        }
        let verdict = decide(&req, &self.store.directory(), &settings.policy);
        let changes = take_claim_changes(&mut req);
        let (verdict, notification, queued) = self.notify(&req, &changes, verdict, &settings).await;
        let mut entry = decision_entry(req, &key, &verdict, caller.credential_id, started);
        entry.claims = changes;
        entry.notification = notification;
        match self
            .record(&AuditEntry::Decision(Box::new(entry)), Some(key), queued)
            .await
        {
            Ok(()) => {
                // The request id is on the enclosing `action` span.
                tracing::debug!(
                    decision = verdict.response.status_name(),
                    rule = ?verdict.rule,
                    "decided"
                );
                verdict.response
            }
            Err(e) => store_failure(&e),
        }
    }

    /// Tells the security team about an allowed update that touches sensitive claims.
    /// Blocking mode sends before answering (a failure turns the verdict into FAILED
    /// `email_error`, as in the seed); queued mode returns the outbox item to commit with the
    /// decision. Also returns what the audit record says about the notification.
    async fn notify(
        &self,
        req: &ActionRequest,
        changes: &[ClaimChange],
        verdict: Verdict,
        settings: &Settings,
    ) -> (Verdict, Option<String>, Option<Vec<u8>>) {
        if verdict.rule != Rule::Allowed {
            return (verdict, None, None);
        }
        let sensitive = message::sensitive_changes(changes, &settings.notify.sensitive);
        if sensitive.is_empty() {
            return (verdict, None, None);
        }
        let Some(smtp) = settings.notify.configured() else {
            let note = format!(
                "not configured: {} sensitive claim(s) changed and no SMTP server or recipient is set",
                sensitive.len()
            );
            return (verdict, Some(note), None);
        };
        let now = crate::store::now_rfc3339();
        let body = message::body(req, &sensitive, &now);
        if settings.notify.mode == DeliveryMode::Queued {
            let item = OutboxItem {
                created: now,
                request_id: req.request_id.clone(),
                subject: message::SUBJECT.into(),
                body,
                status: OutboxStatus::Pending,
                attempts: 0,
                next_attempt_ms: 0,
                last_error: None,
            };
            return match serde_json::to_vec(&item) {
                Ok(bytes) => (
                    verdict,
                    Some("queued (outbox item = this record's seq)".into()),
                    Some(bytes),
                ),
                Err(e) => (
                    notification_failed(&settings.policy, e.to_string()),
                    Some(format!("failed: {e}")),
                    None,
                ),
            };
        }
        let recipients = &settings.notify.recipients;
        match self
            .notifier
            .send(smtp, recipients, message::SUBJECT, body)
            .await
        {
            Ok(()) => (
                verdict,
                Some(format!("sent to {} recipient(s)", recipients.len())),
                None,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not notify the security team");
                (
                    notification_failed(&settings.policy, e.to_string()),
                    Some(format!("failed: {e}")),
                    None,
                )
            }
        }
    }

    fn replay(&self, key: &[u8; 16]) -> Result<Option<ActionResponse>, StoreError> {
        let Some(seq) = self.idempotency.get(key) else {
            return Ok(None);
        };
        Ok(self
            .store
            .audit_record(seq)?
            .and_then(|r| replay_of(key, r.entry)))
    }

    /// Appends the record through group commit, so it is on disk when this returns; with a
    /// key, the committer also remembers it for retries.
    async fn record(
        &self,
        entry: &AuditEntry,
        key: Option<[u8; 16]>,
        outbox_item: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        // A decision is about a kilobyte of JSON: sized once instead of grown four times.
        let mut json = Vec::with_capacity(1024);
        serde_json::to_writer(&mut json, entry).map_err(|e| json_err("audit entry", e))?;
        self.commit.append(json, key, outbox_item).await.map(|_| ())
    }
}

fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Nothing is acknowledged that is not recorded: a storage failure answers ERROR.
fn store_failure(e: &StoreError) -> ActionResponse {
    tracing::error!(error = %e, "could not record the decision");
    ActionResponse::error(
        ErrorStatus::Internal,
        "audit_unavailable",
        "The decision could not be recorded.",
    )
}

/// The answer to replay for `key` from the record the index pointed to: only a decision
/// recorded under exactly this key (the index keeps part of each key).
fn replay_of(key: &[u8; 16], entry: AuditEntry) -> Option<ActionResponse> {
    match entry {
        AuditEntry::Decision(d) if d.idempotency_key == key_hex(key) => Some(response_of(&d)),
        _ => None,
    }
}

/// Rebuilds the answer a decision record stands for (for a retried request id).
pub fn response_of(d: &DecisionEntry) -> ActionResponse {
    let reason = d.reason.as_deref().unwrap_or("");
    let description = d.description.as_deref().unwrap_or("");
    match d.decision.as_str() {
        "SUCCESS" => ActionResponse::Success,
        "FAILED" => ActionResponse::failed(reason, description),
        _ => {
            let status = match d.http_status {
                400 => ErrorStatus::BadRequest,
                401 => ErrorStatus::Unauthorized,
                _ => ErrorStatus::Internal,
            };
            ActionResponse::error(status, reason, description)
        }
    }
}

/// The audit record of a decided request; the request's fields move into it.
fn decision_entry(
    req: ActionRequest,
    key: &[u8; 16],
    verdict: &crate::policy::Verdict,
    credential: Option<String>,
    started: Instant,
) -> DecisionEntry {
    let event = req.event.unwrap_or_default();
    let tenant = event.tenant.unwrap_or_default();
    let user = event.user.unwrap_or_default();
    DecisionEntry {
        request_id: req.request_id,
        idempotency_key: key_hex(key),
        action_type: req.action_type,
        tenant_id: tenant.id,
        tenant_name: tenant.name,
        organization: event.organization,
        user_id: user.id,
        user_organization: user.organization,
        shared_user_id: user.shared_user_id,
        initiator: event.initiator_type,
        claims: Vec::new(),
        decision: verdict.response.status_name().into(),
        http_status: verdict.response.http_status(),
        rule: Some(verdict.rule),
        reason: verdict.response.reason().map(str::to_string),
        description: verdict.response.description().map(str::to_string),
        detail: verdict.detail.clone(),
        notification: None,
        credential,
        latency_us: elapsed_us(started),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_only_the_decision_recorded_under_the_same_key() {
        let key = [7u8; 16];
        let mut other = key;
        other[15] = 8; // same first 8 bytes: the index cannot tell them apart
        let entry = |k: &[u8; 16]| {
            AuditEntry::Decision(Box::new(DecisionEntry {
                idempotency_key: key_hex(k),
                decision: "FAILED".into(),
                http_status: 200,
                reason: Some("invalid_department_input".into()),
                description: Some("Provided user department value is invalid.".into()),
                ..Default::default()
            }))
        };
        let replayed = replay_of(&key, entry(&key)).expect("same key");
        assert_eq!(replayed.status_name(), "FAILED");
        assert!(
            replay_of(&other, entry(&key)).is_none(),
            "a false match is not replayed"
        );
        let admin = AuditEntry::Admin(crate::model::AdminEntry {
            actor: "cli".into(),
            action: "x".into(),
            before: None,
            after: None,
        });
        assert!(replay_of(&key, admin).is_none());
    }
}
