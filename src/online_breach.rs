//! The optional online breached-password check: a k-anonymity range API in the Pwned
//! Passwords shape. Only the first 5 hex digits of the password's SHA-1 leave the machine;
//! the source answers every suffix with that prefix (`SUFFIX:COUNT` lines), padded with
//! fake zero-count entries (`Add-Padding: true`) so the answer's size says nothing either.
//!
//! The whole lookup (connect, TLS, request, body) is bounded by the configured timeout
//! (at most 1 s, well inside the caller's 5 s) and the body by [`MAX_BODY`]; a source
//! that is slow, down or answers nonsense is `Unknown`, and the caller decides whether
//! that fails open (the default, with an audit note) or closed.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::model::password::{OnlineBreachCheck, MAX_ONLINE_TIMEOUT_MS, MIN_ONLINE_TIMEOUT_MS};
use crate::outbound::{self, FetchError, Get};
use crate::policy::password::BreachAnswer;

/// Largest range answer read: real ones are ~30-40 KiB (about 800-1,000 lines with padding).
pub const MAX_BODY: usize = 1 << 20;
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 512;

/// Why the source gave no answer (for the audit note and the log; never holds the hash).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LookupError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("answered a body that is not a range list: {0}")]
    Body(String),
}

/// Checks an admin-set range URL: absolute `http` or `https`, with a host, no query or
/// fragment (the prefix is appended to the path), at most [`MAX_URL_LEN`] bytes.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.trim().is_empty() {
        return Err("give the range URL (like https://range.example/range/)".into());
    }
    outbound::check_url(url, MAX_URL_LEN)?;
    if url.contains('?') {
        return Err("the URL takes no query: the hash prefix is appended to its path".into());
    }
    Ok(())
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
    Zeroizing::new(hex::encode_upper(&crate::breached::sha1(password)[..]))
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

/// The range API's client: TLS with the system's trusted roots, one connection per lookup (a
/// lookup only happens when every local rule passed, so they are rare).
pub struct RangeClient {
    tls: tokio_rustls::TlsConnector,
}

impl RangeClient {
    /// Loads the system's trusted roots (once per process: it reads a directory).
    pub fn new() -> Result<RangeClient, String> {
        Ok(RangeClient {
            tls: outbound::tls_connector(None).map_err(|e| e.to_string())?,
        })
    }

    /// Looks up one SHA-1 (40 hex digits) under the setting's URL and timeout.
    pub async fn lookup(&self, c: &OnlineBreachCheck, sha1: &str) -> Result<bool, LookupError> {
        if sha1.len() != 40 {
            return Err(LookupError::Body("not a SHA-1".into()));
        }
        let (prefix, suffix) = sha1.split_at(5);
        check_url(&c.url).map_err(FetchError::Url)?;
        let timeout = c
            .timeout_ms
            .clamp(MIN_ONLINE_TIMEOUT_MS, MAX_ONLINE_TIMEOUT_MS);
        let url = format!("{}{prefix}", c.url);
        let got = outbound::get(
            &self.tls,
            &Get {
                url: &url,
                headers: &[("Add-Padding", "true")],
                timeout: Duration::from_millis(timeout.into()),
                max_body: MAX_BODY,
            },
        )
        .await?;
        if got.status != 200 {
            return Err(FetchError::Status(got.status).into());
        }
        let text =
            std::str::from_utf8(&got.body).map_err(|_| LookupError::Body("not UTF-8".into()))?;
        listed(text, suffix)
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
        assert!(check_url("").is_err());
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
