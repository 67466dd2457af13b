//! The security-team e-mail: SMTP settings (the password is write-only), recipients, the
//! sensitive-claim list, delivery mode, a test message that shows the exact failure, and the
//! outbox (pending, failed, retry now).

use std::sync::Arc;

use serde::Deserialize;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::api::{
    ModeInfo, NotificationsInfo, OutboxEntry, OutboxInfo, RecipientList, Retried, Saved,
    SensitiveList, SmtpInfo, TestSent,
};
use super::{
    actor, api_path, api_path2, ctx, get_with, ok, post_json, service_error, store_error, Session,
};
use crate::app::App;
use crate::model::{DeliveryMode, Encryption};
use crate::service::notifications::{self, ListEdit, Password, SmtpInput};

/// Outbox items listed at most.
const OUTBOX_LIST: usize = 100;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SmtpForm {
    host: String,
    port: u16,
    encryption: Encryption,
    #[serde(default)]
    username: Option<String>,
    /// Absent: keep the stored password. The stored one is never sent back.
    #[serde(default)]
    password: Option<String>,
    /// Forget the stored password (a relay without login).
    #[serde(default)]
    clear_password: bool,
    from: String,
    #[serde(default = "default_timeout")]
    #[schema(default = 3000, minimum = 100, maximum = 4000)]
    timeout_ms: u64,
    #[serde(default)]
    tls_ca_pem: Option<String>,
}

fn default_timeout() -> u64 {
    3000
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Recipients {
    recipients: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Sensitive {
    claims: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Mode {
    mode: DeliveryMode,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TestReq {
    #[serde(default)]
    to: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Retry {
    /// One failed item, or all of them when absent.
    #[serde(default)]
    id: Option<u64>,
}

fn outbox_json(app: &App) -> Result<OutboxInfo, Rejection> {
    let sum = app.store.outbox_summary(OUTBOX_LIST).map_err(store_error)?;
    let items: Vec<_> = sum
        .items
        .iter()
        .map(|(id, it)| OutboxEntry::new(*id, it))
        .collect();
    Ok(OutboxInfo {
        pending: sum.pending,
        failed: sum.failed,
        oldest_pending: sum.oldest_pending,
        items,
    })
}

async fn show(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let st = app.store.settings();
    let n = &st.notify;
    ok(NotificationsInfo {
        smtp: n.smtp.as_ref().map(SmtpInfo::from),
        smtp_tested: n.smtp_tested.clone(),
        recipients: n.recipients.clone(),
        sensitive: n.sensitive.clone(),
        mode: n.mode,
        outbox: outbox_json(&app)?,
    })
}

async fn set_smtp(s: Session, f: SmtpForm, app: Arc<App>) -> Result<Response, Rejection> {
    let password = match (f.password.filter(|p| !p.is_empty()), f.clear_password) {
        (Some(p), _) => Password::Set(p),
        (None, true) => Password::Clear,
        (None, false) => Password::Keep,
    };
    let input = SmtpInput {
        host: f.host,
        port: f.port,
        encryption: f.encryption,
        username: f.username,
        password,
        from: f.from,
        timeout_ms: f.timeout_ms,
        tls_ca_pem: f.tls_ca_pem,
    };
    let actor = actor(&s);
    notifications::set_smtp(ctx(&app, &actor), input)
        .await
        .map_err(service_error)?;
    ok(Saved { saved: true })
}

async fn set_recipients(s: Session, r: Recipients, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let list = notifications::edit_recipients(ctx(&app, &actor), ListEdit::Replace(r.recipients))
        .await
        .map_err(service_error)?;
    ok(RecipientList { recipients: list })
}

async fn set_sensitive(s: Session, r: Sensitive, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let list = notifications::edit_sensitive(ctx(&app, &actor), ListEdit::Replace(r.claims))
        .await
        .map_err(service_error)?;
    ok(SensitiveList { sensitive: list })
}

async fn set_mode(s: Session, m: Mode, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let mode = notifications::set_mode(ctx(&app, &actor), m.mode)
        .await
        .map_err(service_error)?;
    ok(ModeInfo { mode })
}

/// Sends a test message with the stored settings; a failure is answered 502 with the
/// notifier's words (refused, TLS, login, recipient, timeout) next to the button.
async fn send_test(s: Session, t: TestReq, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let (to, _) = notifications::send_test(
        ctx(&app, &actor),
        &app.notifier,
        t.to,
        "the admin UI's \"send test email\" button",
    )
    .await
    .map_err(service_error)?;
    ok(TestSent { sent: true, to })
}

async fn retry(s: Session, r: Retry, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let n = notifications::retry_outbox(ctx(&app, &actor), r.id)
        .await
        .map_err(service_error)?;
    app.outbox_wake.notify_one();
    ok(Retried { retried: n })
}

pub(super) fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let show = api_path("notifications")
        .and(get_with(app.clone()))
        .and_then(show);
    let smtp = api_path2("notifications", "smtp")
        .and(post_json::<SmtpForm>(app.clone()))
        .and_then(set_smtp);
    let recipients = api_path2("notifications", "recipients")
        .and(post_json::<Recipients>(app.clone()))
        .and_then(set_recipients);
    let sensitive = api_path2("notifications", "sensitive")
        .and(post_json::<Sensitive>(app.clone()))
        .and_then(set_sensitive);
    let mode = api_path2("notifications", "mode")
        .and(post_json::<Mode>(app.clone()))
        .and_then(set_mode);
    let test = api_path2("notifications", "test")
        .and(post_json::<TestReq>(app.clone()))
        .and_then(send_test);
    let outbox = api_path("outbox")
        .and(get_with(app.clone()))
        .and_then(|_s: Session, app: Arc<App>| async move { ok(outbox_json(&app)?) });
    let retry = api_path2("outbox", "retry")
        .and(post_json::<Retry>(app))
        .and_then(retry);
    show.or(smtp)
        .unify()
        .or(recipients)
        .unify()
        .or(sensitive)
        .unify()
        .or(mode)
        .unify()
        .or(test)
        .unify()
        .or(outbox)
        .unify()
        .or(retry)
        .unify()
        .boxed()
}
