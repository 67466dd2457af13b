//! `audit` (verify the hash chain, export it) and `admin set-password`: adapters over
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
        AuditCmd::Verify => {
            let report = audit::verify(store)?;
            match report.first_bad {
                None => {
                    w(
                        out,
                        format!("audit chain intact: {} records\n", report.records),
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                Some((seq, why)) => {
                    w(
                        out,
                        format!(
                            "audit chain BROKEN at record {seq}: {why} ({} records before it are intact)\n",
                            report.records
                        ),
                    )?;
                    Ok(ExitCode::from(1))
                }
            }
        }
        AuditCmd::Export => {
            audit::export(store, out)?;
            Ok(ExitCode::SUCCESS)
        }
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
