//! `audit` (verify the hash chain and its anchors, export it, its signed checkpoint) and `admin set-password`: adapters over
//! `service::audit` and `service::access`.

use std::io::Write;
use std::process::ExitCode;

use super::{block_on, cli_ctx, io_err, w, AdminCmd, AuditCmd, CliError};
use crate::service::{access, audit};
use crate::store::Store;

pub(super) fn audit(
    store: &Store,
    cmd: AuditCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        AuditCmd::Verify {
            anchors,
            checkpoints,
            public_key,
            archives,
        } => {
            // A line that is not a checkpoint is refused before any verdict.
            let (v, checks) = audit::verify_chain(
                store,
                archives.as_deref(),
                &anchors,
                &checkpoints,
                public_key.as_deref(),
            )?;
            let scope = match (&v.archives, &v.base) {
                (Some((files, archived)), _) => format!(
                    " ({archived} in {files} archive files, {} live)",
                    v.report.records - archived
                ),
                (None, Some(base)) => format!(
                    " (the live chain, after archived record {}; add --archives DIR to check the archives too)",
                    base.seq
                ),
                (None, None) => String::new(),
            };
            let mut code = match v.report.first_bad {
                None => {
                    w(
                        out,
                        format!("audit chain intact: {} records{scope}\n", v.report.records),
                    )?;
                    ExitCode::SUCCESS
                }
                Some((seq, why)) => {
                    w(
                        out,
                        format!(
                            "audit chain BROKEN at record {seq}: {why} ({} records before it are intact)\n",
                            v.report.records
                        ),
                    )?;
                    ExitCode::from(1)
                }
            };
            for c in checks {
                match c.problem {
                    None => w(out, format!("{} holds\n", c.what))?,
                    Some(why) => {
                        w(out, format!("{} FAILS: {why}\n", c.what))?;
                        code = ExitCode::from(1);
                    }
                }
            }
            Ok(code)
        }
        AuditCmd::Export => {
            audit::export(store, out)?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Checkpoint { json } => {
            let info = audit::checkpoint(store)?;
            store.flush()?;
            print_checkpoint(&info, json, out)
        }
        AuditCmd::Forward(cmd) => super::forward::run(store, cmd, out),
        AuditCmd::Retention(cmd) => super::retention::run(store, cmd, out),
        AuditCmd::Archive { dry_run, json } => super::retention::archive(store, dry_run, json, out),
    }
}

/// Prints a checkpoint: the line to paste and the key it verifies under, or one JSON object.
fn print_checkpoint(
    info: &audit::CheckpointInfo,
    json: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    if json {
        let j = serde_json::to_string(info)
            .map_err(|e| CliError::Input(format!("cannot write the checkpoint: {e}")))?;
        w(out, format!("{j}\n"))?;
    } else {
        w(
            out,
            format!(
                "{}\nAnchor:     {}:{}\nPublic key: {}\n",
                info.line, info.seq, info.hash, info.public_key
            ),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `audit checkpoint` answered by the server that holds the data dir.
#[cfg(unix)]
pub(super) fn checkpoint_via_server(
    data_dir: &std::path::Path,
    json: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let reply = crate::control::request_line(data_dir, "audit-checkpoint").map_err(
        super::io_err("the running server did not answer on its control socket"),
    )?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Reply {
        Ok(audit::CheckpointInfo),
        Error(String),
    }
    match serde_json::from_str::<Reply>(&reply) {
        Ok(Reply::Ok(info)) => print_checkpoint(&info, json, out),
        Ok(Reply::Error(e)) => Err(CliError::Service(
            crate::service::ServiceError::Unavailable(e),
        )),
        Err(_) => Err(CliError::Input(format!(
            "the server gave an answer this command does not understand: {}",
            reply.chars().take(200).collect::<String>()
        ))),
    }
}

pub(super) fn admin(
    store: &Store,
    cmd: AdminCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        AdminCmd::SetPassword { .. } => {
            let mut p = String::new();
            std::io::stdin()
                .read_line(&mut p)
                .map_err(io_err("cannot read the password"))?;
            let p = p.trim_end_matches(['\r', '\n']);
            block_on(access::set_password(cli_ctx(store), p))??;
            w(out, "Admin password set.\n".into())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
