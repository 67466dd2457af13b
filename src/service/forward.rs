//! SIEM forwarding of the audit records: switching a target on or off, and where each stands.
//! The CLI and the control socket only parse and render; the sending is `crate::forward`.

use serde::Serialize;

use super::{Ctx, ServiceError};
use crate::forward::{Stats, Target};
use crate::model::{HttpTarget, SyslogTarget};
use crate::store::forward_cursors::ForwardCursor;
use crate::store::Store;

/// Longest URL accepted.
const MAX_URL: usize = 2048;

/// Where forwarding starts when a target is switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After the records already in the chain (the default: a SIEM gets what happens from now).
    Head,
    /// From the first record still in the live database (archived ones are in the archive
    /// files).
    FromStart,
}

/// Checks a PEM CA: it must hold a certificate rustls accepts.
fn check_ca(ca: Option<&str>) -> Result<(), ServiceError> {
    if let Some(pem) = ca {
        crate::outbound::tls_connector(Some(pem))
            .map_err(|e| ServiceError::invalid("tls_ca", e.to_string()))?;
    }
    Ok(())
}

/// Whether `host` names this machine (an address or `localhost`).
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_matches(['[', ']']);
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a syslog target; each refusal names its field.
pub fn check_syslog(t: &SyslogTarget) -> Result<(), ServiceError> {
    let host = t.host.trim();
    if host.is_empty() || host.len() > 253 || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(ServiceError::invalid(
            "host",
            "give the collector's host name or address",
        ));
    }
    if t.port == 0 {
        return Err(ServiceError::invalid("port", "the port must be 1 to 65535"));
    }
    if t.tls_ca_pem.is_some() && !t.tls {
        return Err(ServiceError::invalid(
            "tls_ca",
            "a CA is only used with --tls",
        ));
    }
    check_ca(t.tls_ca_pem.as_deref())
}

/// Checks an HTTP target; each refusal names its field.
pub fn check_http(t: &HttpTarget) -> Result<(), ServiceError> {
    let uri =
        crate::outbound::check_url(&t.url, MAX_URL).map_err(|m| ServiceError::invalid("url", m))?;
    if uri.scheme_str() == Some("http") && !uri.host().is_some_and(is_loopback) {
        return Err(ServiceError::invalid(
            "url",
            "the URL must start with https:// (http:// only to a loopback host)",
        ));
    }
    if let Some(tok) = &t.token {
        if tok.is_empty() || tok.len() > 4096 || tok.chars().any(|c| c.is_control()) {
            return Err(ServiceError::invalid(
                "token",
                "the token must be one line of at most 4096 characters",
            ));
        }
    }
    if t.tls_ca_pem.is_some() && uri.scheme_str() != Some("https") {
        return Err(ServiceError::invalid(
            "tls_ca",
            "a CA is only used with https://",
        ));
    }
    check_ca(t.tls_ca_pem.as_deref())
}

/// Places the target's cursor before it is switched on: kept when it has one (a target being
/// changed resumes), else at the chain's head or at the start.
fn place_cursor(store: &Store, target: Target, start: Start) -> Result<u64, ServiceError> {
    let existing = store.forward_cursor(target.name())?;
    let at = match (start, existing) {
        // The first record still live: archived ones are in the archive files.
        (Start::FromStart, _) => store.archive_base()?.map_or(0, |b| b.seq),
        (Start::Head, Some(c)) => return Ok(c.seq),
        (Start::Head, None) => store.chain_head().seq,
    };
    store.set_forward_cursor(
        target.name(),
        &ForwardCursor {
            seq: at,
            started_after: at,
            ..ForwardCursor::default()
        },
    )?;
    Ok(at)
}

/// Switches syslog forwarding on (or changes it); returns the record it starts after.
pub async fn set_syslog(
    ctx: Ctx<'_>,
    mut t: SyslogTarget,
    start: Start,
) -> Result<u64, ServiceError> {
    t.host = t.host.trim().to_string();
    check_syslog(&t)?;
    let at = place_cursor(ctx.store, Target::Syslog, start)?;
    ctx.store
        .update_settings(ctx.actor, "audit.forward.syslog", |s| {
            s.audit_forward.syslog = Some(t.clone());
        })?;
    ctx.durable().await?;
    Ok(at)
}

/// Switches HTTP forwarding on (or changes it); returns the record it starts after.
pub async fn set_http(ctx: Ctx<'_>, mut t: HttpTarget, start: Start) -> Result<u64, ServiceError> {
    t.url = t.url.trim().to_string();
    check_http(&t)?;
    let at = place_cursor(ctx.store, Target::Http, start)?;
    ctx.store
        .update_settings(ctx.actor, "audit.forward.http", |s| {
            s.audit_forward.http = Some(t.clone());
        })?;
    ctx.durable().await?;
    Ok(at)
}

/// Switches forwarding off, to one target or (`None`) to both; forgets their cursors, so
/// switching on again starts at the head then. Returns the targets that were on.
pub async fn remove(ctx: Ctx<'_>, which: Option<Target>) -> Result<Vec<Target>, ServiceError> {
    let settings = ctx.store.settings();
    let targets: Vec<Target> = Target::ALL
        .into_iter()
        .filter(|t| which.is_none_or(|w| w == *t))
        .filter(|t| t.destination(&settings).is_some())
        .collect();
    if targets.is_empty() {
        return Err(ServiceError::invalid(
            "target",
            match which {
                Some(t) => format!("forwarding to {} is not on", t.name()),
                None => "forwarding is not on".into(),
            },
        ));
    }
    ctx.store
        .update_settings(ctx.actor, "audit.forward.off", |s| {
            for t in &targets {
                match t {
                    Target::Syslog => s.audit_forward.syslog = None,
                    Target::Http => s.audit_forward.http = None,
                }
            }
        })?;
    for t in &targets {
        ctx.store.remove_forward_cursor(t.name())?;
    }
    ctx.durable().await?;
    Ok(targets)
}

/// A change to forwarding, as the CLI and the control socket carry it.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Syslog {
        target: SyslogTarget,
        from_start: bool,
    },
    Http {
        target: HttpTarget,
        from_start: bool,
    },
    /// `None`: both targets.
    Off { target: Option<String> },
}

/// What a change did.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// Switched on (or changed): where to, and the record it starts after.
    Started { destination: String, after: u64 },
    /// The targets switched off.
    Off { targets: Vec<String> },
}

/// Carries out a change (offline, or in the server for its control socket).
pub async fn apply(ctx: Ctx<'_>, req: Request) -> Result<Applied, ServiceError> {
    let start = |from_start: bool| {
        if from_start {
            Start::FromStart
        } else {
            Start::Head
        }
    };
    match req {
        Request::Syslog { target, from_start } => {
            let destination = format!("syslog at {}:{}", target.host.trim(), target.port);
            let after = set_syslog(ctx, target, start(from_start)).await?;
            Ok(Applied::Started { destination, after })
        }
        Request::Http { target, from_start } => {
            let destination = target.url.trim().to_string();
            let after = set_http(ctx, target, start(from_start)).await?;
            Ok(Applied::Started { destination, after })
        }
        Request::Off { target } => {
            let which = match target.as_deref() {
                None => None,
                Some("syslog") => Some(Target::Syslog),
                Some("http") => Some(Target::Http),
                Some(other) => {
                    return Err(ServiceError::invalid(
                        "target",
                        format!("{other:?} is not a target: syslog or http"),
                    ))
                }
            };
            let off = remove(ctx, which).await?;
            Ok(Applied::Off {
                targets: off.iter().map(|t| t.name().to_string()).collect(),
            })
        }
    }
}

/// Where one target stands.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub target: &'static str,
    pub destination: String,
    /// The last record the collector accepted.
    pub cursor: u64,
    /// Forwarding began after this record (older ones were not sent).
    pub started_after: u64,
    /// The last record on disk.
    pub durable_head: u64,
    /// Records on disk not yet accepted: `durable_head - cursor`.
    pub backlog: u64,
    /// Age of the oldest record not yet accepted (0 with no backlog).
    pub lag_seconds: u64,
    /// Since the server started (absent when asked without a server).
    pub sent: Option<u64>,
    pub failures: Option<u64>,
    pub last_error: Option<String>,
}

/// Every target that is switched on, with its counters when `stats` (a running server) has
/// them.
pub fn status(store: &Store, stats: Option<&Stats>) -> Result<Vec<TargetStatus>, ServiceError> {
    let settings = store.settings();
    let durable = store.durable_seq();
    let mut out = Vec::new();
    for target in Target::ALL {
        let Some(destination) = target.destination(&settings) else {
            continue;
        };
        let cursor = store
            .forward_cursor(target.name())?
            .unwrap_or(ForwardCursor {
                seq: durable,
                started_after: durable,
                ..ForwardCursor::default()
            });
        let backlog = durable.saturating_sub(cursor.seq);
        let lag_seconds = if backlog == 0 {
            0
        } else {
            store
                .audit_record(cursor.seq + 1)?
                .and_then(|r| {
                    time::OffsetDateTime::parse(
                        &r.time,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .ok()
                })
                .map_or(0, |t| {
                    let age = time::OffsetDateTime::now_utc() - t;
                    u64::try_from(age.whole_seconds()).unwrap_or(0)
                })
        };
        let counters = stats.map(|s| s.of(target));
        out.push(TargetStatus {
            target: target.name(),
            destination,
            cursor: cursor.seq,
            started_after: cursor.started_after,
            durable_head: durable,
            backlog,
            lag_seconds,
            sent: counters.map(|c| c.sent.load(std::sync::atomic::Ordering::Relaxed)),
            failures: counters.map(|c| c.failures.load(std::sync::atomic::Ordering::Relaxed)),
            last_error: cursor.last_error,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> HttpTarget {
        HttpTarget {
            url: url.into(),
            token: None,
            tls_ca_pem: None,
        }
    }

    fn field(e: ServiceError) -> &'static str {
        match e {
            ServiceError::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn http_targets_need_https_unless_loopback() {
        assert!(check_http(&http("https://siem.example/hec")).is_ok());
        assert!(check_http(&http("http://127.0.0.1:8088/in")).is_ok());
        assert!(check_http(&http("http://[::1]:8088/in")).is_ok());
        assert!(check_http(&http("http://localhost/in")).is_ok());
        assert_eq!(
            field(check_http(&http("http://siem.example/")).unwrap_err()),
            "url"
        );
        assert_eq!(field(check_http(&http("ftp://x/")).unwrap_err()), "url");
        let mut t = http("https://siem.example/");
        t.token = Some("a\nb".into());
        assert_eq!(field(check_http(&t).unwrap_err()), "token");
        let mut t = http("https://siem.example/");
        t.tls_ca_pem = Some("not a pem".into());
        assert_eq!(field(check_http(&t).unwrap_err()), "tls_ca");
    }

    #[test]
    fn syslog_targets_name_the_field_they_fail_on() {
        let ok = SyslogTarget {
            host: "siem.example".into(),
            port: 6514,
            tls: true,
            tls_ca_pem: None,
        };
        assert!(check_syslog(&ok).is_ok());
        let mut t = ok.clone();
        t.host = " ".into();
        assert_eq!(field(check_syslog(&t).unwrap_err()), "host");
        let mut t = ok.clone();
        t.port = 0;
        assert_eq!(field(check_syslog(&t).unwrap_err()), "port");
        let mut t = ok;
        t.tls = false;
        t.tls_ca_pem = Some("x".into());
        assert_eq!(field(check_syslog(&t).unwrap_err()), "tls_ca");
    }
}
