//! The optional online breached-password check: a k-anonymity range API in the Pwned
//! Passwords shape. Only the first 5 hex digits of the password's SHA-1 leave the machine;
//! the source answers every suffix with that prefix (`SUFFIX:COUNT` lines), padded with
//! fake zero-count entries (`Add-Padding: true`) so the answer's size says nothing either.
//!
//! The whole lookup (connect, TLS, request, body) is bounded by the configured timeout
//! (at most 1 s, well inside the caller's 5 s) and the body by [`MAX_BODY`]; a source
//! that is slow, down or answers nonsense is `Unknown`, and the caller decides whether
//! that fails open (the default, with an audit note) or closed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Uri;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use crate::model::password::{OnlineBreachCheck, MAX_ONLINE_TIMEOUT_MS, MIN_ONLINE_TIMEOUT_MS};
use crate::policy::password::BreachAnswer;

/// Largest range answer read: real ones are ~30-40 KiB (about 800-1,000 lines with padding).
pub const MAX_BODY: usize = 1 << 20;
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 512;

/// Why the source gave no answer (for the audit note and the log; never holds the hash).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LookupError {
    #[error("timed out after {0} ms")]
    Timeout(u32),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answered a body that is not a range list: {0}")]
    Body(String),
    #[error("the URL is not usable: {0}")]
    Url(String),
}

/// Checks an admin-set range URL: absolute `http` or `https`, with a host, no query or
/// fragment (the prefix is appended to the path), at most [`MAX_URL_LEN`] bytes.
pub fn check_url(url: &str) -> Result<Uri, String> {
    if url.trim().is_empty() {
        return Err("give the range URL (like https://range.example/range/)".into());
    }
    if url.len() > MAX_URL_LEN {
        return Err(format!("a URL has at most {MAX_URL_LEN} characters"));
    }
    let uri: Uri = url
        .parse()
        .map_err(|_| "not a URL (like https://range.example/range/)".to_string())?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("the URL must start with https:// (or http:// for a local mirror)".into()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if url.contains('?') || url.contains('#') {
        return Err(
            "the URL takes no query or fragment: the hash prefix is appended to its path".into(),
        );
    }
    Ok(uri)
}

/// Checks the whole setting before it is stored (the URL only matters when enabled).
pub fn validate(c: &OnlineBreachCheck) -> Result<(), (&'static str, String)> {
    if !(MIN_ONLINE_TIMEOUT_MS..=MAX_ONLINE_TIMEOUT_MS).contains(&c.timeout_ms) {
        return Err((
            "timeout_ms",
            format!(
                "the timeout is {MIN_ONLINE_TIMEOUT_MS} to {MAX_ONLINE_TIMEOUT_MS} ms (the identity server waits 5 s in all)"
            ),
        ));
    }
    if c.enabled || !c.url.is_empty() {
        check_url(&c.url).map_err(|e| ("url", e))?;
    }
    Ok(())
}

/// The SHA-1 of a password as 40 upper-case hex digits (the range API's key), wiped on drop.
pub fn sha1_hex(password: &str) -> Zeroizing<String> {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        password.as_bytes(),
    );
    Zeroizing::new(hex::encode_upper(d.as_ref()))
}

/// Whether a range answer lists `suffix` (35 hex digits) with a count above zero. Padding
/// entries (count 0) are dropped; a line that is not `HEX35:COUNT` makes the body unusable
/// (a captive portal's page is not "not found").
pub fn listed(body: &str, suffix: &str) -> Result<bool, LookupError> {
    let mut found = false;
    let mut lines = 0usize;
    for (n, line) in body.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = || LookupError::Body(format!("line {} is not SUFFIX:COUNT", n + 1));
        let (s, count) = line.split_once(':').ok_or_else(bad)?;
        let count: u64 = count.trim().parse().map_err(|_| bad())?;
        if s.len() != 35 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        lines += 1;
        if count > 0 && s.eq_ignore_ascii_case(suffix) {
            found = true;
        }
    }
    if lines == 0 {
        return Err(LookupError::Body("no entries".into()));
    }
    Ok(found)
}

/// An HTTP(S) client for the range API: one connection per lookup (a lookup only happens
/// when every local rule passed, so they are rare), TLS with the system's trusted roots.
pub struct RangeClient {
    tls: tokio_rustls::TlsConnector,
}

impl RangeClient {
    /// Loads the system's trusted roots (once per process: it reads a directory).
    pub fn new() -> Result<RangeClient, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(RangeClient {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// Looks up one SHA-1 (40 hex digits) under the setting's URL and timeout.
    pub async fn lookup(&self, c: &OnlineBreachCheck, sha1: &str) -> Result<bool, LookupError> {
        let timeout = c
            .timeout_ms
            .clamp(MIN_ONLINE_TIMEOUT_MS, MAX_ONLINE_TIMEOUT_MS);
        match tokio::time::timeout(
            Duration::from_millis(timeout.into()),
            self.fetch(&c.url, sha1),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(LookupError::Timeout(timeout)),
        }
    }

    /// The answer for a password's SHA-1: `Found`, `NotFound`, or `Unknown` with the reason.
    pub async fn answer(
        &self,
        c: &OnlineBreachCheck,
        sha1: &str,
    ) -> (BreachAnswer, Option<LookupError>) {
        match self.lookup(c, sha1).await {
            Ok(true) => (BreachAnswer::Found, None),
            Ok(false) => (BreachAnswer::NotFound, None),
            Err(e) => (BreachAnswer::Unknown, Some(e)),
        }
    }

    async fn fetch(&self, base: &str, sha1: &str) -> Result<bool, LookupError> {
        if sha1.len() != 40 {
            return Err(LookupError::Body("not a SHA-1".into()));
        }
        let (prefix, suffix) = sha1.split_at(5);
        let base_uri = check_url(base).map_err(LookupError::Url)?;
        let url = format!("{base}{prefix}");
        let uri: Uri = url
            .parse()
            .map_err(|_| LookupError::Url("the URL with the prefix is not a URL".into()))?;
        let https = base_uri.scheme_str() == Some("https");
        let host = base_uri.host().unwrap_or_default().to_string();
        let port = base_uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| LookupError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let authority = match base_uri.port_u16() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        if https {
            let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']))
                .map_err(|e| LookupError::Url(e.to_string()))?
                .to_owned();
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| LookupError::Connect(format!("TLS: {e}")))?;
            get(tls, &authority, &path, suffix).await
        } else {
            get(tcp, &authority, &path, suffix).await
        }
    }
}

/// One GET over a fresh HTTP/1.1 connection; reads at most [`MAX_BODY`].
async fn get<S>(io: S, authority: &str, path: &str, suffix: &str) -> Result<bool, LookupError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| LookupError::Connect(e.to_string()))?;
    let driver = tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header("Add-Padding", "true")
        .header(hyper::header::USER_AGENT, "profilegate")
        .body(Empty::<Bytes>::new())
        .map_err(|e| LookupError::Url(e.to_string()))?;
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| LookupError::Connect(e.to_string()))?;
        if resp.status() != hyper::StatusCode::OK {
            return Err(LookupError::Status(resp.status().as_u16()));
        }
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| LookupError::Body(e.to_string()))?
            .to_bytes();
        let text = std::str::from_utf8(&body).map_err(|_| LookupError::Body("not UTF-8".into()))?;
        listed(text, suffix)
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_is_upper_hex_of_the_utf8_bytes() {
        // SHA-1("password"), the range API's documented example.
        assert_eq!(
            sha1_hex("password").as_str(),
            "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
        );
    }

    #[test]
    fn a_listed_suffix_is_found_and_padding_is_not() {
        let body = "1E4C9B93F3F0682250B6CF8331B7EE68FD8:3861493\r\n\
                    0018A45C4D1DEF81644B54AB7F969B88D65:0\r\n\
                    00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2\r\n";
        assert_eq!(
            listed(body, "1E4C9B93F3F0682250B6CF8331B7EE68FD8"),
            Ok(true)
        );
        assert_eq!(
            listed(body, "1e4c9b93f3f0682250b6cf8331b7ee68fd8"),
            Ok(true)
        );
        // A padding entry (count 0) with our suffix is not a hit.
        assert_eq!(
            listed(body, "0018A45C4D1DEF81644B54AB7F969B88D65"),
            Ok(false)
        );
        assert_eq!(
            listed(body, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"),
            Ok(false)
        );
    }

    #[test]
    fn a_body_that_is_not_a_range_list_is_unusable() {
        let s = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";
        for body in [
            "",
            "<html>login</html>",
            "1E4C9B93F3F0682250B6CF8331B7EE68FD8",
            "XYZ:1",
        ] {
            assert!(
                matches!(listed(body, s), Err(LookupError::Body(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://range.example/range/").is_ok());
        assert!(check_url("http://127.0.0.1:8080/range/").is_ok());
        for bad in [
            "",
            "range.example/range/",
            "ftp://range.example/",
            "https://range.example/range/?x=1",
            "file:///etc/passwd",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
        assert!(check_url(&format!("https://a.example/{}", "x".repeat(600))).is_err());
    }

    #[test]
    fn the_setting_is_validated() {
        let mut c = OnlineBreachCheck::default();
        assert_eq!(validate(&c), Ok(()));
        c.enabled = true;
        assert_eq!(validate(&c).map_err(|e| e.0), Err("url"));
        c.url = "https://range.example/range/".into();
        assert_eq!(validate(&c), Ok(()));
        c.timeout_ms = 5000;
        assert_eq!(validate(&c).map_err(|e| e.0), Err("timeout_ms"));
    }
}
