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
use crate::policy::password::Blocklist;
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
    /// The SIEM forwarders' counters (sent, failures) since start.
    pub forward: Arc<crate::forward::Stats>,
    /// The last readiness probe's time and result; the lock is held while one runs, so at
    /// most one probe is in flight and `/readyz` floods cost no writes.
    pub readiness: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
    /// Limits the log lines strangers can cause.
    pub log_limit: crate::loglimit::LogLimiter,
    /// The bundled common-password list (and its SHA-256 digests for the HASH form), built
    /// once at start-up: about 8 MB and tens of milliseconds, too much for a request.
    pub password_blocklist: Arc<Blocklist>,
    /// The breached-password filter in use (none until one is imported), replaced whole when a
    /// new file is loaded (control socket `reload-breached`, or the periodic check).
    pub breached: Arc<crate::breached::Live>,
    /// Held while the admin UI imports an uploaded breached-password file (one at a time).
    pub breached_import: tokio::sync::Mutex<()>,
    /// This process's random salt for request keys derived from a whole body: a password
    /// body without a `requestId` must not leave an unsalted hash of the password in the
    /// audit record (see `action::password`). Retries across a restart then get a second
    /// record (the same answer: password decisions are pure).
    pub(crate) body_salt: [u8; 32],
    /// The online breach check's HTTP client, built on first use (it loads the system's
    /// trusted roots, which only a server with the check enabled needs).
    pub range_client: std::sync::OnceLock<Result<Arc<crate::online_breach::RangeClient>, String>>,
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
    /// `Blocklist::bundled()`, built by the caller once.
    pub password_blocklist: Arc<Blocklist>,
    /// The breached-password filter, loaded by the caller at start-up if the file exists.
    pub breached: Arc<crate::breached::Live>,
}

impl App {
    /// What a simulation reads of this server: its store, lists and request-key salt (the
    /// admin API and the control socket simulate alike).
    pub fn simulation_deps(&self) -> crate::service::simulate::Deps<'_> {
        crate::service::simulate::Deps {
            store: &self.store,
            blocklist: &self.password_blocklist,
            breached: self.breached.get(),
            salt: self.body_salt,
        }
    }

    pub fn new(p: Parts) -> Self {
        App {
            forward: Arc::default(),
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
            password_blocklist: p.password_blocklist,
            breached: p.breached,
            body_salt: random_salt(),
            range_client: std::sync::OnceLock::new(),
            breached_import: tokio::sync::Mutex::new(()),
        }
    }
}

/// 32 random bytes; if the system cannot give them, a hash of what differs between processes
/// (still unknown to whoever reads the audit export later).
fn random_salt() -> [u8; 32] {
    let mut salt = [0u8; 32];
    if getrandom::fill(&mut salt).is_err() {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(format!(
            "{:?}{:?}",
            std::time::SystemTime::now(),
            Instant::now()
        ));
        h.update(std::process::id().to_le_bytes());
        h.update((&salt as *const _ as usize).to_le_bytes());
        salt.copy_from_slice(&h.finalize());
    }
    salt
}
