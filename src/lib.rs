//! profilegate: the external service of the WSO2 Identity Server / Asgardeo pre-update profile
//! action. See DESIGN.md for the shape: wire types (`contract`), pure decisions (`policy`),
//! storage (`store`), caller authentication (`auth`), the action flow (`action`) and HTTP
//! (`http`). `run` starts a server on a listener the caller bound.

pub mod action;
pub mod admin;
pub mod anchor;
pub mod app;
pub mod auth;
pub mod breached;
pub mod checklist;
pub mod chunks;
pub mod cli;
pub mod config;
pub mod conn;
pub mod contract;
#[cfg(unix)]
pub mod control;
pub mod forward;
pub mod http;
pub mod idempotency;
pub mod keys;
pub mod logfmt;
pub mod loglimit;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod online_breach;
pub mod outbound;
pub mod policy;
pub mod service;
pub mod singleflight;
pub mod store;
pub mod sync;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::App;
use crate::auth::Authenticator;
use crate::idempotency::IdempotencyIndex;
use crate::store::{GroupCommit, ServerInfo, Store, StoreError};

/// Keeps this process's memory in 4 KiB pages. The allocator (mimalloc, see `main.rs`) asks
/// for transparent huge pages on its arenas, and with THP in `madvise` mode (Debian's default)
/// a freshly started server was resident at 49 MB instead of 9 (40 MB of 2 MiB pages, mostly
/// untouched), and after a restart over a million recent records at 165 MB instead of 117.
/// Call it first thing in `main`. A kernel without the setting only costs memory, so the error is
/// ignored.
pub fn disable_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] auth::SecretError),
}

/// How a server starts, beyond its store and listener.
#[derive(Debug, Default)]
pub struct Options {
    /// The one-time setup link's token, when no admin password is set yet.
    pub setup_token: Option<String>,
    /// Serve HTTPS with this configuration (see `http::tls`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Serve the admin UI and API here instead of on the main listener.
    pub admin_listener: Option<TcpListener>,
    /// Open connections allowed per listener (0: the default, see `http::front`).
    pub max_connections: usize,
    /// Host names besides IP addresses and `localhost` that the admin side answers to.
    pub admin_hosts: Vec<String>,
    /// When the audit retention runs (`serve` keeps the default; tests shorten it).
    pub retention: RetentionSchedule,
}

/// When the server runs the audit retention: `first` after start, then every `every` (not
/// zero).
#[derive(Debug, Clone, Copy)]
pub struct RetentionSchedule {
    /// A minute by default, so that a run does not add to start-up's work.
    pub first: Duration,
    /// An hour by default: a run that finds nothing to move reads one batch.
    pub every: Duration,
}

impl Default for RetentionSchedule {
    fn default() -> Self {
        RetentionSchedule {
            first: Duration::from_secs(60),
            every: Duration::from_secs(3600),
        }
    }
}

/// Runs the server on `listener` until `shutdown` resolves, then finishes open requests,
/// flushes, and releases the data dir.
pub async fn run(
    store: Store,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    run_with(store, listener, shutdown, Options::default()).await
}

/// `run` with options.
pub async fn run_with(
    store: Store,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    options: Options,
) -> Result<(), ServeError> {
    let store = Arc::new(store);
    let addr = listener.local_addr().map_err(|e| store.dir_error(e))?;
    let window = Duration::from_secs(store.settings().idempotency_window_secs);
    let idempotency = Arc::new(IdempotencyIndex::new(window));
    let indexed = idempotency.rebuild(&store)?;
    if indexed > 0 {
        tracing::info!(indexed, "re-indexed recent decisions for retried requests");
    }
    store.write_server_info(&ServerInfo {
        pid: std::process::id(),
        listen: addr.to_string(),
        tls: options.tls.is_some(),
    })?;
    let outbox_wake = Arc::new(tokio::sync::Notify::new());
    let (commit, flusher) =
        GroupCommit::start(store.clone(), idempotency.clone(), outbox_wake.clone())
            .map_err(|e| store.dir_error(e))?;
    let breached = Arc::new(breached::Live::default());
    match breached.reload_if_changed(store.dir()) {
        Ok(breached::Reload::Loaded(f)) => {
            tracing::info!(
                entries = f.meta().entries,
                "breached-password filter loaded"
            )
        }
        Ok(breached::Reload::Unchanged) => {}
        Err(e) => {
            tracing::warn!(error = %e, "no breached-password filter: the breached rule is not checked until a good one is imported")
        }
    }
    let app = Arc::new(App::new(app::Parts {
        store: store.clone(),
        commit,
        auth: Authenticator::new(store.clone())?,
        idempotency,
        outbox_wake: outbox_wake.clone(),
        setup_token: options.setup_token,
        tls: options.tls.is_some(),
        // Once per server, before it serves (tens of milliseconds).
        password_blocklist: Arc::new(policy::password::Blocklist::bundled()),
        breached,
    }));

    let maintenance = tokio::spawn(maintenance(app.clone()));
    let department_sync = tokio::spawn(department_sync(app.clone()));
    let checkpoints = tokio::spawn(checkpoints(app.clone()));
    let retention = tokio::spawn(retention(app.clone(), options.retention));
    // A mail server that cannot be reached is worth knowing now, not at the first sensitive
    // change; but it is not fatal (the rest of the service works).
    if let Some(smtp) = store.settings().notify.configured().cloned() {
        let notifier = app.notifier.clone();
        tokio::spawn(async move {
            match notifier.check(&smtp).await {
                Ok(()) => tracing::info!(host = %smtp.host, port = smtp.port, "SMTP check at start-up passed"),
                Err(e) => tracing::warn!("SMTP check at start-up failed: {e}. Sensitive changes cannot be mailed until this is fixed (Notifications page or `profilegate notify smtp`)"),
            }
        });
    }
    // Queued e-mails left from before a restart are delivered right away.
    outbox_wake.notify_one();
    let outbox = tokio::spawn(notify::worker::run(
        store.clone(),
        app.notifier.clone(),
        outbox_wake,
        app.commit.clone(),
    ));
    let forwarding = forward::Forwarding::start(store.clone(), app.forward.clone())
        .map_err(|e| store.dir_error(e))?;
    #[cfg(unix)]
    let control = tokio::spawn(control::serve(app.clone()));
    let front = http::front::Front {
        tls: options.tls.clone(),
        max_connections: options.max_connections,
        admin_hosts: Arc::new(http::front::AdminHosts::new(&options.admin_hosts)),
    };
    match options.admin_listener {
        None => {
            let routes = http::routes(app.clone(), http::Scope::All);
            http::serve(listener, routes, shutdown, front).await;
        }
        Some(admin) => {
            use futures_util::FutureExt;
            let shutdown = shutdown.shared();
            let action = http::routes(app.clone(), http::Scope::Action);
            let admin_routes = http::routes(app.clone(), http::Scope::Admin);
            tokio::join!(
                http::serve(listener, action, shutdown.clone(), front.clone()),
                http::serve(admin, admin_routes, shutdown, front),
            );
        }
    }
    #[cfg(unix)]
    {
        control.abort();
        let _ = control.await;
        let _ = std::fs::remove_file(control::socket_path(store.dir()));
    }
    maintenance.abort();
    let _ = maintenance.await;
    department_sync.abort();
    let _ = department_sync.await;
    checkpoints.abort();
    let _ = checkpoints.await;
    retention.abort();
    let _ = retention.await;
    app.log_limit.flush_all();
    if let Err(e) = app.store.flush_pending_counts(crate::store::now_unix_ms()) {
        tracing::warn!(error = %e, "could not write the overview's counts");
    }
    outbox.abort();
    let _ = outbox.await;
    let _ = tokio::task::spawn_blocking(move || forwarding.stop()).await;

    if let Err(e) = app.auth.persist_last_used() {
        tracing::warn!(error = %e, "could not record credential use");
    }
    // Dropping the last handle ends the flusher after a final flush.
    drop(app);
    let _ = tokio::task::spawn_blocking(move || flusher.join()).await;
    store.mark_durable_head()?;
    store.clear_server_info();
    Ok(())
}

/// How often the schedule looks for a due department sync or a freshness e-mail to send.
const SYNC_TICK: Duration = Duration::from_secs(5);

/// The department sync schedule: each synced organization's list when it is due, one at a
/// time (a slow source delays the next sync, never a decision), then the security team's
/// stale and recovered e-mails.
async fn department_sync(app: Arc<App>) {
    let mut tick = tokio::time::interval(SYNC_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // After a failed send, the next try waits a minute (not every tick).
    let mut mail_not_before = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        let ctx = service::Ctx {
            store: &app.store,
            durability: service::Durability::Commit(&app.commit),
            actor: "sync",
        };
        let due = match service::sync::due(&app.store, store::now_unix_ms()) {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the department sync state");
                continue;
            }
        };
        for org in due {
            // Failures are logged and recorded by the sync itself.
            let _ = service::sync::sync(ctx, org.as_deref(), service::sync::Mode::Sync).await;
        }
        let messages = match service::sync::freshness_messages(&app.store, store::now_unix_ms()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the department sync state");
                continue;
            }
        };
        let settings = app.store.settings();
        let Some(smtp) = settings.notify.configured() else {
            continue;
        };
        if messages.is_empty() || tokio::time::Instant::now() < mail_not_before {
            continue;
        }
        for m in messages {
            match app
                .notifier
                .send(
                    smtp,
                    &settings.notify.recipients,
                    &m.subject,
                    service::audit::with_footer(&app.store, m.body),
                )
                .await
            {
                Ok(()) => {
                    if let Err(e) =
                        service::sync::mark_notified(&app.store, m.org.as_deref(), m.stale).await
                    {
                        tracing::warn!(error = %e, "could not note the freshness e-mail");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not mail the department list's freshness; trying again in a minute");
                    mail_not_before = tokio::time::Instant::now() + Duration::from_secs(60);
                    break;
                }
            }
        }
    }
}

/// How often the server signs a checkpoint of the audit chain's head (when it moved).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(600);

/// Signs and keeps a checkpoint of the chain's head at start and every ten minutes when the
/// head moved, so `audit checkpoint` and the admin UI have a recent one to hand out.
async fn checkpoints(app: Arc<App>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let store = app.store.clone();
        match tokio::task::spawn_blocking(move || service::audit::checkpoint_if_moved(&store)).await
        {
            Ok(Ok(Some(cp))) => tracing::debug!(seq = cp.seq, "signed an audit checkpoint"),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not sign an audit checkpoint"),
            Err(e) => tracing::warn!(error = %e, "the audit checkpoint task failed"),
        }
    }
}

/// Moves the records the retention lets go to archive files, `schedule.first` after start and
/// then every `schedule.every`.
async fn retention(app: Arc<App>, schedule: RetentionSchedule) {
    tokio::time::sleep(schedule.first).await;
    let mut tick = tokio::time::interval(schedule.every.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !app.store.settings().audit_retention.enabled() {
            continue;
        }
        match service::retention::archive_shared(
            &app.store,
            service::Durability::Commit(&app.commit),
            "retention",
            store::now_unix_ms(),
            false,
        )
        .await
        {
            Ok(o) if o.records > 0 => tracing::info!(
                records = o.records,
                files = o.files.len(),
                dir = %o.dir,
                "archived audit records"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the audit archive failed; trying again at the next run")
            }
        }
    }
}

/// How often the server looks at the breached-password filter's file (length, modification
/// time, inode: one `stat`), for a new import that did not reach the control socket.
const BREACHED_CHECK: Duration = Duration::from_secs(5);

/// Looks at the data dir's volume: logs when it fills up and when it has room again, and mails
/// the security team once each way (a failed send is tried again a minute later).
async fn watch_disk(
    app: &App,
    logged_low: &mut bool,
    mailed_low: &mut bool,
    mail_not_before: &mut tokio::time::Instant,
) {
    let Ok(disk) = service::disk::state(&app.store) else {
        return;
    };
    if disk.low != *logged_low {
        if disk.low {
            tracing::error!(free_bytes = disk.free_bytes, "the data dir's disk is full: decisions whose record cannot be written are answered ERROR");
        } else {
            tracing::info!(
                free_bytes = disk.free_bytes,
                "the data dir's disk has room again"
            );
        }
        *logged_low = disk.low;
    }
    let settings = app.store.settings();
    let Some(smtp) = settings.notify.configured() else {
        return;
    };
    if disk.low == *mailed_low || tokio::time::Instant::now() < *mail_not_before {
        return;
    }
    let (subject, body) = disk.message(app.store.dir());
    let body = service::audit::with_footer(&app.store, body);
    match app
        .notifier
        .send(smtp, &settings.notify.recipients, &subject, body)
        .await
    {
        Ok(()) => *mailed_low = disk.low,
        Err(e) => {
            tracing::warn!(error = %e, "could not mail the disk's state; trying again in a minute");
            *mail_not_before = tokio::time::Instant::now() + Duration::from_secs(60);
        }
    }
}

/// Periodic housekeeping: watch the data dir's volume; record when credentials were last
/// used; pick up a new breached-password filter.
async fn maintenance(app: Arc<App>) {
    let mut tick = tokio::time::interval(BREACHED_CHECK);
    let mut n = 0u64;
    // What the log and the security team were last told about the data dir's volume.
    let (mut logged_low, mut mailed_low) = (false, false);
    let mut mail_not_before = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        watch_disk(&app, &mut logged_low, &mut mailed_low, &mut mail_not_before).await;
        let ctx = service::Ctx {
            store: &app.store,
            durability: service::Durability::Commit(&app.commit),
            actor: "server",
        };
        match service::password::reload_breached(ctx, &app.breached).await {
            Ok(Some(info)) => {
                tracing::info!(
                    entries = info.entries,
                    "loaded a new breached-password filter"
                )
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not load the breached-password filter; the previous one stays in use")
            }
        }
        // The rest every other tick (10 s).
        n += 1;
        if n % 2 == 0 {
            continue;
        }
        let a = app.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || a.auth.persist_last_used()).await {
            tracing::warn!(error = %e, "could not record credential use");
        }
        app.log_limit.flush();
        // The overview's pending counts, once a minute (every sixth pass).
        if n % 12 == 1 {
            let a = app.clone();
            let now = crate::store::now_unix_ms();
            if let Ok(Err(e)) =
                tokio::task::spawn_blocking(move || a.store.flush_pending_counts(now)).await
            {
                tracing::warn!(error = %e, "could not write the overview's counts");
            }
        }
        let a = app.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || a.store.mark_durable_head()).await {
            tracing::warn!(error = %e, "could not note the durable audit head");
        }
    }
}
