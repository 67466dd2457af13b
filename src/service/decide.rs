//! One action event's decision without side effects: the answer, the audit record's content
//! and the e-mail it calls for. The action endpoint (`action`) runs this and then replays,
//! writes, sends and counts around it; the simulator (`simulate`) runs the very same code and
//! does none of that, so a dry run cannot drift from the real answer.

use std::time::Instant;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::breached::Filter;
use crate::contract::credential::MAX_PLAINTEXT_BYTES;
use crate::contract::response::ErrorStatus;
use crate::contract::{
    ActionRequest, ActionResponse, Credential, InitiatorType, ParseError, PasswordAction,
    PasswordDigest, PasswordRequest, Secret, UpdatingCredential, PRE_UPDATE_PASSWORD,
    PRE_UPDATE_PROFILE,
};
use crate::idempotency::{idempotency_key, key_hex};
use crate::keys::{self, CredentialFormat, JweError, KeyRing};
use crate::model::{DecisionEntry, PasswordDecision, Settings};
use crate::notify::message;
use crate::online_breach;
use crate::policy::password::{
    evaluate, Blocklist, BreachedCheck, Candidate, ContextWords, PasswordContext, PasswordRules,
    Verdict as PasswordVerdict,
};
use crate::policy::{decide, take_claim_changes, ClaimChange, Directory, Rule, Verdict};

/// The e-mail a decision calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailPlan {
    /// None: nothing to report.
    None,
    /// One is called for and there is nowhere to send it: the audit record's note says so.
    NotConfigured(String),
    /// This e-mail goes to the security team (the checkpoint footer is added as it goes).
    Send { subject: &'static str, body: String },
}

/// What became of one e-mail.
pub enum Mailed {
    /// The outbox item to commit with the decision (its id is the record's sequence number).
    Queued(Vec<u8>),
    /// Sent to this many recipients (blocking mode).
    Sent(usize),
    /// Could not be sent or queued: the change is refused.
    Failed(String),
}

impl Mailed {
    /// The audit record's note.
    pub fn note(&self) -> String {
        match self {
            Mailed::Queued(_) => "queued (outbox item = this record's seq)".into(),
            Mailed::Sent(n) => format!("sent to {n} recipient(s)"),
            Mailed::Failed(e) => format!("failed: {e}"),
        }
    }
}

/// A request key from a whole body, salted with a process's random salt: a body may hold a
/// password, and an unsalted hash of it in the audit record could be guessed offline.
pub fn body_key(salt: &[u8; 32], namespace: &[u8], body: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"salted-body\0");
    h.update(namespace);
    h.update(b"\0");
    h.update(salt);
    h.update(body);
    let d = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// The profile endpoint's request key: from the tenant and `requestId`, else from the body
/// (salted when the body is another action's, which may hold a secret).
pub fn profile_key(salt: &[u8; 32], req: &ActionRequest, body: &[u8]) -> [u8; 16] {
    let tenant = req
        .event
        .as_ref()
        .and_then(|e| e.tenant.as_ref())
        .and_then(|t| t.id.as_deref());
    match req.request_id.as_deref().filter(|r| !r.is_empty()) {
        Some(_) => idempotency_key(tenant, req.request_id.as_deref(), body),
        None if !is_profile(req) => body_key(salt, b"other", body),
        None => idempotency_key(tenant, None, body),
    }
}

/// Whether a parsed profile-endpoint body is a PRE_UPDATE_PROFILE event.
pub fn is_profile(req: &ActionRequest) -> bool {
    req.action_type.as_deref() == Some(PRE_UPDATE_PROFILE)
}

/// The password endpoint's request key: from the tenant and `requestId` (apart from the
/// profile action's keys, so one id at both endpoints is two requests), else the salted body.
pub fn password_key(
    salt: &[u8; 32],
    tenant: Option<&str>,
    rid: Option<&str>,
    body: &[u8],
) -> [u8; 16] {
    let Some(rid) = rid.filter(|r| !r.is_empty()) else {
        return body_key(salt, b"password", body);
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

/// The answer to a body that did not parse: 400 naming the problem and its JSON path (never
/// a value).
pub fn malformed(e: &ParseError) -> ActionResponse {
    ActionResponse::error(
        ErrorStatus::BadRequest,
        "Invalid request body",
        &e.to_string(),
    )
}

/// The record of a body that did not parse: what every record holds (the key, the answer as
/// given, who asked, how long it took), which the other records build on.
pub fn malformed_entry(
    key: &[u8; 16],
    resp: &ActionResponse,
    credential: Option<String>,
    started: Instant,
) -> DecisionEntry {
    DecisionEntry {
        idempotency_key: key_hex(key),
        decision: resp.status_name().into(),
        http_status: resp.http_status(),
        reason: resp.reason().map(str::to_string),
        description: resp.description().map(str::to_string),
        credential,
        latency_us: elapsed_us(started),
        ..Default::default()
    }
}

/// The answer to a body larger than the action endpoint reads.
pub fn too_large() -> ActionResponse {
    ActionResponse::error(
        ErrorStatus::BadRequest,
        "Request body too large",
        &format!(
            "The request body is larger than {} KiB.",
            crate::contract::MAX_BODY / 1024
        ),
    )
}

pub fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A profile event decided: the verdict, the claims it touches (moved out of the request),
/// the request without them, and the e-mail it calls for.
pub struct ProfileDecision {
    pub req: ActionRequest,
    pub changes: Vec<ClaimChange>,
    pub verdict: Verdict,
    pub mail: MailPlan,
}

/// Decides a profile event under `settings` and `dir`; `now` gives the e-mail's time (only
/// asked when there is one).
pub fn profile(
    mut req: ActionRequest,
    dir: &Directory,
    settings: &Settings,
    now: fn() -> String,
) -> ProfileDecision {
    let verdict = decide(&req, dir, &settings.policy);
    let changes = take_claim_changes(&mut req);
    let mail = profile_mail(&req, &changes, &verdict, settings, now);
    ProfileDecision {
        req,
        changes,
        verdict,
        mail,
    }
}

/// An allowed update that touches sensitive claims is reported to the security team.
fn profile_mail(
    req: &ActionRequest,
    changes: &[ClaimChange],
    verdict: &Verdict,
    settings: &Settings,
    now: fn() -> String,
) -> MailPlan {
    if verdict.rule != Rule::Allowed {
        return MailPlan::None;
    }
    let sensitive = message::sensitive_changes(changes, &settings.notify.sensitive);
    if sensitive.is_empty() {
        return MailPlan::None;
    }
    if settings.notify.configured().is_none() {
        return MailPlan::NotConfigured(format!(
            "not configured: {} sensitive claim(s) changed and no SMTP server or recipient is set",
            sensitive.len()
        ));
    }
    MailPlan::Send {
        subject: message::SUBJECT,
        body: message::body(req, &sensitive, &now()),
    }
}

/// The audit record of a decided request; the request's fields move into it.
pub fn decision_entry(
    req: ActionRequest,
    key: &[u8; 16],
    verdict: &Verdict,
    credential: Option<String>,
    started: Instant,
) -> DecisionEntry {
    let event = req.event.unwrap_or_default();
    let tenant = event.tenant.unwrap_or_default();
    let user = event.user.unwrap_or_default();
    DecisionEntry {
        request_id: req.request_id,
        action_type: req.action_type,
        tenant_id: tenant.id,
        tenant_name: tenant.name,
        organization: event.organization,
        user_id: user.id,
        user_organization: user.organization,
        shared_user_id: user.shared_user_id,
        initiator: event.initiator_type,
        rule: Some(verdict.rule),
        detail: verdict.detail.clone(),
        ..malformed_entry(key, &verdict.response, credential, started)
    }
}

/// A well-formed body of another action at the password endpoint: FAILED `invalid_input`, as
/// the profile endpoint answers a password body.
pub fn other_action(settings: &Settings) -> Verdict {
    let m = &settings.policy.messages.invalid_action_type;
    Verdict {
        rule: Rule::InvalidActionType,
        response: ActionResponse::failed(&m.reason, &m.description),
        detail: Some(format!("actionType is not {PRE_UPDATE_PASSWORD}")),
    }
}

/// Another action's body at the password endpoint: the request, when it parses as a profile
/// body, and its key (the password endpoint's, from its tenant and `requestId`).
pub fn other_action_request(salt: &[u8; 32], body: &[u8]) -> (Option<ActionRequest>, [u8; 16]) {
    let req = crate::contract::parse_request(body).ok();
    let rid = req.as_ref().and_then(|r| r.request_id.as_deref());
    let tenant = req
        .as_ref()
        .and_then(|r| r.event.as_ref())
        .and_then(|e| e.tenant.as_ref())
        .and_then(|t| t.id.as_deref());
    let key = password_key(salt, tenant, rid, body);
    (req, key)
}

/// The record of [`other_action`]: the request's fields when it parsed as a profile body.
pub fn other_action_entry(
    req: Option<ActionRequest>,
    key: &[u8; 16],
    verdict: &Verdict,
    credential: Option<String>,
    started: Instant,
) -> DecisionEntry {
    match req {
        Some(req) => decision_entry(req, key, verdict, credential, started),
        None => DecisionEntry {
            rule: Some(verdict.rule),
            detail: verdict.detail.clone(),
            ..malformed_entry(key, &verdict.response, credential, started)
        },
    }
}

/// The decrypted payload becomes the credential the policy reads, so the policy sees one
/// type whichever form the password came in.
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

/// Why no password verdict was reached: answered ERROR with a fixed text (never the token).
pub enum Refusal {
    /// An encrypted credential, and not one key to open it with.
    NoKeys,
    Jwe(JweError),
    /// The blocking task panicked (the endpoint's; a simulation runs inline).
    Task,
}

impl Refusal {
    pub fn response(&self) -> ActionResponse {
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
    pub fn detail(&self) -> String {
        match self {
            Refusal::NoKeys => "no password-sharing key is configured".into(),
            Refusal::Jwe(e) => e.to_string(),
            Refusal::Task => "the decryption task failed".into(),
        }
    }
}

/// A password event ready to check: the credential taken out of the request (what stays is
/// recorded), its form, the organization whose rules apply, the words it must not contain.
pub struct PasswordEvent {
    pub req: PasswordRequest,
    pub credential: UpdatingCredential,
    pub form: &'static str,
    pub org: Option<String>,
    pub words: ContextWords,
    pub year: Option<i32>,
}

/// Takes the secret out of the request (no copy) and gathers what the rules look at.
/// `rules` is `None` for the settings' rules of the event's organization.
pub fn password_event(
    mut req: PasswordRequest,
    settings: &Settings,
    rules: Option<&PasswordRules>,
) -> PasswordEvent {
    let org = req
        .organization
        .as_ref()
        .and_then(|o| o.id.clone())
        .filter(|o| !o.is_empty());
    let rules = rules.unwrap_or_else(|| settings.password.rules_for(org.as_deref()));
    let words = ContextWords::from_request(&req, &rules.extra_words);
    let empty = UpdatingCredential::Encrypted(Secret::new(String::new()));
    let credential = std::mem::replace(&mut req.credential, empty);
    PasswordEvent {
        form: credential.form(),
        req,
        credential,
        org,
        words,
        year: Some(time::OffsetDateTime::now_utc().year()),
    }
}

/// What a password check looks at besides the rules and the credential.
pub struct PasswordDeps<'a> {
    pub blocklist: &'a Blocklist,
    /// The breached-password filter in use, if one is loaded.
    pub breached: Option<&'a Filter>,
    /// Opens a JWE credential.
    pub ring: &'a KeyRing,
    /// Whether the online breach source will be asked (then an accepted plain password's
    /// SHA-1 is kept for it).
    pub online: bool,
}

/// A verdict and, when the online breach source is to be asked, the password's SHA-1 (only
/// for an accepted PLAIN_TEXT password: a refused one never leaves the machine, even as a
/// hash prefix, and the HASH form cannot give a SHA-1).
pub struct Checked {
    pub verdict: PasswordVerdict,
    pub sha1: Option<Zeroizing<String>>,
}

/// Evaluates a credential in any form (a JWE is opened with the ring first, and its payload
/// wiped when this returns). Opening costs 0.3-0.9 ms a key: the endpoint runs a JWE on the
/// blocking pool.
pub fn check_password(
    credential: &UpdatingCredential,
    rules: &PasswordRules,
    words: &ContextWords,
    year: Option<i32>,
    deps: &PasswordDeps<'_>,
) -> Result<Checked, Refusal> {
    match credential {
        UpdatingCredential::Clear(c) => Ok(check_clear(rules, c, words, year, deps)),
        UpdatingCredential::Encrypted(_) if deps.ring.keys().is_empty() => Err(Refusal::NoKeys),
        UpdatingCredential::Encrypted(token) => {
            let opened = deps.ring.decrypt(token.expose()).map_err(Refusal::Jwe)?;
            let c = Credential::try_from(opened).map_err(Refusal::Jwe)?;
            Ok(check_clear(rules, &c, words, year, deps))
        }
    }
}

fn check_clear(
    rules: &PasswordRules,
    credential: &Credential,
    words: &ContextWords,
    year: Option<i32>,
    deps: &PasswordDeps<'_>,
) -> Checked {
    let ctx = PasswordContext {
        blocklist: deps.blocklist,
        words,
        year,
        breached: deps.breached.map(|f| f as &dyn BreachedCheck),
    };
    let verdict = evaluate(rules, Candidate::from(credential), &ctx);
    let sha1 = match credential {
        Credential::Plain(p) if deps.online && verdict.is_accepted() => {
            Some(online_breach::sha1_hex(p.expose()))
        }
        _ => None,
    };
    Checked { verdict, sha1 }
}

/// A password event decided: the answer, what its record says, and the e-mail it calls for.
pub struct PasswordOutcome {
    pub resp: ActionResponse,
    pub record: PasswordDecision,
    pub detail: Option<String>,
    pub mail: MailPlan,
}

/// The answer and record of a checked password event; `checked` carries the verdict with the
/// online answer already folded in, and that check's audit note.
pub fn password_outcome(
    ev: &PasswordEvent,
    checked: Result<(PasswordVerdict, Option<String>), Refusal>,
    settings: &Settings,
    now: fn() -> String,
) -> PasswordOutcome {
    match checked {
        Ok((verdict, note)) => {
            let resp = verdict.to_response();
            let mail = if verdict.is_accepted() && settings.password.notify.wants(&ev.req.initiator)
            {
                password_mail(&ev.req, ev.form, settings, now)
            } else {
                MailPlan::None
            };
            PasswordOutcome {
                resp,
                record: PasswordDecision {
                    action: String::new(),
                    form: ev.form.into(),
                    failed_rule: verdict.failed_rule(),
                    rules_applied: verdict.applied,
                    rules_unchecked: verdict.unchecked,
                    note,
                },
                detail: None,
                mail,
            }
        }
        Err(refusal) => PasswordOutcome {
            resp: refusal.response(),
            record: PasswordDecision {
                form: ev.form.into(),
                ..Default::default()
            },
            detail: Some(refusal.detail()),
            mail: MailPlan::None,
        },
    }
}

/// The security-team e-mail of an accepted password change.
fn password_mail(
    req: &PasswordRequest,
    form: &str,
    settings: &Settings,
    now: fn() -> String,
) -> MailPlan {
    if settings.notify.configured().is_none() {
        return MailPlan::NotConfigured(
            "not configured: a password event is to be mailed and no SMTP server or recipient is set"
                .into(),
        );
    }
    let initiator = initiator_label(&req.initiator);
    let action = action_label(&req.action);
    MailPlan::Send {
        subject: message::PASSWORD_SUBJECT,
        body: message::password_body(req, &action, &initiator, form, &now()),
    }
}

pub fn initiator_label(i: &InitiatorType) -> String {
    match i {
        InitiatorType::User => "USER".into(),
        InitiatorType::Admin => "ADMIN".into(),
        InitiatorType::Application => "APPLICATION".into(),
        InitiatorType::Other(s) => s.clone(),
    }
}

pub fn action_label(a: &PasswordAction) -> String {
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
pub fn password_entry(
    req: PasswordRequest,
    key: &[u8; 16],
    resp: &ActionResponse,
    mut password: PasswordDecision,
    credential: Option<String>,
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
        action_type: Some(PRE_UPDATE_PASSWORD.into()),
        tenant_id: tenant.id,
        tenant_name: tenant.name,
        organization: req.organization,
        user_id,
        user_organization: req.user.organization,
        initiator: Some(initiator_label(&req.initiator)),
        password: Some(password),
        ..malformed_entry(key, resp, credential, started)
    }
}
