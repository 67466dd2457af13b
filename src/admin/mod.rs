//! The admin API under `/admin/api/`: password login, sessions in an HttpOnly SameSite=Strict
//! cookie, and a CSRF defence on every mutating call (Sec-Fetch-Site / Origin checks plus a
//! per-session token header). The embedded UI that uses it comes next (issue 4).

pub mod session;

use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;
use subtle::ConstantTimeEq;
use warp::http::{header, HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::action::App;
use crate::http::PeerAddr;
use crate::store::departments::{normalize_all, validate_org};
use crate::store::StoreError;
pub use session::{Session, Sessions, COOKIE};

/// Largest admin request body.
const MAX_ADMIN_BODY: u64 = 1024 * 1024;
/// Shortest admin password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// An admin API error: status, message, and the field it concerns (shown next to it).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<&'static str>,
}
impl warp::reject::Reject for ApiError {}

fn api_error(
    status: StatusCode,
    message: impl Into<String>,
    field: Option<&'static str>,
) -> Rejection {
    warp::reject::custom(ApiError {
        status,
        message: message.into(),
        field,
    })
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response {
    let mut r = warp::reply::json(v).into_response();
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        warp::http::HeaderValue::from_static("no-store"),
    );
    r
}

/// Checks a new admin password; the reason is shown next to the field.
pub fn validate_password(p: &str) -> Result<(), String> {
    if p.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!("must be at least {MIN_PASSWORD_LEN} characters"));
    }
    if p.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

fn store_error(e: StoreError) -> Rejection {
    match e {
        StoreError::Invalid(m) => api_error(StatusCode::BAD_REQUEST, m, None),
        StoreError::NotFound(m) => api_error(StatusCode::NOT_FOUND, m, None),
        other => {
            tracing::error!(error = %other, "admin API storage error");
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "storage error", None)
        }
    }
}

fn with_app(
    app: Arc<App>,
) -> impl Filter<Extract = (Arc<App>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || app.clone())
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Refuses requests a browser marks as coming from another site, and requests whose Origin is
/// not this host. (Browsers send Sec-Fetch-Site and Origin; scripts without them still need
/// the session cookie and the CSRF token.)
fn same_origin(headers: &HeaderMap) -> Result<(), Rejection> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "cross-site request refused",
                None,
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if origin_host != host {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "request from another origin refused",
                None,
            ));
        }
    }
    Ok(())
}

/// The session of a request; mutating methods also need the CSRF token header.
fn session(app: Arc<App>) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone {
    with_app(app)
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and_then(
            |app: Arc<App>, method: warp::http::Method, headers: HeaderMap| async move {
                let id = cookie_value(&headers)
                    .ok_or_else(|| api_error(StatusCode::UNAUTHORIZED, "log in first", None))?;
                let s = app.sessions.get(&id).ok_or_else(|| {
                    api_error(
                        StatusCode::UNAUTHORIZED,
                        "the session expired; log in again",
                        None,
                    )
                })?;
                if !matches!(method, warp::http::Method::GET | warp::http::Method::HEAD) {
                    same_origin(&headers)?;
                    let token = headers
                        .get("x-csrf-token")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if !bool::from(token.as_bytes().ct_eq(s.csrf.as_bytes())) {
                        return Err(api_error(
                            StatusCode::FORBIDDEN,
                            "missing or wrong CSRF token",
                            None,
                        ));
                    }
                }
                Ok::<_, Rejection>(s)
            },
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentsChange {
    names: Vec<String>,
    #[serde(default)]
    org: Option<String>,
}

#[derive(Deserialize)]
struct OrgQuery {
    org: Option<String>,
}

fn body<T: serde::de::DeserializeOwned + Send>(
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(MAX_ADMIN_BODY)
        .and(warp::body::bytes())
        .and_then(|b: bytes::Bytes| async move {
            serde_json::from_slice::<T>(&b).map_err(|e| {
                api_error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid request body: {e}"),
                    None,
                )
            })
        })
}

async fn login(
    app: Arc<App>,
    peer: Option<PeerAddr>,
    headers: HeaderMap,
    req: Login,
) -> Result<Response, Rejection> {
    same_origin(&headers)?;
    let ip: Option<IpAddr> = peer.map(|p| p.0.ip());
    if ip.is_some_and(|ip| app.sessions.login_throttled(ip)) {
        return Err(api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; wait a minute",
            Some("password"),
        ));
    }
    let Some(hash) = app.store.admin_password_hash().map_err(store_error)? else {
        return Err(api_error(
            StatusCode::CONFLICT,
            "no admin password is set yet: run `profilegate admin set-password --password-stdin`",
            Some("password"),
        ));
    };
    let ok = tokio::task::spawn_blocking(move || crate::auth::secret::verify(&req.password, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        if let Some(ip) = ip {
            app.sessions.note_login_failure(ip);
        }
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            "wrong password",
            Some("password"),
        ));
    }
    let (id, s) = app
        .sessions
        .create()
        .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None))?;
    let mut r = json(StatusCode::OK, &serde_json::json!({ "csrf_token": s.csrf }));
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/admin");
    if let Ok(v) = warp::http::HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// The admin API routes.
pub fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let api = warp::path("admin").and(warp::path("api"));
    let login = api
        .and(warp::path("login"))
        .and(warp::path::end())
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(warp::ext::optional::<PeerAddr>())
        .and(warp::header::headers_cloned())
        .and(body::<Login>())
        .and_then(login);
    let logout = api
        .and(warp::path("logout"))
        .and(warp::path::end())
        .and(warp::post())
        .and(session(app.clone()))
        .and(with_app(app.clone()))
        .map(|s: Session, app: Arc<App>| {
            app.sessions.remove(&s.id);
            let mut r = json(StatusCode::OK, &serde_json::json!({ "ok": true }));
            let clear = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=0");
            if let Ok(v) = warp::http::HeaderValue::from_str(&clear) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        });
    let who = api
        .and(warp::path("session"))
        .and(warp::path::end())
        .and(warp::get())
        .and(session(app.clone()))
        .map(|s: Session| json(StatusCode::OK, &serde_json::json!({ "csrf_token": s.csrf })));
    let list = api
        .and(warp::path("departments"))
        .and(warp::path::end())
        .and(warp::get())
        .and(session(app.clone()))
        .and(warp::query::<OrgQuery>())
        .and(with_app(app.clone()))
        .and_then(|_s: Session, q: OrgQuery, app: Arc<App>| async move {
            let org = validate_org(q.org.as_deref()).map_err(store_error)?;
            let names = app.store.list_departments(org).map_err(store_error)?;
            Ok::<_, Rejection>(json(
                StatusCode::OK,
                &serde_json::json!({ "org": org, "names": names }),
            ))
        });
    let add = api
        .and(warp::path("departments"))
        .and(warp::path::end())
        .and(warp::post())
        .and(session(app.clone()))
        .and(body::<DepartmentsChange>())
        .and(with_app(app))
        .and_then(
            |s: Session, req: DepartmentsChange, app: Arc<App>| async move {
                let org = validate_org(req.org.as_deref())
                    .map_err(|e| api_error(StatusCode::BAD_REQUEST, e.to_string(), Some("org")))?;
                let names = normalize_all(req.names.iter().map(String::as_str)).map_err(|e| {
                    api_error(StatusCode::BAD_REQUEST, e.to_string(), Some("names"))
                })?;
                let plan = app
                    .store
                    .plan_import(org, &names, false)
                    .map_err(store_error)?;
                app.store
                    .apply_departments(
                        &format!("admin session {}", s.short_id()),
                        "departments.add",
                        org,
                        &plan,
                    )
                    .map_err(store_error)?;
                app.commit.durable().await.map_err(store_error)?;
                Ok::<_, Rejection>(json(
                    StatusCode::OK,
                    &serde_json::json!({ "added": plan.added }),
                ))
            },
        );
    login
        .or(logout)
        .unify()
        .or(who)
        .unify()
        .or(list)
        .unify()
        .or(add)
        .unify()
        .boxed()
}

/// Turns admin API rejections into JSON `{error, field}`; `None` for rejections it does not own.
pub fn recover(r: &Rejection) -> Option<Response> {
    let e = r.find::<ApiError>()?;
    Some(json(
        e.status,
        &serde_json::json!({ "error": e.message, "field": e.field }),
    ))
}
