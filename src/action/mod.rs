//! The action flows around the pure policies: parse, replay or decide, record, make durable,
//! answer. This is where I/O meets the decisions; the rules themselves live in `policy`.
//!
//! - `profile.rs`: PRE_UPDATE_PROFILE (departments, the security-team e-mail).
//! - `password.rs`: PRE_UPDATE_PASSWORD (the credential's three forms, the password rules).
//! - the decisions themselves are `service::decide`, which the simulator runs too.
//! - here: what both share: running detached when a hang-up must not cancel the work,
//!   malformed bodies, concurrent retries decided once, replay of a recorded decision, and the
//!   durable record through group commit.

mod mail;
mod password;
mod profile;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use crate::app::App;
use crate::auth::Caller;
use crate::contract::response::ErrorStatus;
use crate::contract::{ActionResponse, ParseError};
use crate::idempotency::key_hex;
use crate::metrics::ActionKind;
use crate::model::{AuditEntry, DecisionEntry};
use crate::service::decide;
use crate::store::{json_err, StoreError};

impl App {
    /// Runs `work` in its own task when `detach` is set, so a caller hanging up (which drops
    /// this future) cannot cancel it; inline otherwise.
    async fn detached_if<F, Fut>(self: &Arc<Self>, detach: bool, work: F) -> ActionResponse
    where
        F: FnOnce(Arc<App>) -> Fut,
        Fut: Future<Output = ActionResponse> + Send + 'static,
    {
        let fut = work(self.clone());
        if !detach {
            return fut.await;
        }
        match tokio::spawn(fut).await {
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

    /// Answers and records a body that did not parse: 400 naming the problem and its JSON
    /// path (never a value). The record's key is salted (`body_key`), and no retry replays it.
    async fn malformed(
        &self,
        caller: Caller,
        body: &[u8],
        e: &ParseError,
        started: Instant,
    ) -> ActionResponse {
        let resp = decide::malformed(e);
        let key = decide::body_key(&self.body_salt, b"malformed", body);
        let entry = decide::malformed_entry(&key, &resp, caller.credential_id, started);
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
        resp
    }

    /// Decides once per key (concurrent retries share the execution), with the caller's request
    /// id on its log lines (`logfmt::scope`), and counts the answer.
    /// `rid` is [`span_id`] of the request's id.
    async fn decide_keyed<Fut>(
        &self,
        key: [u8; 16],
        rid: String,
        kind: ActionKind,
        started: Instant,
        decide: impl FnOnce() -> Fut,
    ) -> ActionResponse
    where
        Fut: Future<Output = ActionResponse>,
    {
        let resp = crate::logfmt::scope(rid, self.inflight.run(key, decide)).await;
        self.metrics
            .request(kind, resp.status_name(), started.elapsed());
        resp
    }

    /// The answer to give without deciding: the stored one for a retried request, or the
    /// storage failure that kept us from looking.
    fn try_replay(&self, key: &[u8; 16]) -> Option<ActionResponse> {
        match self.replay(key) {
            Ok(Some(resp)) => {
                // The request id is added to the line (`logfmt::scope`).
                tracing::info!("replayed the stored decision for a retried request");
                Some(resp)
            }
            Ok(None) => None,
            Err(e) => Some(store_failure(&e)),
        }
    }

    /// The stored answer for a retried request, if this key was decided recently.
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
        let outcome = match entry {
            AuditEntry::Decision(d) => Some(crate::model::stats::Outcome::of(&d.decision)),
            _ => None,
        };
        self.commit
            .append(json, key, outbox_item, outcome)
            .await
            .map(|_| ())
    }

    /// Records a decided entry under `key` and answers `resp`, or the storage failure.
    async fn record_decision(
        &self,
        entry: DecisionEntry,
        key: [u8; 16],
        outbox_item: Option<Vec<u8>>,
        resp: ActionResponse,
    ) -> ActionResponse {
        // Only authenticated calls get here: the organization is offered in the admin UI.
        if let Some(org) = &entry.organization {
            if let Some(id) = org.id.as_deref().filter(|id| !id.is_empty()) {
                let now = crate::store::now_unix_ms();
                if let Err(e) = self.store.note_org(id, org.name.as_deref(), now) {
                    tracing::warn!(error = %e, "could not note the organization seen");
                }
            }
        }
        match self
            .record(
                &AuditEntry::Decision(Box::new(entry)),
                Some(key),
                outbox_item,
            )
            .await
        {
            Ok(()) => resp,
            Err(e) => store_failure(&e),
        }
    }
}

/// Every log line of a request carries its id: the caller's, cut to a sane length.
fn span_id(request_id: Option<&str>) -> String {
    request_id
        .unwrap_or("")
        .chars()
        .take(64)
        .filter(|c| !c.is_control())
        .collect()
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
