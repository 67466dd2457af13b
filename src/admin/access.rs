//! Getting in and out: the one-time setup link, login, logout, the current session, and the
//! admin password change.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;
use subtle::ConstantTimeEq;
use warp::http::{header, HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::api::{LoggedOut, PasswordChanged, SessionInfo};
use super::{
    actor, api_error, api_path, bad, blocking, body, ctx, get_with, internal, json, ok, post_json,
    same_origin, service_error, session, too_many, with_app, Session, COOKIE,
};
use crate::app::App;
use crate::conn::PeerAddr;
use crate::service::access;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Login {
    password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Setup {
    token: String,
    #[schema(min_length = 12)]
    password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordChange {
    current: String,
    #[schema(min_length = 12)]
    new: String,
}

/// The session cookie; `Secure` when this server speaks HTTPS.
fn cookie(app: &App, value: &str, clear: bool) -> String {
    let mut c = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/admin");
    if clear {
        c.push_str("; Max-Age=0");
    }
    if app.tls {
        c.push_str("; Secure");
    }
    c
}

/// Starts a session and answers with its cookie and CSRF token.
fn start_session(app: &App) -> Result<Response, Rejection> {
    let (id, s) = app
        .sessions
        .create()
        .map_err(|e| internal("starting a session", e))?;
    let mut r = json(
        StatusCode::OK,
        &SessionInfo {
            csrf_token: s.csrf,
            tls: app.tls,
        },
    );
    if let Ok(v) = warp::http::HeaderValue::from_str(&cookie(app, &id, false)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

async fn login(
    app: Arc<App>,
    peer: Option<PeerAddr>,
    headers: HeaderMap,
    req: Login,
) -> Result<Response, Rejection> {
    same_origin(&headers)?;
    let ip: Option<IpAddr> = peer.map(|p| p.0.ip());
    let Some(hash) = app
        .store
        .admin_password_hash()
        .map_err(|e| service_error(e.into()))?
    else {
        return Err(api_error(
            StatusCode::CONFLICT,
            "no admin password is set yet: open the setup link printed at start-up, or run `profilegate admin set-password --password-stdin`",
            Some("password"),
        ));
    };
    let attempt = app
        .admin_gate
        .begin(ip)
        .map_err(|wait| too_many(wait, "password"))?;
    // The attempt moves into the blocking task: its outcome is recorded there, even if the
    // client hangs up meanwhile.
    let ok = blocking("password check", move || {
        let ok = attempt.argon2(|| crate::auth::secret::verify(&req.password, &hash));
        if ok {
            attempt.succeeded();
        } else {
            attempt.failed();
        }
        ok
    })
    .await?;
    if !ok {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            "wrong password",
            Some("password"),
        ));
    }
    start_session(&app)
}

/// The first visit with the setup link sets the admin password and logs in.
async fn setup(
    app: Arc<App>,
    peer: Option<PeerAddr>,
    headers: HeaderMap,
    req: Setup,
) -> Result<Response, Rejection> {
    same_origin(&headers)?;
    let ip: Option<IpAddr> = peer.map(|p| p.0.ip());
    if app
        .store
        .admin_password_hash()
        .map_err(|e| service_error(e.into()))?
        .is_some()
    {
        return Err(api_error(
            StatusCode::CONFLICT,
            "an admin password is already set: log in with it",
            Some("token"),
        ));
    }
    // The token check costs no argon2, but guesses are slowed down like logins, and the
    // hashing below runs under the same attempt.
    let attempt = app
        .admin_gate
        .begin(ip)
        .map_err(|wait| too_many(wait, "token"))?;
    let valid = app
        .setup_token
        .lock()
        .as_deref()
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(req.token.as_bytes())));
    if !valid {
        attempt.failed();
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "this setup link is not valid (it works once, and only until the server restarts); use the link printed at the latest start-up",
            Some("token"),
        ));
    }
    access::validate_password("password", &req.password).map_err(service_error)?;
    let hash = blocking("password hashing", move || {
        let hash = attempt.argon2(|| crate::auth::secret::hash(&req.password));
        attempt.succeeded();
        hash
    })
    .await?
    .map_err(|e| internal("password hashing", e))?;
    // Take the token now: of two concurrent visits only one sets the password.
    if app.setup_token.lock().take().is_none() {
        return Err(api_error(
            StatusCode::CONFLICT,
            "the setup link was just used: log in with the password set then",
            Some("token"),
        ));
    }
    access::store_hash(ctx(&app, "setup link"), &hash)
        .await
        .map_err(service_error)?;
    start_session(&app)
}

async fn change_password(
    s: Session,
    req: PasswordChange,
    app: Arc<App>,
    peer: Option<PeerAddr>,
) -> Result<Response, Rejection> {
    access::validate_password("new", &req.new).map_err(service_error)?;
    let hash = app
        .store
        .admin_password_hash()
        .map_err(|e| service_error(e.into()))?
        .ok_or_else(|| api_error(StatusCode::CONFLICT, "no admin password is set", None))?;
    let new = req.new.clone();
    let attempt = app
        .admin_gate
        .begin(peer.map(|p| p.0.ip()))
        .map_err(|wait| too_many(wait, "current"))?;
    let (matches, new_hash) = blocking("password change", move || {
        let ok = attempt.argon2(|| crate::auth::secret::verify(&req.current, &hash));
        if !ok {
            attempt.failed();
            return (false, None);
        }
        let new_hash = attempt.argon2(|| crate::auth::secret::hash(&new));
        attempt.succeeded();
        (true, Some(new_hash))
    })
    .await?;
    if !matches {
        return Err(bad("current", "the current password is wrong"));
    }
    let new_hash = match new_hash {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(internal("password hashing", e)),
        None => return Err(internal("password hashing", "no hash")),
    };
    let who = actor(&s);
    access::store_hash(ctx(&app, &who), &new_hash)
        .await
        .map_err(service_error)?;
    // Everyone else logs in again with the new password.
    app.sessions.retain_only(&s.id);
    ok(PasswordChanged { changed: true })
}

pub(super) fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let login = api_path("login")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(warp::ext::optional::<PeerAddr>())
        .and(warp::header::headers_cloned())
        .and(body::<Login>())
        .and_then(login);
    let setup = api_path("setup")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(warp::ext::optional::<PeerAddr>())
        .and(warp::header::headers_cloned())
        .and(body::<Setup>())
        .and_then(setup);
    let logout = api_path("logout")
        .and(warp::post())
        .and(session(app.clone()))
        .and(with_app(app.clone()))
        .map(|s: Session, app: Arc<App>| {
            app.sessions.remove(&s.id);
            let mut r = json(StatusCode::OK, &LoggedOut { ok: true });
            if let Ok(v) = warp::http::HeaderValue::from_str(&cookie(&app, "", true)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        });
    let who = api_path("session")
        .and(get_with(app.clone()))
        .map(|s: Session, app: Arc<App>| {
            json(
                StatusCode::OK,
                &SessionInfo {
                    csrf_token: s.csrf,
                    tls: app.tls,
                },
            )
        });
    let password = api_path("password")
        .and(post_json::<PasswordChange>(app))
        .and(warp::ext::optional::<PeerAddr>())
        .and_then(change_password);
    login
        .or(setup)
        .unify()
        .or(logout)
        .unify()
        .or(who)
        .unify()
        .or(password)
        .unify()
        .boxed()
}
