//! `audit retention` and `audit archive`: adapters over `service::retention` (how long records
//! stay live, moving them to archive files, where the trail stands).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::{block_on, cli_ctx, io_err, w, CliError};
use crate::model::RetentionSettings;
use crate::service::retention;
use crate::store::{now_unix_ms, Store};

#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// Keep records live for a time and/or a count; older ones move to archive files, a whole
    /// month at a time (never a record younger than a day).
    Set {
        /// Archive a month once it ended more than this many days ago.
        #[arg(long, value_name = "DAYS")]
        keep_days: Option<u32>,
        /// Archive the oldest records while more than this many are live.
        #[arg(long, value_name = "N")]
        keep_records: Option<u64>,
        /// Where the archive files go (absolute; default `<data-dir>/archive`), e.g. a mounted
        /// backup volume. Left out: the one set before.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Keep every record live from now on (archive files already written stay).
    Off,
    /// The retention, the live chain, the database's size and the archive files.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(
    store: &Store,
    cmd: RetentionCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        RetentionCmd::Set {
            keep_days,
            keep_records,
            dir,
        } => {
            let r = RetentionSettings {
                keep_days,
                keep_records,
                dir: dir.map(|d| d.display().to_string()),
            };
            block_on(retention::set(cli_ctx(store), r))??;
            let s = retention::status(store)?;
            w(
                out,
                format!(
                    "audit retention set: {}; archives go to {} (the server applies it within the hour, or run `profilegate audit archive`)\n",
                    describe(&s.settings),
                    s.dir
                ),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        RetentionCmd::Off => {
            block_on(retention::off(cli_ctx(store)))??;
            w(out, "audit retention off: every record stays live\n".into())?;
            Ok(ExitCode::SUCCESS)
        }
        RetentionCmd::Status { json } => {
            let s = retention::status(store)?;
            if json {
                let j = serde_json::to_string(&s)
                    .map_err(|e| CliError::Input(format!("cannot write the status: {e}")))?;
                w(out, format!("{j}\n"))?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut text = format!(
                "retention: {}\narchive directory: {}\nlive records: {} (chain head {}{})\ndatabase size: {} bytes\n",
                describe(&s.settings),
                s.dir,
                s.live_records,
                s.head,
                s.base
                    .as_ref()
                    .map(|b| format!(", archived through record {}", b.seq))
                    .unwrap_or_default(),
                s.db_bytes
            );
            if let Some(e) = &s.archives_error {
                text.push_str(&format!("archive files: cannot list them: {e}\n"));
            } else if s.archives.is_empty() {
                text.push_str("archive files: none\n");
            } else {
                text.push_str("archive files:\n");
                for f in &s.archives {
                    text.push_str(&format!(
                        "  {}  {}  records {}..{} ({})  {} bytes\n",
                        f.period, f.name, f.first_seq, f.last_seq, f.records, f.bytes
                    ));
                }
            }
            w(out, text)?;
            Ok(ExitCode::SUCCESS)
        }
    }
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
        if let Some(seq) = v["record_seq"].as_u64() {
            text.push_str(&format!("recorded as audit record {seq}\n"));
        }
    }
    w(out, text)?;
    Ok(ExitCode::SUCCESS)
}
