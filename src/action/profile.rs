//! PRE_UPDATE_PROFILE: the department rules and the security-team e-mail. The decision is
//! `service::decide::profile` (the simulator runs it too); here it is sent and recorded. The
//! shared parts (detaching, malformed bodies, replay, recording) are in the parent module.

use std::sync::Arc;
use std::time::Instant;

use super::span_id;
use crate::app::App;
use crate::auth::Caller;
use crate::contract::{parse_request, ActionRequest, ActionResponse};
use crate::metrics::ActionKind;
use crate::model::Settings;
use crate::policy::{notification_failed, Verdict};
use crate::service::decide::{self, MailPlan, Mailed};

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
        let profile = decide::is_profile(&req);
        let key = decide::profile_key(&self.body_salt, &req, &body);
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
        req: ActionRequest,
        caller: Caller,
        key: [u8; 16],
        settings: Arc<Settings>,
        started: Instant,
    ) -> ActionResponse {
        if let Some(resp) = self.try_replay(&key) {
            return resp;
        }
        let d = decide::profile(
            req,
            &self.store.directory(),
            &settings,
            crate::store::now_rfc3339,
        );
        let (verdict, notification, queued) =
            self.notify(&d.req, d.verdict, d.mail, &settings).await;
        let mut entry =
            decide::decision_entry(d.req, &key, &verdict, caller.credential_id, started);
        entry.claims = d.changes;
        entry.notification = notification;
        // The request id is added to the line (`logfmt::scope`).
        tracing::debug!(
            decision = verdict.response.status_name(),
            rule = ?verdict.rule,
            "decided"
        );
        self.record_decision(entry, key, queued, verdict.response)
            .await
    }

    /// Sends the e-mail the decision calls for. Blocking mode sends before answering (a
    /// failure turns the verdict into FAILED `email_error`, as in the seed); queued mode
    /// returns the outbox item to commit with the decision. Also returns what the audit record
    /// says about the notification.
    async fn notify(
        &self,
        req: &ActionRequest,
        verdict: Verdict,
        mail: MailPlan,
        settings: &Settings,
    ) -> (Verdict, Option<String>, Option<Vec<u8>>) {
        let (subject, body) = match mail {
            MailPlan::None => return (verdict, None, None),
            MailPlan::NotConfigured(note) => return (verdict, Some(note), None),
            MailPlan::Send { subject, body } => (subject, body),
        };
        let rid = req.request_id.clone();
        let mailed = self.mail_security_team(settings, rid, subject, body).await;
        let note = Some(mailed.note());
        match mailed {
            Mailed::Queued(item) => (verdict, note, Some(item)),
            Mailed::Failed(e) => (notification_failed(&settings.policy, e), note, None),
            Mailed::Sent(_) => (verdict, note, None),
        }
    }
}
