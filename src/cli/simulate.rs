//! `simulate`: a dry run of one event, the adapter over `service::simulate`. Offline it reads
//! the data dir and writes nothing; while a server holds the data dir, the server runs it
//! (control socket `simulate`). Exit code: 0 SUCCESS, 1 FAILED, 2 ERROR.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{io_err, w, CliError};
use crate::service::simulate::{
    self, DepartmentsOverride, Deps, Endpoint, Overrides, SimulateRequest, Simulation,
};
use crate::store::Store;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The event (the request body as the identity server POSTs it); `-` reads stdin.
    #[arg(required_unless_present = "sample")]
    pub file: Option<PathBuf>,
    /// A bundled sample event instead of FILE (`--sample list` names them).
    #[arg(long, conflicts_with = "file")]
    pub sample: Option<String>,
    /// The endpoint it is posted to (default: the one its actionType names).
    #[arg(long, value_enum)]
    pub endpoint: Option<EndpointArg>,
    /// Evaluate with this department list (CSV, as `departments import` reads it) instead of
    /// the stored one, for the root organization or `--org`.
    #[arg(long, value_name = "CSV")]
    pub against: Option<PathBuf>,
    /// The organization whose list `--against` replaces (default: the root).
    #[arg(long, requires = "against")]
    pub org: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EndpointArg {
    Profile,
    Password,
}

pub(super) fn run(
    data_dir: &Path,
    args: SimulateArgs,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    let event = match (&args.sample, &args.file) {
        (Some(id), _) if id == "list" => {
            for s in simulate::samples() {
                w(out, format!("{}\t{}\n", s.id, s.label))?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        (Some(id), _) => simulate::sample(id)
            .ok_or_else(|| CliError::Input(format!("no bundled sample {id:?} (--sample list)")))?
            .event
            .to_string(),
        (None, Some(file)) => read_event(file)?,
        (None, None) => return Err(CliError::Input("give FILE, - or --sample".into())),
    };
    let mut overrides = Overrides::default();
    if let Some(csv) = &args.against {
        let text = std::fs::read_to_string(csv)
            .map_err(io_err(format!("cannot read {}", csv.display())))?;
        let names = crate::service::departments::parse_csv(&text)?;
        overrides.departments = Some(DepartmentsOverride {
            org: args.org.clone(),
            names: names.into_iter().collect(),
        });
    }
    let req = SimulateRequest {
        event,
        endpoint: args.endpoint.map(|e| match e {
            EndpointArg::Profile => Endpoint::Profile,
            EndpointArg::Password => Endpoint::Password,
        }),
        overrides,
    };
    let sim = evaluate(data_dir, &req)?;
    if args.json {
        let text = serde_json::to_string_pretty(&sim)
            .map_err(|e| CliError::Input(format!("cannot write JSON: {e}")))?;
        w(out, format!("{text}\n"))?;
    } else {
        w(out, render(&sim))?;
    }
    Ok(ExitCode::from(match sim.decision.as_str() {
        "SUCCESS" => 0,
        "FAILED" => 1,
        _ => 2,
    }))
}

/// Reads the event, at most one byte over the endpoint's limit (the simulation answers a
/// longer body as the endpoint does, without reading all of it).
fn read_event(file: &Path) -> Result<String, CliError> {
    let limit = crate::contract::MAX_BODY as u64 + 1;
    let mut bytes = Vec::new();
    if file == Path::new("-") {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(io_err("cannot read standard input"))?;
    } else {
        std::fs::File::open(file)
            .and_then(|f| f.take(limit).read_to_end(&mut bytes))
            .map_err(io_err(format!("cannot read {}", file.display())))?;
    }
    // Not UTF-8: the endpoint would refuse it as malformed JSON, and so does the simulation.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Through the running server when one holds the data dir, else on the data dir itself
/// (opened, read, closed: nothing appended, not even the head marker).
fn evaluate(data_dir: &Path, req: &SimulateRequest) -> Result<Simulation, CliError> {
    #[cfg(unix)]
    if super::sync::server_answers(data_dir) {
        return via_server(data_dir, req);
    }
    if !data_dir.join("db").exists() {
        return Err(CliError::Input(format!(
            "no data dir at {} (set --data-dir)",
            data_dir.display()
        )));
    }
    let store = Store::open(data_dir)?;
    let breached = crate::breached::path(data_dir);
    let breached = breached
        .exists()
        .then(|| crate::breached::Filter::load(&breached))
        .transpose()
        .map_err(|e| CliError::Input(format!("cannot load the breached-password filter: {e}")))?
        .map(std::sync::Arc::new);
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt)
        .map_err(|e| CliError::Input(format!("no random numbers for the request key: {e}")))?;
    let deps = Deps {
        store: &store,
        blocklist: crate::service::password::bundled_blocklist(),
        breached,
        salt,
    };
    Ok(simulate::simulate(&deps, req)?)
}

#[cfg(unix)]
fn via_server(data_dir: &Path, req: &SimulateRequest) -> Result<Simulation, CliError> {
    let request = serde_json::to_value(req)
        .map_err(|e| CliError::Input(format!("cannot encode the request: {e}")))?;
    let reply = crate::control::request_json(data_dir, "simulate", &request)
        .map_err(io_err("cannot reach the running server"))?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Reply {
        Ok(Box<Simulation>),
        Error(String),
    }
    match serde_json::from_str::<Reply>(reply.trim()) {
        Ok(Reply::Ok(sim)) => Ok(*sim),
        Ok(Reply::Error(e)) => Err(CliError::Input(e)),
        Err(_) => Err(CliError::Input(format!(
            "the running server did not answer the simulation: {}",
            reply.trim()
        ))),
    }
}

/// The simulation for a person: the answer first, then why, the e-mail, the record.
fn render(sim: &Simulation) -> String {
    let mut s = String::new();
    let settings = if sim.edited {
        "settings as edited"
    } else {
        "current settings"
    };
    let endpoint = match sim.endpoint {
        Endpoint::Profile => "profile",
        Endpoint::Password => "password",
    };
    s.push_str(&format!(
        "{} at the {endpoint} endpoint ({settings})\n",
        sim.decision
    ));
    s.push_str(&format!(
        "answer: HTTP {} {}\n",
        sim.answer.status, sim.answer.body
    ));
    if sim.answer.contract_problems.is_empty() {
        s.push_str("contract: the identity server accepts this answer\n");
    } else {
        for p in &sim.answer.contract_problems {
            s.push_str(&format!("contract problem: {p}\n"));
        }
    }
    if let Some(rule) = &sim.rule {
        s.push_str(&format!("rule: {rule}\n"));
    }
    if let Some(detail) = &sim.detail {
        s.push_str(&format!("detail: {detail}\n"));
    }
    match &sim.mail {
        Some(m) => {
            s.push_str(&format!(
                "e-mail ({}): to {}\nsubject: {}\n",
                serde_json::to_value(m.mode)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                m.recipients.join(", "),
                m.subject
            ));
            for line in m.body.lines() {
                s.push_str(&format!("  | {line}\n"));
            }
        }
        None => s.push_str("e-mail: none\n"),
    }
    match &sim.audit {
        Some(a) => s.push_str(&format!(
            "audit record (would be seq {}): {}\n",
            sim.next_seq,
            serde_json::to_string(a).unwrap_or_default()
        )),
        None => s.push_str("audit record: none\n"),
    }
    for n in &sim.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s
}
