//! `POST /oauth2/token`: profilegate as the token endpoint of the identity server's
//! CLIENT_CREDENTIAL authentication (the rules are in `auth::oauth`, the check and issue in
//! `auth::Authenticator::issue_token`). Served where the action endpoint is.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::{Buf, BufMut, BytesMut};
use futures_util::StreamExt;
use warp::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA};
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Reply;

use super::BODY_TIMEOUT;
use crate::app::App;
use crate::auth::oauth::{self, OAuthError, MAX_TOKEN_BODY};
use crate::auth::AuthError;

fn answer(status: u16, body: Vec<u8>) -> Response {
    let mut r = warp::http::Response::new(body).into_response();
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // RFC 6749 §5.1: tokens and their errors are not cached.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn error(e: &OAuthError) -> Response {
    let mut r = answer(e.status(), e.body());
    match e {
        OAuthError::InvalidClient(_) => {
            r.headers_mut().insert(
                warp::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"profilegate\""),
            );
        }
        OAuthError::Throttled => {
            r.headers_mut().insert(
                warp::http::header::RETRY_AFTER,
                HeaderValue::from_static("60"),
            );
        }
        _ => {}
    }
    r
}

/// Reads at most [`MAX_TOKEN_BODY`] within [`BODY_TIMEOUT`].
async fn read_body<S, B, E>(len: Option<u64>, stream: S) -> Result<bytes::Bytes, OAuthError>
where
    S: futures_util::Stream<Item = Result<B, E>> + Send,
    B: Buf,
{
    let too_large =
        || OAuthError::InvalidRequest(format!("the body is larger than {MAX_TOKEN_BODY} bytes"));
    if len.is_some_and(|l| l > MAX_TOKEN_BODY as u64) {
        return Err(too_large());
    }
    let read = async move {
        let mut stream = std::pin::pin!(stream);
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let mut chunk =
                chunk.map_err(|_| OAuthError::InvalidRequest("the body is unreadable".into()))?;
            if buf.len() + chunk.remaining() > MAX_TOKEN_BODY {
                return Err(too_large());
            }
            let part = chunk.copy_to_bytes(chunk.remaining());
            buf.put_slice(&part);
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| {
            Err(OAuthError::InvalidRequest(
                "the body did not arrive in time".into(),
            ))
        })
}

/// Answers one token request.
pub(crate) async fn token_call<S, B, E>(
    app: Arc<App>,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    body: S,
) -> Response
where
    S: futures_util::Stream<Item = Result<B, E>> + Send,
    B: Buf,
{
    match issue(&app, headers, peer, body).await {
        Ok(r) => r,
        Err((e, client_id)) => {
            app.metrics.auth_failure(&match e {
                OAuthError::Throttled => AuthError::Throttled,
                OAuthError::Server => AuthError::Internal,
                _ => AuthError::Invalid,
            });
            if app.log_limit.allow("token endpoint") {
                tracing::info!(peer = ?peer, client_id = client_id.as_deref().unwrap_or("-"), reason = %e, "refused a token request");
            }
            error(&e)
        }
    }
}

/// The request's checks in RFC order: the body, the client, then the grant. An error carries
/// the client id it named (for the log; never the secret).
async fn issue<S, B, E>(
    app: &App,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    body: S,
) -> Result<Response, (OAuthError, Option<String>)>
where
    S: futures_util::Stream<Item = Result<B, E>> + Send,
    B: Buf,
{
    let len = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = read_body(len, body).await.map_err(|e| (e, None))?;
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let req = oauth::parse_request(text(CONTENT_TYPE), &body).map_err(|e| (e, None))?;
    let (id, secret) = oauth::client(text(AUTHORIZATION), &req).map_err(|e| (e, None))?;
    let named = || Some(id.chars().take(64).collect::<String>());
    oauth::check_grant(&req).map_err(|e| (e, named()))?;
    let lifetime = app.store.settings().oauth_token_lifetime_secs;
    let issued = app
        .auth
        .issue_token(&id, &secret, peer, lifetime)
        .await
        .map_err(|e| {
            let e = match e {
                AuthError::Throttled => OAuthError::Throttled,
                AuthError::Internal => OAuthError::Server,
                _ => OAuthError::InvalidClient("the client id or secret is not valid".into()),
            };
            (e, named())
        })?;
    Ok(answer(
        200,
        oauth::success_body(&issued.access_token, issued.expires_in),
    ))
}
