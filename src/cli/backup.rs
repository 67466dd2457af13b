//! `check-config`, `backup` and `restore`: the commands that handle the data dir as a whole,
//! whether or not a server holds it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::{io_err, w, CliError};
use crate::service::backup;
use crate::store::{Store, StoreError};

/// Prints the effective configuration, and the settings stored in the data dir (SMTP
/// password masked) when no server holds it.
pub(super) fn check_config(
    config: &crate::config::Config,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    w(
        out,
        "# effective configuration (value  # where it came from)\n".into(),
    )?;
    w(out, config.describe())?;
    let dir = &config.data_dir.0;
    if !dir.join("db").exists() {
        w(
            out,
            format!("\n# {} holds no database yet\n", dir.display()),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    match Store::open(dir) {
        Ok(store) => {
            let settings =
                serde_json::to_string_pretty(&store.settings().redacted()).unwrap_or_default();
            w(
                out,
                format!(
                    "\n# settings stored in {} (secrets masked)\n{settings}\n",
                    dir.display()
                ),
            )?;
        }
        Err(StoreError::Locked { server, .. }) => w(
            out,
            format!(
                "\n# the stored settings are not shown: a server{} holds the data dir\n",
                server
                    .map(|s| format!(" (pid {})", s.pid))
                    .unwrap_or_default()
            ),
        )?,
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a backup (`service::backup`): from the store when nobody holds it, else through the
/// running server's control socket.
pub(super) fn backup_command(
    data_dir: &Path,
    file: &Path,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let (summary, how) = match Store::open(data_dir) {
        Ok(store) => (backup::save(&store, file)?, String::new()),
        #[cfg(unix)]
        Err(StoreError::Locked {
            server: Some(server),
            ..
        }) => {
            let bytes = crate::control::request_backup(data_dir).map_err(io_err(format!(
                "the data dir is in use by the server (pid {}) but its control socket does not answer",
                server.pid
            )))?;
            (
                backup::save_bytes(&bytes, file)?,
                format!(" (through the running server, pid {})", server.pid),
            )
        }
        Err(e) => return Err(e.into()),
    };
    w(
        out,
        format!(
            "Backup written to {}{how}: {} audit records, {} entries.\n",
            file.display(),
            summary.audit_records,
            summary.entries
        ),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Restores a backup into an empty data dir; the audit chain is verified on the way in.
pub(super) fn restore_command(
    data_dir: &Path,
    file: &Path,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let s = backup::restore(data_dir, file)?;
    w(
        out,
        format!(
            "Restored {} into {}: {} audit records, and the audit chain verifies.\n",
            file.display(),
            data_dir.display(),
            s.audit_records
        ),
    )?;
    Ok(ExitCode::SUCCESS)
}
