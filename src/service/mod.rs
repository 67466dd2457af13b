//! Use cases: each operation validates its input, makes its change durable and audited, and
//! reports failure in one error type that keeps the caller's mistakes (with the field they
//! concern) apart from failures of ours. The CLI and the admin API are thin adapters over
//! these: they parse, call, and render.

pub mod access;
pub mod audit;
pub mod backup;
pub mod credentials;
pub mod decide;
pub mod departments;
pub mod disk;
pub mod doctor;
pub mod forward;
pub mod notifications;
pub mod password;
pub mod retention;
pub mod settings;
pub mod simulate;
pub mod stats;
pub mod sync;

use crate::store::{GroupCommit, Store, StoreError};

/// Why a use case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input is wrong; `field` names the form field or argument it concerns.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A server we depend on (the mail server) refused or failed; `field` is where to say so.
    #[error("{message}")]
    Upstream {
        field: &'static str,
        message: String,
    },
    /// The change could not be made durable now (the committer stopped, a flush failed).
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours (storage unreadable, a bug): logged, never blamed on the input.
    #[error(transparent)]
    Internal(StoreError),
    /// A fault of ours outside storage (hashing, random numbers, a task that died): `what`
    /// was being done, `detail` goes to the log.
    #[error("{what} failed: {detail}")]
    Fault { what: &'static str, detail: String },
}

impl ServiceError {
    /// A mistake in the input, next to `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl ServiceError {
    /// A fault of ours while doing `what`.
    pub fn fault(what: &'static str, detail: impl std::fmt::Display) -> Self {
        ServiceError::Fault {
            what,
            detail: detail.to_string(),
        }
    }
}

/// Runs blocking work (argon2) off the runtime threads; a task that died is our fault.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::fault(what, e))
}

/// A writer that remembers its first I/O error, so a failure of the output (a full disk, a
/// closed pipe) is told apart from the store's own errors, which wrap it as text.
pub(crate) struct Watched<'a> {
    out: &'a mut dyn std::io::Write,
    pub(crate) error: Option<std::io::Error>,
}

impl<'a> Watched<'a> {
    pub(crate) fn new(out: &'a mut dyn std::io::Write) -> Self {
        Watched { out, error: None }
    }

    fn watch<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        r.inspect_err(|e| {
            self.error
                .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })
    }
}

impl std::io::Write for Watched<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.out.write(buf);
        self.watch(r)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.out.flush();
        self.watch(r)
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ServiceError::NotFound(m),
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            StoreError::Unavailable(e) => ServiceError::Unavailable(e.to_string()),
            other => ServiceError::Internal(other),
        }
    }
}

/// How a change becomes durable: the running server's group commit, or a flush of the store
/// (the CLI, which holds the data dir itself).
#[derive(Clone, Copy)]
pub enum Durability<'a> {
    Commit(&'a GroupCommit),
    Flush,
}

/// What every use case runs with: the store, how changes become durable, and who acts (for
/// the audit chain).
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub durability: Durability<'a>,
    pub actor: &'a str,
}

impl Ctx<'_> {
    /// Returns once every change made so far is on disk.
    pub async fn durable(&self) -> Result<(), ServiceError> {
        match self.durability {
            Durability::Commit(c) => c
                .durable()
                .await
                .map_err(|e| ServiceError::Unavailable(format!("the change is not on disk: {e}"))),
            Durability::Flush => self
                .store
                .flush()
                .map_err(|e| ServiceError::Unavailable(format!("the change is not on disk: {e}"))),
        }
    }
}

/// A store in a temporary dir and a CLI-like context, for the use cases' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Ctx, Durability};
    use crate::store::Store;

    pub struct TestStore {
        _dir: tempfile::TempDir,
        pub store: Store,
    }

    impl TestStore {
        pub fn new() -> Self {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = Store::open(dir.path()).expect("open store");
            TestStore { _dir: dir, store }
        }

        pub fn ctx(&self) -> Ctx<'_> {
            Ctx {
                store: &self.store,
                durability: Durability::Flush,
                actor: "test",
            }
        }
    }

    /// An output that always fails, as a full disk does.
    pub struct Full;

    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The form field a use case's refusal names, if it is the caller's mistake.
    pub fn field(e: &super::ServiceError) -> Option<&'static str> {
        match e {
            super::ServiceError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Runs a use case to completion.
    pub fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }
}
