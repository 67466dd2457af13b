//! The password policy: shown and set per organization (an organization without rules of its
//! own uses the root's), validated before it is stored, and tried on a password without
//! storing or counting anything.

use std::sync::OnceLock;

use serde::Serialize;

use super::super::{Ctx, ServiceError};
use crate::model::PasswordEventMail;
use crate::policy::password::context::PRODUCT_WORDS;
use crate::policy::password::{
    evaluate, Blocklist, BreachedCheck, Candidate, ContextWords, PasswordContext, PasswordRules,
    RulesError, Verdict,
};
use crate::store::Store;

/// Longest organization id accepted (WSO2's are UUIDs).
const MAX_ORG_LEN: usize = 128;

/// One organization's rules as shown: whether they are its own or the root's.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyView {
    /// `None`: the root organization.
    pub org: Option<String>,
    /// False when the organization uses the root's rules.
    pub own: bool,
    pub rules: PasswordRules,
    pub notify: PasswordEventMail,
}

/// The field a rule error concerns, as the admin UI and the CLI name it.
pub fn rules_error(e: RulesError) -> ServiceError {
    let field = match &e {
        RulesError::MinTooLow { .. } => "min_length",
        RulesError::MaxOutOfRange => "max_length",
        RulesError::TooManyWords(_) => "extra_words",
        RulesError::Message { .. } => "messages",
    };
    ServiceError::invalid(field, e.to_string())
}

/// An organization id as given (`None` or empty: the root).
fn checked_org(org: Option<&str>) -> Result<Option<&str>, ServiceError> {
    match org.map(str::trim) {
        None | Some("") => Ok(None),
        Some(o) if o.len() > MAX_ORG_LEN || o.chars().any(char::is_control) => {
            Err(ServiceError::invalid(
                "org",
                format!("an organization id is 1 to {MAX_ORG_LEN} characters without control characters"),
            ))
        }
        Some(o) => Ok(Some(o)),
    }
}

/// The rules in force for an organization (`None`: the root).
pub fn show_policy(store: &Store, org: Option<&str>) -> Result<PolicyView, ServiceError> {
    let org = checked_org(org)?;
    let settings = store.settings();
    let p = &settings.password;
    Ok(PolicyView {
        org: org.map(str::to_owned),
        own: p.has_own(org),
        rules: p.rules_for(org).clone(),
        notify: p.notify,
    })
}

/// Validates and stores an organization's rules (`None`: the root's); audited.
pub async fn set_policy(
    ctx: Ctx<'_>,
    org: Option<&str>,
    rules: PasswordRules,
) -> Result<PasswordRules, ServiceError> {
    let org = checked_org(org)?;
    rules.validate().map_err(rules_error)?;
    let stored = rules.clone();
    ctx.store
        .update_settings(ctx.actor, "password.policy", move |s| match org {
            None => s.password.root = stored,
            Some(o) => {
                s.password.orgs.insert(o.to_owned(), stored);
            }
        })?;
    ctx.durable().await?;
    Ok(rules)
}

/// Removes a sub-organization's own rules: it uses the root's again.
pub async fn clear_policy(ctx: Ctx<'_>, org: &str) -> Result<(), ServiceError> {
    let org = checked_org(Some(org))?.ok_or_else(|| {
        ServiceError::invalid("org", "the root organization's rules cannot be removed")
    })?;
    if !ctx.store.settings().password.orgs.contains_key(org) {
        return Err(ServiceError::NotFound(format!(
            "organization {org} has no password rules of its own"
        )));
    }
    ctx.store
        .update_settings(ctx.actor, "password.policy", |s| {
            s.password.orgs.remove(org);
        })?;
    ctx.durable().await?;
    Ok(())
}

/// Chooses which password events are mailed to the security team; audited.
pub async fn set_event_mail(ctx: Ctx<'_>, mode: PasswordEventMail) -> Result<(), ServiceError> {
    ctx.store
        .update_settings(ctx.actor, "password.notify", |s| s.password.notify = mode)?;
    ctx.durable().await?;
    Ok(())
}

/// The bundled common-password list, built once per process on first use (about 30k entries;
/// the server's composition root may hold its own).
pub fn bundled_blocklist() -> &'static Blocklist {
    static LIST: OnceLock<Blocklist> = OnceLock::new();
    LIST.get_or_init(Blocklist::bundled)
}

/// Tries a password against an organization's rules (`None`: the root's), with the bundled
/// list, the product names and the rules' extra words as context (there is no event, so no
/// user names). Stores nothing, counts nothing, logs nothing.
pub fn check(store: &Store, org: Option<&str>, password: &str) -> Result<Verdict, ServiceError> {
    check_with(store, org, password, None)
}

/// [`check`] with a breached-password filter (`None`: none loaded, the rule is unchecked).
pub fn check_with(
    store: &Store,
    org: Option<&str>,
    password: &str,
    breached: Option<&dyn BreachedCheck>,
) -> Result<Verdict, ServiceError> {
    let org = checked_org(org)?;
    let settings = store.settings();
    let rules = settings.password.rules_for(org);
    let words = ContextWords::from_words(
        PRODUCT_WORDS
            .iter()
            .copied()
            .chain(rules.extra_words.iter().map(String::as_str)),
    );
    let ctx = PasswordContext {
        blocklist: bundled_blocklist(),
        words: &words,
        year: Some(time::OffsetDateTime::now_utc().year()),
        breached,
    };
    Ok(evaluate(rules, Candidate::Plain(password), &ctx))
}
