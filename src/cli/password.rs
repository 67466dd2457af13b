//! `password`: adapters over `service::password` (keys, policy, check). A private key is never
//! printed; a password to check is read from standard input and stored nowhere.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::TypedValueParser as _;
use clap::{Args, Subcommand, ValueEnum};
use zeroize::Zeroizing;

use super::{block_on, cli_ctx, io_err, w, CliError};
use crate::breached::Progress;
use crate::model::password::OnlineBreachCheck;
use crate::model::PasswordEventMail;
use crate::policy::password::{
    BreachedCheck, FactorMode, Outcome, PasswordRules, COMMON_PASSWORDS_SOURCE,
};
use crate::service::password::{self as service, KeyExport, PolicyView};
use crate::store::{Store, StoreError};

/// Longest password `password check` reads (the rules' highest maximum is 1024 characters).
const MAX_CHECK_BYTES: u64 = 16 * 1024;

#[derive(Debug, Subcommand)]
pub enum PasswordCmd {
    /// The keys the identity server encrypts passwords to (`passwordSharing.certificate`).
    #[command(subcommand)]
    Keys(KeysCmd),
    /// The password rules, per organization.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// The offline breached-password filter (a Pwned-Passwords file imported into the data dir).
    #[command(subcommand)]
    Breached(BreachedCmd),
    /// Check a password (read from standard input) against the rules (and the breached-password
    /// filter, if one is imported); stores nothing. Exit 0 when accepted, 1 when refused.
    Check {
        /// Sub-organization id (default: the root organization).
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Generate a key pair and certificate (at most two keys are active).
    Generate {
        #[arg(long, default_value_t = 2048, value_parser = clap::builder::PossibleValuesParser::new(["2048", "3072"]).map(|s| s.parse::<u32>().unwrap_or(2048)))]
        bits: u32,
    },
    /// List the keys, active and retired (never a private key).
    List,
    /// Print an active key's certificate as PEM (or as base64 of the PEM).
    Export {
        id: String,
        /// Print base64 of the PEM, as WSO2's `passwordSharing.certificate` takes it.
        #[arg(long)]
        base64: bool,
    },
    /// Retire a key: its private key is erased and credentials encrypted to it no longer open.
    Retire { id: String },
}

#[derive(Debug, Subcommand)]
pub enum BreachedCmd {
    /// Import a Pwned-Passwords file (`SHA1HEX:COUNT` lines or bare SHA-1 hashes), streaming,
    /// into `<data-dir>/breached.filter`; the previous filter stays until the new one is
    /// complete, and a running server picks the new one up without a restart.
    Import {
        file: PathBuf,
        /// Leave out hashes seen fewer times than this (a file of bare hashes needs 1).
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        min_count: u64,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the imported filter: entries, size, false-positive rate, source and date.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl From<OnOff> for bool {
    fn from(v: OnOff) -> bool {
        matches!(v, OnOff::On)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EventMailArg {
    None,
    AdminInitiated,
    All,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Show the rules in force for an organization.
    Show {
        #[arg(long)]
        org: Option<String>,
        /// Print the rules as JSON (what `policy set --file` takes).
        #[arg(long)]
        json: bool,
    },
    /// Change the rules of an organization (the root's without --org): the given fields
    /// change, the others keep their values in force (an organization without rules of its
    /// own starts from the root's).
    Set(SetArgs),
    /// Remove a sub-organization's own rules: it uses the root's again.
    Reset {
        #[arg(long)]
        org: String,
    },
    /// Which password events are mailed to the security team (default none).
    Notify {
        #[arg(value_enum)]
        mode: EventMailArg,
    },
    /// The optional online breach check: a k-anonymity range API (only the first 5 hex
    /// digits of the password's SHA-1 are sent). Off by default.
    Online(OnlineArgs),
}

#[derive(Debug, Args)]
pub struct OnlineArgs {
    /// Switch the check on or off (the other settings are kept).
    #[arg(value_enum)]
    pub state: OnOff,
    /// The range URL; the prefix is appended (`https://host/range/` asks `.../range/5BAA6`).
    #[arg(long)]
    pub url: Option<String>,
    /// The whole lookup's limit, 50 to 1000 ms (default 800).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u32>,
    /// When the source does not answer in time: accept the password and note it in the audit
    /// record (open, the default) or refuse it (closed).
    #[arg(long, value_enum)]
    pub on_failure: Option<FailMode>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FailMode {
    Open,
    Closed,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[arg(long)]
    pub org: Option<String>,
    /// Take the whole rules from a JSON file (as `policy show --json` prints them).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["mfa", "single_factor", "min_length", "max_length", "common", "patterns", "context_words", "contains", "breached", "extra_word"])]
    pub file: Option<PathBuf>,
    /// The password is one factor of MFA: the minimum may go down to 8.
    #[arg(long, conflicts_with = "single_factor")]
    pub mfa: bool,
    /// The password is the only factor: the minimum is at least 15.
    #[arg(long)]
    pub single_factor: bool,
    /// Minimum length in characters.
    #[arg(long, value_name = "N")]
    pub min_length: Option<u32>,
    /// Maximum length in characters (64 to 1024).
    #[arg(long, value_name = "N")]
    pub max_length: Option<u32>,
    /// Refuse the bundled common passwords.
    #[arg(long, value_enum)]
    pub common: Option<OnOff>,
    /// Refuse repetitive and sequential passwords.
    #[arg(long, value_enum)]
    pub patterns: Option<OnOff>,
    /// Refuse a password equal to a context word (user names, organization, product).
    #[arg(long, value_enum)]
    pub context_words: Option<OnOff>,
    /// Stricter: refuse a password containing a context word of 4 or more characters.
    #[arg(long, value_enum)]
    pub contains: Option<OnOff>,
    /// Refuse passwords found in the imported breached-password filter.
    #[arg(long, value_enum)]
    pub breached: Option<OnOff>,
    /// More context words (repeatable; replaces the list; `--extra-word ''` empties it).
    #[arg(long, value_name = "WORD")]
    pub extra_word: Vec<String>,
}

pub(super) fn run(
    store: &Store,
    cmd: PasswordCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        PasswordCmd::Keys(cmd) => keys(store, cmd, out),
        PasswordCmd::Policy(cmd) => policy(store, cmd, out),
        PasswordCmd::Breached(cmd) => breached(store.dir(), Some(store), cmd, out),
        PasswordCmd::Check { org } => {
            check(store, org.as_deref(), &mut std::io::stdin().lock(), out)
        }
    }
}

fn keys(store: &Store, cmd: KeysCmd, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    match cmd {
        KeysCmd::Generate { bits } => {
            let (info, export) = block_on(service::generate_key(cli_ctx(store), bits))??;
            w(out, format!(
                "Generated password-sharing key {} (RSA {}).\nFingerprint (SHA-256): {}\n\n\
                 Certificate (PEM):\n{}\n\
                 For the identity server (Action Management REST API, passwordSharing.certificate: base64 of the PEM):\n{}\n\n\
                 The private key stays in the data dir and is never shown.\n",
                info.id, info.bits, info.fingerprint,
                export.certificate_pem.trim_end(), export.certificate_base64
            ))?;
        }
        KeysCmd::List => {
            let keys = service::list_keys(store)?;
            if keys.is_empty() {
                w(out, "No password-sharing keys. Generate one with `profilegate password keys generate`.\n".into())?;
            }
            for k in keys {
                let status = match &k.retired {
                    None => "active".to_string(),
                    Some(when) => format!("retired {when}"),
                };
                w(
                    out,
                    format!(
                        "{}  RSA {}  created {}  {}  {}\n",
                        k.id, k.bits, k.created, status, k.fingerprint
                    ),
                )?;
            }
        }
        KeysCmd::Export { id, base64 } => {
            let KeyExport {
                certificate_pem,
                certificate_base64,
                ..
            } = service::export_key(store, &id)?;
            let text = if base64 {
                certificate_base64
            } else {
                certificate_pem
            };
            w(out, format!("{}\n", text.trim_end()))?;
        }
        KeysCmd::Retire { id } => {
            let info = block_on(service::retire_key(cli_ctx(store), &id))??;
            w(out, format!(
                "Retired password-sharing key {}: its private key is erased; credentials encrypted to its certificate no longer open.\n",
                info.id
            ))?;
            if store.password_keyring().keys().is_empty() {
                w(out, "WARNING: no key is active now. If the identity server still has a certificate, every password change with an encrypted credential fails: generate a key and give the identity server its certificate, or remove the certificate there.\n".into())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn on(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn render_online(o: &OnlineBreachCheck) -> String {
    if !o.enabled {
        return "off".into();
    }
    let fails = if o.fail_closed {
        "refuses"
    } else {
        "accepts (noted in the audit record)"
    };
    format!(
        "on: {} (timeout {} ms; when it does not answer, {fails})",
        o.url, o.timeout_ms
    )
}

fn render_policy(v: &PolicyView) -> String {
    let r = &v.rules;
    let whose = match &v.org {
        None => "the root organization".to_string(),
        Some(o) if v.own => format!("organization {o} (its own)"),
        Some(o) => format!("organization {o} (the root organization's; it has none of its own)"),
    };
    let notify = serde_json::to_value(v.notify)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "Password rules for {whose}:\n  factor mode: {}\n  min length: {} (in force: {})\n  max length: {} (in force: {})\n  common passwords: {} ({COMMON_PASSWORDS_SOURCE})\n  repetitive and sequential: {}\n  context words: {}\n  contains context words: {}\n  breached passwords: {}\n  extra words: {}\nSecurity-team e-mail for password events: {notify}\nOnline breach check: {}\n",
        match r.factor_mode { FactorMode::SingleFactor => "single-factor", FactorMode::Mfa => "mfa" },
        r.min_length, r.effective_min(), r.max_length, r.effective_max(),
        on(r.common_passwords), on(r.patterns), on(r.context_words), on(r.context_contains),
        on(r.breached),
        if r.extra_words.is_empty() { "(none)".to_string() } else { r.extra_words.join(", ") },
        render_online(&v.online),
    )
}

/// The rules a `policy set` asks for: a file's, or the ones in force with the flags applied.
fn requested_rules(store: &Store, a: SetArgs) -> Result<PasswordRules, CliError> {
    if let Some(file) = &a.file {
        let text = std::fs::read_to_string(file)
            .map_err(io_err(format!("cannot read {}", file.display())))?;
        return serde_json::from_str(&text).map_err(|e| {
            CliError::Input(format!(
                "{} is not the JSON of password rules: {e}",
                file.display()
            ))
        });
    }
    let mut r = service::show_policy(store, a.org.as_deref())?.rules;
    let before = r.clone();
    if a.mfa {
        r.factor_mode = FactorMode::Mfa;
    }
    if a.single_factor {
        r.factor_mode = FactorMode::SingleFactor;
    }
    if let Some(n) = a.min_length {
        r.min_length = n;
    }
    if let Some(n) = a.max_length {
        r.max_length = n;
    }
    let flags = [
        (a.common, &mut r.common_passwords),
        (a.patterns, &mut r.patterns),
        (a.context_words, &mut r.context_words),
        (a.contains, &mut r.context_contains),
        (a.breached, &mut r.breached),
    ];
    for (flag, field) in flags {
        if let Some(v) = flag {
            *field = v.into();
        }
    }
    if !a.extra_word.is_empty() {
        r.extra_words = a
            .extra_word
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
    }
    if r == before && a.org.is_none() {
        return Err(CliError::Input("nothing to change: give --file or at least one rule flag (see `profilegate password policy set --help`)".into()));
    }
    Ok(r)
}

fn policy(store: &Store, cmd: PolicyCmd, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    match cmd {
        PolicyCmd::Show { org, json } => {
            let view = service::show_policy(store, org.as_deref())?;
            if json {
                let text = serde_json::to_string_pretty(&view.rules)
                    .map_err(|e| CliError::Input(e.to_string()))?;
                w(out, format!("{text}\n"))?;
            } else {
                w(out, render_policy(&view))?;
            }
        }
        PolicyCmd::Set(args) => {
            let org = args.org.clone();
            let rules = requested_rules(store, args)?;
            block_on(service::set_policy(cli_ctx(store), org.as_deref(), rules))??;
            w(
                out,
                render_policy(&service::show_policy(store, org.as_deref())?),
            )?;
        }
        PolicyCmd::Reset { org } => {
            block_on(service::clear_policy(cli_ctx(store), &org))??;
            w(
                out,
                format!("Organization {org} uses the root organization's password rules again.\n"),
            )?;
        }
        PolicyCmd::Notify { mode } => {
            let mode = match mode {
                EventMailArg::None => PasswordEventMail::None,
                EventMailArg::AdminInitiated => PasswordEventMail::AdminInitiated,
                EventMailArg::All => PasswordEventMail::All,
            };
            block_on(service::set_event_mail(cli_ctx(store), mode))??;
            w(out, render_policy(&service::show_policy(store, None)?))?;
        }
        PolicyCmd::Online(a) => {
            let mut online = service::show_policy(store, None)?.online;
            online.enabled = a.state.into();
            if let Some(url) = a.url {
                online.url = url.trim().to_owned();
            }
            if let Some(ms) = a.timeout_ms {
                online.timeout_ms = ms;
            }
            if let Some(mode) = a.on_failure {
                online.fail_closed = matches!(mode, FailMode::Closed);
            }
            block_on(service::set_online(cli_ctx(store), online))??;
            w(out, render_policy(&service::show_policy(store, None)?))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the password (one trailing line break dropped), evaluates it, prints the verdict.
fn check(
    store: &Store,
    org: Option<&str>,
    input: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let mut bytes = Zeroizing::new(Vec::new());
    input
        .take(MAX_CHECK_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err("cannot read the password from standard input"))?;
    if bytes.len() as u64 > MAX_CHECK_BYTES {
        return Err(CliError::Input(format!(
            "the password is over {MAX_CHECK_BYTES} bytes"
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CliError::Input("the password is not UTF-8".into()))?;
    let password = text
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(text);
    let filter = service::load_breached(store.dir())?;
    let source = filter.as_ref().map(|f| f as &dyn BreachedCheck);
    let verdict = service::check_with(
        store,
        org,
        password,
        &service::TryContext::default(),
        source,
    )?;
    let name = |r| {
        serde_json::to_value(r)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let applied: Vec<String> = verdict.applied.iter().map(|r| name(*r)).collect();
    match &verdict.outcome {
        Outcome::Accepted => {
            w(
                out,
                format!("accepted (rules checked: {})\n", applied.join(", ")),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Rejected { rule, message } => {
            w(
                out,
                format!(
                    "rejected by rule {}: {}\n{}\n",
                    name(*rule),
                    message.reason,
                    message.description
                ),
            )?;
            Ok(ExitCode::from(1))
        }
    }
}

/// `password breached import|status`: files of the data dir only, so it works while a server
/// holds the store. After an import, whoever holds the store records it: this command (when no
/// server runs; `store` is given when the caller opened it already) or the running server,
/// asked over the control socket to load the new filter (it also checks the file every few
/// seconds).
pub(super) fn breached(
    data_dir: &Path,
    store: Option<&Store>,
    cmd: BreachedCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        BreachedCmd::Status { json } => {
            let info = service::breached_status(data_dir)?;
            if json {
                let text = serde_json::to_string_pretty(&info)
                    .map_err(|e| CliError::Input(e.to_string()))?;
                w(out, format!("{text}\n"))?;
            } else {
                match info {
                    Some(i) => w(out, render_breached(&i))?,
                    None => w(out, "No breached-password filter is imported: the breached rule is not checked. Import one with `profilegate password breached import FILE`.\n".into())?,
                }
            }
        }
        BreachedCmd::Import {
            file,
            min_count,
            json,
        } => {
            let mut err = std::io::stderr();
            let mut progress = |p: &Progress| {
                let secs = p.elapsed.as_secs_f64().max(0.001);
                let pct = if p.total_bytes == 0 {
                    100.0
                } else {
                    p.bytes as f64 * 100.0 / p.total_bytes as f64
                };
                let _ = if p.shards_built == 0 {
                    writeln!(
                        err,
                        "read {} lines ({pct:.0}%), {} taken, {:.0} lines/s",
                        p.lines,
                        p.taken,
                        p.lines as f64 / secs
                    )
                } else {
                    writeln!(err, "building the filter: {} of 256 shards", p.shards_built)
                };
            };
            let info = service::import_breached(data_dir, &file, min_count, &mut progress)?;
            let note = after_import(data_dir, store, &info);
            if json {
                let text = serde_json::to_string_pretty(&info)
                    .map_err(|e| CliError::Input(e.to_string()))?;
                w(out, format!("{text}\n"))?;
            } else {
                w(out, format!("Imported.\n{}{note}", render_breached(&info)))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Records the import (this process holds the store) or asks the running server to load the
/// new filter; the line to print about it. The filter file is in place either way.
fn after_import(data_dir: &Path, store: Option<&Store>, info: &service::BreachedInfo) -> String {
    let record = |store: &Store| {
        block_on(service::record_breached(cli_ctx(store), info))
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
    };
    let recorded = match store {
        Some(s) => record(s),
        None => match Store::open(data_dir) {
            Ok(s) => {
                let r = record(&s);
                let _ = s.mark_durable_head();
                r
            }
            #[cfg(unix)]
            Err(StoreError::Locked {
                server: Some(server),
                ..
            }) => {
                return match crate::control::request_line(data_dir, "reload-breached") {
                    Ok(reply) => format!("The running server (pid {}): {}\n", server.pid, reply.trim()),
                    Err(e) => format!("The running server (pid {}) did not answer ({e}); it loads the new filter within a few seconds by itself.\n", server.pid),
                };
            }
            Err(e) => Err(e.to_string()),
        },
    };
    match recorded {
        Ok(()) => "Recorded in the audit log; a server started on this data dir uses it.\n".into(),
        Err(e) => {
            format!("WARNING: the filter is in place but the import is not in the audit log: {e}\n")
        }
    }
}

fn render_breached(i: &service::BreachedInfo) -> String {
    format!(
        "Breached-password filter:\n  entries: {}\n  file size: {} bytes ({:.2} bytes/entry)\n  false-positive rate: {:.6}% (1 in 65536)\n  min count: {}\n  source: {} ({} bytes)\n  imported: {}\n",
        i.entries,
        i.file_bytes,
        i.bytes_per_entry,
        i.false_positive_rate * 100.0,
        i.min_count,
        i.source_name,
        i.source_bytes,
        i.created
    )
}
