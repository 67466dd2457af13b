//! `audit forward`: an adapter over `service::forward` (switch SIEM forwarding on or off, and
//! show where each target stands).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::{block_on, cli_ctx, io_err, w, CliError};
use crate::model::{HttpTarget, SyslogTarget};
use crate::service::forward::{self, Applied, Request, TargetStatus};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ForwardCmd {
    /// Send each record as an RFC 5424 message over TCP (octet-counted framing, RFC 6587).
    Syslog {
        #[arg(long)]
        host: String,
        #[arg(long)]
        port: u16,
        /// TLS from the first byte (RFC 5425).
        #[arg(long)]
        tls: bool,
        /// A CA certificate (PEM file) to trust besides the system's.
        #[arg(long, value_name = "FILE", requires = "tls")]
        tls_ca: Option<PathBuf>,
        /// Send every record from the first, not only those written from now on.
        #[arg(long)]
        from_start: bool,
    },
    /// POST the records as JSON lines (seq, hash, record) to a collector.
    Http {
        /// `https://…` (`http://` only to a loopback host).
        #[arg(long)]
        url: String,
        /// Read a bearer token from standard input (one line).
        #[arg(long)]
        token_stdin: bool,
        /// A CA certificate (PEM file) to trust besides the system's.
        #[arg(long, value_name = "FILE")]
        tls_ca: Option<PathBuf>,
        /// Send every record from the first, not only those written from now on.
        #[arg(long)]
        from_start: bool,
    },
    /// Stop forwarding, to one target or to both; its cursor is forgotten.
    Off {
        #[arg(value_parser = ["syslog", "http"])]
        target: Option<String>,
    },
    /// Each target: cursor, backlog (records on disk not yet accepted), lag, last error.
    Status {
        #[arg(long)]
        json: bool,
    },
}

fn read_ca(path: Option<PathBuf>) -> Result<Option<String>, CliError> {
    path.map(|p| {
        std::fs::read_to_string(&p).map_err(io_err(format!("cannot read {}", p.display())))
    })
    .transpose()
}

/// The change a command asks for; `None` for `status`.
fn request(cmd: ForwardCmd) -> Result<Option<Request>, CliError> {
    Ok(Some(match cmd {
        ForwardCmd::Syslog {
            host,
            port,
            tls,
            tls_ca,
            from_start,
        } => Request::Syslog {
            target: SyslogTarget {
                host,
                port,
                tls,
                tls_ca_pem: read_ca(tls_ca)?,
            },
            from_start,
        },
        ForwardCmd::Http {
            url,
            token_stdin,
            tls_ca,
            from_start,
        } => {
            let token = if token_stdin {
                let mut t = String::new();
                std::io::stdin()
                    .read_line(&mut t)
                    .map_err(io_err("cannot read the token"))?;
                Some(t.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            Request::Http {
                target: HttpTarget {
                    url,
                    token,
                    tls_ca_pem: read_ca(tls_ca)?,
                },
                from_start,
            }
        }
        ForwardCmd::Off { target } => Request::Off { target },
        ForwardCmd::Status { .. } => return Ok(None),
    }))
}

fn print_applied(a: &Applied, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    match a {
        Applied::Started { destination, after } => w(
            out,
            format!("forwarding the audit to {destination}, starting after record {after} (records up to it are not sent)\n"),
        )?,
        Applied::Off { targets } => {
            for t in targets {
                w(out, format!("forwarding to {t} is off\n"))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn run(
    store: &Store,
    cmd: ForwardCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let json = matches!(cmd, ForwardCmd::Status { json: true });
    match request(cmd)? {
        Some(req) => print_applied(&block_on(forward::apply(cli_ctx(store), req))??, out),
        None => print_status(&forward::status(store, None)?, json, out),
    }
}

/// `audit forward …` through the running server: it makes the change (its forwarders pick it
/// up) and has the counters for `status`.
#[cfg(unix)]
pub(super) fn via_server(
    data_dir: &Path,
    cmd: ForwardCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let json = matches!(cmd, ForwardCmd::Status { json: true });
    let Some(req) = request(cmd)? else {
        return status_via_server(data_dir, json, out);
    };
    let request = serde_json::to_value(&req)
        .map_err(|e| CliError::Input(format!("cannot send the request: {e}")))?;
    let answer = crate::control::request_json(data_dir, "audit-forward", &request)
        .map_err(io_err("cannot reach the running server"))?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Reply {
        Ok(Applied),
        Error(String),
    }
    match serde_json::from_str::<Reply>(answer.trim()) {
        Ok(Reply::Ok(a)) => print_applied(&a, out),
        Ok(Reply::Error(e)) => Err(CliError::Input(e)),
        Err(_) => Err(CliError::Input(
            "the running server did not answer on its control socket".into(),
        )),
    }
}

/// `audit forward status` through the running server (which has the counters).
#[cfg(unix)]
fn status_via_server(
    data_dir: &Path,
    json: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let answer = crate::control::request_line(data_dir, "audit-forward-status")
        .map_err(io_err("cannot reach the running server"))?;
    let v: serde_json::Value = serde_json::from_str(answer.trim()).map_err(|_| {
        CliError::Input("the running server did not answer on its control socket".into())
    })?;
    if let Some(e) = v.get("error") {
        return Err(CliError::Input(format!("the server could not tell: {e}")));
    }
    let list = v.get("ok").cloned().unwrap_or_default();
    if json {
        w(out, format!("{list}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    print_rows(&list, out)
}

fn print_status(
    list: &[TargetStatus],
    json: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let v = serde_json::to_value(list).unwrap_or_default();
    if json {
        w(out, format!("{v}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    print_rows(&v, out)
}

/// One paragraph a target, from the status as JSON (the server's or ours).
fn print_rows(v: &serde_json::Value, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let rows = v.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        w(out, "audit forwarding is off\n".into())?;
    }
    for r in rows {
        let num = |k: &str| r.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
        let text = |k: &str| {
            r.get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        w(
            out,
            format!(
                "{}: {}\n  cursor {} (started after {}), durable head {}, backlog {}, lag {} s\n",
                text("target"),
                text("destination"),
                num("cursor"),
                num("started_after"),
                num("durable_head"),
                num("backlog"),
                num("lag_seconds"),
            ),
        )?;
        if let (Some(sent), Some(failures)) = (
            r.get("sent").and_then(serde_json::Value::as_u64),
            r.get("failures").and_then(serde_json::Value::as_u64),
        ) {
            w(
                out,
                format!("  sent {sent}, failures {failures} since start\n"),
            )?;
        }
        match r.get("last_error").and_then(serde_json::Value::as_str) {
            Some(e) => w(out, format!("  last error: {e}\n"))?,
            None => w(out, "  last error: none\n".into())?,
        }
    }
    Ok(ExitCode::SUCCESS)
}
