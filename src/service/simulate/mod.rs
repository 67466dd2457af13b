//! The event simulator: what the identity server would get back for an event, which rule
//! decided, the e-mail that would go out and the audit record that would be written, with
//! nothing written, sent or counted. It runs `service::decide`, the very code of the action
//! endpoints, under the current settings or a copy with the administrator's unsaved edits
//! (departments, sensitive claims, messages, password rules). The admin API and the CLI's
//! `simulate` are adapters over [`simulate`].
//!
//! Not simulated, and said so in `notes`: the caller's authentication and content type (the
//! event is taken as authenticated JSON), the retry index (a repeated `requestId` is decided
//! again, not replayed), and the online breach source (never asked from a dry run).

mod samples;

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ServiceError;
use crate::breached::Filter;
use crate::contract::{
    parse_password_request, parse_request, ActionResponse, MessageKind, ParseError,
    PRE_UPDATE_PASSWORD,
};
use crate::model::{DecisionEntry, DeliveryMode, Settings};
use crate::policy::password::{Blocklist, PasswordRules};
use crate::policy::{normalize_department, Directory, Messages};
use crate::store::Store;

use super::decide::{self, MailPlan, Mailed, PasswordDeps};
pub use samples::{sample, samples, Sample};

/// Which action endpoint the event is posted to.
#[derive(ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// The pre-update profile action (`/action`).
    Profile,
    /// The pre-update password action (`/password-action`).
    Password,
}

/// A department list as edited, not saved: it replaces one organization's list (`org` null:
/// the root's) for this one evaluation.
#[derive(ToSchema, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentsOverride {
    #[serde(default)]
    pub org: Option<String>,
    pub names: Vec<String>,
}

/// Settings as edited on the page and not saved: each one given replaces the current one in a
/// copy of the settings, for this one evaluation.
#[derive(ToSchema, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Overrides {
    pub departments: Option<DepartmentsOverride>,
    /// Claim URIs whose change is reported.
    pub sensitive: Option<Vec<String>>,
    /// The profile action's failure messages.
    pub messages: Option<Messages>,
    /// The password rules in force for the event's organization.
    pub password_rules: Option<PasswordRules>,
}

impl Overrides {
    fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

/// One event to simulate.
#[derive(ToSchema, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    /// The request body as the identity server would POST it (JSON text, as pasted).
    pub event: String,
    /// The endpoint it is posted to; by default the one its `actionType` names.
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    #[serde(default)]
    pub overrides: Overrides,
}

/// The identity server's view of the answer.
#[derive(ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The exact JSON body.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    /// What the caller's rules (CONTRACT.md §4) would object to; empty when it accepts it.
    pub contract_problems: Vec<String>,
}

/// The e-mail that would go out.
#[derive(ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailPreview {
    /// `blocking`: sent before answering; `queued`: through the outbox.
    pub mode: DeliveryMode,
    pub recipients: Vec<String>,
    pub subject: String,
    /// With the signed checkpoint of the chain's head as it is now.
    pub body: String,
}

/// What a real call with this event would come to.
#[derive(ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    pub endpoint: Endpoint,
    /// Whether settings as edited (the request's overrides) were used.
    pub edited: bool,
    pub answer: Answer,
    /// SUCCESS, FAILED or ERROR.
    pub decision: String,
    /// The rule that decided: a profile rule (`allowed`, `invalid_department`, …) or the
    /// password rule that failed; null when none did.
    pub rule: Option<String>,
    /// The decision's detail for the audit record (never sent to the caller).
    pub detail: Option<String>,
    /// The e-mail that would go out, if any.
    pub mail: Option<MailPreview>,
    /// The audit record that would be written (its sequence number and hash are given when
    /// it is appended); null when nothing would be (a body over the size limit).
    pub audit: Option<DecisionEntry>,
    /// The sequence number the record would get now.
    pub next_seq: u64,
    /// What this dry run did not do as a real call would.
    pub notes: Vec<String>,
}

/// What the simulator reads: the store (settings, directory, password keys) and what a server
/// holds in memory besides. Nothing is written through it.
pub struct Deps<'a> {
    pub store: &'a Store,
    pub blocklist: &'a Blocklist,
    /// The breached-password filter in use, if one is loaded.
    pub breached: Option<Arc<Filter>>,
    /// Salt of body-derived request keys (a server's own; any random one offline).
    pub salt: [u8; 32],
}

/// Simulates one event. A bad event is not an error: it is answered as the identity server
/// would be answered (400 ERROR); bad overrides are (`Invalid`, naming the field).
pub fn simulate(deps: &Deps<'_>, req: &SimulateRequest) -> Result<Simulation, ServiceError> {
    let started = Instant::now();
    let (settings, dir) = edited(deps.store, &req.overrides)?;
    let body = req.event.as_bytes();
    let endpoint = req.endpoint.unwrap_or_else(|| endpoint_of(body));
    let mut notes = vec![
        "the caller's authentication and content type are not checked".to_string(),
        "nothing was written, sent or counted".to_string(),
    ];
    let next_seq = deps.store.chain_head().seq + 1;
    let mut sim = Simulation {
        endpoint,
        edited: !req.overrides.is_empty(),
        answer: answer(&decide::too_large()),
        decision: String::new(),
        rule: None,
        detail: None,
        mail: None,
        audit: None,
        next_seq,
        notes: Vec::new(),
    };
    if body.len() > crate::contract::MAX_BODY {
        sim.decision = "ERROR".into();
        notes.push("the body is refused before it is read: no record is written".into());
        sim.notes = notes;
        return Ok(sim);
    }
    let (resp, entry, mail) = match endpoint {
        Endpoint::Profile => profile(deps, &settings, &dir, body, started),
        Endpoint::Password => password(deps, &settings, &req.overrides, body, started, &mut notes),
    };
    if let MailPlan::NotConfigured(note) = &mail {
        notes.push(format!("no e-mail: {note}"));
    }
    sim.mail = match mail {
        MailPlan::Send { subject, body } => Some(MailPreview {
            mode: settings.notify.mode,
            recipients: settings.notify.recipients.clone(),
            subject: subject.into(),
            body: super::audit::with_footer(deps.store, body),
        }),
        _ => None,
    };
    sim.answer = answer(&resp);
    sim.decision = resp.status_name().into();
    sim.rule = entry
        .password
        .as_ref()
        .and_then(|p| p.failed_rule)
        .map(|r| label(&r))
        .or_else(|| entry.rule.map(|r| label(&r)));
    sim.detail = entry.detail.clone();
    sim.audit = Some(entry);
    sim.notes = notes;
    Ok(sim)
}

/// The endpoint a body is meant for: the password one for PRE_UPDATE_PASSWORD.
fn endpoint_of(body: &[u8]) -> Endpoint {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "actionType")]
        action_type: Option<String>,
    }
    match serde_json::from_slice::<Head>(body) {
        Ok(Head {
            action_type: Some(t),
        }) if t == PRE_UPDATE_PASSWORD => Endpoint::Password,
        _ => Endpoint::Profile,
    }
}

/// A rule's name as it is serialized (`invalid_department`, `min_length`).
fn label<T: Serialize>(r: &T) -> String {
    match serde_json::to_value(r) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The profile endpoint's decision, as `action::profile` makes it.
fn profile(
    deps: &Deps<'_>,
    settings: &Settings,
    dir: &Directory,
    body: &[u8],
    started: Instant,
) -> (ActionResponse, DecisionEntry, MailPlan) {
    let req = match parse_request(body) {
        Ok(r) => r,
        Err(e) => return malformed(deps, &e, body, started),
    };
    let key = decide::profile_key(&deps.salt, &req, body);
    let d = decide::profile(req, dir, settings, crate::store::now_rfc3339);
    let mut entry = decide::decision_entry(d.req, &key, &d.verdict, None, started);
    entry.claims = d.changes;
    entry.notification = expected_note(&d.mail, settings);
    (d.verdict.response, entry, d.mail)
}

/// The password endpoint's decision, as `action::password` makes it (the online breach
/// source is not asked).
fn password(
    deps: &Deps<'_>,
    settings: &Settings,
    overrides: &Overrides,
    body: &[u8],
    started: Instant,
    notes: &mut Vec<String>,
) -> (ActionResponse, DecisionEntry, MailPlan) {
    let req = match parse_password_request(body) {
        Ok(r) => r,
        Err(ParseError::OtherActionType | ParseError::MissingActionType) => {
            let (req, key) = decide::other_action_request(&deps.salt, body);
            let verdict = decide::other_action(settings);
            let entry = decide::other_action_entry(req, &key, &verdict, None, started);
            return (verdict.response, entry, MailPlan::None);
        }
        Err(e) => return malformed(deps, &e, body, started),
    };
    let tenant = req.tenant.as_ref().and_then(|t| t.id.clone());
    let key = decide::password_key(
        &deps.salt,
        tenant.as_deref(),
        req.request_id.as_deref(),
        body,
    );
    let ev = decide::password_event(req, settings, overrides.password_rules.as_ref());
    let rules = overrides
        .password_rules
        .as_ref()
        .unwrap_or_else(|| settings.password.rules_for(ev.org.as_deref()));
    let ring = deps.store.password_keyring();
    let pd = PasswordDeps {
        blocklist: deps.blocklist,
        breached: deps.breached.as_deref(),
        ring: &ring,
        online: settings.password.online.enabled,
    };
    let checked = decide::check_password(&ev.credential, rules, &ev.words, ev.year, &pd);
    let checked = checked.map(|c| {
        if c.sha1.is_some() {
            notes.push(
                "the online breach source is not asked in a simulation: a real call would ask it now"
                    .into(),
            );
        }
        (c.verdict, None)
    });
    let out = decide::password_outcome(&ev, checked, settings, crate::store::now_rfc3339);
    let mut entry = decide::password_entry(ev.req, &key, &out.resp, out.record, None, started);
    entry.detail = out.detail;
    entry.notification = expected_note(&out.mail, settings);
    (out.resp, entry, out.mail)
}

fn malformed(
    deps: &Deps<'_>,
    e: &ParseError,
    body: &[u8],
    started: Instant,
) -> (ActionResponse, DecisionEntry, MailPlan) {
    let resp = decide::malformed(e);
    let key = decide::body_key(&deps.salt, b"malformed", body);
    let entry = decide::malformed_entry(&key, &resp, None, started);
    (resp, entry, MailPlan::None)
}

/// The audit note of the e-mail if it goes out as planned (a blocking send can still fail,
/// and a real call would then answer FAILED `email_error`).
fn expected_note(mail: &MailPlan, settings: &Settings) -> Option<String> {
    match mail {
        MailPlan::None => None,
        MailPlan::NotConfigured(note) => Some(note.clone()),
        MailPlan::Send { .. } => Some(match settings.notify.mode {
            DeliveryMode::Queued => Mailed::Queued(Vec::new()).note(),
            DeliveryMode::Blocking => Mailed::Sent(settings.notify.recipients.len()).note(),
        }),
    }
}

/// The answer as the identity server reads it, checked against its rules.
fn answer(resp: &ActionResponse) -> Answer {
    let bytes = resp.to_json();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Answer {
        status: resp.http_status(),
        contract_problems: contract_problems(resp.http_status(), &body),
        body,
    }
}

/// CONTRACT.md §4: the status goes with `actionStatus`, the body has exactly the keys of its
/// kind, and the texts pass the caller's charset and length rules (§4.4).
pub fn contract_problems(status: u16, body: &serde_json::Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(obj) = body.as_object() else {
        return vec!["the body is not a JSON object".into()];
    };
    let kind = obj
        .get("actionStatus")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let (keys, statuses): (&[&str], &[u16]) = match kind {
        "SUCCESS" => (&["actionStatus"], &[200]),
        "FAILED" => (
            &["actionStatus", "failureReason", "failureDescription"],
            &[200],
        ),
        "ERROR" => (
            &["actionStatus", "errorMessage", "errorDescription"],
            &[400, 401, 500],
        ),
        _ => return vec![format!("unknown actionStatus {kind:?}")],
    };
    if !statuses.contains(&status) {
        problems.push(format!("HTTP {status} does not go with {kind}"));
    }
    let mut have: Vec<&str> = obj.keys().map(String::as_str).collect();
    have.sort_unstable();
    let mut want = keys.to_vec();
    want.sort_unstable();
    if have != want {
        problems.push(format!("keys {have:?}, expected {want:?}"));
    }
    for (k, v) in obj {
        let what = match k.as_str() {
            "failureReason" | "errorMessage" => MessageKind::Reason,
            "failureDescription" | "errorDescription" => MessageKind::Description,
            _ => continue,
        };
        match v.as_str() {
            Some(text) => {
                if let Err(e) = crate::contract::validate_message(text, what) {
                    problems.push(format!("{k} {e}"));
                }
            }
            None => problems.push(format!("{k} is not a string")),
        }
    }
    problems
}

/// A copy of the current settings and directory with the overrides applied; each override is
/// checked as saving it would be.
fn edited(store: &Store, o: &Overrides) -> Result<(Settings, Arc<Directory>), ServiceError> {
    let mut settings = store.settings().as_ref().clone();
    let mut dir = store.directory();
    if let Some(m) = &o.messages {
        super::settings::check_messages(m).map_err(|e| match e {
            ServiceError::Invalid { field, message } => {
                ServiceError::invalid("overrides.messages", format!("{field}: {message}"))
            }
            other => other,
        })?;
        settings.policy.messages = m.clone();
    }
    if let Some(list) = &o.sensitive {
        let mut uris = Vec::new();
        for u in list.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
            crate::notify::check_claim_uri(u)
                .map_err(|m| ServiceError::invalid("overrides.sensitive", m))?;
            uris.push(u.to_string());
        }
        settings.notify.sensitive = uris;
    }
    if let Some(r) = &o.password_rules {
        r.validate()
            .map_err(|e| ServiceError::invalid("overrides.password_rules", e.to_string()))?;
    }
    if let Some(d) = &o.departments {
        let org = super::departments::validate_org(d.org.as_deref())
            .map_err(|e| ServiceError::invalid("overrides.departments.org", e.to_string()))?;
        let mut names = Vec::new();
        for (i, n) in d.names.iter().enumerate() {
            if n.trim().is_empty() {
                continue;
            }
            let n = normalize_department(n).map_err(|e| {
                ServiceError::invalid(
                    "overrides.departments",
                    format!("name {} ({n:?}): {e}", i + 1),
                )
            })?;
            names.push(n);
        }
        let mut copy = dir.as_ref().clone();
        copy.replace_list(org, names);
        dir = Arc::new(copy);
    }
    Ok((settings, dir))
}

#[cfg(test)]
mod tests;
