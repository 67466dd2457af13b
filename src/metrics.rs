//! Prometheus metrics (text format 0.0.4), names prefixed `profilegate_`. Counters are plain
//! atomics owned by the app (no global registry); gauges that the store already knows (audit
//! records, outbox depth, size on disk) are read when scraped.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Request latency buckets, seconds: the caller allows 5 s in all.
const LATENCY_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// SMTP send buckets, seconds.
const SMTP_BOUNDS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0];

/// A cumulative histogram with fixed buckets.
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, plus +Inf.
    counts: Vec<AtomicU64>,
    sum_us: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
        }
    }

    /// The histogram for SMTP sends.
    pub fn smtp() -> Self {
        Histogram::new(SMTP_BOUNDS)
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_us
            .fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(
            out,
            "{name}_sum{braces} {}",
            self.sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(LATENCY_BOUNDS)
    }
}

/// The action type label: the two this service handles, anything else, or a body that did
/// not parse.
#[derive(Debug, Clone, Copy)]
pub enum ActionKind {
    PreUpdateProfile = 0,
    Other = 1,
    Unparsed = 2,
    PreUpdatePassword = 3,
}
const KINDS: [&str; 4] = [
    "PRE_UPDATE_PROFILE",
    "other",
    "unparsed",
    "PRE_UPDATE_PASSWORD",
];
const OUTCOMES: [&str; 3] = ["SUCCESS", "FAILED", "ERROR"];
const AUTH_REASONS: [&str; 4] = ["missing", "invalid", "throttled", "not_configured"];

/// The service's counters.
#[derive(Default)]
pub struct Metrics {
    requests: [[AtomicU64; 3]; 4],
    latency: Histogram,
    auth_failures: [AtomicU64; 4],
    /// Readiness probes run against the store.
    pub readiness_probes: AtomicU64,
}

impl Metrics {
    /// Counts an answered action request.
    pub fn request(&self, kind: ActionKind, outcome: &str, took: Duration) {
        let o = OUTCOMES.iter().position(|x| *x == outcome).unwrap_or(2);
        self.requests[kind as usize][o].fetch_add(1, Relaxed);
        self.latency.observe(took);
    }

    /// Counts a refused caller.
    pub fn auth_failure(&self, e: &crate::auth::AuthError) {
        // An internal failure counts with `not_configured`: neither is the caller's doing.
        let i = AUTH_REASONS
            .iter()
            .position(|r| *r == e.label())
            .unwrap_or(3);
        self.auth_failures[i].fetch_add(1, Relaxed);
    }
}

/// Send counters and latency.
pub struct SendStats {
    pub latency: Histogram,
    pub sent: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
    /// Queued e-mails marked failed after their last attempt.
    pub gave_up: std::sync::atomic::AtomicU64,
}

impl Default for SendStats {
    fn default() -> Self {
        SendStats {
            latency: Histogram::smtp(),
            sent: Default::default(),
            failed: Default::default(),
            gave_up: Default::default(),
        }
    }
}

/// One synced department list, for a scrape.
pub struct SyncGauge {
    /// `""`: the root organization.
    pub org: String,
    pub last_success_unix: Option<u64>,
    pub age_secs: u64,
    pub failures: u32,
    pub held: bool,
}

/// One SIEM forwarding target, for a scrape.
pub struct ForwardGauge {
    /// `syslog` or `http`.
    pub target: &'static str,
    pub backlog: u64,
    pub lag_secs: u64,
    pub sent: u64,
    pub failures: u64,
}

/// What the store and the notifier contribute to a scrape.
pub struct Gauges {
    pub department_sync: Vec<SyncGauge>,
    /// The forwarding targets switched on.
    pub audit_forward: Vec<ForwardGauge>,
    pub audit_records: u64,
    pub outbox_depth: usize,
    pub data_bytes: u64,
    /// argon2 runs for admin passwords (login, setup, password change).
    pub admin_password_checks: u64,
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// One family with a single unlabelled sample.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Label values are quoted with `\\`, `"` and newlines escaped.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn sync_families(out: &mut String, syncs: &[SyncGauge]) {
    if syncs.is_empty() {
        return;
    }
    type Family = (&'static str, &'static str, fn(&SyncGauge) -> Option<u64>);
    let families: [Family; 4] = [
        (
            "profilegate_department_sync_last_success_timestamp_seconds",
            "When the department source last answered (Unix time); absent before the first success.",
            |s| s.last_success_unix,
        ),
        (
            "profilegate_department_sync_age_seconds",
            "Age of the stored department list's copy: seconds since its source last answered.",
            |s| Some(s.age_secs),
        ),
        (
            "profilegate_department_sync_failures",
            "Department sync attempts failed in a row.",
            |s| Some(u64::from(s.failures)),
        ),
        (
            "profilegate_department_sync_held",
            "1 when a department sync waits for an administrator's approval.",
            |s| Some(u64::from(s.held)),
        ),
    ];
    for (name, help, value) in families {
        header(out, name, "gauge", help);
        for s in syncs {
            if let Some(v) = value(s) {
                let _ = writeln!(out, "{name}{{org=\"{}\"}} {v}", label_value(&s.org));
            }
        }
    }
}

fn forward_families(out: &mut String, targets: &[ForwardGauge]) {
    if targets.is_empty() {
        return;
    }
    type Family = (
        &'static str,
        &'static str,
        &'static str,
        fn(&ForwardGauge) -> u64,
    );
    let families: [Family; 4] = [
        (
            "profilegate_audit_forward_backlog",
            "gauge",
            "Audit records on disk not yet accepted by the SIEM collector.",
            |f| f.backlog,
        ),
        (
            "profilegate_audit_forward_lag_seconds",
            "gauge",
            "Age of the oldest audit record not yet accepted by the SIEM collector (0: none).",
            |f| f.lag_secs,
        ),
        (
            "profilegate_audit_forward_sent_total",
            "counter",
            "Audit records the SIEM collector accepted since start.",
            |f| f.sent,
        ),
        (
            "profilegate_audit_forward_failures_total",
            "counter",
            "Failed sends to the SIEM collector since start (each retried).",
            |f| f.failures,
        ),
    ];
    for (name, kind, help, value) in families {
        header(out, name, kind, help);
        for f in targets {
            let _ = writeln!(out, "{name}{{target=\"{}\"}} {}", f.target, value(f));
        }
    }
}

/// The text exposition of everything.
pub fn render(m: &Metrics, mail: &SendStats, g: &Gauges) -> String {
    let mut out = String::with_capacity(4096);
    let n = "profilegate_action_requests_total";
    header(
        &mut out,
        n,
        "counter",
        "Action requests answered, by action type and outcome.",
    );
    for (k, kind) in KINDS.iter().enumerate() {
        for (o, outcome) in OUTCOMES.iter().enumerate() {
            let v = m.requests[k][o].load(Relaxed);
            let _ = writeln!(
                out,
                "{n}{{action_type=\"{kind}\",outcome=\"{outcome}\"}} {v}"
            );
        }
    }
    let n = "profilegate_action_request_duration_seconds";
    header(
        &mut out,
        n,
        "histogram",
        "Time from the request to the answer (audit record durable).",
    );
    m.latency.render(&mut out, n, "");
    let n = "profilegate_auth_failures_total";
    header(
        &mut out,
        n,
        "counter",
        "Action calls refused with 401, by reason.",
    );
    for (i, r) in AUTH_REASONS.iter().enumerate() {
        let _ = writeln!(
            out,
            "{n}{{reason=\"{r}\"}} {}",
            m.auth_failures[i].load(Relaxed)
        );
    }
    single(
        &mut out,
        "profilegate_audit_records",
        "gauge",
        "Records in the audit chain.",
        g.audit_records,
    );
    single(
        &mut out,
        "profilegate_outbox_depth",
        "gauge",
        "Queued e-mails not yet delivered (pending and failed).",
        g.outbox_depth,
    );
    single(
        &mut out,
        "profilegate_emails_sent_total",
        "counter",
        "E-mails the mail server accepted.",
        mail.sent.load(Relaxed),
    );
    single(
        &mut out,
        "profilegate_email_send_failures_total",
        "counter",
        "Send attempts that failed (blocking, queued or test).",
        mail.failed.load(Relaxed),
    );
    single(
        &mut out,
        "profilegate_outbox_items_failed_total",
        "counter",
        "Queued e-mails given up after the last attempt.",
        mail.gave_up.load(Relaxed),
    );
    let n = "profilegate_smtp_send_duration_seconds";
    header(
        &mut out,
        n,
        "histogram",
        "Time to hand one e-mail to the mail server.",
    );
    mail.latency.render(&mut out, n, "");
    sync_families(&mut out, &g.department_sync);
    forward_families(&mut out, &g.audit_forward);
    single(
        &mut out,
        "profilegate_data_size_bytes",
        "gauge",
        "Size of the data directory's database on disk.",
        g.data_bytes,
    );
    single(
        &mut out,
        "profilegate_admin_password_checks_total",
        "counter",
        "Admin password checks run (argon2), login, setup and password change together.",
        g.admin_password_checks,
    );
    single(
        &mut out,
        "profilegate_readiness_probes_total",
        "counter",
        "Readiness probes run against the store (/readyz reuses an answer for a second).",
        m.readiness_probes.load(Relaxed),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(9));
        let mut s = String::new();
        h.render(&mut s, "x", "");
        assert!(s.contains("x_bucket{le=\"0.0005\"} 1\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"0.005\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"5\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"+Inf\"} 3\n"), "{s}");
        assert!(s.contains("x_count 3\n"), "{s}");
    }
}
