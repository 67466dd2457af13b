//! The command line: `serve` and the commands that manage the data dir before the admin UI
//! exists. `main.rs` only parses and dispatches here.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::{create_credential, CredentialError, NewCredential};
use crate::policy::MatchMode;
use crate::service::departments;
use crate::service::notifications::{self, ListEdit, Password, SmtpInput};
use crate::service::{Ctx, Durability, ServiceError};
use crate::store::{CredentialKind, DeliveryMode, Encryption, EndpointAuth, Store, StoreError};
use crate::ServeError;

/// profilegate: the pre-update profile action service for WSO2 Identity Server and Asgardeo.
#[derive(Debug, Parser)]
#[command(name = "profilegate", version, about)]
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
        #[arg(long, requires = "password_stdin")]
        username: Option<String>,
        /// Read the SMTP password from standard input (never from the command line).
        #[arg(long, requires = "username")]
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
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCmd {
    /// Create a credential; its secret is printed once.
    Create {
        #[arg(long = "type", value_enum)]
        kind: CredentialType,
        /// Username for basic authentication.
        #[arg(long, default_value = "profilegate")]
        username: String,
        /// Header name for API-key authentication.
        #[arg(long, default_value = "x-api-key")]
        header: String,
        /// Print one JSON object (id, type and the WSO2 properties).
        #[arg(long)]
        json: bool,
    },
    /// List active credentials (never their secrets).
    List,
    /// Revoke a credential by id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum EndpointCmd {
    /// Choose whether callers must authenticate: `required` (default) or `none`.
    Auth {
        #[arg(value_enum)]
        mode: AuthMode,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthMode {
    Required,
    None,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain; exit 0 when intact, 1 with the first bad record otherwise.
    Verify,
    /// Write every record as NDJSON to stdout.
    Export,
}

/// Errors of the command line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credential(#[from] CredentialError),
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
        None | Some(Command::Serve(_)) => serve_command(config),
        Some(Command::CheckConfig) => check_config(config, &mut out),
        Some(Command::Backup { file }) => backup_command(data_dir, &file, &mut out),
        Some(Command::Restore { file }) => {
            let mut input = std::fs::File::open(&file)
                .map_err(io_err(format!("cannot open {}", file.display())))?;
            let s = crate::store::backup::restore(data_dir, &mut input)?;
            w(
                &mut out,
                format!(
                    "Restored {} into {}: {} audit records, and the audit chain verifies.\n",
                    file.display(),
                    data_dir.display(),
                    s.audit_records
                ),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Some(cmd) => {
            let store = Store::open(data_dir)?;
            let code = run_admin(&store, cmd, &mut out)?;
            store.mark_durable_head()?;
            Ok(code)
        }
    }
}

/// Prints the effective configuration, and the settings stored in the data dir (SMTP
/// password masked) when no server holds it.
fn check_config(config: &crate::config::Config, out: &mut dyn Write) -> Result<ExitCode, CliError> {
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

/// Writes a backup: from the store when nobody holds it, else through the running server's
/// control socket. The file appears only once it is complete and checked.
fn backup_command(data_dir: &Path, file: &Path, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let partial = file.with_extension("partial");
    let write = |bytes: &dyn Fn(
        &mut std::fs::File,
    ) -> Result<crate::store::backup::BackupSummary, CliError>| {
        // The backup holds the SMTP password, credential hashes and the audit log's personal
        // data: created 0600 whatever the umask, and never over an existing file's modes.
        let _ = std::fs::remove_file(&partial);
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut f = open
            .open(&partial)
            .map_err(io_err(format!("cannot create {}", partial.display())))?;
        let summary = bytes(&mut f)?;
        f.sync_all()
            .map_err(io_err(format!("cannot write {}", partial.display())))?;
        std::fs::rename(&partial, file).map_err(io_err(format!(
            "cannot move the backup to {}",
            file.display()
        )))?;
        Ok::<_, CliError>(summary)
    };
    let (summary, how) = match Store::open(data_dir) {
        Ok(store) => (write(&|f| Ok(store.backup(f)?))?, String::new()),
        #[cfg(unix)]
        Err(StoreError::Locked {
            server: Some(server),
            ..
        }) => {
            let bytes = crate::control::request_backup(data_dir).map_err(io_err(format!(
                "the data dir is in use by the server (pid {}) but its control socket does not answer",
                server.pid
            )))?;
            let summary = crate::store::backup::inspect(&bytes)?;
            write(&|f| {
                f.write_all(&bytes)
                    .map_err(io_err(format!("cannot write {}", partial.display())))?;
                Ok(summary)
            })?;
            (
                summary,
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

/// Runs a data-dir command against an open store, writing its output to `out`.
pub fn run_admin(store: &Store, cmd: Command, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    match cmd {
        Command::Serve(_)
        | Command::CheckConfig
        | Command::Backup { .. }
        | Command::Restore { .. } => Err(CliError::Input(
            "serve, backup and restore manage the store themselves".into(),
        )),
        Command::Departments(d) => departments(store, d, out),
        Command::Credentials(CredentialsCmd::Create {
            kind,
            username,
            header,
            json,
        }) => {
            let spec = match kind {
                CredentialType::Basic => NewCredential::Basic { username },
                CredentialType::Bearer => NewCredential::Bearer,
                CredentialType::ApiKey => NewCredential::ApiKey { header },
            };
            let created = create_credential(store, "cli", &spec)?;
            if json {
                let mut obj = serde_json::Map::new();
                obj.insert("id".into(), created.record.id.clone().into());
                obj.insert("type".into(), created.record.kind.wso2_name().into());
                obj.extend(created.wso2_properties());
                w(out, format!("{}\n", serde_json::Value::Object(obj)))?;
            } else {
                let mut s = format!(
                    "Created credential {} ({}). The secret is shown only now: enter it in the identity server and keep no other copy.\n\n\
                     In the WSO2 console (Actions > Pre Update Profile > Endpoint authentication):\n  Authentication type: {}\n",
                    created.record.id,
                    created.record.kind.wso2_name(),
                    match &created.record.kind {
                        CredentialKind::Basic { .. } => "Basic",
                        CredentialKind::Bearer => "Bearer",
                        CredentialKind::ApiKey { .. } => "API Key",
                    }
                );
                for (k, v) in created.wso2_properties() {
                    s.push_str(&format!("  {k}: {}\n", v.as_str().unwrap_or_default()));
                }
                w(out, s)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Credentials(CredentialsCmd::List) => {
            let creds = store.credentials();
            if creds.is_empty() {
                w(out, "No credentials. Create one with `profilegate credentials create --type basic`.\n".into())?;
            }
            for c in creds.iter() {
                let detail = match &c.kind {
                    CredentialKind::Basic { username } => format!("username={username}"),
                    CredentialKind::Bearer => String::new(),
                    CredentialKind::ApiKey { header } => format!("header={header}"),
                };
                w(
                    out,
                    format!(
                        "{}  {:<8} {:<24} created {}  last used {}\n",
                        c.id,
                        c.kind.wso2_name(),
                        detail,
                        c.created,
                        c.last_used.as_deref().unwrap_or("never")
                    ),
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Credentials(CredentialsCmd::Revoke { id }) => {
            let rec = store.revoke_credential("cli", &id)?;
            w(
                out,
                format!(
                    "Revoked credential {} ({}).\n",
                    rec.id,
                    rec.kind.wso2_name()
                ),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Endpoint(EndpointCmd::Auth { mode }) => {
            let mode = match mode {
                AuthMode::Required => EndpointAuth::Required,
                AuthMode::None => EndpointAuth::None,
            };
            store.update_settings("cli", "endpoint.auth", |s| s.endpoint_auth = mode)?;
            match mode {
                EndpointAuth::None => w(
                    out,
                    "WARNING: authentication is now OFF. Anyone who can reach the endpoint can submit decisions and fill the audit log.\n\
                     Use this only behind a network boundary you trust. Undo with `profilegate endpoint auth required`.\n"
                        .into(),
                )?,
                EndpointAuth::Required => w(out, "Callers must now present a valid endpoint credential.\n".into())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCmd::Verify) => {
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
        Command::Notify(cmd) => notify_command(store, cmd, out),
        Command::Admin(AdminCmd::SetPassword { .. }) => {
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
        Command::SendTestEmail { to } => send_test_email(store, to, out),
        Command::Audit(AuditCmd::Export) => {
            store.export_audit(out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn departments(
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

fn notify_command(
    store: &Store,
    cmd: NotifyCmd,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    match cmd {
        NotifyCmd::Smtp {
            host,
            port,
            encryption,
            username,
            password_stdin,
            from,
            timeout_ms,
            tls_ca,
        } => {
            let tls_ca_pem = match tls_ca {
                None => None,
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(io_err(format!("cannot read {}", path.display())))?,
                ),
            };
            let password = if password_stdin {
                let mut p = String::new();
                std::io::stdin()
                    .read_line(&mut p)
                    .map_err(io_err("cannot read the password"))?;
                Password::Set(p.trim_end_matches(['\r', '\n']).to_string())
            } else {
                Password::Clear
            };
            let input = SmtpInput {
                host,
                port,
                encryption: match encryption {
                    EncryptionArg::None => Encryption::None,
                    EncryptionArg::Starttls => Encryption::Starttls,
                    EncryptionArg::Tls => Encryption::Tls,
                },
                username,
                password,
                from,
                timeout_ms,
                tls_ca_pem,
            };
            let smtp =
                block_on(notifications::set_smtp(cli_ctx(store), input))?.map_err(|e| match e {
                    ServiceError::Invalid {
                        field: "tls_ca_pem",
                        message,
                    } => CliError::Input(format!("--tls-ca: {message}")),
                    other => other.into(),
                })?;
            w(
                out,
                format!(
                    "SMTP set: {}:{} ({:?}), from {}, timeout {} ms{}.\nCheck it with `profilegate send-test-email`.\n",
                    smtp.host,
                    smtp.port,
                    smtp.encryption,
                    smtp.from,
                    smtp.timeout_ms,
                    smtp.username.as_ref().map(|u| format!(", login {u}")).unwrap_or_default()
                ),
            )?;
        }
        NotifyCmd::Mode { mode } => {
            let mode = match mode {
                ModeArg::Blocking => DeliveryMode::Blocking,
                ModeArg::Queued => DeliveryMode::Queued,
            };
            block_on(notifications::set_mode(cli_ctx(store), mode))??;
            w(out, match mode {
                DeliveryMode::Blocking => "E-mail is sent before answering; if it fails the update is refused (email_error).\n".into(),
                DeliveryMode::Queued => "E-mail is queued durably with the decision and delivered in the background with retries.\n".into(),
            })?;
        }
        NotifyCmd::Outbox {
            cmd: OutboxCmd::List,
        } => {
            let items = store.outbox_items()?;
            if items.is_empty() {
                w(out, "The outbox is empty.\n".into())?;
            }
            for (id, it) in items {
                w(
                    out,
                    format!(
                        "{id}  {:?}  attempts {}  request {}  created {}{}\n",
                        it.status,
                        it.attempts,
                        it.request_id.as_deref().unwrap_or("-"),
                        it.created,
                        it.last_error
                            .map(|e| format!("  last error: {e}"))
                            .unwrap_or_default()
                    ),
                )?;
            }
        }
        NotifyCmd::Outbox {
            cmd: OutboxCmd::Retry { id },
        } => {
            let n = block_on(notifications::retry_outbox(cli_ctx(store), id))??;
            w(
                out,
                format!("{n} e-mail(s) queued again; the server delivers them when it runs.\n"),
            )?;
        }
        NotifyCmd::Recipients { cmd } => {
            let list = match list_edit(cmd) {
                None => store.settings().notify.recipients.clone(),
                Some(edit) => block_on(notifications::edit_recipients(cli_ctx(store), edit))??,
            };
            w(out, list_text(&list, "No recipients."))?;
        }
        NotifyCmd::Sensitive { cmd } => {
            let list = match list_edit(cmd) {
                None => store.settings().notify.sensitive.clone(),
                Some(edit) => block_on(notifications::edit_sensitive(cli_ctx(store), edit))??,
            };
            w(
                out,
                list_text(&list, "No sensitive claims: no e-mail will be sent."),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list_text(list: &[String], empty: &str) -> String {
    if list.is_empty() {
        format!("{empty}\n")
    } else {
        list.iter().map(|i| format!("{i}\n")).collect()
    }
}

/// The change a list command asks for; `None` to list.
fn list_edit(cmd: ListCmd) -> Option<ListEdit> {
    match cmd {
        ListCmd::List => None,
        ListCmd::Add { items } => Some(ListEdit::Add(items)),
        ListCmd::Remove { items } => Some(ListEdit::Remove(items)),
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

fn send_test_email(
    store: &Store,
    to: Option<String>,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    // The transport's connection pool must be dropped inside the runtime.
    let sent = block_on(async {
        let notifier = crate::notify::Notifier::default();
        notifications::send_test(
            cli_ctx(store),
            &notifier,
            to,
            "`profilegate send-test-email`",
        )
        .await
    })?;
    match sent {
        Ok((recipients, smtp)) => {
            w(
                out,
                format!(
                    "Test e-mail sent to {} via {}:{}.\n",
                    recipients.join(", "),
                    smtp.host,
                    smtp.port
                ),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(ServiceError::Upstream { message, .. }) => {
            w(out, format!("{message}\n"))?;
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
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

/// Binds a listener, saying what to do when the port is taken.
async fn bind(addr: SocketAddr, flag: &str) -> Result<tokio::net::TcpListener, CliError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!("another program (perhaps another profilegate) already uses this port; stop it or choose another with {flag}")
        } else {
            "check the address and your permissions".into()
        };
        CliError::Io {
            context: format!("cannot listen on {addr} ({hint})"),
            source: e,
        }
    })
}

/// Plain HTTP is allowed on loopback; elsewhere only when asked for explicitly.
fn check_plain_http(addr: SocketAddr, tls: bool, allowed: bool) -> Result<(), CliError> {
    if tls || addr.ip().is_loopback() || allowed {
        return Ok(());
    }
    Err(CliError::Input(format!(
        "refusing to serve plain HTTP on {addr}: the identity server would send the endpoint credential, and admins their password, readable on the network. Use --tls-cert FILE --tls-key FILE or --tls-self-signed; or, when a TLS proxy on this host is in front, --allow-insecure-http"
    )))
}

fn serve_command(config: &crate::config::Config) -> Result<ExitCode, CliError> {
    let data_dir = config.data_dir.0.as_path();
    let listen = config.listen.0;
    let admin_listen = config.admin_listen.0;
    let tls =
        match (
            &config.tls_cert.0,
            &config.tls_key.0,
            config.tls_self_signed.0,
        ) {
            (Some(_), Some(_), true) => return Err(CliError::Input(
                "give either a certificate (--tls-cert/--tls-key) or --tls-self-signed, not both"
                    .into(),
            )),
            (Some(cert), Some(key), false) => Some(crate::http::tls::load(cert, key)?),
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(CliError::Input(
                    "--tls-cert and --tls-key go together: give both".into(),
                ))
            }
            (None, None, true) => {
                let mut names = crate::http::tls::default_names(listen);
                if let Some(a) = admin_listen {
                    names.extend(crate::http::tls::default_names(a));
                    names.dedup();
                }
                Some(crate::http::tls::self_signed(data_dir, &names)?)
            }
            (None, None, false) => None,
        };
    let allowed = config.allow_insecure_http.0;
    check_plain_http(listen, tls.is_some(), allowed)?;
    if let Some(a) = admin_listen {
        check_plain_http(a, tls.is_some(), allowed)?;
    }
    let store = Store::open(data_dir)?;
    raise_fd_limit(config.max_connections.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io_err("cannot start the runtime"))?;
    rt.block_on(async move {
        let listener = bind(listen, "--listen").await?;
        let admin = match admin_listen {
            Some(a) => Some(bind(a, "--admin-listen").await?),
            None => None,
        };
        let addr = listener.local_addr().map_err(io_err("cannot read the listening address"))?;
        let admin_addr = match &admin {
            Some(l) => l.local_addr().map_err(io_err("cannot read the listening address"))?,
            None => addr,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut msg = format!(
            "profilegate {} is serving on {scheme}://{addr}\n  action endpoint: {scheme}://{addr}{}\n  health:          {scheme}://{addr}/healthz (and /readyz, /metrics)\n  data dir:        {}\n",
            env!("CARGO_PKG_VERSION"),
            crate::http::ACTION_PATH,
            data_dir.display()
        );
        if let Some(t) = &tls {
            msg.push_str(&format!(
                "  TLS certificate: {}\n  SHA-256:         {}\n",
                t.cert_path.display(),
                t.fingerprint
            ));
            if config.tls_self_signed.0 {
                msg.push_str("  (self-signed: import this certificate into the identity server's client truststore)\n");
            }
        }
        let todo: Vec<String> = crate::checklist::checklist(&store, tls.is_some())
            .into_iter()
            .filter_map(|c| c.todo)
            .collect();
        if todo.is_empty() {
            msg.push_str("Setup complete.\n");
        } else {
            msg.push_str("Setup still missing:\n");
            for t in &todo {
                msg.push_str(&format!("  - {t}\n"));
            }
        }
        msg.push_str(&format!("Admin UI: {scheme}://{admin_addr}/admin/\n"));
        let mut options = crate::Options {
            tls: tls.map(|t| t.config),
            admin_listener: admin,
            max_connections: config.max_connections.0,
            admin_hosts: config.admin_hosts.0.clone(),
            ..Default::default()
        };
        if store.admin_password_hash()?.is_none() {
            let token = crate::admin::session::new_token()
                .map_err(|e| CliError::Input(format!("cannot make a setup link: {e}")))?;
            msg.push_str(&format!(
                "No admin password yet. Set it once with this link (valid until it is used or the server stops):\n  {scheme}://{admin_addr}/admin/#setup={token}\n  (or stop the server and run `profilegate admin set-password --password-stdin`)\n"
            ));
            options.setup_token = Some(token);
        }
        let shutdown = shutdown_signal();
        print!("{msg}");
        let _ = std::io::stdout().flush();
        crate::run_with(store, listener, shutdown, options).await?;
        Ok::<_, CliError>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Raises the soft open-files limit so that the connection cap, not `EMFILE`, is what refuses
/// connections: each listener may hold `max_connections` sockets, plus the store's files.
fn raise_fd_limit(max_connections: usize) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let want = (2 * max_connections + 256) as u64;
        let cur = getrlimit(Resource::Nofile);
        let soft = cur.current.unwrap_or(u64::MAX);
        if soft >= want {
            return;
        }
        let hard = cur.maximum.unwrap_or(u64::MAX);
        let new = Rlimit {
            current: Some(want.min(hard)),
            maximum: cur.maximum,
        };
        if setrlimit(Resource::Nofile, new).is_err() || want > hard {
            tracing::warn!(
                soft,
                hard,
                want,
                "the open-files limit is below what --max-connections needs; connections beyond it fail with 'too many open files'"
            );
        }
    }
}

/// The next delivery of a signal whose handler was installed; never, if installing failed.
#[cfg(unix)]
async fn next_signal(s: Option<&mut tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Resolves on ctrl-c or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled, so a signal right after the start-up banner is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let term = next_signal(term.as_mut());
            let int = next_signal(int.as_mut());
            tokio::select! {
                () = term => {}
                () = int => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
    }
}
