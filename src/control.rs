//! The local control socket, `<data-dir>/control.sock`: how a command reaches a running
//! server that holds the data dir (sled allows one process). Only the data dir's owner can
//! reach it: the dir is 0700 and the socket 0600, and each connection's peer must run as the
//! server's user (SO_PEERCRED), in case the modes were loosened by hand. One command a
//! connection, one line: `backup` streams a backup of the running store; `reload-breached`
//! loads a newly imported breached-password filter (and audits it), answering one line;
//! `audit-checkpoint` answers the latest signed checkpoint as one JSON line;
//! `audit-forward-status` where each SIEM forwarding target stands, as one JSON line;
//! `audit-archive [dry-run]` runs the audit retention now, `audit-retention REQUEST` changes it
//! or tells its status, `audit-forward REQUEST` switches a SIEM target on or off, and
//! `simulate REQUEST` runs a dry run of an event, and `doctor REQUEST` runs `profilegate
//! doctor`'s checks, each answering one JSON line.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::app::App;
use crate::chunks::ChunkWriter;
use crate::service::{Ctx, Durability, ServiceError};

/// Longest command line read (a `simulate` request holds an event and a department list).
const MAX_LINE: u64 = 4 << 20;

/// The socket's path in a data dir.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// Serves the control socket until the task is aborted.
pub async fn serve(app: Arc<App>) {
    let store = app.store.clone();
    let path = socket_path(store.dir());
    // A socket left by a killed server is stale: we hold the data dir's lock, so remove it.
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "no control socket: `profilegate backup` will not reach this server");
            return;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(error = %e, path = %path.display(), "could not make the control socket private (0600)");
        }
    }
    let me = rustix::process::geteuid().as_raw();
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == me => {}
            other => {
                let uid = other
                    .map(|c| c.uid().to_string())
                    .unwrap_or_else(|_| "unknown".into());
                tracing::warn!(uid, "refused a control connection from another user");
                let _ = stream
                    .write_all(b"refused: only the server's own user may use this socket\n")
                    .await;
                continue;
            }
        }
        let store = store.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let (rd, mut wr) = stream.into_split();
            let mut line = String::new();
            // A `simulate` line carries an event (64 KiB) and maybe a department list.
            let mut rd = BufReader::new(tokio::io::AsyncReadExt::take(rd, MAX_LINE));
            if rd.read_line(&mut line).await.is_err() {
                return;
            }
            match line.trim() {
                "backup" => {
                    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
                    let job = tokio::task::spawn_blocking(move || {
                        let mut w = ChunkWriter::new(tx, |chunk| chunk);
                        let r = crate::service::backup::write(&store, &mut w);
                        let _ = w.flush();
                        r
                    });
                    while let Some(chunk) = rx.recv().await {
                        if wr.write_all(&chunk).await.is_err() {
                            break;
                        }
                    }
                    match job.await {
                        Ok(Ok(s)) => tracing::info!(records = s.audit_records, "backup taken"),
                        Ok(Err(e)) => tracing::error!(error = %e, "backup failed"),
                        Err(e) => tracing::error!(error = %e, "backup task failed"),
                    }
                }
                "reload-breached" => {
                    let ctx = Ctx {
                        store: &app.store,
                        durability: Durability::Commit(&app.commit),
                        actor: "cli",
                    };
                    let reply = match crate::service::password::reload_breached(ctx, &app.breached)
                        .await
                    {
                        Ok(Some(info)) => {
                            tracing::info!(
                                entries = info.entries,
                                "loaded a new breached-password filter"
                            );
                            format!("loaded the new filter ({} entries)\n", info.entries)
                        }
                        Ok(None) => match app.breached.get() {
                            Some(f) => format!(
                                "the filter in use is current ({} entries)\n",
                                f.meta().entries
                            ),
                            None => "no filter is loaded\n".to_string(),
                        },
                        Err(e) => {
                            tracing::warn!(error = %e, "could not load the breached-password filter; the previous one stays in use");
                            format!("could not load the new filter ({e}); the previous one stays in use\n")
                        }
                    };
                    let _ = wr.write_all(reply.as_bytes()).await;
                }
                "audit-checkpoint" => {
                    let store = app.store.clone();
                    let reply =
                        blocking_answer(move || crate::service::audit::checkpoint(&store)).await;
                    let _ = wr.write_all(format!("{reply}\n").as_bytes()).await;
                }
                "audit-forward-status" => {
                    let store = app.store.clone();
                    let stats = app.forward.clone();
                    let reply = blocking_answer(move || {
                        crate::service::forward::status(&store, Some(&stats))
                    })
                    .await;
                    let _ = wr.write_all(format!("{reply}\n").as_bytes()).await;
                }
                "audit-archive" | "audit-archive dry-run" => {
                    let dry_run = line.trim().ends_with("dry-run");
                    let enabled = app.store.settings().audit_retention.enabled();
                    let reply = match crate::service::retention::archive_shared(
                        &app.store,
                        Durability::Commit(&app.commit),
                        "cli",
                        crate::store::now_unix_ms(),
                        dry_run,
                    )
                    .await
                    {
                        Ok(o) => serde_json::json!({ "ok": o, "enabled": enabled }),
                        Err(e) => serde_json::json!({ "error": e.to_string() }),
                    };
                    let _ = wr.write_all(format!("{reply}\n").as_bytes()).await;
                }
                other if other.starts_with("audit-forward ") => {
                    let reply = audit_forward(&app, &other["audit-forward ".len()..]).await;
                    let _ = wr.write_all(format!("{reply}\n").as_bytes()).await;
                }
                other if other.starts_with("audit-retention ") => {
                    let reply = audit_retention(&app, &other["audit-retention ".len()..]).await;
                    let _ = wr.write_all(format!("{reply}\n").as_bytes()).await;
                }
                other if other.starts_with("doctor ") => {
                    let reply = doctor(&app, &other["doctor ".len()..]).await;
                    let _ = wr.write_all(format!("{reply}\n").as_bytes()).await;
                }
                other if other.starts_with("simulate ") => {
                    let reply = simulate(&app, &other["simulate ".len()..]).await;
                    let _ = wr.write_all(format!("{reply}\n").as_bytes()).await;
                }
                other if other.starts_with("department-sync ") => {
                    let reply = department_sync(&app, &other["department-sync ".len()..]).await;
                    let _ = wr.write_all(reply.as_bytes()).await;
                }
                other => {
                    let _ = wr
                        .write_all(format!("unknown command {other:?}\n").as_bytes())
                        .await;
                }
            }
            let _ = wr.shutdown().await;
        });
    }
}

/// `audit-forward REQUEST` (see `service::forward::Request`): switching a SIEM target on, or
/// off, made by the server (its forwarders read the settings at each step), answered as
/// `{"ok": applied}` or `{"error": message}`.
async fn audit_forward(app: &App, request: &str) -> serde_json::Value {
    let Ok(req) = serde_json::from_str::<crate::service::forward::Request>(request) else {
        return serde_json::json!({ "error": "not an audit-forward request" });
    };
    answer(crate::service::forward::apply(server_ctx(app), req).await)
}

/// `simulate REQUEST` (see `service::simulate::SimulateRequest`): a dry run with the server's
/// settings, key ring and breached-password filter, answered as `{"ok": simulation}` or
/// `{"error": message}`.
async fn simulate(app: &Arc<App>, request: &str) -> serde_json::Value {
    use crate::service::simulate::{self, SimulateRequest};
    let Ok(req) = serde_json::from_str::<SimulateRequest>(request) else {
        return serde_json::json!({ "error": "not a simulate request" });
    };
    let app = app.clone();
    blocking_answer(move || simulate::simulate(&app.simulation_deps(), &req)).await
}

/// `doctor {"tls": source}`: every check run by the server (its user, its store, its view of
/// the mail server), answered as `{"ok": report}`; the CLI names the certificate it resolved.
async fn doctor(app: &App, request: &str) -> serde_json::Value {
    use crate::service::doctor;
    #[derive(serde::Deserialize)]
    struct Req {
        #[serde(default)]
        tls: doctor::TlsSource,
    }
    let Ok(req) = serde_json::from_str::<Req>(request) else {
        return serde_json::json!({ "error": "not a doctor request" });
    };
    let dir = app.store.dir().to_path_buf();
    // Walking the data dir (sled's blob files too) is blocking work: off the runtime threads.
    let walk = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || doctor::gather_dir(&dir))
    };
    let files = match walk.await {
        Ok(files) => files,
        Err(e) => return serde_json::json!({ "error": e.to_string() }),
    };
    let me = rustix::process::geteuid().as_raw();
    let report = doctor::run(&dir, me, files, &req.tls, Some(Ok(&app.store))).await;
    serde_json::json!({ "ok": report })
}

/// A use case's context in the server, for a command the CLI sent.
fn server_ctx(app: &App) -> Ctx<'_> {
    Ctx {
        store: &app.store,
        durability: Durability::Commit(&app.commit),
        actor: "cli",
    }
}

/// `{"ok": value}` or `{"error": message}`.
fn answer<T: serde::Serialize>(r: Result<T, ServiceError>) -> serde_json::Value {
    match r {
        Ok(v) => serde_json::json!({ "ok": v }),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

/// [`answer`] for blocking work (store reads, signing), run off the runtime's threads; a task
/// that panicked is answered `{"error": message}` too.
async fn blocking_answer<T, F>(f: F) -> serde_json::Value
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce() -> Result<T, ServiceError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => answer(r),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

/// `audit-retention {"set": {…}} | "off" | "status"`: a retention change made by the server,
/// answered as `{"ok": status}` or `{"error": message}`.
async fn audit_retention(app: &App, request: &str) -> serde_json::Value {
    let Ok(req) = serde_json::from_str::<crate::service::retention::Request>(request) else {
        return serde_json::json!({ "error": "not an audit-retention request" });
    };
    answer(crate::service::retention::apply(server_ctx(app), req).await)
}

/// `department-sync {"org": …, "mode": "sync" | "dry-run" | "approve"}`: a sync run by the
/// server, answered as one JSON object, `{"ok": report}` or `{"error": {kind, message}}`.
async fn department_sync(app: &App, request: &str) -> String {
    use crate::service::sync::{self, Mode};
    #[derive(serde::Deserialize)]
    struct Req {
        org: Option<String>,
        mode: String,
    }
    let error = |kind: &str, message: String| {
        serde_json::json!({ "error": { "kind": kind, "message": message } }).to_string()
    };
    let Ok(req) = serde_json::from_str::<Req>(request) else {
        return error("invalid", "not a department-sync request".into());
    };
    let mode = match req.mode.as_str() {
        "sync" => Mode::Sync,
        "dry-run" => Mode::DryRun,
        "approve" => Mode::Approve,
        _ => return error("invalid", format!("unknown mode {:?}", req.mode)),
    };
    match sync::sync(server_ctx(app), req.org.as_deref(), mode).await {
        Ok(report) => serde_json::json!({ "ok": report }).to_string(),
        Err(e) => {
            let kind = match &e {
                ServiceError::Invalid { .. } => "invalid",
                ServiceError::NotFound(_) => "not_found",
                ServiceError::Conflict(_) => "conflict",
                ServiceError::Upstream { .. } => "upstream",
                _ => "unavailable",
            };
            error(kind, e.to_string())
        }
    }
}

/// Sends `command json` to the server holding `data_dir` and returns its answer (at most
/// 64 MiB: a sync's diff lists names).
pub fn request_json(
    data_dir: &Path,
    command: &str,
    request: &serde_json::Value,
) -> std::io::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(socket_path(data_dir))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(180)))?;
    s.write_all(format!("{command} {request}\n").as_bytes())?;
    let mut out = String::new();
    s.take(64 << 20).read_to_string(&mut out)?;
    Ok(out)
}

/// Asks the server holding `data_dir` for a backup; returns its bytes (checked by the caller).
pub fn request_backup(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut s = std::os::unix::net::UnixStream::connect(socket_path(data_dir))?;
    s.write_all(b"backup\n")?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

/// Sends one command line to the server holding `data_dir` and returns its one-line answer.
pub fn request_line(data_dir: &Path, command: &str) -> std::io::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(socket_path(data_dir))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))?;
    s.write_all(format!("{command}\n").as_bytes())?;
    let mut out = String::new();
    // An archive run's answer lists every file it wrote (about 450 bytes each).
    s.take(16 * 1024 * 1024).read_to_string(&mut out)?;
    Ok(out)
}
