//! `audit retention` and `audit archive`: adapters over `service::retention` (how long records
//! stay live, moving them to archive files, where the trail stands).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{block_on, cli_ctx, io_err, w, CliError};
use crate::model::RetentionSettings;
use crate::service::retention::{self, Request};
use crate::store::{now_unix_ms, Store};

/// `audit retention`: with limits, sets them; `status` (also with no arguments) and `off`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RetentionArgs {
    /// Archive a month once it ended more than this many days ago.
    #[arg(long, value_name = "DAYS")]
    keep_days: Option<u32>,
    /// Archive the oldest records while more than this many are live.
    #[arg(long, value_name = "N")]
    keep_records: Option<u64>,
    /// Where the archive files go (absolute; default `<data-dir>/archive`), e.g. a mounted
    /// backup volume. Left out: the one set before.
    #[arg(long, value_name = "DIR")]
    archive_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<RetentionCmd>,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// Keep every record live from now on (archive files already written stay).
    Off,
    /// The retention, the live chain, the database's size and the archive files with their
    /// ranges and checksums.
    Status {
        #[arg(long)]
        json: bool,
    },
}

impl RetentionArgs {
    /// The request, and whether the answer is wanted as JSON.
    fn request(self) -> (Request, bool) {
        match self.cmd {
            Some(RetentionCmd::Off) => (Request::Off, false),
            Some(RetentionCmd::Status { json }) => (Request::Status, json),
            None if self.keep_days.is_none()
                && self.keep_records.is_none()
                && self.archive_dir.is_none() =>
            {
                (Request::Status, false)
            }
            None => (
                Request::Set(RetentionSettings {
                    keep_days: self.keep_days,
                    keep_records: self.keep_records,
                    dir: self.archive_dir.map(|d| d.display().to_string()),
                }),
                false,
            ),
        }
    }
}

pub(super) fn run(
    store: &Store,
    args: RetentionArgs,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let (req, json) = args.request();
    let said = said(&req);
    let status = block_on(retention::apply(cli_ctx(store), req))??;
    let v = serde_json::to_value(&status)
        .map_err(|e| CliError::Input(format!("cannot write the status: {e}")))?;
    print_status(said, &v, json, out)
}

/// `audit retention` through the server that holds the data dir.
#[cfg(unix)]
pub(super) fn run_via_server(
    data_dir: &Path,
    args: RetentionArgs,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let (req, json) = args.request();
    let said = said(&req);
    let request = serde_json::to_value(&req)
        .map_err(|e| CliError::Input(format!("cannot send the request: {e}")))?;
    let answer = crate::control::request_json(data_dir, "audit-retention", &request)
        .map_err(io_err("cannot reach the running server"))?;
    let v: serde_json::Value = serde_json::from_str(answer.trim()).map_err(|_| {
        CliError::Input("the running server did not answer on its control socket".into())
    })?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        return Err(CliError::Input(e.to_string()));
    }
    print_status(said, &v["ok"], json, out)
}

/// The line a change prints before the status.
fn said(req: &Request) -> Option<&'static str> {
    match req {
        Request::Set(_) => Some(
            "audit retention set (the server applies it within the hour, or run `profilegate audit archive`)",
        ),
        Request::Off => Some("audit retention off: every record stays live"),
        Request::Status => None,
    }
}

/// The status, from its JSON (ours or the server's).
fn print_status(
    said: Option<&str>,
    s: &serde_json::Value,
    json: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    if json {
        w(out, format!("{s}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let settings: RetentionSettings =
        serde_json::from_value(s["settings"].clone()).unwrap_or_default();
    let mut text = said.map(|l| format!("{l}\n")).unwrap_or_default();
    text.push_str(&format!(
        "retention: {}\narchive directory: {}\nlive records: {} (chain head {}{})\ndatabase size: {} bytes\n",
        describe(&settings),
        s["dir"].as_str().unwrap_or_default(),
        s["live_records"],
        s["head"],
        s["base"]["seq"]
            .as_u64()
            .map(|b| format!(", archived through record {b}"))
            .unwrap_or_default(),
        s["db_bytes"]
    ));
    let archives = s["archives"].as_array().cloned().unwrap_or_default();
    if archives.is_empty() {
        text.push_str("archive files: none\n");
    } else {
        text.push_str("archive files (period, name, records, sha256):\n");
        for a in &archives {
            let f = &a["file"];
            text.push_str(&format!(
                "  {}  {}  {}..{}  sha256 {}{}\n",
                f["period"].as_str().unwrap_or_default(),
                f["name"].as_str().unwrap_or_default(),
                f["first_seq"],
                f["last_seq"],
                f["sha256"].as_str().unwrap_or("-"),
                if a["present"].as_bool() == Some(true) {
                    ""
                } else {
                    "  (not in the archive directory)"
                }
            ));
        }
    }
    w(out, text)?;
    Ok(ExitCode::SUCCESS)
}

/// The retention in words.
fn describe(r: &RetentionSettings) -> String {
    match (r.keep_days, r.keep_records) {
        (None, None) => "off (every record stays live)".into(),
        (Some(d), None) => format!("months that ended more than {d} days ago are archived"),
        (None, Some(n)) => format!("the newest {n} records stay live"),
        (Some(d), Some(n)) => format!(
            "months that ended more than {d} days ago are archived, and the newest {n} records stay live"
        ),
    }
}

/// `audit archive` on a data dir no server holds.
pub(super) fn archive(
    store: &Store,
    dry_run: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let outcome = block_on(retention::archive(cli_ctx(store), now_unix_ms(), dry_run))??;
    let v = serde_json::to_value(&outcome)
        .map_err(|e| CliError::Input(format!("cannot write the outcome: {e}")))?;
    print_outcome(&v, store.settings().audit_retention.enabled(), json, out)
}

/// `audit archive` run by the server that holds the data dir.
#[cfg(unix)]
pub(super) fn archive_via_server(
    data_dir: &Path,
    dry_run: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let line = if dry_run {
        "audit-archive dry-run"
    } else {
        "audit-archive"
    };
    let answer = crate::control::request_line(data_dir, line)
        .map_err(io_err("cannot reach the running server"))?;
    let v: serde_json::Value = serde_json::from_str(answer.trim()).map_err(|_| {
        CliError::Input("the running server did not answer on its control socket".into())
    })?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        return Err(CliError::Input(format!("the archive did not run: {e}")));
    }
    let outcome = v.get("ok").cloned().unwrap_or_default();
    let enabled = v.get("enabled").and_then(|e| e.as_bool()).unwrap_or(true);
    print_outcome(&outcome, enabled, json, out)
}

fn print_outcome(
    v: &serde_json::Value,
    enabled: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    if json {
        w(out, format!("{v}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let dry = v["dry_run"].as_bool().unwrap_or(false);
    let files = v["files"].as_array().cloned().unwrap_or_default();
    let mut text = String::new();
    if !enabled {
        text.push_str(
            "audit retention is off: nothing is archived (see `profilegate audit retention set`)\n",
        );
    } else if files.is_empty() {
        text.push_str("nothing to archive: every live record is within the retention\n");
    } else {
        text.push_str(&format!(
            "{} {} records to {} files in {}:\n",
            if dry { "would archive" } else { "archived" },
            v["records"],
            files.len(),
            v["dir"].as_str().unwrap_or_default()
        ));
        for f in &files {
            text.push_str(&format!(
                "  {}  {}  records {}..{}\n",
                f["period"].as_str().unwrap_or_default(),
                f["name"].as_str().unwrap_or_default(),
                f["first_seq"],
                f["last_seq"]
            ));
        }
        if v["more"].as_bool().unwrap_or(false) {
            text.push_str("(the run's first pass; more records are due after it)\n");
        }
        if let Some(seq) = v["record_seq"].as_u64() {
            text.push_str(&format!("recorded as audit record {seq}\n"));
        }
    }
    w(out, text)?;
    Ok(ExitCode::SUCCESS)
}
