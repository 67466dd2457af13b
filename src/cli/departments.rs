//! `departments`: adapters over `service::departments`; listing and exporting read the store.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use super::{block_on, cli_ctx, io_err, w, CliError, DepartmentsCmd, MatchArg};
use crate::policy::MatchMode;
use crate::service::departments;
use crate::store::Store;

pub(super) fn run(
    store: &Store,
    cmd: DepartmentsCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        DepartmentsCmd::Add { names, org } => {
            let added = block_on(departments::add(cli_ctx(store), org.as_deref(), &names))??;
            w(
                out,
                format!(
                    "Added {} department(s); {} already present.\n",
                    added.len(),
                    names.len() - added.len()
                ),
            )?;
        }
        DepartmentsCmd::Remove { names, org } => {
            let n = block_on(departments::remove(cli_ctx(store), org.as_deref(), &names))??;
            w(out, format!("Removed {n} department(s).\n"))?;
        }
        DepartmentsCmd::List { org } => {
            for name in departments::list(store, org.as_deref())? {
                w(out, format!("{name}\n"))?;
            }
        }
        DepartmentsCmd::Import { file, org, replace } => {
            // Before reading: a wrong id fails without waiting for standard input.
            departments::validate_org(org.as_deref())?;
            let text = read_input(&file)?;
            let plan = block_on(departments::import(
                cli_ctx(store),
                departments::Import {
                    csv: &text,
                    org: org.as_deref(),
                    replace,
                    apply: true,
                },
            ))??;
            w(
                out,
                format!(
                    "Imported {} name(s): {} added, {} removed, {} unchanged.\n",
                    plan.added.len() + plan.unchanged,
                    plan.added.len(),
                    plan.removed.len(),
                    plan.unchanged
                ),
            )?;
        }
        DepartmentsCmd::Match { mode } => {
            let mode = match mode {
                MatchArg::Exact => MatchMode::Exact,
                MatchArg::CaseInsensitive => MatchMode::CaseInsensitive,
            };
            block_on(departments::set_match(cli_ctx(store), mode))??;
            w(
                out,
                format!(
                    "Department values are now compared {}.\n",
                    match mode {
                        MatchMode::Exact => "exactly",
                        MatchMode::CaseInsensitive => "ignoring case",
                    }
                ),
            )?;
        }
        DepartmentsCmd::Source(cmd) => return super::sync::source(store, cmd, out),
        DepartmentsCmd::Sync {
            org,
            dry_run,
            approve,
            json,
        } => {
            return super::sync::sync_here(
                store,
                org.as_deref(),
                super::sync::sync_mode(dry_run, approve),
                json,
                out,
            )
        }
        DepartmentsCmd::Export { org } => {
            let mut wr = csv::Writer::from_writer(Vec::new());
            let write_err = |e: csv::Error| CliError::Input(format!("cannot write CSV: {e}"));
            wr.write_record(["name"]).map_err(write_err)?;
            for name in departments::list(store, org.as_deref())? {
                wr.write_record([name]).map_err(write_err)?;
            }
            let bytes = wr
                .into_inner()
                .map_err(|e| CliError::Input(format!("cannot write CSV: {e}")))?;
            out.write_all(&bytes)
                .map_err(io_err("cannot write output"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_input(file: &Path) -> Result<String, CliError> {
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(io_err("cannot read standard input"))?;
    } else {
        text = std::fs::read_to_string(file)
            .map_err(io_err(format!("cannot read {}", file.display())))?;
    }
    Ok(text)
}
