//! `serve`: the TLS choice, the refusal of plain HTTP off loopback, the start-up banner with
//! what setup still lacks, the open-files limit, and shutdown on ctrl-c or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use super::{io_err, CliError};
use crate::store::Store;

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

pub(super) fn serve_command(config: &crate::config::Config) -> Result<ExitCode, CliError> {
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
            env!("PROFILEGATE_VERSION"),
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
            let token = crate::auth::session::new_token()
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
