//! The command line: `serve` and the commands that manage the data dir before the admin UI
//! exists. `main.rs` only parses and dispatches here. This file holds the clap types and the
//! dispatch; `serve`, the whole-data-dir commands (`backup`) and one adapter per capability
//! (`departments`, `credentials`, `notify`, `admin`, `password`) have their own files.

mod admin;
mod backup;
mod credentials;
mod departments;
mod doctor;
pub mod forward;
mod notify;
mod password;
pub mod retention;
mod serve;
mod simulate;
mod sync;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::service::{Ctx, Durability, ServiceError};
use crate::store::{Store, StoreError};
use crate::ServeError;
pub use password::PasswordCmd;
pub use sync::{HttpArgs, ScheduleArgs, SourceCmd};

/// profilegate: the pre-update profile action service for WSO2 Identity Server and Asgardeo.
#[derive(Debug, Parser)]
#[command(name = "profilegate", version = env!("PROFILEGATE_VERSION"), about)]
pub struct Cli {
    /// Where profilegate keeps its data (created with mode 0700) [env PROFILEGATE_DATA_DIR;
    /// default ./profilegate-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// A TOML configuration file; the environment (PROFILEGATE_*) and flags override it.
    #[arg(long, global = true, env = "PROFILEGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr: human-readable text, or one JSON object a line [env
    /// PROFILEGATE_LOG_FORMAT; default text].
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// What the command line itself set, for [`crate::config::resolve`].
    pub fn flags(&self) -> crate::config::Flags {
        let serve = match &self.command {
            Some(Command::Serve(a)) => Some(a),
            _ => None,
        };
        crate::config::Flags {
            data_dir: self.data_dir.clone(),
            listen: serve.and_then(|a| a.listen),
            admin_listen: serve.and_then(|a| a.admin_listen),
            tls_cert: serve.and_then(|a| a.tls_cert.clone()),
            tls_key: serve.and_then(|a| a.tls_key.clone()),
            tls_self_signed: serve.is_some_and(|a| a.tls_self_signed),
            allow_insecure_http: serve.is_some_and(|a| a.allow_insecure_http),
            max_connections: serve.and_then(|a| a.max_connections),
            admin_hosts: serve.map(|a| a.admin_hosts.clone()).unwrap_or_default(),
            log_format: self.log_format.map(|f| match f {
                LogFormat::Text => "text".into(),
                LogFormat::Json => "json".into(),
            }),
        }
    }

    /// The effective configuration (file, environment, flags) and the file's unknown keys.
    pub fn resolve(
        &self,
    ) -> Result<(crate::config::Config, Vec<String>), crate::config::ConfigError> {
        let (file, unknown) = match &self.config {
            Some(path) => crate::config::load_file(path)?,
            None => Default::default(),
        };
        let env = |k: &str| std::env::var(k).ok();
        Ok((crate::config::resolve(&self.flags(), &env, &file)?, unknown))
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default when no command is given).
    Serve(ServeArgs),
    /// Manage the department directory.
    #[command(subcommand)]
    Departments(DepartmentsCmd),
    /// Manage the credentials the identity server uses to call profilegate.
    #[command(subcommand)]
    Credentials(CredentialsCmd),
    /// Endpoint settings.
    #[command(subcommand)]
    Endpoint(EndpointCmd),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Security-team e-mail settings.
    #[command(subcommand)]
    Notify(NotifyCmd),
    /// Admin UI access.
    #[command(subcommand)]
    Admin(AdminCmd),
    /// The pre-update-password action: its keys, its rules, and checking a password.
    #[command(subcommand)]
    Password(PasswordCmd),
    /// Check the configuration (file, environment, flags) and print the effective values
    /// with where each came from; secrets are not shown.
    CheckConfig,
    /// Write a backup of the data dir to FILE (works while the server runs, through it).
    Backup {
        /// Where to write the backup.
        file: PathBuf,
    },
    /// Restore a backup FILE into an empty data dir; the audit chain is verified.
    Restore { file: PathBuf },
    /// Rewrite the database into a fresh copy and swap it in (the server must be stopped):
    /// gives back the space sled keeps after an audit archive removed many records.
    Compact,
    /// Dry run of an event: the answer the identity server would get, the rule, the e-mail
    /// and the audit record, with nothing written, sent or counted (through the running server
    /// when one holds the data dir). Exit code 0 SUCCESS, 1 FAILED, 2 ERROR.
    Simulate(simulate::SimulateArgs),
    /// Check the data dir, certificate, mail server, clock, credentials and journal, each with
    /// its fix (through the running server when one holds the data dir). Exit 0 when nothing
    /// is broken (OK, NOTE, WARN), 1 when something is (FAIL).
    Doctor {
        /// One JSON object: `broken` and the findings.
        #[arg(long)]
        json: bool,
    },
    /// Send a test e-mail with the configured SMTP settings and report what failed.
    SendTestEmail {
        /// Recipient (default: the configured recipients).
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Set the admin password, read from standard input.
    SetPassword {
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EncryptionArg {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// Set the mail server.
    Smtp {
        #[arg(long)]
        host: String,
        #[arg(long)]
        port: u16,
        #[arg(long, value_enum)]
        encryption: EncryptionArg,
        /// The login's username (with `--password-stdin`; both or neither: the rule is the
        /// service's, shared with the admin API).
        #[arg(long)]
        username: Option<String>,
        /// Read the SMTP password from standard input (never from the command line).
        #[arg(long)]
        password_stdin: bool,
        /// Sender address.
        #[arg(long)]
        from: String,
        /// Connection and command timeout; also the budget of a blocking send (at most 4000, so
        /// the answer beats the identity server's 5 s read timeout).
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
        /// Also trust this CA certificate (PEM file), for a relay with a private or
        /// self-signed certificate.
        #[arg(long)]
        tls_ca: Option<PathBuf>,
    },
    /// Manage who receives the e-mail.
    Recipients {
        #[command(subcommand)]
        cmd: ListCmd,
    },
    /// Manage which claim URIs are sensitive.
    Sensitive {
        #[command(subcommand)]
        cmd: ListCmd,
    },
    /// `blocking` (default): send before answering, FAILED email_error on failure.
    /// `queued`: store the e-mail durably with the decision and deliver it in the background.
    Mode {
        #[arg(value_enum)]
        mode: ModeArg,
    },
    /// Queued e-mails: list them, or put failed ones back in the queue.
    Outbox {
        #[command(subcommand)]
        cmd: OutboxCmd,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Blocking,
    Queued,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// Pending and failed e-mails, oldest first.
    List,
    /// Retry a failed e-mail now (all failed ones without an id).
    Retry { id: Option<u64> },
}

#[derive(Debug, Subcommand)]
pub enum ListCmd {
    Add {
        #[arg(required = true)]
        items: Vec<String>,
    },
    Remove {
        #[arg(required = true)]
        items: Vec<String>,
    },
    List,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on [env PROFILEGATE_LISTEN; default 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Serve the admin UI and API on this address only (not on --listen), e.g. a private
    /// address while the action endpoint faces the identity server [env
    /// PROFILEGATE_ADMIN_LISTEN].
    #[arg(long)]
    pub admin_listen: Option<SocketAddr>,
    /// Serve HTTPS with this certificate chain (PEM, server certificate first) [env
    /// PROFILEGATE_TLS_CERT].
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM, unencrypted) [env PROFILEGATE_TLS_KEY].
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate generated once into the data dir; its
    /// fingerprint and path are printed for the identity server's truststore [env
    /// PROFILEGATE_TLS_SELF_SIGNED].
    #[arg(long)]
    pub tls_self_signed: bool,
    /// Allow plain HTTP on an address other than loopback (e.g. behind a TLS proxy on this
    /// host) [env PROFILEGATE_ALLOW_INSECURE_HTTP].
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Open connections allowed per listener; no single client address gets more than half
    /// [env PROFILEGATE_MAX_CONNECTIONS; default 1024].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// A host name the admin UI is reached by (repeatable), besides IP addresses and
    /// localhost; requests naming another host are refused (DNS rebinding) [env
    /// PROFILEGATE_ADMIN_HOSTS, comma-separated].
    #[arg(long = "admin-host", value_name = "NAME")]
    pub admin_hosts: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum DepartmentsCmd {
    /// Add department names.
    Add {
        #[arg(required = true)]
        names: Vec<String>,
        /// Sub-organization id (default: the root organization).
        #[arg(long)]
        org: Option<String>,
    },
    /// Remove department names (each must exist).
    Remove {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long)]
        org: Option<String>,
    },
    /// List department names.
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Import names from a CSV file (one name a line, header optional; `-` reads stdin).
    /// Applies whole or not at all.
    Import {
        file: PathBuf,
        #[arg(long)]
        org: Option<String>,
        /// Make the list exactly the file's names (removing the others).
        #[arg(long)]
        replace: bool,
    },
    /// Export names as CSV (importable again).
    Export {
        #[arg(long)]
        org: Option<String>,
    },
    /// How department values are compared: `exact` (default) or `case-insensitive`.
    Match {
        #[arg(value_enum)]
        mode: MatchArg,
    },
    /// Keep a list in step with the company's source (an HTTP API or LDAP), stop, or show it.
    #[command(subcommand)]
    Source(SourceCmd),
    /// Sync a list from its source now (through the running server when there is one).
    /// Exits 3 when the sync is held for approval.
    Sync {
        #[arg(long)]
        org: Option<String>,
        /// Fetch and print the diff; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply the sync held for approval, exactly as shown.
        #[arg(long, conflicts_with = "dry_run")]
        approve: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MatchArg {
    Exact,
    CaseInsensitive,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CredentialType {
    Basic,
    Bearer,
    ApiKey,
    /// OAuth 2.0 client credentials, profilegate being the token endpoint.
    ClientCredential,
    /// OAuth 2.0 client credentials, another identity provider being the token endpoint.
    Jwt,
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCmd {
    /// Create a credential; its secret is printed once.
    Create {
        #[arg(long = "type", value_enum)]
        kind: CredentialType,
        /// Username for basic authentication.
        #[arg(long, default_value = crate::service::credentials::DEFAULT_USERNAME)]
        username: String,
        /// Header name for API-key authentication.
        #[arg(long, default_value = crate::service::credentials::DEFAULT_HEADER)]
        header: String,
        /// client-credential: profilegate's address as the identity server reaches it; the
        /// token endpoint is this URL with /oauth2/token.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        #[command(flatten)]
        jwt: JwtArgs,
        /// Print one JSON object (id, type and the WSO2 properties).
        #[arg(long)]
        json: bool,
    },
    /// List active credentials (never their secrets).
    List,
    /// Revoke a credential by id.
    Revoke { id: String },
}

/// The identity provider of a `jwt` credential.
#[derive(Debug, Args)]
pub struct JwtArgs {
    /// jwt: the `iss` the provider's tokens carry (WSO2 IS: https://<host>:9443/oauth2/token).
    #[arg(long)]
    pub issuer: Option<String>,
    /// jwt: a value the `aud` claim must hold (WSO2 IS: the application's client id).
    #[arg(long)]
    pub audience: Option<String>,
    /// jwt: a scope the token must carry.
    #[arg(long)]
    pub scope: Option<String>,
    /// jwt: the provider's key set (WSO2 IS: https://<host>:9443/oauth2/jwks).
    #[arg(long)]
    pub jwks_url: Option<String>,
    /// jwt: a PEM file of a CA to trust for the key set besides the system's.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum EndpointCmd {
    /// Choose whether callers must authenticate: `required` (default) or `none`.
    Auth {
        #[arg(value_enum)]
        mode: AuthMode,
    },
    /// How long access tokens issued at /oauth2/token live, in seconds (default 3600).
    TokenLifetime { seconds: u64 },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthMode {
    Required,
    None,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain; exit 0 when intact, 1 with the first bad record otherwise. With
    /// anchors or checkpoints, also that the chain still holds each (exit 1 naming any that
    /// fails): a chain rewritten and re-hashed whole is intact, but loses its old anchors.
    Verify {
        /// A record the chain must hold with exactly this hash (repeatable).
        #[arg(long = "anchor", value_name = "SEQ:HASH")]
        anchors: Vec<crate::anchor::Anchor>,
        /// A checkpoint line as pasted from an e-mail or `audit checkpoint` (repeatable): its
        /// signature must verify and the chain must hold its record with its hash.
        #[arg(long = "checkpoint", value_name = "LINE")]
        checkpoints: Vec<String>,
        /// Verify checkpoints under this public key (base64) instead of the data dir's own:
        /// the one kept from before, in case the key in the data dir was replaced too.
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
        /// Verify the archive files in DIR and the live records as one chain, from the first
        /// record to the head (names the first broken record or the missing file).
        #[arg(long, value_name = "DIR")]
        archives: Option<std::path::PathBuf>,
    },
    /// Write every record as NDJSON to stdout.
    Export,
    /// Print the latest signed checkpoint of the chain's head and the public key, signing a
    /// fresh one if the head moved (through the running server when one holds the data dir).
    Checkpoint {
        /// One JSON object: seq, hash, time, signature, public_key, line.
        #[arg(long)]
        json: bool,
    },
    /// Forward every audit record, once durable, to a SIEM (syslog and/or HTTP), at least
    /// once and in order; switch it off; see where each target stands.
    #[command(subcommand)]
    Forward(forward::ForwardCmd),
    /// How long records stay in the live database before they move to archive files (one per
    /// month, compressed, verifiable with `audit verify --archives DIR`): with limits, set it;
    /// `status` (the default) or `off`. Through the running server when one holds the data dir.
    Retention(retention::RetentionArgs),
    /// Move the records the retention lets go to archive files now (through the running
    /// server when one holds the data dir; it also does this every hour).
    Archive {
        /// Say which records and files it would be; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

/// Errors of the command line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Tls(#[from] crate::http::tls::TlsError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
    let context = context.into();
    move |source| CliError::Io { context, source }
}

/// Writes command output.
fn w(out: &mut dyn Write, s: String) -> Result<(), CliError> {
    out.write_all(s.as_bytes())
        .map_err(io_err("cannot write output"))
}

/// Runs a parsed command line.
pub fn dispatch(cli: Cli, config: &crate::config::Config) -> Result<ExitCode, CliError> {
    let mut out = std::io::stdout().lock();
    let data_dir = config.data_dir.0.as_path();
    match cli.command {
        None | Some(Command::Serve(_)) => serve::serve_command(config),
        Some(Command::CheckConfig) => backup::check_config(config, &mut out),
        Some(Command::Doctor { json }) => doctor::run(config, json, &mut out),
        Some(Command::Backup { file }) => backup::backup_command(data_dir, &file, &mut out),
        Some(Command::Restore { file }) => backup::restore_command(data_dir, &file, &mut out),
        // Reads only: never the store's head marker, and through a running server.
        Some(Command::Simulate(args)) => simulate::run(data_dir, args, &mut out),
        Some(Command::Compact) => {
            let c = crate::store::compact::compact(data_dir)?;
            w(
                &mut out,
                format!(
                    "compacted: the database took {:.1} MB, now {:.1} MB ({} entries copied and checked)\n",
                    c.before as f64 / 1e6,
                    c.after as f64 / 1e6,
                    c.entries
                ),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        // Files of the data dir only: works while a server holds the store.
        Some(Command::Password(PasswordCmd::Breached(cmd))) => {
            password::breached(data_dir, None, cmd, &mut out)
        }
        // A running server holds the store: it runs the sync.
        #[cfg(unix)]
        Some(Command::Departments(DepartmentsCmd::Sync {
            org,
            dry_run,
            approve,
            json,
        })) if sync::server_answers(data_dir) => {
            match sync::sync_via_server(data_dir, org.as_deref(), dry_run, approve, json, &mut out)?
            {
                Some(code) => Ok(code),
                None => Err(CliError::Input(
                    "the running server did not answer on its control socket".into(),
                )),
            }
        }
        // A running server holds the store: it signs the checkpoint.
        #[cfg(unix)]
        Some(Command::Audit(AuditCmd::Checkpoint { json })) if sync::server_answers(data_dir) => {
            admin::checkpoint_via_server(data_dir, json, &mut out)
        }
        // A running server holds the store: it changes the retention and tells the status.
        #[cfg(unix)]
        Some(Command::Audit(AuditCmd::Retention(args))) if sync::server_answers(data_dir) => {
            retention::run_via_server(data_dir, args, &mut out)
        }
        // A running server holds the store: it runs the archive.
        #[cfg(unix)]
        Some(Command::Audit(AuditCmd::Archive { dry_run, json }))
            if sync::server_answers(data_dir) =>
        {
            retention::archive_via_server(data_dir, dry_run, json, &mut out)
        }
        // A running server holds the store and the counters: it makes the change, and answers
        // the status.
        #[cfg(unix)]
        Some(Command::Audit(AuditCmd::Forward(cmd))) if sync::server_answers(data_dir) => {
            forward::via_server(data_dir, cmd, &mut out)
        }
        Some(cmd) => {
            let store = Store::open(data_dir)?;
            let code = run_admin(&store, cmd, &mut out)?;
            store.mark_durable_head()?;
            Ok(code)
        }
    }
}

/// Runs a data-dir command against an open store, writing its output to `out`.
pub fn run_admin(store: &Store, cmd: Command, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    match cmd {
        Command::Serve(_)
        | Command::CheckConfig
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Simulate(_)
        | Command::Doctor { .. }
        | Command::Compact => Err(CliError::Input(
            "serve, backup, restore, simulate, doctor and compact manage the store themselves"
                .into(),
        )),
        Command::Departments(cmd) => departments::run(store, cmd, out),
        Command::Credentials(cmd) => credentials::run(store, cmd, out),
        Command::Endpoint(cmd) => credentials::endpoint(store, cmd, out),
        Command::Audit(cmd) => admin::audit(store, cmd, out),
        Command::Notify(cmd) => notify::run(store, cmd, out),
        Command::Admin(cmd) => admin::admin(store, cmd, out),
        Command::Password(cmd) => password::run(store, cmd, out),
        Command::SendTestEmail { to } => notify::send_test_email(store, to, out),
    }
}

/// The use cases' context for a command: the CLI holds the data dir, so a change is durable
/// once the store is flushed.
fn cli_ctx(store: &Store) -> Ctx<'_> {
    Ctx {
        store,
        durability: Durability::Flush,
        actor: "cli",
    }
}

/// Runs a use case to completion on a runtime of its own.
fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io_err("cannot start the runtime"))?;
    Ok(rt.block_on(f))
}
