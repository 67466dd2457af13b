//! `audit` (verify the hash chain, export it) and `admin set-password`.

use std::io::Write;
use std::process::ExitCode;

use super::{io_err, w, AdminCmd, AuditCmd, CliError};
use crate::auth::CredentialError;
use crate::store::Store;

pub(super) fn audit(
    store: &Store,
    cmd: AuditCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        AuditCmd::Verify => {
            let report = store.verify_audit()?;
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
            store.export_audit(out)?;
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
            crate::admin::validate_password(p)
                .map_err(|e| CliError::Input(format!("the password {e}")))?;
            let hash = crate::auth::secret::hash(p).map_err(CredentialError::from)?;
            store.set_admin_password_hash("cli", &hash)?;
            w(out, "Admin password set.\n".into())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
