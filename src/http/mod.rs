//! HTTP: the warp filter tree and the connection loop that serves it.
//!
//! Every response is JSON. On the action endpoint every response, including 401, 404-like and
//! oversized-body answers, is a contract-valid body (CONTRACT.md §4, §9): the identity server
//! turns anything else into a 500 for the user.

pub mod front;
pub mod server;
pub mod tls;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use futures_util::StreamExt;
use warp::http::{
    header::{CONTENT_LENGTH, CONTENT_TYPE},
    HeaderMap, StatusCode,
};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::app::App;
use crate::auth::AuthError;
use crate::contract::response::ErrorStatus;
use crate::contract::ActionResponse;

pub use server::serve;

pub use crate::conn::{ActionEndpoint, PeerAddr, ACTION_PATH, BODY_TIMEOUT, PASSWORD_ACTION_PATH};
pub use crate::contract::MAX_BODY;

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
        // The issuer's keys could not be fetched: the caller did nothing wrong, and a 401
        // would only make it fetch another token for nothing.
        AuthError::Internal | AuthError::Token(crate::auth::TokenReason::KeysUnavailable) => {
            ActionResponse::error(ErrorStatus::Internal, "internal error", &e.to_string())
        }
        _ => ActionResponse::error(ErrorStatus::Unauthorized, "Unauthorized", &e.to_string()),
    }
}

/// Whether the body is declared as JSON (`application/json`, parameters such as a charset
/// allowed). Anything else is refused: with authentication off, a web page could otherwise
/// post a form or text cross-site without a CORS preflight.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

fn with_app(
    app: Arc<App>,
) -> impl Filter<Extract = (Arc<App>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || app.clone())
}

/// An action endpoint once its route matched: authenticates from the headers alone (a refused
/// caller's body is never read), reads the body within its limits, and decides. Both ways in
/// call this: the warp routes, and the connection loop's direct path for the exact routes (see
/// `server::serve`), so an endpoint behaves the same whichever took the request. Both action
/// endpoints share authentication, content type and body limits.
pub(crate) async fn action_call<S, B, E>(
    app: Arc<App>,
    endpoint: ActionEndpoint,
    headers: &HeaderMap,
    peer: Option<PeerAddr>,
    body: S,
) -> Response
where
    S: futures_util::Stream<Item = Result<B, E>> + Send,
    B: Buf,
    E: std::fmt::Display,
{
    let peer_ip = peer.map(|p| p.0.ip());
    // One snapshot of the settings for the whole request: the authentication mode and the
    // policy it is decided under come from the same version (and the shared lock is taken
    // once instead of three times).
    let settings = app.store.settings();
    let caller = match app.auth.authenticate(headers, peer_ip, &settings).await {
        Ok(caller) => caller,
        Err(e) => {
            app.metrics.auth_failure(&e);
            app.store.pending_counts().refused();
            if app.log_limit.allow(e.label()) {
                tracing::info!(peer = ?peer_ip, reason = %e, "refused an action call");
            }
            return json_reply(&auth_response(&e));
        }
    };
    if !is_json(headers) {
        app.store.pending_counts().refused();
        if app.log_limit.allow("content type") {
            tracing::info!(peer = ?peer_ip, "refused an action call that is not application/json");
        }
        return json_reply(&ActionResponse::error(
            ErrorStatus::BadRequest,
            "Unsupported content type",
            "The Content-Type header must be application json (with a slash); other types are refused.",
        ));
    }
    // What warp's `header::optional::<u64>` accepts; anything else is an invalid header.
    let len = match headers.get(CONTENT_LENGTH) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(len) => Some(len),
            None => {
                app.store.pending_counts().refused();
                return invalid_header();
            }
        },
    };
    match read_limited(len, body).await {
        Ok(body) => json_reply(&match endpoint {
            ActionEndpoint::Profile => app.handle(caller, body, settings).await,
            ActionEndpoint::Password => app.handle_password(caller, body, settings).await,
        }),
        Err(refusal) => {
            app.store.pending_counts().refused();
            json_reply(&refusal)
        }
    }
}

fn too_large() -> ActionResponse {
    crate::service::decide::too_large()
}

/// Reads the body up to [`MAX_BODY`] within [`BODY_TIMEOUT`]. A declared length over the limit
/// is refused before reading; a chunked body is cut off as soon as it passes the limit.
/// Hand-written, not `http_body_util::Limited` (as the admin side uses): a one-chunk body is
/// kept without a copy or a list of chunks, part of 98 -> 84 allocations per action request.
async fn read_limited<S, B, E>(len: Option<u64>, stream: S) -> Result<bytes::Bytes, ActionResponse>
where
    S: futures_util::Stream<Item = Result<B, E>> + Send,
    B: Buf,
    E: std::fmt::Display,
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
                ActionResponse::error(
                    ErrorStatus::BadRequest,
                    "Request body unreadable",
                    &e.to_string(),
                )
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
        Err(_) => Err(ActionResponse::error(
            ErrorStatus::BadRequest,
            "Request body timeout",
            "The request body did not arrive in time.",
        )),
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

/// What one listener serves: the warp filter tree, and the app when the listener serves the
/// action endpoint (the connection loop then takes that endpoint's exact route directly).
#[derive(Clone)]
pub struct Routes {
    filter: warp::filters::BoxedFilter<(Response,)>,
    action: Option<Arc<App>>,
}

/// A POST to exactly `/first/second` from the identity server's side (an action call, a token
/// request): the app, the headers and the peer, for a handler that reads the body itself.
fn caller_post(
    app: Arc<App>,
    first: &'static str,
    second: &'static str,
) -> impl Filter<Extract = (Arc<App>, HeaderMap, Option<PeerAddr>), Error = Rejection> + Clone {
    warp::path(first)
        .and(warp::path(second))
        .and(warp::path::end())
        .and(warp::post())
        .and(with_app(app))
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<PeerAddr>())
}

/// The routes for one listener.
pub fn routes(app: Arc<App>, scope: Scope) -> Routes {
    let health = warp::path("healthz")
        .and(warp::path::end())
        .and(warp::get())
        .map(|| json_response(200, br#"{"status":"ok"}"#.to_vec()));

    let action_route = |segment: &'static str, endpoint: ActionEndpoint| {
        caller_post(app.clone(), "actions", segment)
            .and(warp::body::stream())
            .then(
                move |app: Arc<App>, headers: HeaderMap, peer: Option<PeerAddr>, body| async move {
                    action_call(app, endpoint, &headers, peer, body).await
                },
            )
    };
    let token = caller_post(app.clone(), "oauth2", "token")
        .and(warp::body::stream())
        .then(
            |app: Arc<App>, headers: HeaderMap, peer: Option<PeerAddr>, body| async move {
                token::token_call(app, &headers, peer.map(|p| p.0.ip()), body).await
            },
        );
    let action = action_route("pre-update-profile", ActionEndpoint::Profile)
        .or(action_route(
            "pre-update-password",
            ActionEndpoint::Password,
        ))
        .unify()
        .or(token)
        .unify();

    let ready = warp::path("readyz")
        .and(warp::path::end())
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move {
            let detail = sync_detail(&app.store);
            match ready(&app).await {
                Ok(()) => {
                    let mut body = serde_json::json!({ "status": "ready" });
                    if let Some(d) = detail {
                        body["department_sync"] = d;
                    }
                    json_response(200, body.to_string().into_bytes())
                }
                Err(reason) => {
                    tracing::warn!(%reason, "not ready");
                    let mut body = serde_json::json!({ "status": "unavailable", "reason": reason });
                    if let Some(d) = detail {
                        body["department_sync"] = d;
                    }
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
            let admin_password_checks = app.admin_gate.checks();
            let forward = app.forward.clone();
            let gauges = tokio::task::spawn_blocking(move || crate::metrics::Gauges {
                department_sync: sync_gauges(&store),
                audit_forward: forward_gauges(&store, &forward),
                audit_records: store.chain_head().seq,
                outbox_depth: store.outbox_len(),
                data_bytes: store.size_on_disk().unwrap_or(0),
                admin_password_checks,
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
    let action_app = (scope != Scope::Admin).then(|| app.clone());
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
    Routes {
        filter: tree.recover(recover).unify().boxed(),
        action: action_app,
    }
}

/// The SIEM forwarding targets for a scrape (none when their state cannot be read: the
/// scrape still answers).
fn forward_gauges(
    store: &crate::store::Store,
    stats: &crate::forward::Stats,
) -> Vec<crate::metrics::ForwardGauge> {
    crate::service::forward::status(store, Some(stats))
        .unwrap_or_default()
        .into_iter()
        .map(|s| crate::metrics::ForwardGauge {
            target: s.target,
            backlog: s.backlog,
            lag_secs: s.lag_seconds,
            sent: s.sent.unwrap_or(0),
            failures: s.failures.unwrap_or(0),
        })
        .collect()
}

/// The synced department lists for a scrape (none when the state cannot be read: the scrape
/// still answers).
fn sync_gauges(store: &crate::store::Store) -> Vec<crate::metrics::SyncGauge> {
    crate::service::sync::statuses(store)
        .unwrap_or_default()
        .into_iter()
        .map(|s| crate::metrics::SyncGauge {
            org: s.org.unwrap_or_default(),
            last_success_unix: s.last_success_unix,
            age_secs: s.age_secs,
            failures: s.failures,
            held: s.held.is_some(),
        })
        .collect()
}

/// `/readyz`'s detail on synced department lists: their freshness, never a source's address
/// or error (the route needs no credentials). A stale list does not make the service
/// unready: decisions go on with the last good copy.
fn sync_detail(store: &crate::store::Store) -> Option<serde_json::Value> {
    let statuses = crate::service::sync::statuses(store).ok()?;
    if statuses.is_empty() {
        return None;
    }
    Some(
        statuses
            .into_iter()
            .map(|s| {
                serde_json::json!({
                    "org": s.org,
                    "last_success": s.last_success,
                    "age_secs": s.age_secs,
                    "stale": s.stale,
                    "held": s.held.is_some(),
                })
            })
            .collect(),
    )
}

/// How long a readiness answer is reused.
const READY_REUSE: Duration = Duration::from_secs(1);

/// Readiness, from a probe at most [`READY_REUSE`] old. `/readyz` needs no credentials, so
/// each call must not cost a write: one probe runs at a time, and callers arriving meanwhile
/// wait for its result.
async fn ready(app: &App) -> Result<(), String> {
    let mut last = app.readiness.lock().await;
    if let Some((at, result)) = last.as_ref() {
        if at.elapsed() < READY_REUSE {
            return result.clone();
        }
    }
    app.metrics
        .readiness_probes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let result = probe(app).await;
    *last = Some((std::time::Instant::now(), result.clone()));
    result
}

/// Ready when the store takes a write, its volume has room (see `service::disk`), and the
/// commit pipeline makes it durable within 2 s.
async fn probe(app: &App) -> Result<(), String> {
    let store = app.store.clone();
    let disk = tokio::task::spawn_blocking(move || {
        store.probe_writable()?;
        store.free_bytes()
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("the data dir does not take writes: {e}"))?;
    if let Some(reason) = crate::service::disk::DiskState::of(disk).unready_reason() {
        return Err(reason);
    }
    match tokio::time::timeout(Duration::from_secs(2), app.commit.durable()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the audit log cannot be flushed: {e}")),
        Err(_) => Err("the audit log did not flush within 2 s".into()),
    }
}

/// A request header the route needs does not parse.
fn invalid_header() -> Response {
    let body = ActionResponse::error(ErrorStatus::Internal, "Invalid header", "").to_json();
    json_response(400, body)
}

/// Turns every rejection into a JSON answer in the contract's ERROR shape.
async fn recover(r: Rejection) -> Result<Response, std::convert::Infallible> {
    if let Some(resp) = crate::admin::recover(&r) {
        return Ok(resp);
    }
    let (status, message) = if r.is_not_found() {
        (404, "Not found")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        (405, "Method not allowed")
    } else if r.find::<warp::reject::InvalidHeader>().is_some() {
        return Ok(invalid_header());
    } else {
        tracing::warn!(rejection = ?r, "unhandled rejection");
        (500, "internal error")
    };
    let body = ActionResponse::error(ErrorStatus::Internal, message, "").to_json();
    Ok(json_response(status, body))
}
