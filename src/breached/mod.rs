//! The offline breached-password check: a static filter of the SHA-1 hashes of breached
//! passwords (a Pwned-Passwords file), imported once by the CLI into `<data-dir>/breached.filter`
//! and held in memory by the server. No network at serving time, lookups in microseconds.
//!
//! Why this shape: 100M hashes must fit in a few hundred MB of RAM and import in bounded memory.
//! A key is the first 8 bytes of the SHA-1 (collisions among 100M are negligible); keys are
//! bucketed by their top 8 bits into 256 shards, each a `BinaryFuse16` (~2.3 bytes an entry,
//! false-positive rate ~1/65536), so the import never holds more than one shard's keys and the
//! filter file is written shard by shard (`filter.rs`). See docs/decisions.md.
//!
//! Replacing the filter while serving: [`Live`] holds the one in use; a new file is loaded
//! completely (and checked) before it replaces the old one, so requests never see a gap.

pub mod filter;
pub mod import;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub use filter::{Filter, Meta};
pub use import::{import, Progress};

use crate::policy::password::{BreachAnswer, BreachedCheck};

/// The live filter's file name in the data dir.
pub const FILE_NAME: &str = "breached.filter";

/// BinaryFuse16's false-positive rate (a 16-bit fingerprint must match).
pub const FALSE_POSITIVE_RATE: f64 = 1.0 / 65536.0;

/// The filter file of a data dir.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The SHA-1 of a password's UTF-8 bytes: what breach corpora (the Pwned Passwords files and
/// range API) are keyed by. Wiped on drop.
pub fn sha1(password: &str) -> zeroize::Zeroizing<[u8; 20]> {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        password.as_bytes(),
    );
    let mut out = zeroize::Zeroizing::new([0u8; 20]);
    out.copy_from_slice(d.as_ref());
    out
}

/// The lookup key of a password: the first 8 bytes of its SHA-1, big-endian (the first 16 hex
/// digits of a Pwned-Passwords line).
pub fn key_of(password: &str) -> u64 {
    let d = sha1(password);
    let mut k = [0u8; 8];
    k.copy_from_slice(&d[..8]);
    u64::from_be_bytes(k)
}

/// Why a filter could not be imported or loaded. Texts never carry a hash or a password.
#[derive(Debug, thiserror::Error)]
pub enum BreachedError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The input file has a malformed line: nothing was changed.
    #[error("line {line}: {problem}; nothing was changed")]
    BadLine { line: u64, problem: &'static str },
    /// `--min-count` above 1 with a file of bare hashes (they have no count).
    #[error("line {line} is a bare hash without a count, so --min-count {min_count} cannot be applied; use a SHA1:COUNT file or --min-count 1; nothing was changed")]
    NoCount { line: u64, min_count: u64 },
    #[error("no hash in the file has a count of at least {min_count}; nothing was changed")]
    Empty { min_count: u64 },
    /// The filter file is not one we wrote, or was damaged after.
    #[error("the filter file {path} is damaged: {problem}")]
    Damaged { path: String, problem: String },
    #[error("building the filter failed: {0}")]
    Build(&'static str),
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BreachedError {
    let context = context.into();
    move |source| BreachedError::Io { context, source }
}

impl BreachedCheck for Filter {
    fn check(&self, password: &str) -> BreachAnswer {
        if self.contains_key(key_of(password)) {
            BreachAnswer::Found
        } else {
            BreachAnswer::NotFound
        }
    }
}

/// What identifies a version of the filter file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    len: u64,
    mtime_ns: i128,
    inode: u64,
}

fn file_id(path: &Path) -> std::io::Result<FileId> {
    let m = std::fs::metadata(path)?;
    let mtime_ns = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Ok(FileId {
        len: m.len(),
        mtime_ns,
        inode,
    })
}

/// The filter a server uses, replaced whole when a new file appears. The read lock is held
/// only to clone the `Arc`, so a reload never blocks a request for longer than that.
#[derive(Default)]
pub struct Live {
    current: RwLock<Option<Arc<Filter>>>,
    /// The file version last tried (loaded or refused); held while loading, so two reloads
    /// (the control socket's and the periodic check's) never load the same file twice.
    seen: Mutex<Option<FileId>>,
}

/// What a reload did.
#[derive(Debug)]
pub enum Reload {
    /// A new file was loaded and is now in use.
    Loaded(Arc<Filter>),
    /// The file is the one already tried (or there is none).
    Unchanged,
}

impl Live {
    /// The filter in use, if any.
    pub fn get(&self) -> Option<Arc<Filter>> {
        self.current.read().clone()
    }

    /// Loads `<data_dir>/breached.filter` if it changed (length, modification time, inode)
    /// since the last try. On failure the filter in use stays and the error is returned once
    /// for that file version.
    pub fn reload_if_changed(&self, data_dir: &Path) -> Result<Reload, BreachedError> {
        let path = path(data_dir);
        let mut seen = self.seen.lock();
        let id = match file_id(&path) {
            Ok(id) => id,
            // No file (never imported, or removed by hand): keep what is in use.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Reload::Unchanged),
            Err(e) => return Err(io_err(format!("cannot read {}", path.display()))(e)),
        };
        if *seen == Some(id) {
            return Ok(Reload::Unchanged);
        }
        *seen = Some(id);
        let filter = Arc::new(Filter::load(&path)?);
        *self.current.write() = Some(filter.clone());
        Ok(Reload::Loaded(filter))
    }
}

#[cfg(test)]
mod tests;
