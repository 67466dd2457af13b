//! PRE_UPDATE_PASSWORD: parse, get the candidate (PLAIN_TEXT, HASH, or a JWE opened with the
//! key ring), evaluate it with the organization's rules and the request's context words,
//! answer SUCCESS or FAILED naming the rule, and record the decision durably (never the
//! password, its hash, the JWE or the decrypted payload). The shared parts (malformed bodies,
//! retries decided once, replay, recording) are in the parent module.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::mail::Mailed;
use super::{elapsed_us, span_id};
use crate::app::App;
use crate::auth::Caller;
use crate::breached::Filter;
use crate::contract::credential::MAX_PLAINTEXT_BYTES;
use crate::contract::response::ErrorStatus;
use crate::contract::{
    parse_password_request, parse_request, ActionResponse, Credential, InitiatorType, ParseError,
    PasswordAction, PasswordDigest, PasswordRequest, Secret, UpdatingCredential,
    PRE_UPDATE_PASSWORD,
};
use crate::idempotency::key_hex;
use crate::keys::{self, CredentialFormat, JweError, KeyRing};
use crate::metrics::ActionKind;
use crate::model::{DecisionEntry, PasswordDecision, Settings};
use crate::notify::message;
use crate::online_breach;
use crate::policy::password::{
    evaluate, Blocklist, BreachAnswer, BreachedCheck, Candidate, ContextWords, PasswordContext,
    PasswordRules, Verdict,
};
use crate::policy::{notification_failed, Rule};

/// The one place the decrypted payload becomes the credential the policy reads, so the policy
/// sees one type whichever form the password came in.
impl TryFrom<keys::Credential> for Credential {
    type Error = JweError;
    fn try_from(c: keys::Credential) -> Result<Self, JweError> {
        match c.format() {
            CredentialFormat::PlainText => {
                if c.value().len() > MAX_PLAINTEXT_BYTES {
                    return Err(JweError::NotCredential("the password is too long"));
                }
                Ok(Credential::Plain(Secret::new(c.value().to_owned())))
            }
            CredentialFormat::Sha256Hash => {
                let mut digest = Zeroizing::new([0u8; 32]);
                let b64 = base64::engine::general_purpose::STANDARD;
                match b64.decode_slice(c.value().trim(), &mut *digest) {
                    Ok(32) => Ok(Credential::Sha256(PasswordDigest::new(*digest))),
                    _ => Err(JweError::NotCredential(
                        "the HASH value is not the base64 of a SHA-256 digest",
                    )),
                }
            }
        }
    }
}

/// Why no verdict was reached: answered ERROR with a fixed text (never the token).
enum Refusal {
    /// An encrypted credential, and not one key to open it with.
    NoKeys,
    Jwe(JweError),
    /// The blocking task panicked.
    Task,
}

impl Refusal {
    fn response(&self) -> ActionResponse {
        match self {
            Refusal::NoKeys => ActionResponse::error(
                ErrorStatus::BadRequest,
                "No password sharing key",
                "The action is set up with a certificate that profilegate does not have: it has no password-sharing key. Generate a key in profilegate and register its certificate in the action.",
            ),
            Refusal::Jwe(_) => ActionResponse::error(
                ErrorStatus::BadRequest,
                "Encrypted credential unreadable",
                "The encrypted credential could not be opened with an active password-sharing key of profilegate. Register the current certificate of profilegate in the action.",
            ),
            Refusal::Task => ActionResponse::error(
                ErrorStatus::Internal,
                "internal error",
                "profilegate could not process the request.",
            ),
        }
    }

    /// For the audit record and the log: fixed texts only.
    fn detail(&self) -> String {
        match self {
            Refusal::NoKeys => "no password-sharing key is configured".into(),
            Refusal::Jwe(e) => e.to_string(),
            Refusal::Task => "the decryption task failed".into(),
        }
    }
}

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

    /// The request key: from the tenant and `requestId` (apart from the profile action's
    /// keys, so one id at both endpoints is two requests), else from the salted body.
    fn password_key(&self, tenant: Option<&str>, rid: Option<&str>, body: &[u8]) -> [u8; 16] {
        let Some(rid) = rid.filter(|r| !r.is_empty()) else {
            return self.body_key(b"password", body);
        };
        let mut h = Sha256::new();
        h.update(b"password-rid\0");
        h.update(tenant.unwrap_or("").as_bytes());
        h.update(b"\0");
        h.update(rid.as_bytes());
        let d = h.finalize();
        let mut k = [0u8; 16];
        k.copy_from_slice(&d[..16]);
        k
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
        let req = parse_request(body).ok();
        let rid_of = |r: &crate::contract::ActionRequest| r.request_id.clone();
        let request_id = req.as_ref().and_then(rid_of);
        let tenant = req
            .as_ref()
            .and_then(|r| r.event.as_ref())
            .and_then(|e| e.tenant.as_ref())
            .and_then(|t| t.id.clone());
        let key = self.password_key(tenant.as_deref(), request_id.as_deref(), body);
        let rid = span_id(request_id.as_deref());
        self.decide_keyed(key, rid, ActionKind::Other, started, move || async move {
            if let Some(resp) = self.try_replay(&key) {
                return resp;
            }
            let m = &settings.policy.messages.invalid_action_type;
            let verdict = crate::policy::Verdict {
                rule: Rule::InvalidActionType,
                response: ActionResponse::failed(&m.reason, &m.description),
                detail: Some(format!("actionType is not {PRE_UPDATE_PASSWORD}")),
            };
            let credential = caller.credential_id;
            let entry = match req {
                Some(req) => {
                    super::profile::decision_entry(req, &key, &verdict, credential, started)
                }
                None => DecisionEntry {
                    idempotency_key: key_hex(&key),
                    decision: verdict.response.status_name().into(),
                    http_status: verdict.response.http_status(),
                    rule: Some(verdict.rule),
                    reason: verdict.response.reason().map(str::to_string),
                    description: verdict.response.description().map(str::to_string),
                    detail: verdict.detail.clone(),
                    credential,
                    latency_us: elapsed_us(started),
                    ..Default::default()
                },
            };
            self.record_decision(entry, key, None, verdict.response)
                .await
        })
        .await
    }

    /// Replays a stored decision for this key, or decides and records a new one.
    async fn decide_password(
        &self,
        mut req: PasswordRequest,
        caller: Caller,
        key: [u8; 16],
        settings: Arc<Settings>,
        started: Instant,
    ) -> ActionResponse {
        if let Some(resp) = self.try_replay(&key) {
            return resp;
        }
        let org = req
            .organization
            .as_ref()
            .and_then(|o| o.id.clone())
            .filter(|o| !o.is_empty());
        let rules = settings.password.rules_for(org.as_deref());
        let words = ContextWords::from_request(&req, &rules.extra_words);
        let year = Some(time::OffsetDateTime::now_utc().year());
        // The secret moves out of the request (no copy); what stays is recorded.
        let empty = UpdatingCredential::Encrypted(Secret::new(String::new()));
        let credential = std::mem::replace(&mut req.credential, empty);
        let form = credential.form();
        let online = settings.password.online.enabled;
        // The filter in use now; a reload replaces it for later requests, not this one.
        let breached = self.breached.get();
        let checked = match credential {
            // Inline: a clear credential costs ~0.1 ms (HASH form, release) or less (PLAIN_TEXT
            // 68 us in a debug build; test `password_costs`), near a hop to the blocking pool.
            UpdatingCredential::Clear(c) => {
                let ctx = Context {
                    blocklist: &self.password_blocklist,
                    words: &words,
                    year,
                    breached: breached.as_deref(),
                    online,
                };
                Ok(check(rules, &c, &ctx))
            }
            UpdatingCredential::Encrypted(token) => {
                let ring = self.store.password_keyring();
                if ring.keys().is_empty() {
                    Err(Refusal::NoKeys)
                } else {
                    // Blocking pool: opening costs 0.32 ms (RSA-2048) to 0.88 ms (3072) per key
                    // tried (`password_costs`): too long to hold one of the runtime's 2 workers.
                    let blocklist = self.password_blocklist.clone();
                    let settings = settings.clone();
                    tokio::task::spawn_blocking(move || {
                        let rules = settings.password.rules_for(org.as_deref());
                        let ctx = Context {
                            blocklist: &blocklist,
                            words: &words,
                            year,
                            breached: breached.as_deref(),
                            online,
                        };
                        open_and_check(&ring, &token, rules, &ctx)
                    })
                    .await
                    .unwrap_or(Err(Refusal::Task))
                }
            }
        };
        // A failed task (a bug of ours) is not remembered for retries: the caller retries a 500.
        let remember = !matches!(checked, Err(Refusal::Task));
        let mut notification = None;
        let mut queued = None;
        let (resp, record, detail) = match checked {
            Ok(Checked { verdict, sha1 }) => {
                let (verdict, note) = match sha1 {
                    Some(sha1) => self.ask_online(&settings, verdict, rules, &sha1).await,
                    None => (verdict, None),
                };
                let mut resp = verdict.to_response();
                let mut detail = None;
                if verdict.is_accepted() && settings.password.notify.wants(&req.initiator) {
                    let (note, item, failed) =
                        self.mail_password_event(&req, form, &settings).await;
                    notification = note;
                    queued = item;
                    if let Some(e) = failed {
                        let v = notification_failed(&settings.policy, e);
                        resp = v.response;
                        detail = v.detail;
                    }
                }
                let record = PasswordDecision {
                    action: String::new(),
                    form: form.into(),
                    failed_rule: verdict.failed_rule(),
                    rules_applied: verdict.applied,
                    rules_unchecked: verdict.unchecked,
                    note,
                };
                (resp, record, detail)
            }
            Err(refusal) => {
                if self.log_limit.allow("password credential") {
                    let problem = refusal.detail();
                    tracing::warn!(%problem, "could not read an encrypted password credential");
                }
                let record = PasswordDecision {
                    form: form.into(),
                    ..Default::default()
                };
                (refusal.response(), record, Some(refusal.detail()))
            }
        };
        // The request id is on the enclosing `action` span.
        tracing::debug!(
            decision = resp.status_name(),
            rule = ?record.failed_rule,
            "decided"
        );
        let mut entry = password_entry(req, &key, &resp, record, &caller, started);
        entry.detail = detail;
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

    /// The security-team e-mail of an accepted password change: the audit note, the outbox
    /// item to commit (queued mode) and, in blocking mode, why sending failed.
    async fn mail_password_event(
        &self,
        req: &PasswordRequest,
        form: &str,
        settings: &Settings,
    ) -> (Option<String>, Option<Vec<u8>>, Option<String>) {
        let Some(smtp) = settings.notify.configured() else {
            let note = "not configured: a password event is to be mailed and no SMTP server or recipient is set";
            return (Some(note.into()), None, None);
        };
        let now = crate::store::now_rfc3339();
        let initiator = initiator_label(&req.initiator);
        let action = action_label(&req.action);
        let body = message::password_body(req, &action, &initiator, form, &now);
        let rid = req.request_id.clone();
        let mailed = self
            .mail_security_team(settings, smtp, rid, message::PASSWORD_SUBJECT, body)
            .await;
        let note = Some(mailed.note());
        match mailed {
            Mailed::Queued(item) => (note, Some(item), None),
            Mailed::Failed(e) => (note, None, Some(e)),
            Mailed::Sent(_) => (note, None, None),
        }
    }
}

/// A verdict and, when the online breach source is to be asked, the password's SHA-1 (only
/// for an accepted PLAIN_TEXT password: a refused one never leaves the machine, even as a
/// hash prefix, and the HASH form cannot give a SHA-1).
struct Checked {
    verdict: Verdict,
    sha1: Option<Zeroizing<String>>,
}

/// What a decision looks at besides the rules and the credential.
struct Context<'a> {
    blocklist: &'a Blocklist,
    words: &'a ContextWords,
    year: Option<i32>,
    /// The breached-password filter in use, if one is loaded.
    breached: Option<&'a Filter>,
    /// Whether the online breach source will be asked (then an accepted plain password's
    /// SHA-1 is kept for it).
    online: bool,
}

/// Evaluates a clear credential.
fn check(rules: &PasswordRules, credential: &Credential, c: &Context<'_>) -> Checked {
    let ctx = PasswordContext {
        blocklist: c.blocklist,
        words: c.words,
        year: c.year,
        breached: c.breached.map(|f| f as &dyn BreachedCheck),
    };
    let verdict = evaluate(rules, Candidate::from(credential), &ctx);
    let sha1 = match credential {
        Credential::Plain(p) if c.online && verdict.is_accepted() => {
            Some(online_breach::sha1_hex(p.expose()))
        }
        _ => None,
    };
    Checked { verdict, sha1 }
}

/// Opens the JWE with the ring and evaluates what it holds; the decrypted payload is wiped
/// when this returns.
fn open_and_check(
    ring: &KeyRing,
    token: &Secret,
    rules: &PasswordRules,
    ctx: &Context<'_>,
) -> Result<Checked, Refusal> {
    let opened = ring.decrypt(token.expose()).map_err(Refusal::Jwe)?;
    let credential = Credential::try_from(opened).map_err(Refusal::Jwe)?;
    Ok(check(rules, &credential, ctx))
}

fn initiator_label(i: &InitiatorType) -> String {
    match i {
        InitiatorType::User => "USER".into(),
        InitiatorType::Admin => "ADMIN".into(),
        InitiatorType::Application => "APPLICATION".into(),
        InitiatorType::Other(s) => s.clone(),
    }
}

fn action_label(a: &PasswordAction) -> String {
    match a {
        PasswordAction::Update => "UPDATE".into(),
        PasswordAction::Reset => "RESET".into(),
        PasswordAction::Invite => "INVITE".into(),
        PasswordAction::Register => "REGISTER".into(),
        PasswordAction::Other(s) => s.clone(),
    }
}

/// The audit record of a password decision; the request's fields (never its credential) move
/// into it. A REGISTER has no user id yet: the record says `new user`.
fn password_entry(
    req: PasswordRequest,
    key: &[u8; 16],
    resp: &ActionResponse,
    mut password: PasswordDecision,
    caller: &Caller,
    started: Instant,
) -> DecisionEntry {
    password.action = action_label(&req.action);
    let user_id = match (req.user.id, &req.action) {
        (Some(id), _) => Some(id),
        (None, PasswordAction::Register) => Some("new user".into()),
        (None, _) => None,
    };
    let tenant = req.tenant.unwrap_or_default();
    DecisionEntry {
        request_id: req.request_id,
        idempotency_key: key_hex(key),
        action_type: Some(PRE_UPDATE_PASSWORD.into()),
        tenant_id: tenant.id,
        tenant_name: tenant.name,
        organization: req.organization,
        user_id,
        user_organization: req.user.organization,
        initiator: Some(initiator_label(&req.initiator)),
        decision: resp.status_name().into(),
        http_status: resp.http_status(),
        reason: resp.reason().map(str::to_string),
        description: resp.description().map(str::to_string),
        credential: caller.credential_id.clone(),
        latency_us: elapsed_us(started),
        password: Some(password),
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "password_tests.rs"]
mod tests;
