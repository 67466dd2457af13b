//! The shared state of a running server, built once in `run_with` from its parts: the
//! composition root. Handlers of every transport get it as `Arc<App>`. What lives here only in
//! memory (the verified-credential cache, the retry index, sessions, the password gate's
//! back-off, the readiness cache, the log limiter) is one node's and is rebuilt at start-up.

use std::sync::Arc;
use std::time::Instant;

use crate::auth::gate::Gate;
use crate::auth::session::Sessions;
use crate::auth::Authenticator;
use crate::contract::ActionResponse;
use crate::idempotency::IdempotencyIndex;
use crate::notify::Notifier;
use crate::singleflight::SingleFlight;
use crate::store::{GroupCommit, Store};

/// Shared state of a running server.
pub struct App {
    pub store: Arc<Store>,
    pub commit: GroupCommit,
    pub auth: Authenticator,
    /// Recent decisions by request key, for retried requests (filled by the committer).
    pub idempotency: Arc<IdempotencyIndex>,
    /// Concurrent requests with the same idempotency key are decided once.
    pub(crate) inflight: SingleFlight<[u8; 16], ActionResponse>,
    /// Sends the security-team e-mail (pooled SMTP connections).
    pub notifier: Arc<Notifier>,
    /// Logged-in administrators.
    pub sessions: Sessions,
    /// Bounds admin password checks (login, setup, password change).
    pub admin_gate: Gate,
    /// The one-time setup link's token while no admin password is set (printed at start-up).
    pub setup_token: parking_lot::Mutex<Option<String>>,
    /// Whether this server speaks HTTPS (session cookies are then `Secure`).
    pub tls: bool,
    /// Wakes the outbox worker (after an operator's "retry now").
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// Request counters and latency for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// The last readiness probe's time and result; the lock is held while one runs, so at
    /// most one probe is in flight and `/readyz` floods cost no writes.
    pub readiness: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
    /// Limits the log lines strangers can cause.
    pub log_limit: crate::loglimit::LogLimiter,
}

/// What a server is built from; everything else in [`App`] starts empty.
pub struct Parts {
    pub store: Arc<Store>,
    pub commit: GroupCommit,
    pub auth: Authenticator,
    pub idempotency: Arc<IdempotencyIndex>,
    pub outbox_wake: Arc<tokio::sync::Notify>,
    pub setup_token: Option<String>,
    pub tls: bool,
}

impl App {
    pub fn new(p: Parts) -> Self {
        App {
            store: p.store,
            commit: p.commit,
            auth: p.auth,
            idempotency: p.idempotency,
            inflight: SingleFlight::default(),
            notifier: Arc::new(Notifier::default()),
            sessions: Sessions::default(),
            admin_gate: Gate::default(),
            setup_token: parking_lot::Mutex::new(p.setup_token),
            tls: p.tls,
            outbox_wake: p.outbox_wake,
            metrics: crate::metrics::Metrics::default(),
            readiness: tokio::sync::Mutex::new(None),
            log_limit: crate::loglimit::LogLimiter::default(),
        }
    }
}
