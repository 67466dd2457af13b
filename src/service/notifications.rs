//! The security-team e-mail: the mail server, who receives the message, which claims are
//! sensitive, the delivery mode, the test message and the outbox's "retry now". Each rule is
//! here once; the CLI and the admin API only parse and render.

use super::{Ctx, ServiceError};
use crate::model::{DeliveryMode, Encryption, Settings, SmtpSettings};
use crate::notify::{check_claim_uri, check_recipient, check_smtp, Notifier, TEST_SUBJECT};

/// What to do with the stored SMTP password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// Keep the stored one (a form left empty: the stored password is never shown).
    Keep,
    Set(String),
    /// Forget it (a relay without login).
    Clear,
}

/// The mail server as an admin enters it.
#[derive(Debug, Clone)]
pub struct SmtpInput {
    pub host: String,
    pub port: u16,
    pub encryption: Encryption,
    pub username: Option<String>,
    pub password: Password,
    pub from: String,
    pub timeout_ms: u64,
    pub tls_ca_pem: Option<String>,
}

fn blank_is_none(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// Sets the mail server. A change of any setting makes it "not tested" again.
pub async fn set_smtp(ctx: Ctx<'_>, input: SmtpInput) -> Result<SmtpSettings, ServiceError> {
    let current = ctx.store.settings().notify.smtp.clone();
    let password = match input.password {
        Password::Set(p) => Some(p),
        Password::Clear => None,
        Password::Keep => current.and_then(|c| c.password),
    };
    let smtp = SmtpSettings {
        host: input.host.trim().to_string(),
        port: input.port,
        encryption: input.encryption,
        username: blank_is_none(input.username),
        password,
        from: input.from.trim().to_string(),
        timeout_ms: input.timeout_ms,
        tls_ca_pem: blank_is_none(input.tls_ca_pem),
    };
    check_smtp(&smtp).map_err(|e| ServiceError::invalid(e.field, e.message))?;
    ctx.store.update_settings(ctx.actor, "notify.smtp", |st| {
        if st.notify.smtp.as_ref() != Some(&smtp) {
            st.notify.smtp_tested = None;
        }
        st.notify.smtp = Some(smtp.clone());
    })?;
    ctx.durable().await?;
    Ok(smtp)
}

/// A change to one of the settings' lists.
#[derive(Debug, Clone)]
pub enum ListEdit {
    /// The whole list (blank items skipped, duplicates dropped).
    Replace(Vec<String>),
    Add(Vec<String>),
    /// Every item must be in the list.
    Remove(Vec<String>),
}

/// Which list, the field its mistakes are shown next to, and the check of each item.
struct ListKind {
    action: &'static str,
    field: &'static str,
    get: fn(&mut Settings) -> &mut Vec<String>,
    check: fn(&str) -> Result<(), String>,
}

const RECIPIENTS: ListKind = ListKind {
    action: "notify.recipients",
    field: "recipients",
    get: |s| &mut s.notify.recipients,
    check: check_recipient,
};

const SENSITIVE: ListKind = ListKind {
    action: "notify.sensitive",
    field: "claims",
    get: |s| &mut s.notify.sensitive,
    check: check_claim_uri,
};

/// Changes who receives the security-team e-mail; returns the new list.
pub async fn edit_recipients(ctx: Ctx<'_>, edit: ListEdit) -> Result<Vec<String>, ServiceError> {
    edit_list(ctx, &RECIPIENTS, edit).await
}

/// Changes which claims are sensitive; returns the new list.
pub async fn edit_sensitive(ctx: Ctx<'_>, edit: ListEdit) -> Result<Vec<String>, ServiceError> {
    edit_list(ctx, &SENSITIVE, edit).await
}

/// Every item is checked first: the list changes whole or not at all.
async fn edit_list(
    ctx: Ctx<'_>,
    kind: &ListKind,
    edit: ListEdit,
) -> Result<Vec<String>, ServiceError> {
    let mut settings = ctx.store.settings().as_ref().clone();
    let list = (kind.get)(&mut settings).clone();
    let checked = |items: Vec<String>| -> Result<Vec<String>, ServiceError> {
        let mut out: Vec<String> = Vec::new();
        for i in items {
            let i = i.trim().to_string();
            if i.is_empty() {
                continue;
            }
            (kind.check)(&i).map_err(|m| {
                ServiceError::invalid(kind.field, format!("{m}; nothing was changed"))
            })?;
            if !out.contains(&i) {
                out.push(i);
            }
        }
        Ok(out)
    };
    let next = match edit {
        ListEdit::Replace(items) => checked(items)?,
        ListEdit::Add(items) => {
            let mut next = list;
            for i in checked(items)? {
                if !next.contains(&i) {
                    next.push(i);
                }
            }
            next
        }
        ListEdit::Remove(items) => {
            let items: Vec<String> = items.iter().map(|i| i.trim().to_string()).collect();
            if let Some(missing) = items.iter().find(|i| !list.contains(i)) {
                return Err(ServiceError::invalid(
                    kind.field,
                    format!("{missing:?} is not in the list; nothing was removed"),
                ));
            }
            list.into_iter().filter(|i| !items.contains(i)).collect()
        }
    };
    let mut after = ctx
        .store
        .update_settings(ctx.actor, kind.action, |s| *(kind.get)(s) = next.clone())?;
    ctx.durable().await?;
    Ok((kind.get)(&mut after).clone())
}

/// Sets when the e-mail is sent (before answering, or queued).
pub async fn set_mode(ctx: Ctx<'_>, mode: DeliveryMode) -> Result<DeliveryMode, ServiceError> {
    ctx.store
        .update_settings(ctx.actor, "notify.mode", |st| st.notify.mode = mode)?;
    ctx.durable().await?;
    Ok(mode)
}

/// Sends the test message with the stored settings, to `to` or else the recipients, and marks
/// the settings tested if they did not change meanwhile. `how` says in the message where it
/// was asked for. Returns the recipients and the settings used.
pub async fn send_test(
    ctx: Ctx<'_>,
    notifier: &Notifier,
    to: Option<String>,
    how: &str,
) -> Result<(Vec<String>, SmtpSettings), ServiceError> {
    let settings = ctx.store.settings();
    let smtp = settings.notify.smtp.clone().ok_or_else(|| {
        ServiceError::invalid(
            "test",
            "no SMTP server is set: save the SMTP settings first (the Notifications page, or `profilegate notify smtp --host ... --port ... --encryption ... --from ...`)",
        )
    })?;
    let to = match blank_is_none(to) {
        Some(t) => {
            let t = t.trim().to_string();
            check_recipient(&t).map_err(|m| ServiceError::invalid("to", m))?;
            vec![t]
        }
        None if settings.notify.recipients.is_empty() => {
            return Err(ServiceError::invalid(
                "test",
                "no recipients: add some first (or `profilegate notify recipients add ADDR`), or give an address to send to",
            ))
        }
        None => settings.notify.recipients.clone(),
    };
    let body = crate::notify::test_message_body(how);
    notifier
        .send(&smtp, &to, TEST_SUBJECT, body)
        .await
        .map_err(|e| ServiceError::Upstream {
            field: "test",
            message: format!("Test e-mail NOT sent: {e}"),
        })?;
    // Tested means: these settings, not settings someone saved while the message was out.
    ctx.store.update_settings(ctx.actor, "notify.test", |st| {
        if st.notify.smtp.as_ref() == Some(&smtp) {
            st.notify.smtp_tested = Some(crate::store::now_rfc3339());
        }
    })?;
    ctx.durable().await?;
    Ok((to, smtp))
}

/// Queues failed e-mails again: one (`id`) or all. Returns how many.
pub async fn retry_outbox(ctx: Ctx<'_>, id: Option<u64>) -> Result<usize, ServiceError> {
    let n = ctx.store.outbox_retry(ctx.actor, id).map_err(|e| match e {
        crate::store::StoreError::NotFound(m) => ServiceError::invalid("id", m),
        other => other.into(),
    })?;
    ctx.durable().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{run, TestStore};

    fn input(password: Password, username: Option<&str>) -> SmtpInput {
        SmtpInput {
            host: " 127.0.0.1 ".into(),
            port: 25,
            encryption: Encryption::None,
            username: username.map(str::to_string),
            password,
            from: "pg@example.com".into(),
            timeout_ms: 2000,
            tls_ca_pem: Some("  ".into()),
        }
    }

    /// The SMTP rules both adapters meet here (a password needs a username and a username a
    /// password; the stored password is kept unless replaced or cleared; a change is "not
    /// tested"). The integration test `cli::smtp_login_rules_are_the_same_in_the_cli_and_the_admin_api`
    /// shows both adapters answering with them.
    #[test]
    fn smtp_rules() {
        let t = TestStore::new();
        let (store, ctx) = (&t.store, t.ctx());
        let e = run(set_smtp(ctx, input(Password::Set("pw".into()), None))).unwrap_err();
        assert!(
            matches!(
                &e,
                ServiceError::Invalid {
                    field: "username",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(store.settings().notify.smtp.is_none(), "nothing stored");
        let s = run(set_smtp(ctx, input(Password::Set("pw".into()), Some("u")))).unwrap();
        assert_eq!(s.host, "127.0.0.1", "trimmed");
        assert_eq!(s.tls_ca_pem, None, "blank is none");
        store
            .update_settings("test", "notify.test", |st| {
                st.notify.smtp_tested = Some("now".into())
            })
            .unwrap();
        let s = run(set_smtp(ctx, input(Password::Keep, Some("u")))).unwrap();
        assert_eq!(s.password.as_deref(), Some("pw"), "kept");
        assert!(
            store.settings().notify.smtp_tested.is_some(),
            "unchanged settings stay tested"
        );
        let e = run(set_smtp(ctx, input(Password::Clear, Some("u")))).unwrap_err();
        assert!(
            matches!(
                &e,
                ServiceError::Invalid {
                    field: "password",
                    ..
                }
            ),
            "a username alone would send no login: {e:?}"
        );
        let s = run(set_smtp(ctx, input(Password::Clear, None))).unwrap();
        assert_eq!(s.password, None);
        assert!(
            store.settings().notify.smtp_tested.is_none(),
            "changed: not tested"
        );
    }

    #[test]
    fn lists_change_whole_or_not_at_all() {
        let t = TestStore::new();
        let (store, ctx) = (&t.store, t.ctx());
        let list = run(edit_recipients(
            ctx,
            ListEdit::Replace(vec![
                " a@example.com".into(),
                "".into(),
                "a@example.com".into(),
            ]),
        ))
        .unwrap();
        assert_eq!(list, ["a@example.com"]);
        let e = run(edit_recipients(
            ctx,
            ListEdit::Add(vec!["b@example.com".into(), "not an address".into()]),
        ))
        .unwrap_err();
        assert!(
            matches!(
                &e,
                ServiceError::Invalid {
                    field: "recipients",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = run(edit_recipients(
            ctx,
            ListEdit::Remove(vec!["c@example.com".into()]),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("nothing was removed"), "{e}");
        assert_eq!(store.settings().notify.recipients, ["a@example.com"]);
        let e = run(edit_sensitive(ctx, ListEdit::Add(vec!["mobile".into()]))).unwrap_err();
        assert!(
            matches!(
                &e,
                ServiceError::Invalid {
                    field: "claims",
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
