//! PRE_UPDATE_PASSWORD: parse, get the candidate (PLAIN_TEXT, HASH, or a JWE opened with the
//! key ring), evaluate it with the organization's rules and the request's context words,
//! answer SUCCESS or FAILED naming the rule, and record the decision durably (never the
//! password, its hash, the JWE or the decrypted payload). The decision itself is
//! `service::decide` (the simulator runs it too); here is what happens around it: retries
//! decided once, replay, the online breach source, the e-mail and the record.

use std::sync::Arc;
use std::time::Instant;

use super::span_id;
use crate::app::App;
use crate::auth::Caller;
use crate::contract::{
    parse_password_request, ActionResponse, ParseError, PasswordRequest, UpdatingCredential,
};
use crate::metrics::ActionKind;
use crate::model::Settings;
use crate::online_breach;
use crate::policy::notification_failed;
use crate::policy::password::{BreachAnswer, PasswordRules, Verdict};
use crate::service::decide::{self, Checked, MailPlan, Mailed, PasswordDeps, Refusal};

impl App {
    /// Decides an authenticated password request body under `settings` and records the
    /// decision durably. Nothing here has an effect outside the record, and a record handed to
    /// the committer is written whether or not the caller still waits, so it runs inline.
    pub async fn handle_password(
        self: &Arc<Self>,
        caller: Caller,
        body: bytes::Bytes,
        settings: Arc<Settings>,
    ) -> ActionResponse {
        let started = Instant::now();
        let req = match parse_password_request(&body) {
            Ok(r) => r,
            Err(ParseError::OtherActionType | ParseError::MissingActionType) => {
                return self.other_action(caller, &body, settings, started).await
            }
            Err(e) => return self.malformed(caller, &body, &e, started).await,
        };
        let tenant = req.tenant.as_ref().and_then(|t| t.id.as_deref());
        let key = self.password_key(tenant, req.request_id.as_deref(), &body);
        let rid = span_id(req.request_id.as_deref());
        self.decide_keyed(
            key,
            rid,
            ActionKind::PreUpdatePassword,
            started,
            move || self.decide_password(req, caller, key, settings, started),
        )
        .await
    }

    /// The request key, salted with this process's salt when it comes from the body.
    fn password_key(&self, tenant: Option<&str>, rid: Option<&str>, body: &[u8]) -> [u8; 16] {
        decide::password_key(&self.body_salt, tenant, rid, body)
    }

    /// A well-formed body of another action (or none named): FAILED `invalid_input`, as the
    /// profile endpoint answers a password body; recorded and replayed like any decision.
    async fn other_action(
        &self,
        caller: Caller,
        body: &[u8],
        settings: Arc<Settings>,
        started: Instant,
    ) -> ActionResponse {
        let (req, key) = decide::other_action_request(&self.body_salt, body);
        let request_id = req.as_ref().and_then(|r| r.request_id.clone());
        let rid = span_id(request_id.as_deref());
        self.decide_keyed(key, rid, ActionKind::Other, started, move || async move {
            if let Some(resp) = self.try_replay(&key) {
                return resp;
            }
            let verdict = decide::other_action(&settings);
            let credential = caller.credential_id;
            let entry = decide::other_action_entry(req, &key, &verdict, credential, started);
            self.record_decision(entry, key, None, verdict.response)
                .await
        })
        .await
    }

    /// Replays a stored decision for this key, or decides and records a new one.
    async fn decide_password(
        &self,
        req: PasswordRequest,
        caller: Caller,
        key: [u8; 16],
        settings: Arc<Settings>,
        started: Instant,
    ) -> ActionResponse {
        if let Some(resp) = self.try_replay(&key) {
            return resp;
        }
        let mut ev = decide::password_event(req, &settings, None);
        let rules = settings.password.rules_for(ev.org.as_deref());
        let online = settings.password.online.enabled;
        // The filter in use now; a reload replaces it for later requests, not this one.
        let breached = self.breached.get();
        let checked = match ev.credential {
            // Inline: a clear credential costs ~0.1 ms (HASH form, release) or less (PLAIN_TEXT
            // 68 us in a debug build; test `password_costs`), near a hop to the blocking pool.
            UpdatingCredential::Clear(_) => {
                let deps = PasswordDeps {
                    blocklist: &self.password_blocklist,
                    breached: breached.as_deref(),
                    ring: &self.store.password_keyring(),
                    online,
                };
                decide::check_password(&ev.credential, rules, &ev.words, ev.year, &deps)
            }
            UpdatingCredential::Encrypted(_) => {
                // Blocking pool: opening costs 0.32 ms (RSA-2048) to 0.88 ms (3072) per key
                // tried (`password_costs`): too long to hold one of the runtime's 2 workers.
                let ring = self.store.password_keyring();
                let blocklist = self.password_blocklist.clone();
                let settings = settings.clone();
                let (words, year, org) = (ev.words.clone(), ev.year, ev.org.clone());
                let empty =
                    UpdatingCredential::Encrypted(crate::contract::Secret::new(String::new()));
                let credential = std::mem::replace(&mut ev.credential, empty);
                tokio::task::spawn_blocking(move || {
                    let rules = settings.password.rules_for(org.as_deref());
                    let deps = PasswordDeps {
                        blocklist: &blocklist,
                        breached: breached.as_deref(),
                        ring: &ring,
                        online,
                    };
                    decide::check_password(&credential, rules, &words, year, &deps)
                })
                .await
                .unwrap_or(Err(Refusal::Task))
            }
        };
        // A failed task (a bug of ours) is not remembered for retries: the caller retries a 500.
        let remember = !matches!(checked, Err(Refusal::Task));
        let checked = match checked {
            Ok(Checked { verdict, sha1 }) => Ok(match sha1 {
                Some(sha1) => self.ask_online(&settings, verdict, rules, &sha1).await,
                None => (verdict, None),
            }),
            Err(refusal) => {
                if self.log_limit.allow("password credential") {
                    let problem = refusal.detail();
                    tracing::warn!(%problem, "could not read an encrypted password credential");
                }
                Err(refusal)
            }
        };
        let mut out = decide::password_outcome(&ev, checked, &settings, crate::store::now_rfc3339);
        let mut notification = None;
        let mut queued = None;
        match std::mem::replace(&mut out.mail, MailPlan::None) {
            MailPlan::None => {}
            MailPlan::NotConfigured(note) => notification = Some(note),
            MailPlan::Send { subject, body } => {
                let rid = ev.req.request_id.clone();
                let mailed = self.mail_security_team(&settings, rid, subject, body).await;
                notification = Some(mailed.note());
                match mailed {
                    Mailed::Queued(item) => queued = Some(item),
                    Mailed::Failed(e) => {
                        let v = notification_failed(&settings.policy, e);
                        out.resp = v.response;
                        out.detail = v.detail;
                    }
                    Mailed::Sent(_) => {}
                }
            }
        }
        // The request id is added to the line (`logfmt::scope`).
        tracing::debug!(
            decision = out.resp.status_name(),
            rule = ?out.record.failed_rule,
            "decided"
        );
        let resp = out.resp;
        let mut entry = decide::password_entry(
            ev.req,
            &key,
            &resp,
            out.record,
            caller.credential_id,
            started,
        );
        entry.detail = out.detail;
        entry.notification = notification;
        if remember {
            return self.record_decision(entry, key, queued, resp).await;
        }
        let entry = crate::model::AuditEntry::Decision(Box::new(entry));
        match self.record(&entry, None, None).await {
            Ok(()) => resp,
            Err(e) => super::store_failure(&e),
        }
    }
}

impl App {
    /// Asks the online breach source about an accepted password; returns the verdict with its
    /// answer folded in and the audit note when the source did not answer.
    async fn ask_online(
        &self,
        settings: &Settings,
        verdict: Verdict,
        rules: &PasswordRules,
        sha1: &str,
    ) -> (Verdict, Option<String>) {
        let online = &settings.password.online;
        let client = self
            .range_client
            .get_or_init(|| online_breach::RangeClient::new().map(Arc::new));
        let (answer, problem) = match client {
            Ok(c) => c.answer(online, sha1).await,
            Err(e) => (
                BreachAnswer::Unknown,
                Some(crate::outbound::FetchError::Tls(e.clone()).into()),
            ),
        };
        let note = problem.map(|p| {
            if self.log_limit.allow("online breach check") {
                tracing::warn!(problem = %p, "the online breach source did not answer");
            }
            let then = if online.fail_closed {
                "refused (fails closed)"
            } else {
                "accepted (fails open)"
            };
            format!("online breach check: {p}; {then}")
        });
        (
            verdict.with_online_breach(rules, answer, online.fail_closed),
            note,
        )
    }
}

#[cfg(test)]
#[path = "password_tests.rs"]
mod tests;
