//! The LDAP / Active Directory source: many companies keep their departments only in the
//! directory, as OUs or as an attribute of the people in it. A simple bind with a service
//! account, one subtree search asking for one attribute, paged so that a server's size limit
//! (Active Directory's MaxPageSize, OpenLDAP's `sizelimit`) cannot cut the list short, and TLS
//! (LDAPS or StartTLS) that trusts the same roots as every other outbound client. A list that
//! came back incomplete is refused, never applied: a sync applies whole or not at all.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use serde::{Deserialize, Serialize};

use super::http::SourceError;
use super::parse::MAX_NAMES;
use crate::outbound::{self, FetchError};
use crate::policy::normalize_department;

/// Defaults, and the bounds `check` holds a source to.
pub const DEFAULT_LDAP_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_PAGE_SIZE: u32 = 500;
pub const MAX_PAGE_SIZE: u32 = 5000;
const MIN_TIMEOUT_MS: u64 = 100;
const MAX_TIMEOUT_MS: u64 = 60_000;
const MAX_DN: usize = 1024;
const MAX_FILTER: usize = 1024;
const MAX_ATTRIBUTE: usize = 128;

/// An LDAP(S) source of one organization's department list: every value of `attribute` in the
/// entries under `base_dn` that match `filter`. The password never appears in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdapSource {
    /// `ldaps://host[:port]`, or `ldap://host[:port]` with StartTLS (clear only on loopback).
    pub url: String,
    /// The service account's DN (Active Directory also takes `user@domain` here).
    pub bind_dn: String,
    pub password: String,
    pub base_dn: String,
    /// Say `(objectClass=organizationalUnit)` or `(objectClass=user)`.
    pub filter: String,
    /// The attribute whose values are the department names, say `ou` or `department`.
    pub attribute: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    #[serde(default)]
    pub starttls: bool,
    /// A private CA (PEM) to trust besides the system's.
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
    /// The whole exchange (connect, TLS, bind, every page) must end within this.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Entries per page; keep it at or below the server's size limit.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

fn default_timeout() -> u64 {
    DEFAULT_LDAP_TIMEOUT_MS
}
fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

impl std::fmt::Debug for LdapSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapSource")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("password", &"********")
            .field("base_dn", &self.base_dn)
            .field("filter", &self.filter)
            .field("attribute", &self.attribute)
            .field("starttls", &self.starttls)
            .field("tls_ca_pem", &self.tls_ca_pem.as_ref().map(|_| "(set)"))
            .field("timeout_ms", &self.timeout_ms)
            .field("page_size", &self.page_size)
            .finish()
    }
}

/// Checks a source's settings without touching the network; the reason names the setting.
/// Refuses a clear-text bind off loopback: the service account's password would cross the
/// network readable.
pub fn check(src: &LdapSource) -> Result<(), String> {
    let (tls, host) = check_url(&src.url)?;
    match (tls, src.starttls) {
        (true, true) => {
            return Err(
                "ldaps:// already speaks TLS: StartTLS on it is contradictory; use one".into(),
            )
        }
        (false, false) if !is_loopback(&host) => {
            return Err(
                "ldap:// without StartTLS would send the password in clear: use ldaps:// or \
                 StartTLS (never a clear bind off loopback)"
                    .into(),
            )
        }
        _ => {}
    }
    check_text("the bind DN", &src.bind_dn, MAX_DN)?;
    check_text("the base DN", &src.base_dn, MAX_DN)?;
    if src.password.is_empty() {
        return Err("the password is empty: an empty simple bind is an unauthenticated one".into());
    }
    check_text("the filter", &src.filter, MAX_FILTER)?;
    if !(src.filter.starts_with('(') && src.filter.ends_with(')')) {
        return Err(
            "the filter must be in parentheses, say (objectClass=organizationalUnit)".into(),
        );
    }
    check_attribute(&src.attribute)?;
    if !(1..=MAX_PAGE_SIZE).contains(&src.page_size) {
        return Err(format!("the page size must be 1 to {MAX_PAGE_SIZE}"));
    }
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&src.timeout_ms) {
        return Err(format!(
            "the time limit must be {MIN_TIMEOUT_MS} to {MAX_TIMEOUT_MS} ms"
        ));
    }
    Ok(())
}

/// `ldaps://host[:port]` or `ldap://host[:port]`, nothing more (a path, query or user
/// would be silently ignored or mean something else to an LDAP URL). Returns (TLS, host).
fn check_url(url: &str) -> Result<(bool, String), String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("ldaps://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("ldap://") {
        (false, r)
    } else {
        return Err("the URL must start with ldaps:// or ldap://".into());
    };
    if rest.contains(['/', '?', '#', '@']) || rest.chars().any(|c| c.is_whitespace()) {
        return Err(
            "the URL takes only a host and an optional port, say ldaps://dc1.example.com:636"
                .into(),
        );
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or("the URL's IPv6 address has no closing ]")?;
        h.parse::<std::net::Ipv6Addr>()
            .map_err(|_| "the URL's host is not an IPv6 address")?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or("the URL has text after its host")?,
            ),
        };
        (h.to_string(), port)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (rest.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    if !rest.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err("the URL's host is not a host name or an IP address".into());
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err("the URL's port must be 1 to 65535".into()),
        }
    }
    Ok((tls, host))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_text(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if value.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{what} holds a control character"));
    }
    Ok(())
}

/// An attribute description as RFC 4512 spells it: a name (a letter, then letters, digits
/// and hyphens) or a numeric OID.
fn check_attribute(a: &str) -> Result<(), String> {
    if a.is_empty() || a.len() > MAX_ATTRIBUTE {
        return Err(format!(
            "the attribute must be 1 to {MAX_ATTRIBUTE} characters"
        ));
    }
    let name = a.starts_with(|c: char| c.is_ascii_alphabetic())
        && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = a.split('.').count() >= 2
        && a.split('.').all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'))
        });
    if name || oid {
        Ok(())
    } else {
        Err(
            "the attribute must be an LDAP attribute name (say ou or departmentNumber) or an OID"
                .into(),
        )
    }
}

/// Ends the connection's driver task however the exchange ends (a timeout drops the future
/// mid-way; the socket must not outlive it).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Fetches the source's list: every value of the attribute, normalized as the directory
/// stores names, deduplicated. Any error (including a search the server cut short) gives no
/// list at all. Error texts never hold the password.
pub async fn fetch(src: &LdapSource) -> Result<BTreeSet<String>, SourceError> {
    check(src).map_err(|e| SourceError::Ldap(format!("the source's settings: {e}")))?;
    let config = outbound::client_config(src.tls_ca_pem.as_deref(), None)?;
    let limit = Duration::from_millis(src.timeout_ms);
    // No separate connect timeout: the one limit below covers connect, TLS, bind and search.
    let settings = LdapConnSettings::new()
        .set_config(config)
        .set_starttls(src.starttls);
    match tokio::time::timeout(limit, exchange(src, settings)).await {
        Ok(r) => r,
        Err(_) => Err(SourceError::Fetch(FetchError::Timeout(src.timeout_ms))),
    }
}

async fn exchange(
    src: &LdapSource,
    settings: LdapConnSettings,
) -> Result<BTreeSet<String>, SourceError> {
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &src.url)
        .await
        .map_err(|e| SourceError::Ldap(connect_error(&e)))?;
    let _driver = AbortOnDrop(tokio::spawn(async move {
        if let Err(e) = conn.drive().await {
            tracing::debug!(error = %e, "LDAP connection ended");
        }
    }));

    let bound = ldap
        .simple_bind(&src.bind_dn, &src.password)
        .await
        .map_err(|e| SourceError::Ldap(format!("the bind failed: {}", describe(&e))))?;
    if bound.rc != 0 {
        let hint = if bound.rc == 49 {
            ": wrong bind DN or password"
        } else {
            ""
        };
        return Err(SourceError::Ldap(format!(
            "the bind was refused (LDAP result {}){hint}",
            bound.rc
        )));
    }

    let page = i32::try_from(src.page_size).unwrap_or(DEFAULT_PAGE_SIZE as i32);
    let adapters: Vec<Box<dyn Adapter<&str, Vec<&str>>>> = vec![
        // Referrals (Active Directory's DomainDnsZones, say) are not entries: not followed.
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(page)),
    ];
    let search_error =
        |e: LdapError| SourceError::Ldap(format!("the search failed: {}", describe(&e)));
    let mut search = ldap
        .streaming_search_with(
            adapters,
            &src.base_dn,
            Scope::Subtree,
            &src.filter,
            vec![src.attribute.as_str()],
        )
        .await
        .map_err(search_error)?;
    let mut names = BTreeSet::new();
    let mut position = 0usize;
    while let Some(entry) = search.next().await.map_err(search_error)? {
        position += 1;
        let entry = SearchEntry::construct(entry);
        let at = |problem: &str| SourceError::Ldap(format!("entry {position}: {problem}"));
        // The server spells the attribute as its schema does (`departmentNumber` for a
        // request of `departmentnumber`): match it regardless of case.
        if entry
            .bin_attrs
            .keys()
            .any(|k| k.eq_ignore_ascii_case(&src.attribute))
        {
            return Err(at("a value is not UTF-8 text"));
        }
        for (key, values) in &entry.attrs {
            if !key.eq_ignore_ascii_case(&src.attribute) {
                continue;
            }
            for v in values {
                let name = normalize_department(v).map_err(|e| at(&e.to_string()))?;
                names.insert(name);
                if names.len() > MAX_NAMES {
                    return Err(SourceError::Ldap(format!("more than {MAX_NAMES} names")));
                }
            }
        }
    }
    let done = search.finish().await;
    if done.rc != 0 {
        let why = match done.rc {
            4 => ": the server's size limit cut the list short; lower the page size",
            10 => ": the base DN is on another server (a referral)",
            32 => ": the base DN does not exist",
            _ => "",
        };
        return Err(SourceError::Ldap(format!(
            "the search ended with LDAP result {}{why}",
            done.rc
        )));
    }
    // Only politeness: the list is complete whatever the unbind says.
    let _ = ldap.unbind().await;
    Ok(names)
}

/// A connect-time error, told apart as TLS (an untrusted or mismatched certificate) or not.
fn connect_error(e: &LdapError) -> String {
    let text = describe(e);
    if is_tls(e) {
        format!("the TLS handshake failed: {text}")
    } else {
        format!("could not connect: {text}")
    }
}

fn is_tls(e: &LdapError) -> bool {
    match e {
        LdapError::Rustls { .. } | LdapError::DNSName { .. } => true,
        LdapError::Io { source } => source
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    }
}

fn describe(e: &LdapError) -> String {
    match e {
        LdapError::LdapResult { result } => format!("LDAP result {}", result.rc),
        // tokio-rustls wraps a handshake's error in an I/O one: name the TLS problem itself.
        LdapError::Io { source } => match source
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => tls.to_string(),
            None => source.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> LdapSource {
        LdapSource {
            url: "ldaps://dc1.example.com:636".into(),
            bind_dn: "cn=svc,dc=example,dc=com".into(),
            password: "hunter2-secret".into(),
            base_dn: "ou=departments,dc=example,dc=com".into(),
            filter: "(objectClass=organizationalUnit)".into(),
            attribute: "ou".into(),
            starttls: false,
            tls_ca_pem: None,
            timeout_ms: DEFAULT_LDAP_TIMEOUT_MS,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    #[test]
    fn a_good_source_passes_and_reads_with_defaults() {
        assert_eq!(check(&good()), Ok(()));
        let s: LdapSource = serde_json::from_str(
            r#"{"url": "ldaps://dc1.example.com", "bind_dn": "cn=svc,dc=example,dc=com",
                "password": "pw", "base_dn": "dc=example,dc=com",
                "filter": "(objectClass=user)", "attribute": "department"}"#,
        )
        .unwrap();
        assert_eq!(
            (s.starttls, s.timeout_ms, s.page_size, s.tls_ca_pem.clone()),
            (false, 10_000, 500, None)
        );
        assert_eq!(check(&s), Ok(()));
    }

    #[test]
    fn the_password_stays_out_of_debug() {
        let text = format!("{:?}", good());
        assert!(!text.contains("secret"), "{text}");
        assert!(
            text.contains("********") && text.contains("cn=svc"),
            "{text}"
        );
    }

    #[test]
    fn urls_and_transport() {
        let with = |url: &str, starttls: bool| {
            check(&LdapSource {
                url: url.into(),
                starttls,
                ..good()
            })
        };
        for (url, starttls) in [
            ("ldaps://dc1.example.com", false),
            ("ldaps://10.0.0.5:3269", false),
            ("ldap://dc1.example.com:389", true),
            ("ldap://127.0.0.1:3890", false),
            ("ldap://127.8.9.10", false),
            ("ldap://localhost:389", false),
            ("ldap://[::1]:389", false),
            ("ldaps://[2001:db8::1]:636", false),
        ] {
            assert_eq!(with(url, starttls), Ok(()), "{url}");
        }
        for (url, starttls, want) in [
            ("https://dc1.example.com", false, "must start with"),
            ("LDAPS://dc1.example.com", false, "must start with"),
            ("ldapi:///var/run/slapd", false, "must start with"),
            ("ldaps://", false, "no host"),
            ("ldaps://:636", false, "no host"),
            ("ldaps://dc1/dc=example,dc=com", false, "only a host"),
            ("ldaps://dc1?ou", false, "only a host"),
            ("ldaps://svc@dc1", false, "only a host"),
            ("ldaps://dc1:0", false, "port"),
            ("ldaps://dc1:70000", false, "port"),
            ("ldaps://dc1:+636", false, "port"),
            ("ldaps://dc_1", false, "not a host name"),
            ("ldaps://[::1", false, "closing"),
            ("ldaps://[::1]x", false, "after its host"),
            (
                "ldap://dc1.example.com",
                false,
                "never a clear bind off loopback",
            ),
            ("ldap://10.0.0.5", false, "never a clear bind off loopback"),
            ("ldaps://dc1.example.com", true, "contradictory"),
        ] {
            let e = with(url, starttls).unwrap_err();
            assert!(e.contains(want), "{url}: {e}");
        }
    }

    #[test]
    fn dns_filter_attribute_and_limits() {
        let long = "x".repeat(1025);
        let cases: Vec<(LdapSource, &str)> = vec![
            (
                LdapSource {
                    bind_dn: " ".into(),
                    ..good()
                },
                "bind DN is empty",
            ),
            (
                LdapSource {
                    bind_dn: long.clone(),
                    ..good()
                },
                "bind DN is longer",
            ),
            (
                LdapSource {
                    base_dn: String::new(),
                    ..good()
                },
                "base DN is empty",
            ),
            (
                LdapSource {
                    base_dn: long.clone(),
                    ..good()
                },
                "base DN is longer",
            ),
            (
                LdapSource {
                    base_dn: "dc=a\ndc=b".into(),
                    ..good()
                },
                "control",
            ),
            (
                LdapSource {
                    password: String::new(),
                    ..good()
                },
                "unauthenticated",
            ),
            (
                LdapSource {
                    filter: "objectClass=user".into(),
                    ..good()
                },
                "parentheses",
            ),
            (
                LdapSource {
                    filter: "(objectClass=user".into(),
                    ..good()
                },
                "parentheses",
            ),
            (
                LdapSource {
                    filter: format!("({long})"),
                    ..good()
                },
                "filter is longer",
            ),
            (
                LdapSource {
                    attribute: String::new(),
                    ..good()
                },
                "attribute",
            ),
            (
                LdapSource {
                    attribute: "1ou".into(),
                    ..good()
                },
                "attribute",
            ),
            (
                LdapSource {
                    attribute: "ou;lang-en".into(),
                    ..good()
                },
                "attribute",
            ),
            (
                LdapSource {
                    attribute: "dept name".into(),
                    ..good()
                },
                "attribute",
            ),
            (
                LdapSource {
                    attribute: "2.5..11".into(),
                    ..good()
                },
                "attribute",
            ),
            (
                LdapSource {
                    attribute: "a".repeat(129),
                    ..good()
                },
                "attribute",
            ),
            (
                LdapSource {
                    page_size: 0,
                    ..good()
                },
                "page size",
            ),
            (
                LdapSource {
                    page_size: 5001,
                    ..good()
                },
                "page size",
            ),
            (
                LdapSource {
                    timeout_ms: 99,
                    ..good()
                },
                "time limit",
            ),
            (
                LdapSource {
                    timeout_ms: 60_001,
                    ..good()
                },
                "time limit",
            ),
        ];
        for (src, want) in cases {
            let e = check(&src).unwrap_err();
            assert!(e.contains(want), "{src:?}: {e}");
        }
        for attribute in ["ou", "departmentNumber", "msDS-Dept", "2.5.4.11", "a"] {
            let src = LdapSource {
                attribute: attribute.into(),
                ..good()
            };
            assert_eq!(check(&src), Ok(()), "{attribute}");
        }
        let edges = LdapSource {
            page_size: 5000,
            timeout_ms: 100,
            bind_dn: "x".repeat(1024),
            ..good()
        };
        assert_eq!(check(&edges), Ok(()));
    }
}
