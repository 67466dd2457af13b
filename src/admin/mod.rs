//! The admin side: a JSON API under `/admin/api/` and the embedded UI under `/admin/` that
//! uses it.
//!
//! Access: password login (or the one-time setup link of a fresh install), sessions in an
//! HttpOnly SameSite=Strict cookie (Secure under TLS), and a CSRF defence on every mutating
//! call: `Sec-Fetch-Site` / `Origin` checks plus a per-session token header. Every change is
//! written to the audit chain and is on disk before the answer. Errors are `{error, field}` so
//! the UI can show the server's reason next to the field it concerns.
//!
//! One file per page: `access` (login, setup, password), `overview`, `departments`,
//! `endpoint` (credentials and the WSO2 registration values from the pure `register`),
//! `notifications`, `audit`, `settings`, `password` (the password action's policy, keys and
//! registration), `simulate` ("Try an event", a dry run of the action endpoints); `ui` serves the embedded files. The answers' types are
//! in `api`; `openapi` describes every operation from them and the request forms.

mod access;
pub mod api;
mod audit;
mod departments;
mod endpoint;
mod notifications;
pub mod openapi;
mod overview;
mod password;
pub mod register;
mod settings;
mod simulate;
mod ui;

use std::sync::Arc;

use futures_util::StreamExt;
use subtle::ConstantTimeEq;
use warp::http::{header, HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Buf, Filter, Rejection, Reply};

use crate::app::App;
pub use crate::auth::session::{Session, Sessions, COOKIE};
use crate::service::{Ctx, Durability, ServiceError};
use crate::store::StoreError;

/// Largest admin request body (a department CSV of tens of thousands of names fits).
const MAX_ADMIN_BODY: usize = 1024 * 1024;

/// An admin API error: status, message, and the field it concerns (shown next to it).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<&'static str>,
    /// Seconds for a `Retry-After` header (429 answers).
    retry_after: Option<u64>,
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
        retry_after: None,
    })
}

/// A 429 telling the client how long to wait (whole seconds, at least one).
fn too_many(wait: std::time::Duration, field: &'static str) -> Rejection {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    warp::reject::custom(ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        message: format!("too many attempts; try again in {secs} s"),
        field: Some(field),
        retry_after: Some(secs),
    })
}

/// A 400 naming the field.
fn bad(field: &'static str, message: impl Into<String>) -> Rejection {
    api_error(StatusCode::BAD_REQUEST, message, Some(field))
}

/// A 500 for something that should not happen; the detail goes to the log, not the page.
fn internal(what: &str, e: impl std::fmt::Display) -> Rejection {
    tracing::error!(error = %e, "admin API: {what}");
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what} failed; see the server log"),
        None,
    )
}

/// A JSON answer. It goes through `serde_json::Value`, as the answers built with `json!` did,
/// so the keys of every object (the typed answers' own and those of the domain types in them)
/// keep coming out sorted.
fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    let v = match serde_json::to_value(v) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "admin API: serializing an answer");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut r = warp::reply::json(&v).into_response();
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        warp::http::HeaderValue::from_static("no-store"),
    );
    r
}

/// A 200 JSON answer.
fn ok<T: serde::Serialize>(v: T) -> Result<Response, Rejection> {
    Ok(json(StatusCode::OK, &v))
}

/// The status a use case's failure gets: the caller's mistakes 4xx, a mail server's refusal
/// 502, our own faults 503/500 — never a 400 for a fault of ours.
fn status_of(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::Invalid { .. } => StatusCode::BAD_REQUEST,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Conflict(_) => StatusCode::CONFLICT,
        ServiceError::Upstream { .. } => StatusCode::BAD_GATEWAY,
        ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::Internal(_) | ServiceError::Fault { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A use case's failure as the API answers it ([`status_of`]), next to its field; ours logged.
fn service_error(e: ServiceError) -> Rejection {
    let status = status_of(&e);
    match e {
        ServiceError::Invalid { field, message } => bad(field, message),
        ServiceError::Upstream { field, message } => api_error(status, message, Some(field)),
        ServiceError::NotFound(m) | ServiceError::Conflict(m) => api_error(status, m, None),
        ServiceError::Unavailable(m) => {
            tracing::error!(error = %m, "admin API: unavailable");
            api_error(status, m, None)
        }
        ServiceError::Internal(e) => internal("storage", e),
        ServiceError::Fault { what, detail } => internal(what, detail),
    }
}

/// The use cases' context for a change made by an admin session.
fn ctx<'a>(app: &'a App, actor: &'a str) -> Ctx<'a> {
    Ctx {
        store: &app.store,
        durability: Durability::Commit(&app.commit),
        actor,
    }
}

/// A failed read of the store: "not found" is a 404, anything else ours (never a 400: the
/// store's `Invalid` on a read is not the caller's mistake).
fn store_error(e: StoreError) -> Rejection {
    service_error(e.into())
}

fn with_app(
    app: Arc<App>,
) -> impl Filter<Extract = (Arc<App>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || app.clone())
}

/// The session cookie's value, parsed by the `cookie` crate (quoted values, spaces, several
/// `Cookie` headers).
fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
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

/// Reads a body stream: 413 for a declared length over `MAX_ADMIN_BODY` before reading, and
/// from `http_body_util::Limited` as soon as the stream passes it; 408 when the body takes
/// longer than the action endpoint's `BODY_TIMEOUT` (a body sent a byte at a time must not
/// hold a connection and its buffer open for minutes).
async fn collect_limited<S, B>(len: Option<u64>, stream: S) -> Result<bytes::Bytes, Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    use http_body_util::{BodyExt, Limited, StreamBody};
    let too_large = || {
        api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request is larger than {} KiB", MAX_ADMIN_BODY / 1024),
            None,
        )
    };
    if len.is_some_and(|n| n > MAX_ADMIN_BODY as u64) {
        return Err(too_large());
    }
    let frames = stream
        .map(|chunk| chunk.map(|mut b| hyper::body::Frame::data(b.copy_to_bytes(b.remaining()))));
    let body = Limited::new(StreamBody::new(frames), MAX_ADMIN_BODY);
    match tokio::time::timeout(crate::conn::BODY_TIMEOUT, body.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(bad("body", format!("the request body is unreadable: {e}"))),
        Err(_) => Err(api_error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                crate::conn::BODY_TIMEOUT.as_secs()
            ),
            Some("body"),
        )),
    }
}

/// A request body of at most `MAX_ADMIN_BODY` bytes, declared length or not.
fn limited_body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(collect_limited)
}

/// A JSON request body of type `T`; what is wrong with it is named in the answer.
fn body<T: serde::de::DeserializeOwned + Send>(
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    limited_body().and_then(|b: bytes::Bytes| async move {
        serde_json::from_slice::<T>(&b)
            .map_err(|e| bad("body", format!("invalid request body: {e}")))
    })
}

/// A POST with a session (and CSRF check) and a JSON body, handing on the app too.
fn post_json<T: serde::de::DeserializeOwned + Send>(
    app: Arc<App>,
) -> impl Filter<Extract = (Session, T, Arc<App>), Error = Rejection> + Clone {
    warp::post()
        .and(session(app.clone()))
        .and(body::<T>())
        .and(with_app(app))
}

/// A GET with a session, handing on the app.
fn get_with(
    app: Arc<App>,
) -> impl Filter<Extract = (Session, Arc<App>), Error = Rejection> + Clone {
    warp::get().and(session(app.clone())).and(with_app(app))
}

/// `/admin/api/<name>` exactly.
fn api_path(name: &'static str) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path("admin")
        .and(warp::path("api"))
        .and(warp::path(name))
        .and(warp::path::end())
}

/// `/admin/api/<a>/<b>` exactly.
fn api_path2(
    a: &'static str,
    b: &'static str,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path("admin")
        .and(warp::path("api"))
        .and(warp::path(a))
        .and(warp::path(b))
        .and(warp::path::end())
}

/// Who made a change, for the audit chain.
fn actor(s: &Session) -> String {
    format!("admin session {}", s.short_id())
}

/// Runs blocking work (argon2, a walk over the audit chain) off the runtime threads.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Rejection> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| internal(what, e))
}

/// The admin API and UI routes.
pub fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    access::routes(app.clone())
        .or(overview::routes(app.clone()))
        .unify()
        .or(departments::routes(app.clone()))
        .unify()
        .or(endpoint::routes(app.clone()))
        .unify()
        .or(notifications::routes(app.clone()))
        .unify()
        .or(audit::routes(app.clone()))
        .unify()
        .or(password::routes(app.clone()))
        .unify()
        .or(simulate::routes(app.clone()))
        .unify()
        .or(settings::routes(app))
        .unify()
        .or(ui::routes(openapi::document()))
        .unify()
        .boxed()
}

/// Turns admin API rejections into JSON `{error, field}`; `None` for rejections it does not own.
pub fn recover(r: &Rejection) -> Option<Response> {
    let e = r.find::<ApiError>()?;
    let mut resp = json(
        e.status,
        &api::ErrorBody {
            error: e.message.clone(),
            field: e.field,
        },
    );
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, warp::http::HeaderValue::from(secs));
    }
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CommitError, StoreError};

    /// Storage faults that once reached an admin as 400 are 503 (not durable now) or 500.
    #[test]
    fn faults_of_ours_are_never_a_400() {
        let io = || std::io::Error::other("disk gone");
        let cases = [
            (StoreError::Unavailable(CommitError::Stopped), 503),
            (
                StoreError::Io {
                    what: "write the backup",
                    source: io(),
                },
                500,
            ),
            (StoreError::Precondition("bad key".into()), 500),
            (
                StoreError::Task {
                    what: "a read",
                    detail: "panicked".into(),
                },
                500,
            ),
            (StoreError::Invalid("read back a bad record".into()), 500),
            (StoreError::NotFound("no credential x".into()), 404),
        ];
        for (e, want) in cases {
            let shown = e.to_string();
            assert_eq!(status_of(&ServiceError::from(e)).as_u16(), want, "{shown}");
        }
        assert_eq!(
            status_of(&ServiceError::invalid("name", "empty")).as_u16(),
            400
        );
    }
}
