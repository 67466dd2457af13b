//! The password action's page: the rules (the root's and each organization's own), the
//! security-team e-mail choice, trying a password (nothing stored, audited or logged), the
//! password-sharing keys, and the values to register the action in WSO2. Thin adapters over
//! `service::password`.

use std::sync::Arc;

use serde::Deserialize;
use warp::http::HeaderMap;
use warp::reply::Response;
use warp::{Filter, Rejection};
use zeroize::Zeroizing;

use super::api::{
    PasswordBreachedImported, PasswordBreachedStatus, PasswordKeyCreated, PasswordKeyList,
    PasswordKeyRetired, PasswordNotifyInfo, PasswordPolicyInfo, PasswordRulesRemoved,
    PasswordRulesSaved, PasswordTryResult,
};
use super::endpoint::{chosen_credential, default_url_for};
use super::register::{password_registration, PasswordFormat};
use super::{
    actor, api_path2, bad, ctx, get_with, ok, post_json, service_error, session, with_app, Session,
};
use crate::app::App;
use crate::model::password::OnlineBreachCheck;
use crate::model::PasswordEventMail;
use crate::policy::password::{BreachedCheck, Outcome, PasswordRules};
use crate::service::password as pw;

/// The default action name for the password action in the WSO2 console.
const DEFAULT_NAME: &str = "profilegate-password";

/// One organization's rules to save (no `org`: the root's).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RulesForm {
    /// Sub-organization id; absent or empty for the root organization.
    #[serde(default)]
    org: Option<String>,
    rules: PasswordRules,
}

/// The organization whose own rules are removed.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OrgForm {
    org: String,
}

/// Which password events are mailed to the security team.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NotifyForm {
    notify: PasswordEventMail,
}

/// The online breach check as set in the form.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OnlineForm {
    enabled: bool,
    #[serde(default)]
    url: String,
    timeout_ms: u32,
    #[serde(default)]
    fail_closed: bool,
}

/// `?min_count=N` of an upload (default 1: every hash).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ImportQuery {
    /// Leave out hashes seen fewer than this many times (1: keep all; bare hashes need 1).
    min_count: Option<u64>,
    /// The file's name, recorded as the list's source (letters, digits, `.`, `-`, `_`).
    name: Option<String>,
}

/// An uploaded file's name as the source to record: its last path part, only letters, digits
/// and `.-_` (the rest become `_`), at most 100 characters; `upload.txt` when none is left.
fn source_name(name: Option<&str>) -> String {
    let base = name.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.trim_matches(['.', '_']).is_empty() {
        "upload.txt".into()
    } else {
        clean
    }
}

/// Largest breached-password file the page takes (about 190M lines); the whole list is
/// imported with the command line on the machine.
pub(super) const MAX_UPLOAD: u64 = 8 << 30;
/// Longest pause between two pieces of an upload.
const UPLOAD_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// What an event would say about the user, for the context-word rules.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TryContextForm {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    organization_name: Option<String>,
}

/// A password to try: evaluated, never stored, audited or logged.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TryForm {
    /// Never stored, logged or echoed; the parsed copy is wiped after the check.
    password: String,
    /// Whose rules; absent or empty for the root's.
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    context: Option<TryContextForm>,
}

/// A key to generate.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GenerateForm {
    /// 2048 or 3072.
    bits: u32,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PasswordRegistrationQuery {
    /// The action's name in WSO2 (default profilegate-password).
    name: Option<String>,
    /// The endpoint URL as the identity server reaches it (default: as this browser did).
    url: Option<String>,
    /// The endpoint credential to register (default: the newest).
    credential: Option<String>,
    /// PLAIN_TEXT (default, recommended with the certificate) or SHA256_HASHED.
    format: Option<String>,
}

async fn show(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let settings = app.store.settings();
    let p = &settings.password;
    ok(PasswordPolicyInfo {
        root: p.root.clone(),
        orgs: p.orgs.clone(),
        notify: p.notify,
        online: p.online.clone(),
        defaults: PasswordRules::default(),
    })
}

async fn save(s: Session, req: RulesForm, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let org = req.org.as_deref().map(str::trim).filter(|o| !o.is_empty());
    let rules = pw::set_policy(ctx(&app, &actor), org, req.rules)
        .await
        .map_err(service_error)?;
    ok(PasswordRulesSaved {
        org: org.map(str::to_owned),
        rules,
    })
}

async fn remove(s: Session, req: OrgForm, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let org = req.org.trim();
    pw::clear_policy(ctx(&app, &actor), org)
        .await
        .map_err(service_error)?;
    ok(PasswordRulesRemoved {
        removed: org.to_owned(),
    })
}

async fn notify(s: Session, req: NotifyForm, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    pw::set_event_mail(ctx(&app, &actor), req.notify)
        .await
        .map_err(service_error)?;
    ok(PasswordNotifyInfo { notify: req.notify })
}

async fn online(s: Session, req: OnlineForm, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let online = OnlineBreachCheck {
        enabled: req.enabled,
        url: req.url.trim().to_owned(),
        timeout_ms: req.timeout_ms,
        fail_closed: req.fail_closed,
    };
    pw::set_online(ctx(&app, &actor), online.clone())
        .await
        .map_err(service_error)?;
    ok(online)
}

/// Evaluates only: no store write, no audit record, no log line with the password.
async fn try_password(_s: Session, req: TryForm, app: Arc<App>) -> Result<Response, Rejection> {
    let org = req.org.as_deref().map(str::trim).filter(|o| !o.is_empty());
    let password = Zeroizing::new(req.password);
    let c = req.context.unwrap_or_default();
    let context = pw::TryContext {
        username: c.username.as_deref(),
        email: c.email.as_deref(),
        given_name: c.given_name.as_deref(),
        family_name: c.family_name.as_deref(),
        organization_name: c.organization_name.as_deref(),
    };
    let filter = app.breached.get();
    let breached = filter.as_deref().map(|f| f as &dyn BreachedCheck);
    let verdict =
        pw::check_with(&app.store, org, &password, &context, breached).map_err(service_error)?;
    let own = app.store.settings().password.has_own(org);
    let (rule, reason, description) = match verdict.outcome {
        Outcome::Accepted => (None, None, None),
        Outcome::Rejected { rule, message } => {
            (Some(rule), Some(message.reason), Some(message.description))
        }
    };
    ok(PasswordTryResult {
        accepted: rule.is_none(),
        rule,
        reason,
        description,
        applied: verdict.applied,
        unchecked: verdict.unchecked,
        org: org.map(str::to_owned),
        own,
    })
}

async fn breached_status(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let status = pw::breached_status(app.store.dir()).map_err(service_error)?;
    let loaded = app.breached.get().map(|f| pw::BreachedInfo::from(f.meta()));
    ok(PasswordBreachedStatus {
        imported: status,
        loaded,
        importing: app.breached_import.try_lock().is_err(),
    })
}

/// Removes an upload's temporary dir (and the file in it) however the import ends.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Streams the body into a 0600 file in the data dir: at most [`MAX_UPLOAD`] bytes, each
/// piece within [`UPLOAD_IDLE`] of the last.
async fn save_upload<S, B>(
    path: &std::path::Path,
    len: Option<u64>,
    stream: S,
) -> Result<(), Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send,
    B: bytes::Buf,
{
    use futures_util::StreamExt as _;
    use tokio::io::AsyncWriteExt as _;
    let too_large = || {
        super::api_error(
            warp::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("the file is larger than {} GiB: import it with `profilegate password breached import FILE` on the machine", MAX_UPLOAD >> 30),
            Some("file"),
        )
    };
    if len.is_some_and(|n| n > MAX_UPLOAD) {
        return Err(too_large());
    }
    let io = |e: std::io::Error| {
        service_error(crate::service::ServiceError::fault("the uploaded file", e))
    };
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(io)?;
    let mut written = 0u64;
    let mut stream = std::pin::pin!(stream);
    loop {
        let next = tokio::time::timeout(UPLOAD_IDLE, stream.next())
            .await
            .map_err(|_| {
                super::api_error(
                    warp::http::StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the upload paused for more than {} s",
                        UPLOAD_IDLE.as_secs()
                    ),
                    Some("file"),
                )
            })?;
        let Some(chunk) = next else { break };
        let mut chunk = chunk.map_err(|e| bad("file", format!("the upload broke off: {e}")))?;
        let bytes = chunk.copy_to_bytes(chunk.remaining());
        written += bytes.len() as u64;
        if written > MAX_UPLOAD {
            return Err(too_large());
        }
        file.write_all(&bytes).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(())
}

/// Imports an uploaded Pwned-Passwords file (one import at a time): the file goes to the data
/// dir, the filter is built beside the one in use, and the server switches to it at once.
async fn breached_import(
    s: Session,
    app: Arc<App>,
    q: ImportQuery,
    len: Option<u64>,
    stream: impl futures_util::Stream<Item = Result<impl bytes::Buf, warp::Error>> + Send,
) -> Result<Response, Rejection> {
    let Ok(_one) = app.breached_import.try_lock() else {
        return Err(super::api_error(
            warp::http::StatusCode::CONFLICT,
            "an import is already running; wait for it to finish",
            Some("file"),
        ));
    };
    let dir = app.store.dir().to_path_buf();
    // Holding the one lock, every upload dir left is a killed server's: remove them.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with("breached-upload-")
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let mut nonce = [0u8; 8];
    let _ = getrandom::fill(&mut nonce);
    let upload = TempDir(dir.join(format!("breached-upload-{}", hex::encode(nonce))));
    std::fs::create_dir(&upload.0)
        .map_err(|e| service_error(crate::service::ServiceError::fault("the upload dir", e)))?;
    let src = upload.0.join(source_name(q.name.as_deref()));
    save_upload(&src, len, stream).await?;
    let min_count = q.min_count.unwrap_or(1);
    let imported = tokio::task::spawn_blocking(move || {
        pw::import_breached(&dir, &src, min_count, &mut |_| {})
    })
    .await
    .map_err(|e| service_error(crate::service::ServiceError::fault("the import task", e)))?
    .map_err(service_error)?;
    drop(upload);
    let actor = actor(&s);
    let loaded = pw::reload_breached(ctx(&app, &actor), &app.breached)
        .await
        .map_err(service_error)?;
    ok(PasswordBreachedImported {
        imported,
        in_use: loaded.is_some() || app.breached.get().is_some(),
    })
}

async fn keys(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let keys = pw::list_keys(&app.store).map_err(service_error)?;
    ok(PasswordKeyList {
        keys,
        max_active: pw::MAX_ACTIVE_KEYS,
    })
}

async fn generate(s: Session, req: GenerateForm, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let (key, export) = pw::generate_key(ctx(&app, &actor), req.bits)
        .await
        .map_err(|e| match e {
            // A third active key: shown next to the size chooser.
            crate::service::ServiceError::Conflict(m) => {
                super::api_error(warp::http::StatusCode::CONFLICT, m, Some("bits"))
            }
            e => service_error(e),
        })?;
    ok(PasswordKeyCreated { key, export })
}

async fn export(id: String, _s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    ok(pw::export_key(&app.store, &id).map_err(service_error)?)
}

async fn retire(id: String, s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let retired = pw::retire_key(ctx(&app, &actor), &id)
        .await
        .map_err(service_error)?;
    ok(PasswordKeyRetired { retired })
}

async fn register(
    _s: Session,
    app: Arc<App>,
    headers: HeaderMap,
    q: PasswordRegistrationQuery,
) -> Result<Response, Rejection> {
    let creds = app.store.credentials();
    let credential = chosen_credential(&creds, q.credential.as_deref())?;
    let settings = app.store.settings();
    let url = q
        .url
        .unwrap_or_else(|| default_url_for(&app, &headers, crate::conn::PASSWORD_ACTION_PATH));
    let format = match q.format.as_deref().filter(|f| !f.is_empty()) {
        None => PasswordFormat::default(),
        Some(f) => PasswordFormat::from_wso2_name(f)
            .ok_or_else(|| bad("format", "the format is PLAIN_TEXT or SHA256_HASHED"))?,
    };
    let key = pw::newest_active_key(&app.store);
    let r = password_registration(
        q.name.as_deref().unwrap_or(DEFAULT_NAME),
        &url,
        settings.endpoint_auth,
        credential,
        format,
        key.as_ref()
            .map(|k| (k.id.as_str(), k.certificate_base64.as_str())),
    )
    .map_err(|e| bad(e.field, e.message))?;
    ok(r)
}

/// `/admin/api/password/keys/<id>` and `/admin/api/password/keys/<id>/retire`.
fn key_path() -> impl Filter<Extract = (String,), Error = Rejection> + Clone {
    warp::path("admin")
        .and(warp::path("api"))
        .and(warp::path("password"))
        .and(warp::path("keys"))
        .and(warp::path::param::<String>())
}

fn password_path(rest: &'static str) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    api_path2("password", rest)
}

pub(super) fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let show = password_path("policy")
        .and(get_with(app.clone()))
        .and_then(show);
    let save = password_path("policy")
        .and(post_json::<RulesForm>(app.clone()))
        .and_then(save);
    let remove = warp::path!("admin" / "api" / "password" / "policy" / "remove")
        .and(post_json::<OrgForm>(app.clone()))
        .and_then(remove);
    let notify = password_path("notify")
        .and(post_json::<NotifyForm>(app.clone()))
        .and_then(notify);
    let online = password_path("online")
        .and(post_json::<OnlineForm>(app.clone()))
        .and_then(online);
    let breached_status = password_path("breached")
        .and(get_with(app.clone()))
        .and_then(breached_status);
    let breached_import = password_path("breached")
        .and(warp::post())
        .and(super::session(app.clone()))
        .and(with_app(app.clone()))
        .and(warp::query::<ImportQuery>())
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .and_then(breached_import);
    let try_it = password_path("try")
        .and(post_json::<TryForm>(app.clone()))
        .and_then(try_password);
    let list = password_path("keys")
        .and(get_with(app.clone()))
        .and_then(keys);
    let generate = password_path("keys")
        .and(post_json::<GenerateForm>(app.clone()))
        .and_then(generate);
    let export = key_path()
        .and(warp::path::end())
        .and(warp::get())
        .and(session(app.clone()))
        .and(with_app(app.clone()))
        .and_then(export);
    let retire = key_path()
        .and(warp::path("retire"))
        .and(warp::path::end())
        .and(warp::post())
        .and(session(app.clone()))
        .and(with_app(app.clone()))
        .and_then(retire);
    let register = password_path("registration")
        .and(get_with(app))
        .and(warp::header::headers_cloned())
        .and(warp::query::<PasswordRegistrationQuery>())
        .and_then(register);
    show.or(save)
        .unify()
        .or(remove)
        .unify()
        .or(notify)
        .unify()
        .or(online)
        .unify()
        .or(breached_status)
        .unify()
        .or(breached_import)
        .unify()
        .or(try_it)
        .unify()
        .or(list)
        .unify()
        .or(generate)
        .unify()
        .or(export)
        .unify()
        .or(retire)
        .unify()
        .or(register)
        .unify()
        .boxed()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_uploads_name_is_cleaned() {
        use super::source_name;
        assert_eq!(
            source_name(Some("pwned-passwords-sha1-ordered-by-count-v8.txt")),
            "pwned-passwords-sha1-ordered-by-count-v8.txt"
        );
        assert_eq!(source_name(Some("C:\\lists\\top 1M.txt")), "top_1M.txt");
        assert_eq!(source_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(source_name(Some("..")), "upload.txt");
        assert_eq!(source_name(None), "upload.txt");
        assert_eq!(source_name(Some(&"a".repeat(300))).len(), 100);
    }
}
