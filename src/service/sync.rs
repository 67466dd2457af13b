//! Keeping a department list in step with the company's source: setting the source, a sync
//! (scheduled, "Sync now", `--dry-run`), approving a held one, and the status the pages,
//! `/metrics` and `/readyz` show. The rules are here once; the CLI, the admin API and the
//! schedule call them.
//!
//! A failing source never changes the list: the attempt is recorded and decisions keep using
//! the last good copy. A sync that would empty a list or remove more than its limit is held
//! with its diff until an administrator approves exactly that diff.

use serde::{Deserialize, Serialize};

use super::departments::validate_org;
use super::{Ctx, ServiceError};
use crate::outbound;
use crate::store::{now_unix_ms, Store};
use crate::sync::{
    judge, Fetch, Held, HttpAuth, Judgement, Source, SyncSettings, SyncState, Validators, MASK,
};

/// The limits an administrator's settings must keep.
pub const MIN_EVERY_SECS: u64 = 60;
pub const MAX_EVERY_SECS: u64 = 7 * 24 * 3600;
pub const MAX_STALE_AFTER_SECS: u64 = 30 * 24 * 3600;
const MAX_URL: usize = 2048;
const MAX_SECRET: usize = 4096;

fn org_key(org: Option<&str>) -> String {
    org.unwrap_or("").to_string()
}

fn org_name(org: Option<&str>) -> String {
    org.map_or_else(
        || "the root organization".into(),
        |o| format!("organization {o:?}"),
    )
}

fn text_ok(field: &'static str, what: &str, v: &str, max: usize) -> Result<(), ServiceError> {
    if v.len() > max || v.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            field,
            format!("{what} must be at most {max} characters, without control characters"),
        ));
    }
    Ok(())
}

/// Whether a URL's host is this machine (where a clear connection leaves nothing exposed).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_matches(['[', ']']);
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a source's settings, each problem next to its field.
pub fn check(s: &SyncSettings) -> Result<(), ServiceError> {
    match &s.source {
        Source::Http(h) => {
            let uri = outbound::check_url(&h.url, MAX_URL)
                .map_err(|m| ServiceError::invalid("url", m))?;
            if uri.scheme_str() == Some("http") && !uri.host().is_some_and(is_loopback_host) {
                return Err(ServiceError::invalid(
                    "url",
                    "use https:// (a clear http:// source is accepted only on this machine: \
                     anyone on the path could change the list)",
                ));
            }
            if let Some(f) = &h.field {
                if f.trim().is_empty() {
                    return Err(ServiceError::invalid(
                        "field",
                        "give the field's name, or leave it out",
                    ));
                }
                text_ok("field", "the field's name", f, 256)?;
            }
            match &h.auth {
                HttpAuth::None => {}
                HttpAuth::Bearer { token } => {
                    if token.trim().is_empty() {
                        return Err(ServiceError::invalid("token", "give the token"));
                    }
                    text_ok("token", "the token", token, MAX_SECRET)?;
                }
                HttpAuth::Basic { username, password } => {
                    if username.is_empty() || username.contains(':') {
                        return Err(ServiceError::invalid(
                            "username",
                            "give the user name (without a colon)",
                        ));
                    }
                    text_ok("username", "the user name", username, 256)?;
                    if password.is_empty() {
                        return Err(ServiceError::invalid("password", "give the password"));
                    }
                    text_ok("password", "the password", password, MAX_SECRET)?;
                }
            }
            if let Some(ca) = &h.tls_ca_pem {
                outbound::client_config(Some(ca), None)
                    .map_err(|e| ServiceError::invalid("tls_ca", e.to_string()))?;
            }
            h.tls()
                .map_err(|e| ServiceError::invalid("client_cert", e.to_string()))?;
            if !(100..=60_000).contains(&h.timeout_ms) {
                return Err(ServiceError::invalid(
                    "timeout_ms",
                    "the time limit is 100 to 60000 ms",
                ));
            }
            let max = crate::sync::http::MAX_MAX_BYTES;
            if !(1024..=max).contains(&h.max_bytes) {
                return Err(ServiceError::invalid(
                    "max_bytes",
                    format!("the size limit is 1024 to {max} bytes"),
                ));
            }
        }
        Source::Ldap(l) => {
            crate::sync::check_ldap(l).map_err(|m| ServiceError::invalid(ldap_field(&m), m))?;
            if let Some(ca) = &l.tls_ca_pem {
                outbound::client_config(Some(ca), None)
                    .map_err(|e| ServiceError::invalid("tls_ca", e.to_string()))?;
            }
        }
    }
    if !(MIN_EVERY_SECS..=MAX_EVERY_SECS).contains(&s.every_secs) {
        return Err(ServiceError::invalid(
            "every",
            "the interval is 1 minute to 7 days",
        ));
    }
    if s.stale_after_secs < s.every_secs || s.stale_after_secs > MAX_STALE_AFTER_SECS {
        return Err(ServiceError::invalid(
            "stale_after",
            "the stale threshold is at least the interval and at most 30 days",
        ));
    }
    if s.max_removal_percent > 100 {
        return Err(ServiceError::invalid(
            "max_removal_percent",
            "the removal limit is a share from 0 to 100 (%)",
        ));
    }
    Ok(())
}

/// The form field an LDAP settings problem concerns (`check_ldap` names it in its text).
fn ldap_field(message: &str) -> &'static str {
    [
        ("URL", "url"),
        ("ldap", "url"),
        ("bind DN", "bind_dn"),
        ("base DN", "base_dn"),
        ("password", "password"),
        ("filter", "filter"),
        ("attribute", "attribute"),
        ("page size", "page_size"),
        ("time limit", "timeout_ms"),
    ]
    .into_iter()
    .find(|(k, _)| message.contains(k))
    .map_or("url", |(_, f)| f)
}

/// A secret sent back as [`MASK`] (a form showing the stored source) keeps the stored one.
fn keep_secrets(new: &mut Source, old: Option<&Source>) {
    match (new, old) {
        (Source::Http(n), Some(Source::Http(o))) => {
            match (&mut n.auth, &o.auth) {
                (HttpAuth::Bearer { token }, HttpAuth::Bearer { token: old }) if token == MASK => {
                    token.clone_from(old)
                }
                (
                    HttpAuth::Basic { password, .. },
                    HttpAuth::Basic {
                        password: old_pw, ..
                    },
                ) if password == MASK => password.clone_from(old_pw),
                _ => {}
            }
            if n.client_key_pem.as_deref() == Some(MASK) {
                n.client_key_pem.clone_from(&o.client_key_pem);
            }
        }
        (Source::Ldap(n), Some(Source::Ldap(o))) if n.password == MASK => {
            n.password.clone_from(&o.password)
        }
        _ => {}
    }
}

/// Sets (or replaces) an organization's source. Returns the stored settings, secrets masked.
/// A changed source starts afresh: its state (validators, a held sync) is dropped.
pub async fn set_source(
    ctx: Ctx<'_>,
    org: Option<&str>,
    mut new: SyncSettings,
) -> Result<SyncSettings, ServiceError> {
    let org = validate_org(org)?;
    let key = org_key(org);
    let old = ctx.store.settings().department_sync.get(&key).cloned();
    keep_secrets(&mut new.source, old.as_ref().map(|o| &o.source));
    let masked = match &new.source {
        Source::Http(h) => {
            matches!(&h.auth, HttpAuth::Bearer { token } if token == MASK)
                || matches!(&h.auth, HttpAuth::Basic { password, .. } if password == MASK)
                || h.client_key_pem.as_deref() == Some(MASK)
        }
        Source::Ldap(l) => l.password == MASK,
    };
    if masked {
        return Err(ServiceError::invalid(
            "password",
            "no secret is stored for this source yet: give it",
        ));
    }
    check(&new)?;
    let source_changed = old.as_ref().is_none_or(|o| o.source != new.source);
    let stored = new.clone();
    ctx.store
        .update_settings(ctx.actor, "departments.source", |s| {
            s.department_sync.insert(key, stored);
        })?;
    if source_changed {
        ctx.store.put_sync_state(
            org,
            &SyncState {
                since_ms: now_unix_ms(),
                ..SyncState::default()
            },
        )?;
    }
    ctx.durable().await?;
    Ok(new.redacted())
}

/// Stops syncing an organization's list; the list stays as it is, kept by hand from now on.
pub async fn remove_source(ctx: Ctx<'_>, org: Option<&str>) -> Result<(), ServiceError> {
    let org = validate_org(org)?;
    let key = org_key(org);
    if !ctx.store.settings().department_sync.contains_key(&key) {
        return Err(ServiceError::NotFound(format!(
            "{} has no department source",
            org_name(org)
        )));
    }
    ctx.store
        .update_settings(ctx.actor, "departments.source.remove", |s| {
            s.department_sync.remove(&key);
        })?;
    ctx.store.clear_sync_state(org)?;
    ctx.durable().await?;
    Ok(())
}

/// A held sync as the pages show it (without the whole list).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct HeldView {
    pub at: String,
    pub reason: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
}

/// One organization's sync, as the status pages, `/metrics` and `/readyz` show it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct SourceStatus {
    /// `null`: the root organization.
    pub org: Option<String>,
    /// The source, secrets masked.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub source: String,
    pub last_attempt: Option<String>,
    pub last_success: Option<String>,
    /// The same, in seconds since the Unix epoch (for `/metrics`).
    pub last_success_unix: Option<u64>,
    /// Seconds since the last success (or since the source was set, before any).
    pub age_secs: u64,
    /// Older than the stale threshold.
    pub stale: bool,
    pub last_error: Option<String>,
    pub failures: u32,
    pub last_change: Option<String>,
    pub last_added: usize,
    pub last_removed: usize,
    pub held: Option<HeldView>,
    pub next_attempt: String,
}

fn status_of(org: Option<&str>, cfg: &SyncSettings, st: &SyncState, now: u64) -> SourceStatus {
    let age = st.age_ms(now);
    SourceStatus {
        org: org.map(str::to_owned),
        settings: serde_json::to_value(cfg.redacted()).unwrap_or_default(),
        source: cfg.source.describe(),
        last_attempt: st.last_attempt_ms.map(crate::store::format_unix_ms),
        last_success: st.last_success_ms.map(crate::store::format_unix_ms),
        last_success_unix: st.last_success_ms.map(|ms| ms / 1000),
        age_secs: age / 1000,
        stale: age > cfg.stale_after_secs.saturating_mul(1000),
        last_error: st.last_error.clone(),
        failures: st.failures,
        last_change: st.last_change_ms.map(crate::store::format_unix_ms),
        last_added: st.last_added,
        last_removed: st.last_removed,
        held: st.held.as_ref().map(|h| HeldView {
            at: crate::store::format_unix_ms(h.at_ms),
            reason: h.hold.to_string(),
            added: h.added.clone(),
            removed: h.removed.clone(),
            unchanged: h.unchanged,
        }),
        next_attempt: crate::store::format_unix_ms(st.next_due_ms(cfg.every_secs).max(now)),
    }
}

/// Every synced organization's status, the root first.
pub fn statuses(store: &Store) -> Result<Vec<SourceStatus>, ServiceError> {
    let settings = store.settings();
    let now = now_unix_ms();
    let mut out = Vec::with_capacity(settings.department_sync.len());
    for (key, cfg) in &settings.department_sync {
        let org = (!key.is_empty()).then_some(key.as_str());
        out.push(status_of(org, cfg, &store.sync_state(org)?, now));
    }
    Ok(out)
}

/// One organization's status; `None` when it has no source.
pub fn status(store: &Store, org: Option<&str>) -> Result<Option<SourceStatus>, ServiceError> {
    let org = validate_org(org)?;
    let settings = store.settings();
    let Some(cfg) = settings.department_sync.get(&org_key(org)) else {
        return Ok(None);
    };
    Ok(Some(status_of(
        org,
        cfg,
        &store.sync_state(org)?,
        now_unix_ms(),
    )))
}

/// What a sync is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fetch, and apply unless the safety limit holds it.
    Sync,
    /// Fetch the whole list and say what a sync would do; change nothing.
    DryRun,
    /// Apply the held sync, exactly as it was shown.
    Approve,
}

/// What a sync did (or, for a dry run, would do).
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The source answered 304: nothing changed since the last applied answer.
    NotModified,
    /// The source's list is the stored one.
    Unchanged,
    Applied,
    /// Held for approval (see `reason`).
    Held,
    /// Dry run: would be applied.
    WouldApply,
    /// Dry run: would be held.
    WouldHold,
    /// The held sync was approved and applied.
    Approved,
}

/// A sync's report.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize)]
pub struct SyncReport {
    pub org: Option<String>,
    pub source: String,
    pub outcome: Outcome,
    /// Why it is (or would be) held.
    pub reason: Option<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
}

/// Runs one sync of an organization's list. A source that fails leaves the list as it was
/// and the failure in the state; the error says why (`Upstream`, field `source`).
pub async fn sync(ctx: Ctx<'_>, org: Option<&str>, mode: Mode) -> Result<SyncReport, ServiceError> {
    let org = validate_org(org)?;
    // The guard first: a source changed while this sync waited is the one it uses.
    let _one_at_a_time = ctx.store.sync_guard().await;
    let settings = ctx.store.settings();
    let Some(cfg) = settings.department_sync.get(&org_key(org)) else {
        return Err(ServiceError::NotFound(format!(
            "{} has no department source: set one first",
            org_name(org)
        )));
    };
    let mut state = ctx.store.sync_state(org)?;
    let report = |outcome, reason: Option<String>, added, removed, unchanged| SyncReport {
        org: org.map(str::to_owned),
        source: cfg.source.describe(),
        outcome,
        reason,
        added,
        removed,
        unchanged,
    };
    let source = cfg.source.describe();

    if mode == Mode::Approve {
        let Some(held) = state.held.clone() else {
            return Err(ServiceError::Conflict(format!(
                "no sync of {} is held for approval",
                org_name(org)
            )));
        };
        let plan = ctx.store.plan_import(org, &held.names, true)?;
        if plan.added != held.added || plan.removed != held.removed {
            return Err(ServiceError::Conflict(
                "the list changed since this diff was made: sync again and review the new diff"
                    .into(),
            ));
        }
        ctx.store.apply_departments_from(
            ctx.actor,
            "departments.sync.approve",
            org,
            &plan,
            Some(&source),
        )?;
        let now = now_unix_ms();
        state.held = None;
        state.last_change_ms = Some(now);
        (state.last_added, state.last_removed) = (plan.added.len(), plan.removed.len());
        // The next sync fetches the whole list again rather than trust a 304 from before.
        state.validators = Validators::default();
        ctx.store.put_sync_state(org, &state)?;
        ctx.durable().await?;
        return Ok(report(
            Outcome::Approved,
            None,
            plan.added,
            plan.removed,
            plan.unchanged,
        ));
    }

    let dry = mode == Mode::DryRun;
    let now = now_unix_ms();
    let previous = if dry || state.held.is_some() {
        Validators::default()
    } else {
        state.validators.clone()
    };
    let fetched = cfg.source.fetch(&previous).await;
    if dry {
        let names = match fetched {
            Ok(Fetch::Names { names, .. }) => names,
            Ok(Fetch::NotModified) => {
                return Err(ServiceError::Upstream {
                    field: "source",
                    message: "the source answered 304 to a request without validators".into(),
                })
            }
            Err(e) => {
                return Err(ServiceError::Upstream {
                    field: "source",
                    message: format!("the source failed: {e}"),
                })
            }
        };
        let plan = ctx.store.plan_import(org, &names, true)?;
        let current = plan.removed.len() + plan.unchanged;
        let (outcome, reason) = match judge(
            current,
            plan.added.len(),
            plan.removed.len(),
            cfg.max_removal_percent,
        ) {
            Judgement::Unchanged => (Outcome::Unchanged, None),
            Judgement::Apply => (Outcome::WouldApply, None),
            Judgement::Held(h) => (Outcome::WouldHold, Some(h.to_string())),
        };
        return Ok(report(
            outcome,
            reason,
            plan.added,
            plan.removed,
            plan.unchanged,
        ));
    }

    state.last_attempt_ms = Some(now);
    // A state lost with a restore (it is not in backups) counts its age from here.
    if state.since_ms == 0 {
        state.since_ms = now;
    }
    let (names, validators) = match fetched {
        Err(e) => {
            state.last_error = Some(e.to_string());
            state.failures = state.failures.saturating_add(1);
            ctx.store.put_sync_state(org, &state)?;
            tracing::warn!(org = ?org, source = %source, error = %e, "department sync failed; the list is unchanged");
            return Err(ServiceError::Upstream {
                field: "source",
                message: format!("the source failed: {e}; the list is unchanged"),
            });
        }
        Ok(Fetch::NotModified) => {
            state.last_success_ms = Some(now);
            state.last_error = None;
            state.failures = 0;
            ctx.store.put_sync_state(org, &state)?;
            return Ok(report(
                Outcome::NotModified,
                None,
                Vec::new(),
                Vec::new(),
                0,
            ));
        }
        Ok(Fetch::Names { names, validators }) => (names, validators),
    };
    state.last_success_ms = Some(now);
    state.last_error = None;
    state.failures = 0;
    let plan = ctx.store.plan_import(org, &names, true)?;
    let current = plan.removed.len() + plan.unchanged;
    let outcome = match judge(
        current,
        plan.added.len(),
        plan.removed.len(),
        cfg.max_removal_percent,
    ) {
        Judgement::Unchanged => {
            state.held = None;
            state.validators = validators;
            (Outcome::Unchanged, None)
        }
        Judgement::Apply => {
            ctx.store.apply_departments_from(
                ctx.actor,
                "departments.sync",
                org,
                &plan,
                Some(&source),
            )?;
            state.held = None;
            state.validators = validators;
            state.last_change_ms = Some(now);
            (state.last_added, state.last_removed) = (plan.added.len(), plan.removed.len());
            tracing::info!(org = ?org, source = %source, added = plan.added.len(), removed = plan.removed.len(), "department list synced");
            (Outcome::Applied, None)
        }
        Judgement::Held(hold) => {
            let reason = hold.to_string();
            let at_ms = match &state.held {
                Some(h) if h.names == names => h.at_ms,
                _ => {
                    tracing::warn!(org = ?org, source = %source, %reason, "department sync held for approval");
                    now
                }
            };
            state.held = Some(Held {
                at_ms,
                hold,
                added: plan.added.clone(),
                removed: plan.removed.clone(),
                unchanged: plan.unchanged,
                names,
            });
            // Until approved, every sync fetches the whole list, so a source that recovers
            // replaces the held diff with its own.
            state.validators = Validators::default();
            (Outcome::Held, Some(reason))
        }
    };
    ctx.store.put_sync_state(org, &state)?;
    ctx.durable().await?;
    Ok(report(
        outcome.0,
        outcome.1,
        plan.added,
        plan.removed,
        plan.unchanged,
    ))
}

/// The organizations whose scheduled sync is due at `now_ms`.
pub fn due(store: &Store, now_ms: u64) -> Result<Vec<Option<String>>, ServiceError> {
    let settings = store.settings();
    let mut out = Vec::new();
    for (key, cfg) in &settings.department_sync {
        let org = (!key.is_empty()).then_some(key.as_str());
        if store.sync_state(org)?.next_due_ms(cfg.every_secs) <= now_ms {
            out.push(org.map(str::to_owned));
        }
    }
    Ok(out)
}

/// A message for the security team about a list's freshness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    pub org: Option<String>,
    pub subject: String,
    pub body: String,
    /// What `stale_notified` becomes once the message is sent.
    pub stale: bool,
}

/// The stale and recovered messages due now: one when a list's copy grows older than its
/// threshold, one when it is fresh again. Mark each sent with [`mark_notified`].
pub fn freshness_messages(store: &Store, now_ms: u64) -> Result<Vec<Freshness>, ServiceError> {
    let settings = store.settings();
    let mut out = Vec::new();
    for (key, cfg) in &settings.department_sync {
        let org = (!key.is_empty()).then_some(key.as_str());
        let st = store.sync_state(org)?;
        let age = st.age_ms(now_ms);
        let stale = age > cfg.stale_after_secs.saturating_mul(1000);
        if stale == st.stale_notified {
            continue;
        }
        let who = org_name(org);
        let since = st
            .last_success_ms
            .map_or_else(|| "never".to_string(), crate::store::format_unix_ms);
        let (subject, body) = if stale {
            (
                format!("[profilegate] The department list of {who} is stale"),
                format!(
                    "profilegate could not sync the department list of {who} from its source \
                     for {} minutes (more than the {} allowed).\n\nSource: {}\nLast success: \
                     {since}\nLast error: {}\n\nProfile updates are still decided with the last \
                     good copy. You will get one more message when the source answers again.\n",
                    age / 60_000,
                    cfg.stale_after_secs / 60,
                    cfg.source.describe(),
                    st.last_error.as_deref().unwrap_or("none recorded"),
                ),
            )
        } else {
            (
                format!("[profilegate] The department list of {who} is fresh again"),
                format!(
                    "The department source of {who} answers again.\n\nSource: {}\nLast success: \
                     {since}\n",
                    cfg.source.describe()
                ),
            )
        };
        out.push(Freshness {
            org: org.map(str::to_owned),
            subject,
            body,
            stale,
        });
    }
    Ok(out)
}

/// Notes that a freshness message went out (between syncs, which rewrite the state).
pub async fn mark_notified(
    store: &Store,
    org: Option<&str>,
    stale: bool,
) -> Result<(), ServiceError> {
    let _one_at_a_time = store.sync_guard().await;
    let mut st = store.sync_state(org)?;
    st.stale_notified = stale;
    store.put_sync_state(org, &st)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{field, run, TestStore};
    use crate::sync::{HttpSource, LdapSource};

    fn http(url: &str, auth: HttpAuth) -> SyncSettings {
        SyncSettings {
            source: Source::Http(HttpSource {
                url: url.into(),
                format: Default::default(),
                field: None,
                auth,
                tls_ca_pem: None,
                client_cert_pem: None,
                client_key_pem: None,
                timeout_ms: 1000,
                max_bytes: 1 << 20,
            }),
            every_secs: 900,
            stale_after_secs: 3600,
            max_removal_percent: 20,
        }
    }

    fn ldap(url: &str, starttls: bool) -> SyncSettings {
        SyncSettings {
            source: Source::Ldap(LdapSource {
                url: url.into(),
                bind_dn: "cn=reader,dc=corp".into(),
                password: "bind-pw".into(),
                base_dn: "dc=corp".into(),
                filter: "(objectClass=organizationalUnit)".into(),
                attribute: "ou".into(),
                starttls,
                tls_ca_pem: None,
                timeout_ms: 1000,
                page_size: 100,
            }),
            ..http("https://x.example", HttpAuth::None)
        }
    }

    /// Each refusal names its field, so the page can show it there.
    #[test]
    fn settings_are_checked_field_by_field() {
        assert!(check(&http("https://hr.example/d", HttpAuth::None)).is_ok());
        assert!(check(&http("http://127.0.0.1:8080/d", HttpAuth::None)).is_ok());
        assert!(check(&http("http://localhost/d", HttpAuth::None)).is_ok());
        let bad = |s: SyncSettings| field(&check(&s).unwrap_err());
        assert_eq!(
            bad(http("http://hr.example/d", HttpAuth::None)),
            Some("url")
        );
        assert_eq!(bad(http("ftp://hr.example/d", HttpAuth::None)), Some("url"));
        assert_eq!(
            bad(http(
                "https://hr.example/d",
                HttpAuth::Bearer { token: " ".into() }
            )),
            Some("token")
        );
        assert_eq!(
            bad(http(
                "https://hr.example/d",
                HttpAuth::Basic {
                    username: "a:b".into(),
                    password: "p".into()
                }
            )),
            Some("username")
        );
        let mut s = http("https://hr.example/d", HttpAuth::None);
        s.stale_after_secs = 60;
        assert_eq!(bad(s.clone()), Some("stale_after"));
        s.stale_after_secs = 3600;
        s.every_secs = 10;
        assert_eq!(bad(s.clone()), Some("every"));
        s.every_secs = 900;
        s.max_removal_percent = 101;
        assert_eq!(bad(s.clone()), Some("max_removal_percent"));
        if let Source::Http(h) = &mut s.source {
            h.client_cert_pem = Some("x".into());
        }
        s.max_removal_percent = 20;
        assert_eq!(bad(s), Some("client_cert"));

        assert!(check(&ldap("ldaps://dc1.corp.example", false)).is_ok());
        assert!(check(&ldap("ldap://dc1.corp.example", true)).is_ok());
        assert_eq!(bad(ldap("ldap://dc1.corp.example", false)), Some("url"));
        let mut l = ldap("ldaps://dc1.corp.example", false);
        if let Source::Ldap(s) = &mut l.source {
            s.base_dn = String::new();
        }
        assert_eq!(bad(l.clone()), Some("base_dn"));
        if let Source::Ldap(s) = &mut l.source {
            s.base_dn = "dc=corp".into();
            s.attribute = "not an attribute".into();
        }
        assert_eq!(bad(l), Some("attribute"));
    }

    /// A form sends secrets back masked: the stored ones stay; a mask with nothing stored is
    /// refused; a changed source starts a fresh state.
    #[test]
    fn masked_secrets_keep_the_stored_ones() {
        let t = TestStore::new();
        let ctx = t.ctx();
        let s = http(
            "https://hr.example/d",
            HttpAuth::Bearer {
                token: "tok-1".into(),
            },
        );
        let e = run(set_source(
            ctx,
            None,
            http(
                "https://hr.example/d",
                HttpAuth::Bearer { token: MASK.into() },
            ),
        ))
        .unwrap_err();
        assert_eq!(field(&e), Some("password"), "{e}");
        let shown = run(set_source(ctx, None, s.clone())).unwrap();
        assert_eq!(shown, s.redacted());
        let mut st = t.store.sync_state(None).unwrap();
        assert!(st.since_ms > 0);
        st.failures = 3;
        t.store.put_sync_state(None, &st).unwrap();

        // The same source with the mask and a new interval: the token stays, the state too.
        let mut again = s.redacted();
        again.every_secs = 1800;
        run(set_source(ctx, None, again)).unwrap();
        let stored = t.store.settings().department_sync[""].clone();
        assert_eq!(stored.source, s.source);
        assert_eq!(stored.every_secs, 1800);
        assert_eq!(t.store.sync_state(None).unwrap().failures, 3);

        // Another URL: a fresh state.
        run(set_source(
            ctx,
            None,
            http(
                "https://hr2.example/d",
                HttpAuth::Bearer { token: MASK.into() },
            ),
        ))
        .unwrap();
        assert_eq!(t.store.sync_state(None).unwrap().failures, 0);
        assert!(status(&t.store, None).unwrap().is_some());
        run(remove_source(ctx, None)).unwrap();
        assert!(status(&t.store, None).unwrap().is_none());
        assert!(matches!(
            run(remove_source(ctx, None)),
            Err(ServiceError::NotFound(_))
        ));
    }
}
