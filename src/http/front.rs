//! What every connection and request meets before routing: a cap on open connections (in all
//! and per client address), the host names the admin side answers to, and the headers every
//! admin response carries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use warp::http::{header, HeaderValue, Response, StatusCode};

/// How a listener treats connections and requests before routing.
#[derive(Clone, Default)]
pub struct Front {
    /// Serve HTTPS with this configuration (see `http::tls`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Open connections allowed at once (0: [`DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// Host names the admin side answers to.
    pub admin_hosts: Arc<AdminHosts>,
}

/// Open connections a listener allows by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// `Strict-Transport-Security` under TLS: a year, this host only (the admin may serve other
/// names on plain HTTP elsewhere).
const HSTS: &str = "max-age=31536000";

/// Host names the admin UI and API answer to. A browser tricked by DNS rebinding sends the
/// attacker's name in `Host`, so any other name is refused. IP literals are always accepted
/// (rebinding needs a name), and so is `localhost`; other names must be configured
/// (`--admin-host`, `admin_hosts` in the configuration file).
#[derive(Debug, Clone, Default)]
pub struct AdminHosts {
    names: Vec<String>,
}

impl AdminHosts {
    /// `localhost` and the configured names.
    pub fn new(configured: &[String]) -> Self {
        let mut names: Vec<String> = configured
            .iter()
            .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        names.push("localhost".into());
        names.sort();
        names.dedup();
        AdminHosts { names }
    }

    /// Whether a request's host (`Host` header or HTTP/2 authority, port allowed) is one of ours.
    pub fn allows(&self, host: &str) -> bool {
        let name = host_name(host);
        if name.is_empty() {
            return false;
        }
        if name.parse::<IpAddr>().is_ok() {
            return true;
        }
        let name = name.trim_end_matches('.');
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The name part of `host[:port]` or `[v6]:port`.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Whether a path belongs to the admin side.
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// The host a request names: the HTTP/2 authority, else the `Host` header.
pub fn request_host<B>(req: &warp::http::Request<B>) -> Option<&str> {
    req.uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers().get(header::HOST)?.to_str().ok())
}

/// The answer to an admin request for a host name we do not serve.
pub fn wrong_host() -> warp::reply::Response {
    use warp::Reply;
    let body = serde_json::json!({
        "error": "this server does not answer to the host name in this request; if it is the appliance's own name, add it with --admin-host NAME (admin_hosts in the configuration file)",
        "field": null,
    });
    let mut r = Response::new(body.to_string()).into_response();
    *r.status_mut() = StatusCode::MISDIRECTED_REQUEST;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The policy for admin answers that are not UI files (those carry the UI's own, see
/// `admin::ui`): nothing may load, frame or run from a JSON answer.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds the headers every admin response carries (the UI files already carry their own CSP),
/// and HSTS under TLS.
pub fn decorate<B>(resp: &mut Response<B>, admin: bool, tls: bool) {
    let h = resp.headers_mut();
    if admin {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(API_CSP));
    }
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
}

/// Counts open connections of one listener, in all and per address. No single address may hold
/// more than half, so one noisy client cannot take every slot from the identity server.
#[derive(Debug)]
pub struct ConnLimit {
    max: usize,
    per_addr: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; frees its slot when dropped.
#[derive(Debug)]
pub struct ConnSlot {
    limit: Arc<ConnLimit>,
    ip: IpAddr,
}

impl ConnLimit {
    pub fn new(max: usize) -> Arc<Self> {
        let max = max.max(1);
        Arc::new(ConnLimit {
            max,
            per_addr: max.div_ceil(2),
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A slot for a connection from `ip`, or `None` when the listener or the address is full.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnSlot> {
        let mut open = self.open.lock();
        let (total, by_addr) = &mut *open;
        let mine = by_addr.get(&ip).copied().unwrap_or(0);
        if *total >= self.max || mine >= self.per_addr {
            return None;
        }
        *total += 1;
        by_addr.insert(ip, mine + 1);
        Some(ConnSlot {
            limit: self.clone(),
            ip,
        })
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock();
        let (total, by_addr) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(n) = by_addr.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_addr.remove(&self.ip);
            }
        }
    }
}

/// What a refused plain-HTTP connection is sent before it is closed: a contract-valid ERROR
/// (the identity server shows it as a failure rather than a hung request).
pub const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 94\r\n\r\n{\"actionStatus\":\"ERROR\",\"errorMessage\":\"Too many connections\",\"errorDescription\":\"Try again.\"}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_hosts() {
        let h = AdminHosts::new(&["Pg.Example.com".into()]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8443",
            "10.1.2.3",
            "pg.example.com",
            "PG.example.com.:443",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "",
            "localhost.evil",
            "[",
            "pg.example.com.evil",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
    }

    #[test]
    fn connection_slots() {
        let l = ConnLimit::new(4);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let s1 = l.admit(a).unwrap();
        let _s2 = l.admit(a).unwrap();
        assert!(l.admit(a).is_none(), "half per address");
        let _s3 = l.admit(b).unwrap();
        let _s4 = l.admit(b).unwrap();
        assert!(l.admit(b).is_none());
        drop(s1);
        assert!(l.admit(a).is_some());
        let body = BUSY_RESPONSE.split(|&c| c == b'\n').next_back().unwrap();
        let text = String::from_utf8_lossy(BUSY_RESPONSE);
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
    }
}
