//! `profilegate doctor`: what an admin runs when something is wrong. The facts are gathered
//! here (the data dir's files, the TLS certificate, the store, the mail server), then judged
//! by one pure function, [`assess`], into one finding per check: OK, NOTE (not set up yet),
//! WARN or FAIL, each with its fix. The CLI (offline) and the control socket (a running
//! server) are adapters over [`run`], so both give the same findings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::disk::DiskState;
use crate::model::{Encryption, SmtpSettings};
use crate::store::Store;

/// Below this much free space doctor warns: the server still records decisions, but the
/// floor where it stops ([`super::disk::MIN_FREE_BYTES`]) is near.
pub const LOW_FREE_BYTES: u64 = 1 << 30;
/// A certificate expiring within this many seconds is a warning.
pub const CERT_WARN_SECS: i64 = 30 * 24 * 3600;
/// A newest audit record further than this in the future means the clock went back.
pub const CLOCK_AHEAD_WARN_MS: u64 = 60_000;
/// Beyond this the clock is wrong enough to break token and certificate checks.
pub const CLOCK_AHEAD_FAIL_MS: u64 = 3_600_000;
/// The longest the mail server check may take, whatever the SMTP timeout is.
pub const SMTP_CHECK_MAX: Duration = Duration::from_secs(5);

/// How bad a finding is. Only `Fail` makes doctor exit non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Note,
    Warn,
    Fail,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Note => "NOTE",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

/// One check's verdict: what was found and, unless OK, what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub check: String,
    pub level: Level,
    pub found: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Every finding, in check order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// Something is broken (a FAIL): doctor exits 1.
    pub fn broken(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Fail)
    }

    /// One line per finding: level, check, what was found, and the fix.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out += &format!("{:<4}  {}: {}", f.level.label(), f.check, f.found);
            if let Some(fix) = &f.fix {
                out += &format!(" -- fix: {fix}");
            }
            out.push('\n');
        }
        out
    }
}

/// Where the server's certificate comes from (the configuration's or the generated one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsSource {
    /// No TLS configured and no generated certificate in the data dir.
    #[default]
    None,
    /// `--tls-cert`/`--tls-key` (or the file's `[tls]`, or the environment).
    Files { cert: PathBuf, key: Option<PathBuf> },
    /// `--tls-self-signed`: the certificate in the data dir.
    SelfSigned { cert: PathBuf },
}

impl TlsSource {
    /// From the configuration, else the generated certificate if the data dir has one.
    pub fn resolve(
        cert: Option<&Path>,
        key: Option<&Path>,
        self_signed: bool,
        data_dir: &Path,
    ) -> TlsSource {
        let generated = data_dir.join("tls").join("self-signed-cert.pem");
        match cert {
            Some(c) => TlsSource::Files {
                cert: c.to_path_buf(),
                key: key.map(Path::to_path_buf),
            },
            None if self_signed || generated.exists() => TlsSource::SelfSigned { cert: generated },
            None => TlsSource::None,
        }
    }
}

/// One file or directory in the data dir (its path relative to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFact {
    pub path: PathBuf,
    pub uid: u32,
    pub mode: u32,
    pub is_dir: bool,
}

/// The data dir as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirFacts {
    Missing,
    Unreadable(String),
    Found {
        uid: u32,
        gid: u32,
        mode: u32,
        /// Everything under it (symbolic links left out), or why it could not be walked.
        entries: Vec<FileFact>,
        walk_error: Option<String>,
    },
}

/// The certificate as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFacts {
    NotConfigured,
    /// `not_after` in Unix seconds.
    Cert {
        path: PathBuf,
        not_after: i64,
        key_error: Option<String>,
    },
    Unreadable {
        path: PathBuf,
        error: String,
    },
}

/// What the mail server check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpFacts {
    NotConfigured,
    Reached { server: String },
    Failed { server: String, error: String },
}

/// What the store told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFacts {
    pub free_bytes: Result<u64, String>,
    pub smtp: SmtpFacts,
    /// The newest audit record: its number and time (Unix ms; `None` if it does not parse).
    pub newest_record: Option<(u64, Option<u64>)>,
    /// Each active credential: id, type, created, last use (Unix ms).
    pub credentials: Vec<CredentialFact>,
    pub replay: Option<crate::store::durable::JournalReplay>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialFact {
    pub id: String,
    pub kind: &'static str,
    pub last_used: Option<u64>,
}

/// Everything doctor judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub dir: PathBuf,
    /// The user the checks run as (the server's user inside the server).
    pub runner_uid: u32,
    pub files: DirFacts,
    pub tls: TlsFacts,
    /// The store's facts, or why it could not be opened; `None` when there is no data dir
    /// yet (opening it would create one).
    pub store: Option<Result<StoreFacts, String>>,
    pub now_ms: u64,
}

/// Files whose contents are secret: the database (credential hashes, the SMTP password, the
/// password-sharing private keys), the commit journal and the audit's segment files (audit
/// records with claim values), TLS private keys and the control socket.
fn is_secret(rel: &Path) -> bool {
    let s = rel.to_string_lossy();
    rel.starts_with("db")
        || rel.starts_with(crate::store::audit::segments::SEGMENT_DIR)
        || s == "journal"
        || s == "control.sock"
        || (rel.starts_with("tls") && s.ends_with("key.pem"))
}

fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

fn finding(check: &str, level: Level, found: String, fix: Option<String>) -> Finding {
    Finding {
        check: check.into(),
        level,
        found,
        fix,
    }
}

/// The verdicts: a pure function of the facts.
pub fn assess(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let dir = f.dir.display();
    match &f.files {
        DirFacts::Missing => out.push(finding(
            "data dir",
            Level::Note,
            format!("{dir} does not exist yet (not set up)"),
            Some("`profilegate serve` creates it (0700); check --data-dir / PROFILEGATE_DATA_DIR if it should exist".into()),
        )),
        DirFacts::Unreadable(e) => out.push(finding(
            "data dir",
            Level::Fail,
            format!("cannot read {dir}: {e}"),
            Some("run doctor as the data dir's owner (the service's user): sudo -u USER profilegate doctor".into()),
        )),
        DirFacts::Found {
            uid,
            gid,
            mode,
            entries,
            walk_error,
        } => {
            if *uid != f.runner_uid {
                out.push(finding(
                    "data dir owner",
                    Level::Fail,
                    format!("{dir} belongs to uid {uid}, but this runs as uid {}", f.runner_uid),
                    Some(format!("run profilegate (server and commands) as the data dir's owner, or `chown -R {}: {dir}`", f.runner_uid)),
                ));
            } else {
                out.push(finding(
                    "data dir owner",
                    Level::Ok,
                    format!("{dir} belongs to uid {uid}, the user running profilegate"),
                    None,
                ));
            }
            let others: Vec<String> = entries
                .iter()
                .filter(|e| e.uid != *uid)
                .map(|e| format!("{} (uid {})", e.path.display(), e.uid))
                .collect();
            out.push(if others.is_empty() {
                finding(
                    "file owners",
                    Level::Ok,
                    format!("all {} entries belong to uid {uid}", entries.len()),
                    None,
                )
            } else {
                finding(
                    "file owners",
                    Level::Fail,
                    format!(
                        "not owned by the data dir's owner (uid {uid}), so the server may not write or remove them: {}",
                        list(&others)
                    ),
                    Some(format!("chown -R {uid}:{gid} {dir}")),
                )
            });
            out.push(if mode & 0o077 != 0 {
                finding(
                    "data dir mode",
                    Level::Fail,
                    format!("{dir} is {:04o}: the group or others can enter it", mode & 0o7777),
                    Some(format!("chmod 700 {dir}")),
                )
            } else {
                finding("data dir mode", Level::Ok, format!("{:04o}", mode & 0o7777), None)
            });
            let open = |secret: bool| -> Vec<String> {
                entries
                    .iter()
                    .filter(|e| e.mode & 0o077 != 0 && (is_secret(&e.path) || e.is_dir) == secret)
                    .map(|e| format!("{} ({:04o})", e.path.display(), e.mode & 0o7777))
                    .collect()
            };
            let (secret, plain) = (open(true), open(false));
            let fix = Some(format!(
                "chmod -R go-rwx {dir} (as its owner; the server also does this at start)"
            ));
            out.push(if !secret.is_empty() {
                finding(
                    "secret files",
                    Level::Fail,
                    format!(
                        "readable beyond the owner (must be 0600, directories 0700): {}",
                        list(&secret)
                    ),
                    fix,
                )
            } else if !plain.is_empty() {
                finding(
                    "secret files",
                    Level::Warn,
                    format!("secrets are private, but these others are not: {}", list(&plain)),
                    fix,
                )
            } else {
                finding(
                    "secret files",
                    Level::Ok,
                    "the database, journal, keys and control socket are private to the owner"
                        .into(),
                    None,
                )
            });
            if let Some(e) = walk_error {
                out.push(finding(
                    "file owners",
                    Level::Fail,
                    format!("could not read all of {dir}: {e}"),
                    Some("run doctor as the data dir's owner or as root".into()),
                ));
            }
        }
    }
    out.push(assess_tls(&f.tls, f.now_ms));
    match &f.store {
        None => {}
        Some(Err(e)) => out.push(finding(
            "store",
            Level::Fail,
            format!("cannot open the store: {e}"),
            Some("see the message: it says what to do".into()),
        )),
        Some(Ok(s)) => assess_store(s, f, &mut out),
    }
    out
}

fn list(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s += &format!(" and {} more", items.len() - SHOWN);
    }
    s
}

fn assess_tls(t: &TlsFacts, now_ms: u64) -> Finding {
    let now = (now_ms / 1000) as i64;
    match t {
        TlsFacts::NotConfigured => finding(
            "tls certificate",
            Level::Note,
            "TLS is not configured (plain HTTP, loopback or behind a proxy)".into(),
            Some("serve with --tls-cert FILE --tls-key FILE or --tls-self-signed, or [tls] in the configuration file".into()),
        ),
        TlsFacts::Unreadable { path, error } => finding(
            "tls certificate",
            Level::Fail,
            format!("cannot read {}: {error}", path.display()),
            Some("give a readable PEM certificate (the server certificate first, then its chain) with --tls-cert".into()),
        ),
        TlsFacts::Cert {
            path,
            not_after,
            key_error,
        } => {
            let until = time::OffsetDateTime::from_unix_timestamp(*not_after)
                .map(crate::store::format_time)
                .unwrap_or_else(|_| not_after.to_string());
            let renew = format!(
                "renew it and replace {} (then restart profilegate); a self-signed one: delete the files in the data dir's tls/ and restart",
                path.display()
            );
            if let Some(e) = key_error {
                finding(
                    "tls certificate",
                    Level::Fail,
                    format!("the private key cannot be read: {e}"),
                    Some("give a readable unencrypted PEM key with --tls-key".into()),
                )
            } else if *not_after <= now {
                finding(
                    "tls certificate",
                    Level::Fail,
                    format!("{} expired at {until}", path.display()),
                    Some(renew),
                )
            } else if *not_after - now < CERT_WARN_SECS {
                finding(
                    "tls certificate",
                    Level::Warn,
                    format!(
                        "{} expires at {until}, in {} days",
                        path.display(),
                        (*not_after - now) / 86_400
                    ),
                    Some(renew),
                )
            } else {
                finding(
                    "tls certificate",
                    Level::Ok,
                    format!("{} valid until {until}", path.display()),
                    None,
                )
            }
        }
    }
}

fn assess_store(s: &StoreFacts, f: &Facts, out: &mut Vec<Finding>) {
    out.push(match &s.free_bytes {
        Err(e) => finding(
            "free disk",
            Level::Fail,
            format!("cannot tell: {e}"),
            Some("check the data dir's volume (df -h)".into()),
        ),
        Ok(free) => {
            let disk = DiskState::of(*free);
            let mib = free >> 20;
            if let Some(reason) = disk.unready_reason() {
                finding(
                    "free disk",
                    Level::Fail,
                    reason,
                    Some(
                        "free space on the data dir's volume (df -h); then `profilegate audit archive` and `profilegate compact` keep it small"
                            .into(),
                    ),
                )
            } else if *free < LOW_FREE_BYTES {
                finding(
                    "free disk",
                    Level::Warn,
                    format!("{mib} MiB free on the data dir's volume (under {} MiB the server refuses decisions)", super::disk::MIN_FREE_BYTES >> 20),
                    Some("free space on the volume or grow it; set an audit retention (`profilegate audit retention`)".into()),
                )
            } else {
                finding("free disk", Level::Ok, format!("{mib} MiB free"), None)
            }
        }
    });
    out.push(match &s.smtp {
        SmtpFacts::NotConfigured => finding(
            "smtp",
            Level::Note,
            "no mail server configured: the security team gets no e-mail".into(),
            Some("`profilegate notify smtp --host … --port … --encryption … --from …` or the admin UI's notifications page".into()),
        ),
        SmtpFacts::Reached { server } => finding(
            "smtp",
            Level::Ok,
            format!("{server} answered (connected, EHLO and TLS/login as configured)"),
            None,
        ),
        SmtpFacts::Failed { server, error } => finding(
            "smtp",
            Level::Fail,
            format!("{server}: {error}"),
            Some("check that the mail server is up and reachable from this host, and the host, port and encryption (`profilegate notify smtp …` or the admin UI), then `profilegate send-test-email`".into()),
        ),
    });
    out.push(match s.newest_record {
        None => finding("clock", Level::Note, "no audit record yet to compare with".into(), None),
        Some((seq, None)) => finding(
            "clock",
            Level::Warn,
            format!("the newest audit record ({seq}) has a time that does not parse"),
            Some("`profilegate audit verify`".into()),
        ),
        Some((seq, Some(at))) => {
            let fix = Some("set the system clock right and keep it synced: `timedatectl set-ntp true` (check with `timedatectl status`)".into());
            if at > f.now_ms + CLOCK_AHEAD_WARN_MS {
                let level = if at > f.now_ms + CLOCK_AHEAD_FAIL_MS {
                    Level::Fail
                } else {
                    Level::Warn
                };
                finding(
                    "clock",
                    level,
                    format!(
                        "the newest audit record ({seq}, {}) is {} s in the future: the clock went back",
                        crate::store::format_unix_ms(at),
                        (at - f.now_ms) / 1000
                    ),
                    fix,
                )
            } else {
                finding(
                    "clock",
                    Level::Ok,
                    format!(
                        "the newest audit record ({seq}) is from {}",
                        ago(f.now_ms.saturating_sub(at))
                    ),
                    None,
                )
            }
        }
    });
    if s.credentials.is_empty() {
        out.push(finding(
            "credentials",
            Level::Note,
            "no action credential: not set up".into(),
            Some("`profilegate credentials create --type basic` (or the admin UI), then register it in the identity server".into()),
        ));
    }
    for c in &s.credentials {
        out.push(match c.last_used {
            None => finding(
                "credentials",
                Level::Note,
                format!("{} ({}) has never been used", c.id, c.kind),
                Some("register the action in the identity server with it (the admin UI's register page), or revoke it if unused".into()),
            ),
            Some(at) => finding(
                "credentials",
                Level::Ok,
                format!(
                    "{} ({}) last used {}",
                    c.id,
                    c.kind,
                    ago(f.now_ms.saturating_sub(at))
                ),
                None,
            ),
        });
    }
    out.push(match &s.replay {
        None => finding(
            "journal",
            Level::Ok,
            "no start has needed a journal replay".into(),
            None,
        ),
        Some(r) if r.last_start => finding(
            "journal",
            Level::Warn,
            format!(
                "the last start ({}) replayed {} batches ({} records) from the commit journal: the process before it stopped without a clean stop (a crash, a kill or a power loss); nothing acknowledged was lost",
                r.at, r.batches, r.records
            ),
            Some("check the journal/logs for the crash: `journalctl -u profilegate` around that time; `profilegate audit verify`".into()),
        ),
        Some(r) => finding(
            "journal",
            Level::Ok,
            format!(
                "the last start needed no replay (the last replay was at {}: {} batches)",
                r.at, r.batches
            ),
            None,
        ),
    });
}

/// Said first when doctor, started as root, switched to the data dir's owner: what it saw is
/// what the server, running as that user, sees.
pub fn ran_as(uid: u32) -> Finding {
    finding(
        "user",
        Level::Note,
        format!("started as root; checked as the data dir's owner (uid {uid}), as the server runs"),
        None,
    )
}

/// The data dir's files; nothing is changed.
pub fn gather_dir(dir: &Path) -> DirFacts {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return DirFacts::Missing,
        Err(e) => return DirFacts::Unreadable(e.to_string()),
    };
    let mut entries = Vec::new();
    let mut walk_error = None;
    fn walk(root: &Path, path: &Path, out: &mut Vec<FileFact>, err: &mut Option<String>) {
        let rd = match std::fs::read_dir(path) {
            Ok(rd) => rd,
            Err(e) => {
                err.get_or_insert(format!("{}: {e}", path.display()));
                return;
            }
        };
        for entry in rd.flatten() {
            let p = entry.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if m.file_type().is_symlink() {
                continue;
            }
            out.push(FileFact {
                path: p.strip_prefix(root).unwrap_or(&p).to_path_buf(),
                uid: m.uid(),
                mode: m.mode(),
                is_dir: m.is_dir(),
            });
            if m.is_dir() {
                walk(root, &p, out, err);
            }
        }
    }
    walk(dir, dir, &mut entries, &mut walk_error);
    DirFacts::Found {
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode(),
        entries,
        walk_error,
    }
}

/// Reads the certificate (and that the key opens) without loading it into TLS.
pub fn gather_tls(src: &TlsSource) -> TlsFacts {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let (path, key) = match src {
        TlsSource::None => return TlsFacts::NotConfigured,
        TlsSource::Files { cert, key } => (cert, key.as_ref()),
        TlsSource::SelfSigned { cert } => (cert, None),
    };
    let unreadable = |error: String| TlsFacts::Unreadable {
        path: path.clone(),
        error,
    };
    let first = match CertificateDer::pem_file_iter(path) {
        Ok(mut it) => it.next(),
        Err(e) => return unreadable(e.to_string()),
    };
    let der = match first {
        Some(Ok(der)) => der,
        Some(Err(e)) => return unreadable(e.to_string()),
        None => return unreadable("no CERTIFICATE block in it".into()),
    };
    let not_after = match x509_parser::parse_x509_certificate(&der) {
        Ok((_, cert)) => cert.validity().not_after.timestamp(),
        Err(e) => return unreadable(format!("not an X.509 certificate: {e}")),
    };
    let key_error = key.and_then(|k| {
        std::fs::File::open(k)
            .err()
            .map(|e| format!("{}: {e}", k.display()))
    });
    TlsFacts::Cert {
        path: path.clone(),
        not_after,
        key_error,
    }
}

/// Connects to the mail server, says EHLO, STARTTLS and logs in as configured, within
/// [`SMTP_CHECK_MAX`]; never sends. The error never carries the password.
pub async fn check_smtp(s: Option<&SmtpSettings>) -> SmtpFacts {
    let Some(s) = s else {
        return SmtpFacts::NotConfigured;
    };
    let mut s = s.clone();
    s.timeout_ms = s.timeout_ms.min(SMTP_CHECK_MAX.as_millis() as u64);
    let server = format!(
        "{}:{} ({})",
        s.host,
        s.port,
        match s.encryption {
            Encryption::None => "no encryption",
            Encryption::Starttls => "STARTTLS",
            Encryption::Tls => "TLS",
        }
    );
    let notifier = crate::notify::Notifier::default();
    match notifier.check(&s).await {
        Ok(()) => SmtpFacts::Reached { server },
        Err(e) => SmtpFacts::Failed {
            server,
            error: e.to_string(),
        },
    }
}

/// What the store tells (reads only, plus the mail server check).
pub async fn gather_store(store: &Store) -> StoreFacts {
    let settings = store.settings();
    let smtp = check_smtp(settings.notify.smtp.as_ref()).await;
    let newest_record = match store.audit_iter_rev().next() {
        Some(Ok(r)) => Some((r.seq, parse_ms(&r.time))),
        Some(Err(_)) => Some((store.chain_head().seq, None)),
        None => None,
    };
    StoreFacts {
        free_bytes: store.free_bytes().map_err(|e| e.to_string()),
        smtp,
        newest_record,
        credentials: store
            .credentials()
            .iter()
            .map(|c| CredentialFact {
                id: c.id.clone(),
                kind: c.kind.type_name(),
                last_used: c.last_used.as_deref().and_then(parse_ms),
            })
            .collect(),
        replay: store.journal_replay(),
    }
}

fn parse_ms(t: &str) -> Option<u64> {
    let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Every check, with the data dir's files gathered beforehand (before an offline open of the
/// store, which makes modes private) and the store if it opened.
pub async fn run(
    dir: &Path,
    runner_uid: u32,
    files: DirFacts,
    tls: &TlsSource,
    store: Option<Result<&Store, String>>,
) -> Report {
    let store = match store {
        Some(Ok(s)) => Some(Ok(gather_store(s).await)),
        Some(Err(e)) => Some(Err(e)),
        None => None,
    };
    let facts = Facts {
        dir: dir.to_path_buf(),
        runner_uid,
        files,
        tls: gather_tls(tls),
        store,
        now_ms: crate::store::now_unix_ms(),
    };
    Report {
        findings: assess(&facts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::durable::JournalReplay;

    const NOW: u64 = 1_800_000_000_000;

    fn healthy() -> Facts {
        Facts {
            dir: "/var/lib/profilegate".into(),
            runner_uid: 7,
            files: DirFacts::Found {
                uid: 7,
                gid: 7,
                mode: 0o40700,
                entries: vec![
                    FileFact {
                        path: "db".into(),
                        uid: 7,
                        mode: 0o40700,
                        is_dir: true,
                    },
                    FileFact {
                        path: "db/conf".into(),
                        uid: 7,
                        mode: 0o100600,
                        is_dir: false,
                    },
                ],
                walk_error: None,
            },
            tls: TlsFacts::Cert {
                path: "/etc/cert.pem".into(),
                not_after: (NOW / 1000) as i64 + 90 * 86_400,
                key_error: None,
            },
            store: Some(Ok(StoreFacts {
                free_bytes: Ok(10 << 30),
                smtp: SmtpFacts::Reached {
                    server: "mail:25".into(),
                },
                newest_record: Some((5, Some(NOW - 5_000))),
                credentials: vec![CredentialFact {
                    id: "c1".into(),
                    kind: "basic",
                    last_used: Some(NOW - 60_000),
                }],
                replay: None,
            })),
            now_ms: NOW,
        }
    }

    fn level(f: &Facts, check: &str) -> Level {
        assess(f)
            .into_iter()
            .filter(|x| x.check == check)
            .map(|x| x.level)
            .max()
            .unwrap()
    }

    fn store(f: &mut Facts) -> &mut StoreFacts {
        f.store.as_mut().unwrap().as_mut().unwrap()
    }

    #[test]
    fn a_healthy_data_dir_is_all_ok() {
        let r = Report {
            findings: assess(&healthy()),
        };
        assert!(r.findings.iter().all(|f| f.level == Level::Ok), "{r:?}");
        assert!(!r.broken());
        assert!(r.text().lines().all(|l| l.starts_with("OK")));
    }

    #[test]
    fn not_set_up_is_a_note_and_not_broken() {
        let mut f = healthy();
        f.tls = TlsFacts::NotConfigured;
        store(&mut f).smtp = SmtpFacts::NotConfigured;
        store(&mut f).credentials.clear();
        store(&mut f).newest_record = None;
        for c in ["tls certificate", "smtp", "credentials", "clock"] {
            assert_eq!(level(&f, c), Level::Note, "{c}");
        }
        f.files = DirFacts::Missing;
        assert_eq!(level(&f, "data dir"), Level::Note);
        assert!(!Report {
            findings: assess(&f)
        }
        .broken());
    }

    #[test]
    fn modes_and_owners_fail_with_their_fix() {
        let mut f = healthy();
        let DirFacts::Found { mode, entries, .. } = &mut f.files else {
            unreachable!()
        };
        *mode = 0o40755;
        entries[1].mode = 0o100644;
        entries.push(FileFact {
            path: "server.json".into(),
            uid: 65534,
            mode: 0o100600,
            is_dir: false,
        });
        let all = assess(&f);
        let get = |c: &str| all.iter().find(|x| x.check == c).unwrap().clone();
        assert_eq!(get("data dir mode").level, Level::Fail);
        assert!(get("data dir mode").fix.unwrap().contains("chmod 700"));
        let secret = get("secret files");
        assert_eq!(secret.level, Level::Fail);
        assert!(secret.found.contains("db/conf (0644)"), "{secret:?}");
        let owners = get("file owners");
        assert_eq!(owners.level, Level::Fail);
        assert!(owners.found.contains("server.json (uid 65534)"));
        assert_eq!(
            owners.fix.as_deref(),
            Some("chown -R 7:7 /var/lib/profilegate")
        );
        // A file that holds no secret, open to others: a warning.
        let mut f = healthy();
        let DirFacts::Found { entries, .. } = &mut f.files else {
            unreachable!()
        };
        entries.push(FileFact {
            path: "audit-head.json".into(),
            uid: 7,
            mode: 0o100644,
            is_dir: false,
        });
        assert_eq!(level(&f, "secret files"), Level::Warn);
        // An audit segment file open to others: its records are secret.
        let DirFacts::Found { entries, .. } = &mut f.files else {
            unreachable!()
        };
        entries.push(FileFact {
            path: "audit/00000000000000000001.seg".into(),
            uid: 7,
            mode: 0o100644,
            is_dir: false,
        });
        let secret = assess(&f)
            .into_iter()
            .find(|x| x.check == "secret files")
            .unwrap();
        assert_eq!(secret.level, Level::Fail);
        assert!(
            secret.found.contains("00000000000000000001.seg"),
            "{secret:?}"
        );
        // Run as another user than the owner.
        let mut f = healthy();
        f.runner_uid = 0;
        assert_eq!(level(&f, "data dir owner"), Level::Fail);
    }

    #[test]
    fn certificate_expiry_warns_at_30_days_and_fails_when_expired() {
        let mut f = healthy();
        let at = |days: i64| (NOW / 1000) as i64 + days * 86_400;
        let cert = |not_after| TlsFacts::Cert {
            path: "/c.pem".into(),
            not_after,
            key_error: None,
        };
        f.tls = cert(at(31));
        assert_eq!(level(&f, "tls certificate"), Level::Ok);
        f.tls = cert(at(10));
        assert_eq!(level(&f, "tls certificate"), Level::Warn);
        f.tls = cert(at(-1));
        assert_eq!(level(&f, "tls certificate"), Level::Fail);
        f.tls = TlsFacts::Unreadable {
            path: "/c.pem".into(),
            error: "gone".into(),
        };
        assert_eq!(level(&f, "tls certificate"), Level::Fail);
    }

    #[test]
    fn the_disk_rule_is_the_readiness_floor() {
        let mut f = healthy();
        store(&mut f).free_bytes = Ok(super::super::disk::MIN_FREE_BYTES - 1);
        assert_eq!(level(&f, "free disk"), Level::Fail);
        store(&mut f).free_bytes = Ok(super::super::disk::MIN_FREE_BYTES);
        assert_eq!(level(&f, "free disk"), Level::Warn);
        store(&mut f).free_bytes = Ok(LOW_FREE_BYTES);
        assert_eq!(level(&f, "free disk"), Level::Ok);
    }

    #[test]
    fn clock_went_back_smtp_down_never_used_and_replay() {
        let mut f = healthy();
        store(&mut f).newest_record = Some((9, Some(NOW + 2 * 60_000)));
        assert_eq!(level(&f, "clock"), Level::Warn);
        store(&mut f).newest_record = Some((9, Some(NOW + 2 * CLOCK_AHEAD_FAIL_MS)));
        assert_eq!(level(&f, "clock"), Level::Fail);
        store(&mut f).newest_record = Some((9, Some(NOW + 30_000)));
        assert_eq!(level(&f, "clock"), Level::Ok);
        store(&mut f).smtp = SmtpFacts::Failed {
            server: "mail:25".into(),
            error: "connection refused".into(),
        };
        assert_eq!(level(&f, "smtp"), Level::Fail);
        store(&mut f).credentials[0].last_used = None;
        assert_eq!(level(&f, "credentials"), Level::Note);
        let replay = JournalReplay {
            at: "2026-11-30T10:00:00Z".into(),
            batches: 3,
            records: 40,
            last_start: true,
        };
        store(&mut f).replay = Some(replay.clone());
        assert_eq!(level(&f, "journal"), Level::Warn);
        store(&mut f).replay = Some(JournalReplay {
            last_start: false,
            ..replay
        });
        assert_eq!(level(&f, "journal"), Level::Ok);
        f.store = Some(Err("locked".into()));
        assert_eq!(level(&f, "store"), Level::Fail);
    }
}
