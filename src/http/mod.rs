//! HTTP: the warp filter tree and the connection loop that serves it.
//!
//! Every response is JSON. On the action endpoint every response, including 401, 404-like and
//! oversized-body answers, is a contract-valid body (CONTRACT.md §4, §9): the identity server
//! turns anything else into a 500 for the user.

pub mod server;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use futures_util::StreamExt;
use warp::http::{header::CONTENT_TYPE, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::action::App;
use crate::auth::{AuthError, Caller};
use crate::contract::response::ErrorStatus;
use crate::contract::ActionResponse;

pub use server::serve;

/// Largest action body accepted. Real requests are a few KiB; 64 KiB leaves room for ten
/// multi-valued attributes and refuses anything meant to exhaust memory.
pub const MAX_BODY: usize = 64 * 1024;
/// A body must arrive within this time once the headers are in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The action endpoint's path.
pub const ACTION_PATH: &str = "/actions/pre-update-profile";

/// The peer's address, attached to each request by the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// A rejection that already knows its answer.
#[derive(Debug)]
struct Answer(ActionResponse);
impl warp::reject::Reject for Answer {}

fn answer(r: ActionResponse) -> Rejection {
    warp::reject::custom(Answer(r))
}

/// Turns an action response into an HTTP response with `Content-Type: application/json`.
pub fn json_reply(r: &ActionResponse) -> Response {
    json_response(r.http_status(), r.to_json())
}

fn json_response(status: u16, body: Vec<u8>) -> Response {
    let mut resp = warp::http::Response::new(body).into_response();
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn auth_response(e: &AuthError) -> ActionResponse {
    match e {
        AuthError::Internal => {
            ActionResponse::error(ErrorStatus::Internal, "internal error", &e.to_string())
        }
        _ => ActionResponse::error(ErrorStatus::Unauthorized, "Unauthorized", &e.to_string()),
    }
}

fn with_app(
    app: Arc<App>,
) -> impl Filter<Extract = (Arc<App>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || app.clone())
}

/// Authenticates from the headers alone; the body is not read for a refused caller.
fn authenticated(app: Arc<App>) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    with_app(app)
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<PeerAddr>())
        .and_then(|app: Arc<App>, headers: warp::http::HeaderMap, peer: Option<PeerAddr>| async move {
            app.auth
                .authenticate(&headers, peer.map(|p| p.0.ip()))
                .await
                .map_err(|e| {
                    app.metrics.auth_failure(&e);
                    tracing::info!(peer = ?peer.map(|p| p.0.ip()), reason = %e, "refused an action call");
                    answer(auth_response(&e))
                })
        })
}

fn too_large() -> Rejection {
    answer(ActionResponse::error(
        ErrorStatus::BadRequest,
        "Request body too large",
        &format!("The request body is larger than {} KiB.", MAX_BODY / 1024),
    ))
}

/// Reads the body up to [`MAX_BODY`] within [`BODY_TIMEOUT`]. A declared length over the limit
/// is refused before reading; a chunked body is cut off as soon as it passes the limit.
fn limited_body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(read_limited)
}

async fn read_limited<S, B>(len: Option<u64>, stream: S) -> Result<bytes::Bytes, Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    if len.is_some_and(|l| l > MAX_BODY as u64) {
        return Err(too_large());
    }
    let read = async move {
        let mut stream = std::pin::pin!(stream);
        // A body nearly always arrives as one chunk: that chunk is the body, without a copy.
        // Only a second chunk makes a buffer to join them.
        let mut one: Option<bytes::Bytes> = None;
        let mut joined: Option<BytesMut> = None;
        let mut total = 0usize;
        while let Some(chunk) = stream.next().await {
            let mut chunk = chunk.map_err(|e| {
                answer(ActionResponse::error(
                    ErrorStatus::BadRequest,
                    "Request body unreadable",
                    &e.to_string(),
                ))
            })?;
            total += chunk.remaining();
            if total > MAX_BODY {
                return Err(too_large());
            }
            let part = chunk.copy_to_bytes(chunk.remaining());
            match (joined.as_mut(), one.take()) {
                (Some(buf), _) => buf.put_slice(&part),
                (None, Some(first)) => {
                    let mut buf = BytesMut::with_capacity(len.map_or(total, |l| l as usize));
                    buf.put_slice(&first);
                    buf.put_slice(&part);
                    joined = Some(buf);
                }
                (None, None) => one = Some(part),
            }
        }
        Ok(match (joined, one) {
            (Some(buf), _) => buf.freeze(),
            (None, Some(first)) => first,
            (None, None) => bytes::Bytes::new(),
        })
    };
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(r) => r,
        Err(_) => Err(answer(ActionResponse::error(
            ErrorStatus::BadRequest,
            "Request body timeout",
            "The request body did not arrive in time.",
        ))),
    }
}

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything (one listener).
    All,
    /// The action endpoint, health and metrics (the listener the identity server reaches).
    Action,
    /// The admin UI and API, health and metrics (a private listener).
    Admin,
}

/// The filter tree for one listener.
pub fn routes(app: Arc<App>, scope: Scope) -> warp::filters::BoxedFilter<(Response,)> {
    let health = warp::path("healthz")
        .and(warp::path::end())
        .and(warp::get())
        .map(|| json_response(200, br#"{"status":"ok"}"#.to_vec()));

    let action = warp::path("actions")
        .and(warp::path("pre-update-profile"))
        .and(warp::path::end())
        .and(warp::post())
        .and(authenticated(app.clone()))
        .and(limited_body())
        .and(with_app(app.clone()))
        .then(
            |caller: Caller, body: bytes::Bytes, app: Arc<App>| async move {
                json_reply(&app.handle(caller, body).await)
            },
        );

    let ready = warp::path("readyz")
        .and(warp::path::end())
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move {
            match ready(&app).await {
                Ok(()) => json_response(200, br#"{"status":"ready"}"#.to_vec()),
                Err(reason) => {
                    tracing::warn!(%reason, "not ready");
                    let body = serde_json::json!({ "status": "unavailable", "reason": reason });
                    json_response(503, body.to_string().into_bytes())
                }
            }
        });
    let metrics = warp::path("metrics")
        .and(warp::path::end())
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move {
            let store = app.store.clone();
            let gauges = tokio::task::spawn_blocking(move || crate::metrics::Gauges {
                audit_records: store.chain_head().seq,
                outbox_depth: store.outbox_len(),
                data_bytes: store.size_on_disk().unwrap_or(0),
            })
            .await;
            match gauges {
                Ok(g) => {
                    let text = crate::metrics::render(&app.metrics, &app.notifier.stats, &g);
                    let mut r = warp::http::Response::new(text.into_bytes()).into_response();
                    r.headers_mut().insert(
                        CONTENT_TYPE,
                        warp::http::HeaderValue::from_static("text/plain; version=0.0.4"),
                    );
                    r
                }
                Err(_) => json_response(500, br#"{"error":"metrics failed"}"#.to_vec()),
            }
        });

    let common = health.or(ready).unify().or(metrics).unify().boxed();
    let tree = match scope {
        Scope::All => common
            .or(action)
            .unify()
            .or(crate::admin::routes(app.clone()))
            .unify()
            .boxed(),
        Scope::Action => common.or(action).unify().boxed(),
        Scope::Admin => common.or(crate::admin::routes(app.clone())).unify().boxed(),
    };
    tree.recover(recover).unify().boxed()
}

/// Ready when the store takes a write and the commit pipeline makes it durable within 2 s.
async fn ready(app: &App) -> Result<(), String> {
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || store.probe_writable())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("the data dir does not take writes: {e}"))?;
    match tokio::time::timeout(Duration::from_secs(2), app.commit.durable()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the audit log cannot be flushed: {e}")),
        Err(_) => Err("the audit log did not flush within 2 s".into()),
    }
}

/// Turns every rejection into a JSON answer in the contract's ERROR shape.
async fn recover(r: Rejection) -> Result<Response, std::convert::Infallible> {
    if let Some(Answer(resp)) = r.find::<Answer>() {
        return Ok(json_reply(resp));
    }
    if let Some(resp) = crate::admin::recover(&r) {
        return Ok(resp);
    }
    let (status, message) = if r.is_not_found() {
        (404, "Not found")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        (405, "Method not allowed")
    } else if r.find::<warp::reject::InvalidHeader>().is_some() {
        (400, "Invalid header")
    } else {
        tracing::warn!(rejection = ?r, "unhandled rejection");
        (500, "internal error")
    };
    let body = ActionResponse::error(ErrorStatus::Internal, message, "").to_json();
    Ok(json_response(status, body))
}
