//! `departments source …` and `departments sync`: adapters over `service::sync`. A sync asked
//! for while the server runs goes to it over the control socket (the server holds the data
//! dir); otherwise it runs here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use super::{block_on, cli_ctx, io_err, w, CliError};
use crate::service::sync::{self as svc, Mode, Outcome, SourceStatus, SyncReport};
use crate::service::ServiceError;
use crate::store::Store;
use crate::sync::{HttpAuth, HttpSource, LdapSource, Source, SourceFormat, SyncSettings};

#[derive(Debug, Subcommand)]
pub enum SourceCmd {
    /// Sync the list from an HTTP(S) API answering JSON or CSV.
    Http(Box<HttpArgs>),
    /// Sync the list from LDAP / Active Directory: every value of one attribute under a base
    /// DN (OUs' `ou`, or people's `department`).
    Ldap(Box<LdapArgs>),
    /// Stop syncing; the list stays as it is and is kept by hand from now on.
    Off {
        #[arg(long)]
        org: Option<String>,
    },
    /// Show the source, the last sync and its age, and a sync held for approval.
    Status {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Json,
    Csv,
}

/// How often, when stale, and how much one sync may remove.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Sub-organization id (default: the root organization).
    #[arg(long)]
    pub org: Option<String>,
    /// Time between syncs, like 15m, 1h or 900s [default: kept, or 15m].
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// How old the last good copy may get before the security team is mailed [default: kept,
    /// or 1h].
    #[arg(long, value_name = "DURATION")]
    pub stale_after: Option<String>,
    /// Hold a sync that would remove more than this share of the list, in % [default: kept, or
    /// 20].
    #[arg(long, value_name = "PERCENT")]
    pub max_removal: Option<u8>,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long, value_enum, default_value = "json")]
    pub format: FormatArg,
    /// JSON: the objects' field with the name; CSV: the name column's header.
    #[arg(long)]
    pub field: Option<String>,
    /// Read a bearer token from standard input.
    #[arg(long, conflicts_with_all = ["username", "password_stdin"])]
    pub token_stdin: bool,
    /// Basic authentication's user (with `--password-stdin`).
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the Basic password from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// A CA certificate (PEM) to trust besides the system's.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// A client certificate (PEM) for a source that wants mutual TLS.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    #[arg(long, default_value_t = crate::sync::http::DEFAULT_TIMEOUT_MS)]
    pub timeout_ms: u64,
    #[arg(long, default_value_t = crate::sync::http::DEFAULT_MAX_BYTES)]
    pub max_bytes: usize,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
}

#[derive(Debug, Args)]
pub struct LdapArgs {
    /// `ldaps://host[:port]`, or `ldap://host[:port]` with `--starttls` (clear only on this
    /// machine).
    #[arg(long)]
    pub url: String,
    /// The service account's DN (Active Directory also takes user@domain).
    #[arg(long)]
    pub bind_dn: String,
    /// Read the bind password from standard input (never from the command line).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    #[arg(long)]
    pub base_dn: String,
    /// Say (objectClass=organizationalUnit) or (&(objectClass=user)(department=*)).
    #[arg(long)]
    pub filter: String,
    /// The attribute holding the names, say ou or department.
    #[arg(long)]
    pub attribute: String,
    /// Upgrade an ldap:// connection with StartTLS before binding.
    #[arg(long)]
    pub starttls: bool,
    /// A CA certificate (PEM) to trust besides the system's.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Entries per page (at most the server's size limit).
    #[arg(long, default_value_t = crate::sync::ldap::DEFAULT_PAGE_SIZE)]
    pub page_size: u32,
    #[arg(long, default_value_t = crate::sync::ldap::DEFAULT_LDAP_TIMEOUT_MS)]
    pub timeout_ms: u64,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
}

/// Parses a duration like `90s`, `15m`, `1h`, `2d` or plain seconds.
pub fn parse_duration(text: &str) -> Result<u64, CliError> {
    let t = text.trim();
    let bad = || CliError::Input(format!("{text:?} is not a duration (like 15m, 1h or 900s)"));
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let mul = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(mul).ok_or_else(bad)
}

fn read_file(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(io_err(format!("cannot read {}", path.display())))
}

fn read_secret(what: &str) -> Result<String, CliError> {
    let mut s = String::new();
    std::io::stdin()
        .read_line(&mut s)
        .map_err(io_err(format!("cannot read the {what}")))?;
    Ok(s.trim_end_matches(['\r', '\n']).to_string())
}

/// The settings to store: the source given, the schedule given or kept.
fn with_schedule(
    store: &Store,
    sched: &ScheduleArgs,
    source: Source,
) -> Result<SyncSettings, CliError> {
    let old = store
        .settings()
        .department_sync
        .get(sched.org.as_deref().unwrap_or(""))
        .cloned();
    let every = match &sched.every {
        Some(d) => parse_duration(d)?,
        None => old
            .as_ref()
            .map_or(crate::sync::source::DEFAULT_EVERY_SECS, |o| o.every_secs),
    };
    let stale_after = match &sched.stale_after {
        Some(d) => parse_duration(d)?,
        None => old.as_ref().map_or(
            crate::sync::source::DEFAULT_STALE_AFTER_SECS.max(every),
            |o| o.stale_after_secs,
        ),
    };
    Ok(SyncSettings {
        source,
        every_secs: every,
        stale_after_secs: stale_after,
        max_removal_percent: sched.max_removal.unwrap_or_else(|| {
            old.as_ref()
                .map_or(crate::sync::DEFAULT_MAX_REMOVAL_PERCENT, |o| {
                    o.max_removal_percent
                })
        }),
    })
}

pub(super) fn source(
    store: &Store,
    cmd: SourceCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        SourceCmd::Http(a) => {
            // Before reading standard input: a wrong id fails without waiting for it.
            crate::service::departments::validate_org(a.schedule.org.as_deref())?;
            let auth = if a.token_stdin {
                HttpAuth::Bearer {
                    token: read_secret("token")?,
                }
            } else if let Some(username) = a.username.clone() {
                HttpAuth::Basic {
                    username,
                    password: read_secret("password")?,
                }
            } else {
                HttpAuth::None
            };
            let src = Source::Http(HttpSource {
                url: a.url.clone(),
                format: match a.format {
                    FormatArg::Json => SourceFormat::Json,
                    FormatArg::Csv => SourceFormat::Csv,
                },
                field: a.field.clone(),
                auth,
                tls_ca_pem: a.tls_ca.as_deref().map(read_file).transpose()?,
                client_cert_pem: a.client_cert.as_deref().map(read_file).transpose()?,
                client_key_pem: a.client_key.as_deref().map(read_file).transpose()?,
                timeout_ms: a.timeout_ms,
                max_bytes: a.max_bytes,
            });
            set(store, &a.schedule, src, out)
        }
        SourceCmd::Ldap(a) => {
            crate::service::departments::validate_org(a.schedule.org.as_deref())?;
            let src = Source::Ldap(LdapSource {
                url: a.url.clone(),
                bind_dn: a.bind_dn.clone(),
                password: read_secret("password")?,
                base_dn: a.base_dn.clone(),
                filter: a.filter.clone(),
                attribute: a.attribute.clone(),
                starttls: a.starttls,
                tls_ca_pem: a.tls_ca.as_deref().map(read_file).transpose()?,
                timeout_ms: a.timeout_ms,
                page_size: a.page_size,
            });
            set(store, &a.schedule, src, out)
        }
        SourceCmd::Off { org } => {
            block_on(svc::remove_source(cli_ctx(store), org.as_deref()))??;
            w(
                out,
                "The list is no longer synced; it stays as it is and is kept by hand.\n".into(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        SourceCmd::Status { org, json } => {
            let status = svc::status(store, org.as_deref())?;
            if json {
                let text = serde_json::to_string_pretty(&status)
                    .map_err(|e| CliError::Input(e.to_string()))?;
                w(out, format!("{text}\n"))?;
            } else {
                match status {
                    None => w(out, "No source: the list is kept by hand.\n".into())?,
                    Some(s) => print_status(&s, out)?,
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn set(
    store: &Store,
    sched: &ScheduleArgs,
    src: Source,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let settings = with_schedule(store, sched, src)?;
    let stored = block_on(svc::set_source(
        cli_ctx(store),
        sched.org.as_deref(),
        settings,
    ))??;
    w(
        out,
        format!(
            "The list now syncs from {} every {} s (held for approval beyond {}% removed; \
             stale after {} s). Run `profilegate departments sync --dry-run` to see the diff.\n",
            stored.source.describe(),
            stored.every_secs,
            stored.max_removal_percent,
            stored.stale_after_secs
        ),
    )?;
    Ok(ExitCode::SUCCESS)
}

fn print_status(s: &SourceStatus, out: &mut dyn Write) -> Result<(), CliError> {
    let mut text = format!(
        "Source: {}\nLast attempt: {}\nLast success: {} ({} s ago{})\nNext attempt: {}\n",
        s.source,
        s.last_attempt.as_deref().unwrap_or("never"),
        s.last_success.as_deref().unwrap_or("never"),
        s.age_secs,
        if s.stale { ", STALE" } else { "" },
        s.next_attempt,
    );
    if let Some(e) = &s.last_error {
        text.push_str(&format!(
            "Last error: {e} ({} failure(s) in a row)\n",
            s.failures
        ));
    }
    if let Some(c) = &s.last_change {
        text.push_str(&format!(
            "Last change: {c} ({} added, {} removed)\n",
            s.last_added, s.last_removed
        ));
    }
    if let Some(h) = &s.held {
        text.push_str(&format!(
            "HELD since {}: {}\n  {} to add, {} to remove. Review with `profilegate departments sync --dry-run`; apply with `--approve`.\n",
            h.at, h.reason, h.added.len(), h.removed.len()
        ));
    }
    w(out, text)
}

fn print_report(r: &SyncReport, out: &mut dyn Write) -> Result<(), CliError> {
    let what = match r.outcome {
        Outcome::NotModified => "not modified since the last sync; nothing to do",
        Outcome::Unchanged => "the source's list is the stored one; nothing to do",
        Outcome::Applied => "applied",
        Outcome::Held => "HELD for approval",
        Outcome::WouldApply => "dry run: would be applied",
        Outcome::WouldHold => "dry run: would be HELD for approval",
        Outcome::Approved => "approved and applied",
    };
    let mut text = format!(
        "Sync from {}: {what}. {} added, {} removed, {} unchanged.\n",
        r.source,
        r.added.len(),
        r.removed.len(),
        r.unchanged
    );
    if let Some(reason) = &r.reason {
        text.push_str(&format!("Why: {reason}\n"));
    }
    for n in &r.added {
        text.push_str(&format!("+ {n}\n"));
    }
    for n in &r.removed {
        text.push_str(&format!("- {n}\n"));
    }
    if r.outcome == Outcome::Held {
        text.push_str("Apply it with `profilegate departments sync --approve`.\n");
    }
    w(out, text)
}

fn mode(dry_run: bool, approve: bool) -> Mode {
    match (dry_run, approve) {
        (true, _) => Mode::DryRun,
        (_, true) => Mode::Approve,
        _ => Mode::Sync,
    }
}

/// `departments sync` on an open store (no server running).
pub(super) fn sync_here(
    store: &Store,
    org: Option<&str>,
    m: Mode,
    json: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let report = block_on(svc::sync(cli_ctx(store), org, m))??;
    render(&report, json, out)
}

fn render(report: &SyncReport, json: bool, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    if json {
        let text =
            serde_json::to_string_pretty(report).map_err(|e| CliError::Input(e.to_string()))?;
        w(out, format!("{text}\n"))?;
    } else {
        print_report(report, out)?;
    }
    // A held sync is not a success a script should pass over.
    Ok(if report.outcome == Outcome::Held {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether a server holds the data dir (its control socket takes a connection).
#[cfg(unix)]
pub(super) fn server_answers(data_dir: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(crate::control::socket_path(data_dir)).is_ok()
}

/// `departments sync` through the running server; `None` when no server answers.
#[cfg(unix)]
pub(super) fn sync_via_server(
    data_dir: &Path,
    org: Option<&str>,
    dry_run: bool,
    approve: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<Option<ExitCode>, CliError> {
    let m = mode(dry_run, approve);
    let request = serde_json::json!({ "org": org, "mode": mode_name(m) });
    let Ok(reply) = crate::control::request_json(data_dir, "department-sync", &request) else {
        return Ok(None);
    };
    match serde_json::from_str::<ControlReply>(&reply) {
        Ok(ControlReply::Ok(report)) => render(&report, json, out).map(Some),
        Ok(ControlReply::Error { kind, message }) => Err(CliError::Service(match kind.as_str() {
            "not_found" => ServiceError::NotFound(message),
            "conflict" => ServiceError::Conflict(message),
            "invalid" => ServiceError::invalid("org", message),
            "upstream" => ServiceError::Upstream {
                field: "source",
                message,
            },
            _ => ServiceError::Unavailable(message),
        })),
        Err(_) => Err(CliError::Input(format!(
            "the server gave an answer this command does not understand: {}",
            reply.chars().take(200).collect::<String>()
        ))),
    }
}

/// `sync`, `dry-run`, `approve`: the control socket's words for [`Mode`].
pub fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Sync => "sync",
        Mode::DryRun => "dry-run",
        Mode::Approve => "approve",
    }
}

pub(super) fn sync_mode(dry_run: bool, approve: bool) -> Mode {
    mode(dry_run, approve)
}

/// The server's answer to `department-sync`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum ControlReply {
    Ok(SyncReport),
    Error { kind: String, message: String },
}
