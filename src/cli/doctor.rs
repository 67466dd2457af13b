//! `profilegate doctor [--json]`: an adapter over `service::doctor`. With a running server it
//! asks the server (the control socket's `doctor`), which holds the store; otherwise it opens
//! the store itself, after reading the data dir's files (opening makes their modes private).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::{block_on, io_err, w, CliError};
use crate::service::doctor::{self, Report, TlsSource};
use crate::store::Store;

/// Runs every check and prints one line each (or one JSON object); exit 1 when one FAILs.
pub(super) fn run(
    config: &crate::config::Config,
    json: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let dir = config.data_dir.0.as_path();
    let switched = act_as_owner(dir)?;
    let tls = TlsSource::resolve(
        config.tls_cert.0.as_deref(),
        config.tls_key.0.as_deref(),
        config.tls_self_signed.0,
        dir,
    );
    let mut report = if super::sync::server_answers(dir) {
        via_server(dir, &tls)?
    } else {
        offline(dir, &tls)?
    };
    if let Some(uid) = switched {
        report.findings.insert(0, doctor::ran_as(uid));
    }
    if json {
        let v = serde_json::json!({ "broken": report.broken(), "findings": report.findings });
        w(out, format!("{v}\n"))?;
    } else {
        w(out, report.text())?;
    }
    Ok(if report.broken() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Started as root on a data dir another user owns: become that user (its group, no
/// supplementary groups) before touching anything, so doctor sees what the server sees, may
/// use the control socket (which only the server's user may), and an offline open creates no
/// root-owned files. Done while the process has one thread (nothing is started yet), so the
/// per-thread switch holds for every thread started later.
fn act_as_owner(dir: &Path) -> Result<Option<u32>, CliError> {
    use rustix::process::{Gid, Uid};
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return Ok(None);
    }
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(None);
    };
    if meta.uid() == 0 {
        return Ok(None);
    }
    let fail = |e: rustix::io::Errno| CliError::Io {
        context: format!("cannot switch to the data dir's owner (uid {})", meta.uid()),
        source: e.into(),
    };
    rustix::thread::set_thread_groups(&[]).map_err(fail)?;
    rustix::thread::set_thread_gid(Gid::from_raw(meta.gid())).map_err(fail)?;
    rustix::thread::set_thread_uid(Uid::from_raw(meta.uid())).map_err(fail)?;
    Ok(Some(meta.uid()))
}

/// The server runs the checks; the answer is `{"ok": report}` or `{"error": message}`.
fn via_server(dir: &Path, tls: &TlsSource) -> Result<Report, CliError> {
    let request = serde_json::json!({ "tls": tls });
    let answer = crate::control::request_json(dir, "doctor", &request)
        .map_err(io_err("cannot reach the running server's control socket"))?;
    let v: serde_json::Value = serde_json::from_str(answer.trim()).map_err(|_| {
        CliError::Input(format!(
            "the running server answered no doctor report: {}",
            answer.trim()
        ))
    })?;
    if let Some(report) = v.get("ok") {
        return serde_json::from_value(report.clone())
            .map_err(|e| CliError::Input(format!("unreadable doctor report: {e}")));
    }
    Err(CliError::Input(format!(
        "the running server's doctor failed: {}",
        v.get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("no reason given")
    )))
}

/// No server: the files first, then the store opened here (never created).
fn offline(dir: &Path, tls: &TlsSource) -> Result<Report, CliError> {
    let files = doctor::gather_dir(dir);
    let runner = rustix::process::geteuid().as_raw();
    let store = match files {
        doctor::DirFacts::Missing => None,
        _ => Some(Store::open(dir).map_err(|e| e.to_string())),
    };
    let report = block_on(doctor::run(
        dir,
        runner,
        files,
        tls,
        store.as_ref().map(|r| r.as_ref().map_err(Clone::clone)),
    ))?;
    if let Some(Ok(store)) = &store {
        store.mark_durable_head()?;
    }
    Ok(report)
}
