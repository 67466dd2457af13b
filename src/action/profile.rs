//! PRE_UPDATE_PROFILE: the department rules and the security-team e-mail. The shared parts
//! (detaching, malformed bodies, replay, recording) are in the parent module.

use std::sync::Arc;
use std::time::Instant;

use super::mail::Mailed;
use super::{elapsed_us, span_id};
use crate::app::App;
use crate::auth::Caller;
use crate::contract::{parse_request, ActionRequest, ActionResponse};
use crate::idempotency::{idempotency_key, key_hex};
use crate::metrics::ActionKind;
use crate::model::{DecisionEntry, Settings};
use crate::notify::message;
use crate::policy::{decide, notification_failed, take_claim_changes, ClaimChange, Rule, Verdict};

impl App {
    /// Decides an authenticated profile request body under `settings` (the snapshot it was
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
        let detach = settings.notify.configured().is_some();
        self.detached_if(detach, move |app| async move {
            app.handle_inner(caller, body, settings, started).await
        })
        .await
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
            Err(e) => return self.malformed(caller, &body, &e, started).await,
        };
        let tenant = req
            .event
            .as_ref()
            .and_then(|e| e.tenant.as_ref())
            .and_then(|t| t.id.as_deref());
        let profile = req.action_type.as_deref() == Some(crate::contract::PRE_UPDATE_PROFILE);
        let key = match req.request_id.as_deref().filter(|r| !r.is_empty()) {
            Some(_) => idempotency_key(tenant, req.request_id.as_deref(), &body),
            // Another action's body (a password one) may hold a secret: its body key is salted.
            None if !profile => self.body_key(b"other", &body),
            None => idempotency_key(tenant, None, &body),
        };
        let kind = if profile {
            ActionKind::PreUpdateProfile
        } else {
            ActionKind::Other
        };
        let rid = span_id(req.request_id.as_deref());
        self.decide_keyed(key, rid, kind, started, move || {
            self.decide_once(req, caller, key, settings, started)
        })
        .await
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
        if let Some(resp) = self.try_replay(&key) {
            return resp;
        }
        let verdict = decide(&req, &self.store.directory(), &settings.policy);
        let changes = take_claim_changes(&mut req);
        let (verdict, notification, queued) = self.notify(&req, &changes, verdict, &settings).await;
        let mut entry = decision_entry(req, &key, &verdict, caller.credential_id, started);
        entry.claims = changes;
        entry.notification = notification;
        // The request id is on the enclosing `action` span.
        tracing::debug!(
            decision = verdict.response.status_name(),
            rule = ?verdict.rule,
            "decided"
        );
        self.record_decision(entry, key, queued, verdict.response)
            .await
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
        let rid = req.request_id.clone();
        let mailed = self
            .mail_security_team(settings, smtp, rid, message::SUBJECT, body)
            .await;
        let note = Some(mailed.note());
        match mailed {
            Mailed::Queued(item) => (verdict, note, Some(item)),
            Mailed::Failed(e) => (notification_failed(&settings.policy, e), note, None),
            Mailed::Sent(_) => (verdict, note, None),
        }
    }
}

/// The audit record of a decided request; the request's fields move into it.
pub(super) fn decision_entry(
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
        password: None,
    }
}
