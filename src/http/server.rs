//! The connection loop: warp has no TLS and panics on bind errors, so we accept connections
//! ourselves, attach the peer address, do the TLS handshake when HTTPS is on (tokio-rustls,
//! ALPN h2 or HTTP/1.1), and serve each with hyper-util's HTTP/1 + h2 builder; requests go to
//! the warp filter tree, except the action endpoint's exact route, which goes straight to its
//! handler. Graceful shutdown stops accepting, lets in-flight requests finish (bounded), then
//! returns.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower_service::Service;

use super::front::{self, ConnLimit, Front};
use super::PeerAddr;

/// A client must send its request headers within this time.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Answers a connection over the limit with a 503 and closes it: what the client sent is read
/// and dropped for up to a second first, so the close does not reset the answer away.
async fn refuse(mut stream: tokio::net::TcpStream, _permit: tokio::sync::OwnedSemaphorePermit) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(front::BUSY_RESPONSE).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// The action endpoint a POST to its exact path is for. (warp's routes also take other
/// spellings, such as a trailing slash; those go through warp to the same handler.)
fn action_route<B>(req: &hyper::Request<B>) -> Option<super::ActionEndpoint> {
    if req.method() != hyper::Method::POST {
        return None;
    }
    super::ActionEndpoint::of_path(req.uri().path())
}

/// Refused connections that are sent an answer at once (the rest are just closed).
const REFUSALS_IN_FLIGHT: usize = 64;

/// Serves `routes` on `listener` until `shutdown` resolves; HTTPS when `front.tls` is given.
pub async fn serve(
    listener: TcpListener,
    routes: super::Routes,
    shutdown: impl Future<Output = ()>,
    front: Front,
) {
    let tls = front.tls.is_some();
    let acceptor = front.tls.map(tokio_rustls::TlsAcceptor::from);
    let max = match front.max_connections {
        0 => front::DEFAULT_MAX_CONNECTIONS,
        n => n,
    };
    let limit = ConnLimit::new(max);
    let refusals = Arc::new(tokio::sync::Semaphore::new(REFUSALS_IN_FLIGHT));
    let log_limit = crate::loglimit::LogLimiter::default();
    let hosts = front.admin_hosts;
    // The protocol is chosen per connection, never sniffed: hyper-util's automatic version
    // detection waits for the client's first bytes before HTTP/1's header timeout starts, so
    // a client that connects and says nothing would hold its connection forever. Plain TCP
    // speaks HTTP/1.1 (what the identity server uses); TLS speaks what ALPN agreed.
    let mut h1 = auto::Builder::new(TokioExecutor::new()).http1_only();
    h1.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let mut h2 = auto::Builder::new(TokioExecutor::new()).http2_only();
    h2.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(HEADER_TIMEOUT))
        .keep_alive_timeout(HEADER_TIMEOUT);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, addr) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Usually EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(slot) = limit.admit(addr.ip()) else {
                    if log_limit.allow("connection limit") {
                        tracing::warn!(peer = %addr, max, "refused a connection: too many open (in all, or from this address)");
                    }
                    if acceptor.is_none() {
                        if let Ok(permit) = refusals.clone().try_acquire_owned() {
                            tokio::spawn(refuse(stream, permit));
                        }
                    }
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let svc = warp::service(routes.filter.clone());
                let direct = routes.action.clone();
                let hosts = hosts.clone();
                let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                    // The action endpoints' exact routes skip warp's filter tree: it is the hot
                    // path, and warp's layers (a copy of the header map, nested filter futures,
                    // a future boxed per request) cost it 5-10 % of its CPU in the load
                    // benchmark. Any other spelling of the route (a trailing slash) still
                    // reaches the same `action_call` through warp.
                    let endpoint = direct.as_ref().and_then(|app| Some((app, action_route(&req)?)));
                    if let Some((app, endpoint)) = endpoint {
                        let app = app.clone();
                        return Either::Left(async move {
                            let (parts, body) = req.into_parts();
                            let body = http_body_util::BodyExt::into_data_stream(body);
                            let mut r = super::action_call(app, endpoint, &parts.headers, Some(PeerAddr(addr)), body).await;
                            front::decorate(&mut r, false, tls);
                            Ok(r)
                        });
                    }
                    let admin = front::is_admin_path(req.uri().path());
                    let allowed = !admin || hosts.allows(front::request_host(&req).unwrap_or(""));
                    req.extensions_mut().insert(PeerAddr(addr));
                    let mut svc = svc.clone();
                    Either::Right(async move {
                        let mut r = if allowed { svc.call(req).await? } else { front::wrong_host() };
                        front::decorate(&mut r, admin, tls);
                        Ok::<_, std::convert::Infallible>(r)
                    })
                });
                let Some(acceptor) = acceptor.clone() else {
                    let conn = h1.serve_connection(TokioIo::new(stream), svc).into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        let _slot = slot;
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    });
                    continue;
                };
                let (h1, h2) = (h1.clone(), h2.clone());
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _slot = slot;
                    // The handshake gets the same budget as request headers: a client that
                    // connects and says nothing must not hold a task forever.
                    let tls = match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %addr, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(peer = %addr, "TLS handshake timed out");
                            return;
                        }
                    };
                    let is_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    let builder = if is_h2 { &h2 } else { &h1 };
                    let conn = builder.serve_connection(TokioIo::new(tls), svc).into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("connections still open after {:?}; closing them", SHUTDOWN_GRACE);
        }
    }
}
