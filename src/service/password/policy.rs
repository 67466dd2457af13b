//! The password policy: shown and set per organization (an organization without rules of its
//! own uses the root's), validated before it is stored, and tried on a password without
//! storing or counting anything.

use std::sync::OnceLock;

use serde::Serialize;

use super::super::{Ctx, ServiceError};
use crate::model::password::OnlineBreachCheck;
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
    /// The online breach check (one setting for every organization).
    pub online: OnlineBreachCheck,
}

/// The field a rule error concerns, as the admin UI and the CLI name it.
pub fn rules_error(e: RulesError) -> ServiceError {
    let field = match &e {
        RulesError::MinTooLow { .. } => "min_length",
        RulesError::MaxOutOfRange => "max_length",
        RulesError::TooManyWords(_) => "extra_words",
        RulesError::Message { field, part, .. } => message_field(field, part),
    };
    ServiceError::invalid(field, e.to_string())
}

/// A message's form field (`messages.too_short.reason`), so the admin UI shows the reason next
/// to the very text that is refused; `messages` for a name this table does not know.
fn message_field(field: &str, part: &str) -> &'static str {
    const FIELDS: [(&str, &str, &str); 14] = [
        ("too_short", "reason", "messages.too_short.reason"),
        ("too_short", "description", "messages.too_short.description"),
        ("too_long", "reason", "messages.too_long.reason"),
        ("too_long", "description", "messages.too_long.description"),
        ("common", "reason", "messages.common.reason"),
        ("common", "description", "messages.common.description"),
        ("repetitive", "reason", "messages.repetitive.reason"),
        (
            "repetitive",
            "description",
            "messages.repetitive.description",
        ),
        ("sequential", "reason", "messages.sequential.reason"),
        (
            "sequential",
            "description",
            "messages.sequential.description",
        ),
        ("context_word", "reason", "messages.context_word.reason"),
        (
            "context_word",
            "description",
            "messages.context_word.description",
        ),
        ("breached", "reason", "messages.breached.reason"),
        ("breached", "description", "messages.breached.description"),
    ];
    FIELDS
        .iter()
        .find(|(f, p, _)| *f == field && *p == part)
        .map_or("messages", |(_, _, name)| name)
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
        online: p.online.clone(),
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

/// Sets the online breach check (validated: URL, timeout); audited. The URL is kept when
/// the check is switched off, so switching it on again needs no retyping.
pub async fn set_online(ctx: Ctx<'_>, online: OnlineBreachCheck) -> Result<(), ServiceError> {
    crate::online_breach::validate(&online)
        .map_err(|(field, why)| ServiceError::invalid(field, why))?;
    ctx.store
        .update_settings(ctx.actor, "password.online", |s| s.password.online = online)?;
    ctx.durable().await?;
    Ok(())
}

/// The bundled common-password list, built once per process on first use (about 30k entries;
/// the server's composition root may hold its own).
pub fn bundled_blocklist() -> &'static Blocklist {
    static LIST: OnceLock<Blocklist> = OnceLock::new();
    LIST.get_or_init(Blocklist::bundled)
}

/// Longest password tried (the action's own bound on a plain credential).
pub const MAX_TRY_BYTES: usize = crate::contract::credential::MAX_PLAINTEXT_BYTES;

/// What a try may say about the user, as an event would: each value becomes context words.
#[derive(Debug, Clone, Copy, Default)]
pub struct TryContext<'a> {
    pub username: Option<&'a str>,
    pub email: Option<&'a str>,
    pub given_name: Option<&'a str>,
    pub family_name: Option<&'a str>,
    pub organization_name: Option<&'a str>,
}

impl TryContext<'_> {
    /// Every value given, and the full name in either order.
    fn values(&self) -> Vec<String> {
        let mut v: Vec<String> = [
            self.username,
            self.email,
            self.given_name,
            self.family_name,
            self.organization_name,
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
        .collect();
        if let (Some(g), Some(f)) = (self.given_name, self.family_name) {
            if !g.trim().is_empty() && !f.trim().is_empty() {
                v.push(format!("{g} {f}"));
                v.push(format!("{f} {g}"));
            }
        }
        v
    }
}

/// Tries a password against an organization's rules (`None`: the root's), with the bundled
/// list, the product names and the rules' extra words as context (there is no event, so no
/// user names). Stores nothing, counts nothing, logs nothing.
pub fn check(store: &Store, org: Option<&str>, password: &str) -> Result<Verdict, ServiceError> {
    check_with(store, org, password, &TryContext::default(), None)
}

/// [`check`] with the user's names, e-mail and organization name as an event would give them
/// (so the context-word rules can be tried) and the breached-password filter (`None`: none
/// loaded, the rule is unchecked). Stores nothing, counts nothing, logs nothing.
pub fn check_with(
    store: &Store,
    org: Option<&str>,
    password: &str,
    context: &TryContext<'_>,
    breached: Option<&dyn BreachedCheck>,
) -> Result<Verdict, ServiceError> {
    let org = checked_org(org)?;
    if password.len() > MAX_TRY_BYTES {
        return Err(ServiceError::invalid(
            "password",
            format!("a password to try is at most {MAX_TRY_BYTES} bytes"),
        ));
    }
    let settings = store.settings();
    let rules = settings.password.rules_for(org);
    let given = context.values();
    let words = ContextWords::from_words(
        PRODUCT_WORDS
            .iter()
            .copied()
            .chain(rules.extra_words.iter().map(String::as_str))
            .chain(given.iter().map(String::as_str)),
    );
    let ctx = PasswordContext {
        blocklist: bundled_blocklist(),
        words: &words,
        year: Some(time::OffsetDateTime::now_utc().year()),
        breached,
    };
    Ok(evaluate(rules, Candidate::Plain(password), &ctx))
}
