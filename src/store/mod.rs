//! Everything profilegate keeps, in one sled database under `<data-dir>/db`: the department
//! directory, settings, endpoint credentials and the hash-chained audit log; beside it the
//! commit journal (`<data-dir>/journal`, see [`durable`]), which carries the newest
//! acknowledged batches until sled's log has them. sled allows one process per data dir;
//! [`Store::open`] turns that into a plain "the server holds it" error.

pub mod anchors;
pub mod archive;
pub mod audit;
pub mod backup;
pub mod compact;
pub mod credentials;
pub mod departments;
pub mod durable;
pub mod format;
pub mod forward_cursors;
pub mod oauth_tokens;
pub mod outbox;
pub mod password_keys;
mod settings_tree;
pub mod stats;
pub mod sync_state;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::keys::KeyRing;
use crate::model::{CredentialRecord, Settings};
use crate::policy::Directory;
pub use audit::ChainHead;
use durable::JournalState;
pub use durable::{CommitError, CommitObserver, GroupCommit};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data dir {dir} is in use by a running profilegate server{}; stop that server, run this command, then start the server again",
        server.as_ref().map(|s| format!(" (pid {}, serving on {})", s.pid, s.base_url())).unwrap_or_default())]
    Locked {
        dir: PathBuf,
        server: Option<ServerInfo>,
    },
    #[error("cannot use the data dir {dir}: {source}")]
    DataDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored data is unreadable ({what}): {detail}. Restore the latest backup: move the data dir away, then `profilegate restore FILE` into an empty one")]
    Corrupt { what: String, detail: String },
    #[error("the database in {dir} has lost data: its audit chain ends at record {has}, but it had {had} records when it was last known to be on disk. The database is damaged: move the data dir away, then `profilegate restore FILE` the latest backup into an empty one")]
    Lost { dir: PathBuf, had: u64, has: u64 },
    /// The data dir was written by a newer profilegate; nothing in it was touched.
    #[error("the data dir {dir} holds data format {found}, written by a newer profilegate; this profilegate ({}) reads data formats up to {}. Nothing was changed. Install {}, or restore a backup taken by this version into an empty data dir (`profilegate restore FILE`)", env!("CARGO_PKG_VERSION"), format::CURRENT_FORMAT,
        readable_by.as_ref().map_or_else(|| format!("a profilegate that reads format {found}"), |v| format!("profilegate {v} or later")))]
    NewerFormat {
        dir: PathBuf,
        found: u32,
        /// The first version that reads it, as its stamp says (none when only the database's
        /// copy of the stamp was found).
        readable_by: Option<String>,
    },
    /// An older data dir needs migrating, and the backup taken first could not be written.
    #[error("the data dir {dir} holds data format {from} and must be migrated to format {}, but the backup taken first could not be written ({detail}); nothing was converted. Free disk space or make the data dir's parent (or the data dir) writable, or take a backup with `profilegate backup FILE` of this data dir using the profilegate that wrote it", format::CURRENT_FORMAT)]
    MigrationBackup {
        dir: PathBuf,
        from: u32,
        detail: String,
    },
    #[error("cannot open the database in {dir}: {detail}. {hint}")]
    Unopenable {
        dir: PathBuf,
        detail: String,
        hint: &'static str,
    },
    /// The caller's mistake (a bad department name, a duplicate credential, a file that is
    /// not a usable backup): said to the caller, never logged as our fault.
    #[error("{0}")]
    Invalid(String),
    /// A credential that no longer fits (another was created meanwhile).
    #[error(transparent)]
    NoRoom(#[from] crate::model::credentials::NoRoom),
    #[error("not found: {0}")]
    NotFound(String),
    /// The change does not fit what is stored (a third active password-sharing key).
    #[error("{0}")]
    Conflict(String),
    /// A change could not be made durable now (the committer has stopped, or writing or
    /// syncing its batch failed); nothing of it was acknowledged.
    #[error(transparent)]
    Unavailable(#[from] CommitError),
    /// Reading or writing a file or stream beside the database failed (a backup, an export).
    #[error("cannot {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A caller broke a precondition the layer above checks (a bug of ours, not input).
    #[error("internal error: {0}")]
    Precondition(String),
    /// A blocking storage task panicked or was cancelled before it finished.
    #[error("{what} did not finish: {detail}")]
    Task { what: &'static str, detail: String },
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Written to `<data-dir>/server.json` while a server runs, so that a CLI command that finds
/// the data dir locked can say which process holds it and where to reach it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerInfo {
    pub pid: u32,
    pub listen: String,
    #[serde(default)]
    pub tls: bool,
}

impl ServerInfo {
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.listen
        )
    }
}

const SERVER_INFO_FILE: &str = "server.json";

pub fn json_err(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        detail: e.to_string(),
    }
}

/// The open database. Cheap to share behind an `Arc`; every method is safe to call
/// concurrently.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    departments: sled::Tree,
    settings_tree: sled::Tree,
    credentials: sled::Tree,
    /// Password-sharing keys (id -> record with the PKCS#8 private key; see `password_keys`).
    password_keys: sled::Tree,
    /// The audit batches' index (first sequence number -> place in a segment file).
    audit_index: sled::Tree,
    /// The segment files holding the audit batches (see `audit::segments`).
    segments: audit::segments::Segments,
    /// In a data dir of format 2 not migrated yet, the tree holding the batches themselves,
    /// and whether it is still the one in use (see `audit::log`).
    audit_legacy: Option<sled::Tree>,
    legacy: std::sync::atomic::AtomicBool,
    outbox: sled::Tree,
    /// Request keys of recent decisions, one value per batch (see `audit::keylog`): what a
    /// restart re-indexes for retries without reading the audit records themselves.
    request_keys: sled::Tree,
    /// Each synced organization's sync state (see `sync_state`). Not in backups: the next
    /// sync rebuilds it.
    sync_state: sled::Tree,
    /// The checkpoint signing key and the signed checkpoints (see `anchors`).
    anchors: sled::Tree,
    /// Each SIEM forwarding target's cursor (see `forward_cursors`). Not in backups: a
    /// restored data dir starts forwarding at its head.
    forward_cursors: sled::Tree,
    /// Access tokens issued at the token endpoint (see `oauth_tokens`). Not in backups.
    oauth_tokens: sled::Tree,
    /// Counts per hour for the overview (see `stats`). Not in backups.
    stats: sled::Tree,
    /// Organizations seen in traffic (see `stats`). Not in backups.
    orgs_seen: sled::Tree,
    /// Refused calls and e-mail outcomes not yet in `stats`.
    pending: stats::Pending,
    /// `orgs_seen` in memory, so a call reads no tree.
    orgs: Mutex<std::collections::HashMap<String, crate::model::stats::SeenOrg>>,
    /// The last sequence number known to be on disk, raised after each durable commit: the
    /// SIEM forwarder sends nothing past it, and waits on it for more.
    durable_seq: tokio::sync::watch::Sender<u64>,
    /// The data dir's checkpoint signing key, read (or made) at open.
    anchor_key: crate::anchor::SigningKey,
    /// One department sync at a time (the schedule, "Sync now" and an approval may meet).
    sync_lock: tokio::sync::Mutex<()>,
    /// One archive run at a time (the schedule and `audit archive` may meet; two would write
    /// the same files).
    archive_lock: Mutex<()>,
    /// Serializes appends to the chain; holds the last sequence number and hash.
    chain: Mutex<ChainHead>,
    /// The commit journal (see `journal`); locked after `chain`, never before.
    journal: Mutex<JournalState>,
    /// The directory snapshot the policy reads; replaced whole after each change.
    directory: RwLock<Arc<Directory>>,
    /// The settings snapshot; replaced whole after each change.
    settings: RwLock<Arc<Settings>>,
    /// Active credentials snapshot, read on every authenticated request.
    credential_list: RwLock<Arc<Vec<CredentialRecord>>>,
    /// The active password-sharing keys, newest first; replaced whole after each change.
    password_ring: RwLock<Arc<KeyRing>>,
    /// Makes "is there room for another key" and the write one step.
    password_keys_lock: Mutex<()>,
    /// The last journal replay as this start found it (see `durable::JournalReplay`).
    replay_note: Mutex<Option<durable::JournalReplay>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

/// Creates the data dir (mode 0700: it holds the SMTP password, credential hashes and the
/// password-sharing private keys).
fn create_data_dir(dir: &Path) -> Result<()> {
    let err = |source| StoreError::DataDir {
        dir: dir.to_path_buf(),
        source,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "it is a file, not a directory; give a directory with --data-dir or PROFILEGATE_DATA_DIR",
        )));
    }
    if !dir.exists() {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(err)?;
    }
    #[cfg(unix)]
    tighten_modes(dir).map_err(|e| {
        err(std::io::Error::new(
            e.kind(),
            format!(
                "{e}; the data dir holds secrets and must be private to its owner: run `chmod -R go-rwx {}` as its owner",
                dir.display()
            ),
        ))
    })?;
    Ok(())
}

/// A data dir made beforehand (`mkdir`, an image, an older install) may let the group or
/// others in. It holds the SMTP password, credential hashes and the password-sharing private
/// keys (in sled's files under `db/`, which this walk covers like every file), so everything in it is made
/// private to the owner (0700 directories, no group or other bits on files), with a warning.
#[cfg(unix)]
fn tighten_modes(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(path: &Path, changed: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let meta = fs::symlink_metadata(path)?;
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7700))?;
            changed.push(path.to_path_buf());
        }
        if meta.is_dir() {
            for entry in fs::read_dir(path)? {
                walk(&entry?.path(), changed)?;
            }
        }
        Ok(())
    }
    let mut changed = Vec::new();
    walk(dir, &mut changed)?;
    if !changed.is_empty() {
        tracing::warn!(
            dir = %dir.display(),
            paths = changed.len(),
            "the data dir was readable by the group or others; made it private to its owner (chmod -R go-rwx)"
        );
    }
    Ok(())
}

/// Says what to do about a database sled cannot open.
fn unopenable(dir: &Path, e: sled::Error) -> StoreError {
    let hint = match &e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            "Run profilegate as the data dir's owner (the systemd unit's user), or fix the ownership with chown -R"
        }
        sled::Error::Io(_) => "Check the disk and the path",
        _ => "The database is damaged: move the data dir away, then `profilegate restore FILE` the latest backup into an empty one",
    };
    StoreError::Unopenable {
        dir: dir.to_path_buf(),
        detail: e.to_string(),
        hint,
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        // Before anything touches the dir: a newer format is refused with every file as it was.
        let file_format = format::check_before_open(dir)?;
        create_data_dir(dir)?;
        let file_format = match file_format {
            Some(f) => f,
            None => {
                format::stamp_fresh(dir)?;
                format::CURRENT_FORMAT
            }
        };
        compact::finish(dir)?;
        // A process that just closed the store may hold sled's lock for a moment longer
        // (its I/O threads finish their last writes), so a lock conflict is retried briefly
        // before it is reported.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let db = loop {
            match sled::Config::new()
                .path(dir.join("db"))
                .cache_capacity(32 * 1024 * 1024)
                .open()
            {
                Ok(db) => break db,
                Err(sled::Error::Io(ref io))
                    if io.to_string().contains("could not acquire lock") =>
                {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked {
                            dir: dir.to_path_buf(),
                            server: read_server_info(dir),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(unopenable(dir, e)),
            }
        };
        let (journal, recovery) = durable::open_journal(dir)?;
        let segments =
            audit::segments::Segments::open(dir).map_err(|source| StoreError::DataDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        // A format-2 dir keeps its batches in the `audit` tree until it is migrated.
        let audit_legacy = if db
            .tree_names()
            .iter()
            .any(|n| n == audit::LEGACY_TREE.as_bytes())
        {
            Some(db.open_tree(audit::LEGACY_TREE)?).filter(|t| !t.is_empty())
        } else {
            None
        };
        let anchors = db.open_tree("anchors")?;
        let anchor_key = anchors::load_or_generate(&anchors)?;
        let orgs_seen = db.open_tree("orgs_seen")?;
        let store = Store {
            dir: dir.to_path_buf(),
            departments: db.open_tree("departments")?,
            settings_tree: db.open_tree("settings")?,
            credentials: db.open_tree("credentials")?,
            password_keys: db.open_tree("password_keys")?,
            audit_index: db.open_tree(audit::segments::INDEX_TREE)?,
            segments,
            legacy: std::sync::atomic::AtomicBool::new(audit_legacy.is_some()),
            audit_legacy,
            outbox: db.open_tree("outbox")?,
            request_keys: db.open_tree("request_keys")?,
            sync_state: db.open_tree("sync_state")?,
            forward_cursors: db.open_tree("forward_cursors")?,
            oauth_tokens: db.open_tree("oauth_tokens")?,
            stats: db.open_tree("stats_hourly")?,
            orgs: Mutex::new(stats::load_orgs(&orgs_seen)?),
            orgs_seen,
            pending: stats::Pending::default(),
            durable_seq: tokio::sync::watch::Sender::new(0),
            anchors,
            anchor_key,
            sync_lock: tokio::sync::Mutex::new(()),
            archive_lock: Mutex::new(()),
            db,
            chain: Mutex::new(ChainHead::genesis()),
            journal: Mutex::new(journal),
            directory: RwLock::new(Arc::new(Directory::default())),
            settings: RwLock::new(Arc::new(Settings::default())),
            credential_list: RwLock::new(Arc::new(Vec::new())),
            password_ring: RwLock::new(Arc::new(KeyRing::default())),
            password_keys_lock: Mutex::new(()),
            replay_note: Mutex::new(None),
        };
        let head = store.recover(recovery)?;
        *store.chain.lock() = head;
        // An archive run a crash interrupted after its cut: its batches go now.
        store.remove_archived()?;
        // What `open` recovered was read back from disk: durable.
        store.raise_durable(head.seq);
        store.reload_directory()?;
        store.reload_settings()?;
        store.reload_credentials()?;
        store.reload_password_keys()?;
        store.settle_format(file_format)?;
        Ok(store)
    }

    /// The data dir this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes every write so far durable (sled's log written and synced). Blocking; the server
    /// uses [`GroupCommit`] instead so concurrent requests share one flush.
    pub fn flush(&self) -> Result<()> {
        // The head read before the flush is on disk after it.
        let seq = self.chain_head().seq;
        self.sync_segments(seq)?;
        self.db.flush()?;
        self.raise_durable(seq);
        Ok(())
    }

    /// A failure of one of the data dir's own files (the journal, a segment file, a marker),
    /// or of what the server starts beside it, reported as the data dir's.
    pub(crate) fn dir_error(&self, source: std::io::Error) -> StoreError {
        StoreError::DataDir {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Bytes the database and the audit's segment files occupy on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()? + self.segment_bytes())
    }

    /// Writes a small marker (not flushed here): proves the database takes writes.
    pub fn probe_writable(&self) -> Result<()> {
        self.settings_tree
            .insert(b"readyz", now_rfc3339().as_bytes())?;
        Ok(())
    }

    /// Bytes free (for an unprivileged writer) on the data dir's volume.
    pub fn free_bytes(&self) -> Result<u64> {
        let st = rustix::fs::statvfs(&self.dir).map_err(|e| self.dir_error(e.into()))?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Records that a server now holds this data dir (see [`ServerInfo`]).
    pub fn write_server_info(&self, info: &ServerInfo) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(info).map_err(|e| json_err("server info", e))?;
        fs::write(self.dir.join(SERVER_INFO_FILE), bytes).map_err(|e| self.dir_error(e))
    }

    /// Removes the note written by [`Store::write_server_info`].
    pub fn clear_server_info(&self) {
        let _ = fs::remove_file(self.dir.join(SERVER_INFO_FILE));
    }
}

fn read_server_info(dir: &Path) -> Option<ServerInfo> {
    let bytes = fs::read(dir.join(SERVER_INFO_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Current time as RFC 3339 UTC with milliseconds, the format of every stored timestamp.
pub fn now_rfc3339() -> String {
    format_time(time::OffsetDateTime::now_utc())
}

/// Formats a time the way every stored timestamp is written.
pub fn format_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Formats Unix milliseconds the way every stored timestamp is written.
pub fn format_unix_ms(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format_time(t)
}

/// Parses a time an administrator typed: RFC 3339, or a date (`YYYY-MM-DD`, UTC) meaning its
/// start, or with `end_of_day` the start of the next day (so "to 2026-11-26" includes that
/// day). Returns it in the stored format, so stored timestamps compare as strings.
pub fn parse_time_input(s: &str, end_of_day: bool) -> Option<String> {
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Some(format_time(t));
    }
    let date =
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    let date = if end_of_day { date.next_day()? } else { date };
    Some(format_time(date.midnight().assume_utc()))
}

/// Milliseconds since the Unix epoch.
pub fn now_unix_ms() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}
