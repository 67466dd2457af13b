//! The data format a data dir was written with, and the migrations between formats.
//!
//! The format is stamped twice: in `<data-dir>/FORMAT`, a small TOML file read before
//! anything else touches the dir (so a dir of a newer format is refused with every file left
//! as it was), and as the `format` key of the settings tree, which travels with `db/` and
//! with backups (so a dir whose `FORMAT` file went missing is still recognised). A dir's
//! format is the larger of the two; no `FORMAT` file, no key and a database is format 1 (every
//! dir written before stamps existed); neither file nor database is a fresh dir, stamped
//! [`CURRENT_FORMAT`] before sled creates anything.
//!
//! An older format is migrated at open: a backup first (next to the data dir, or inside it
//! when the parent is not writable, as under the packaged unit's `ProtectSystem=strict`);
//! then [`STEPS`] in order, each from format N to N+1 and safe to run again (a migration a
//! crash interrupted runs again from the start); then, last, the key together with a
//! `store.migrate` audit record in one sled transaction, flushed, and the `FORMAT` file
//! (written whole, synced, renamed); then the chain is verified.
//!
//! Binaries older than stamps read neither stamp. Format 2 only writes every record in the
//! shape those binaries write themselves, so they still open a format-2 dir correctly. Format
//! 3 keeps them out: its `audit` tree is gone, so they find a chain shorter than the head
//! `audit-head.json` records and refuse the dir as one that lost data (docs/reference.md,
//! "Data formats").

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{json_err, Result, Store, StoreError};
use crate::model::{AdminEntry, AuditEntry, CredentialRecord, Settings};

/// The format this binary writes, and the newest it reads.
pub const CURRENT_FORMAT: u32 = 3;

/// Each format and the first profilegate version that writes (and so reads) it.
pub const FORMATS: &[(u32, &str)] = &[(1, "0.1.0"), (2, "0.2.0"), (3, "0.3.0")];

/// The stamp file in the data dir.
pub const FORMAT_FILE: &str = "FORMAT";
/// The stamp's key in the settings tree (a `u32`, big-endian).
pub(super) const KEY: &[u8] = b"format";

/// One migration step: converts an open store of format N to format N+1 and says what it
/// changed (for the audit record). Must be safe to run again on its own output.
pub(super) type Step = fn(&Store) -> Result<serde_json::Value>;

/// The steps, in order: entry `i` migrates format `i + 1` to `i + 2`.
pub(super) const STEPS: &[Step] = &[normalize_records, move_audit_to_segments];

/// The first version that writes `format`, when this binary knows it.
pub fn first_version(format: u32) -> Option<&'static str> {
    FORMATS.iter().find(|(f, _)| *f == format).map(|(_, v)| *v)
}

/// The `FORMAT` file's content. Unknown keys are ignored, so a newer binary may add some.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Stamp {
    pub format: u32,
    /// The first version that reads this format: what an older binary tells its user to
    /// install, since its own table stops at its own format.
    #[serde(default)]
    pub readable_by: Option<String>,
}

/// Reads `<dir>/FORMAT`; `None` when there is none.
pub fn read_stamp(dir: &Path) -> Result<Option<Stamp>> {
    let text = match fs::read_to_string(dir.join(FORMAT_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::DataDir {
                dir: dir.to_path_buf(),
                source,
            })
        }
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            what: format!("the data format stamp {}", dir.join(FORMAT_FILE).display()),
            detail: e.to_string(),
        })
}

/// Writes `<dir>/FORMAT` for `format` whole (a temporary file, renamed; with `durable`, the
/// file and the dir synced), mode 0600 like everything in the data dir.
fn write_stamp(dir: &Path, format: u32, durable: bool) -> Result<()> {
    let err = |source| StoreError::DataDir {
        dir: dir.to_path_buf(),
        source,
    };
    let readable_by = first_version(format).unwrap_or(env!("CARGO_PKG_VERSION"));
    let text = format!(
        "# The data format of this dir: profilegate {readable_by} or later opens it.\n\
         # Written by profilegate; see \"Data formats\" in docs/reference.md.\n\
         format = {format}\nreadable_by = \"{readable_by}\"\n"
    );
    let tmp = dir.join(format!("{FORMAT_FILE}.tmp"));
    let _ = fs::remove_file(&tmp);
    let mut open = fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut f = open.open(&tmp).map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    if durable {
        f.sync_all().map_err(err)?;
    }
    fs::rename(&tmp, dir.join(FORMAT_FILE)).map_err(err)?;
    if durable {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
    }
    Ok(())
}

fn newer(dir: &Path, found: u32, readable_by: Option<String>) -> StoreError {
    StoreError::NewerFormat {
        dir: dir.to_path_buf(),
        found,
        readable_by,
    }
}

/// What the data dir says before anything opens it: `None` for a fresh dir, else its format
/// by the `FORMAT` file (1 for a database without one). A newer format is refused here, with
/// nothing touched.
pub(super) fn check_before_open(dir: &Path) -> Result<Option<u32>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    if let Some(stamp) = read_stamp(dir)? {
        if stamp.format > CURRENT_FORMAT {
            return Err(newer(dir, stamp.format, stamp.readable_by));
        }
        return Ok(Some(stamp.format.max(1)));
    }
    let has_db = ["db", "db.compact"].iter().any(|d| dir.join(d).exists());
    Ok(has_db.then_some(1))
}

/// Stamps a fresh dir (before sled creates anything in it). Not synced (two fsyncs on every
/// new dir, and the test suites make hundreds): should a power cut lose it, the settings key
/// (on disk with the first flush) still says the format, and with neither the database holds
/// nothing durable, so it is at worst "migrated" empty.
pub(super) fn stamp_fresh(dir: &Path) -> Result<()> {
    write_stamp(dir, CURRENT_FORMAT, false)
}

/// The format the settings tree records, if it records one.
pub(super) fn stored_format(store: &Store) -> Result<Option<u32>> {
    Ok(store
        .settings_tree
        .get(KEY)?
        .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok().map(u32::from_be_bytes)))
}

/// Where the backup taken before a migration goes: beside the data dir, or inside it.
fn backup_paths(dir: &Path, from: u32) -> Vec<PathBuf> {
    let t = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let mut out = Vec::new();
    let abs = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) {
        let mut n = name.to_os_string();
        n.push(format!(".format-{from}-backup-{stamp}.pgbackup"));
        out.push(parent.join(n));
    }
    out.push(abs.join(format!("format-{from}-backup-{stamp}.pgbackup")));
    out
}

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub from: u32,
    pub to: u32,
    /// The backup written before it (none for a restore: its file is the backup).
    pub backup: Option<PathBuf>,
}

impl Store {
    /// Brings the open store to [`CURRENT_FORMAT`] after `open` read `file_format` from the
    /// `FORMAT` file. Returns what was migrated, if anything.
    pub(super) fn settle_format(&self, file_format: u32) -> Result<Option<Migrated>> {
        let stored = stored_format(self)?;
        if let Some(f) = stored.filter(|f| *f > CURRENT_FORMAT) {
            return Err(newer(&self.dir, f, None));
        }
        let format = file_format.max(stored.unwrap_or(1));
        if format == CURRENT_FORMAT {
            // Repair whichever stamp lags (a fresh dir, a crash between the two, a lost FORMAT
            // file). The key goes to disk with the next flush: until then the file says it.
            if stored != Some(CURRENT_FORMAT) {
                self.settings_tree
                    .insert(KEY, &CURRENT_FORMAT.to_be_bytes())?;
            }
            if file_format != CURRENT_FORMAT {
                write_stamp(&self.dir, CURRENT_FORMAT, true)?;
            }
            return Ok(None);
        }
        let backup = self.backup_before_migration(format)?;
        self.migrate_from(format, Some(backup)).map(Some)
    }

    /// Writes the backup a migration needs, beside the data dir or else inside it; refuses
    /// (nothing converted) when neither can be written.
    fn backup_before_migration(&self, from: u32) -> Result<PathBuf> {
        let mut why = Vec::new();
        for path in backup_paths(&self.dir, from) {
            match super::backup::save_file(self, &path) {
                Ok(_) => return Ok(path),
                Err(e) => why.push(format!("{}: {e}", path.display())),
            }
        }
        Err(StoreError::MigrationBackup {
            dir: self.dir.clone(),
            from,
            detail: why.join("; "),
        })
    }

    /// Runs the steps from `from` to [`CURRENT_FORMAT`], stamps the result (the key with
    /// its audit record, then the file) and verifies the chain.
    pub(super) fn migrate_from(&self, from: u32, backup: Option<PathBuf>) -> Result<Migrated> {
        let changed = run_steps(self, from, STEPS)?;
        let entry = AuditEntry::Admin(AdminEntry {
            actor: "profilegate".into(),
            action: "store.migrate".into(),
            before: Some(serde_json::json!({ "format": from })),
            after: Some(serde_json::json!({
                "format": CURRENT_FORMAT,
                "version": env!("CARGO_PKG_VERSION"),
                "backup": backup.as_ref().map(|p| p.display().to_string()),
                "changed": changed,
            })),
        });
        self.transact_with_audit(&self.settings_tree, &entry, |t| {
            t.insert(KEY, &CURRENT_FORMAT.to_be_bytes())?;
            Ok(())
        })?;
        self.mark_durable_head()?;
        write_stamp(&self.dir, CURRENT_FORMAT, true)?;
        self.reload_settings()?;
        self.reload_credentials()?;
        self.reload_password_keys()?;
        let report = self.verify_audit()?;
        if let Some((seq, why)) = report.first_bad {
            return Err(StoreError::Corrupt {
                what: format!("the audit chain after migrating to format {CURRENT_FORMAT}"),
                detail: format!(
                    "it breaks at record {seq}: {why}; the backup taken before is {}",
                    backup
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "the file restored".into())
                ),
            });
        }
        let migrated = Migrated {
            from,
            to: CURRENT_FORMAT,
            backup,
        };
        tracing::warn!(
            dir = %self.dir.display(),
            backup = %migrated.backup.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            records = report.records,
            "migrated the data dir from format {from} to format {CURRENT_FORMAT}; the audit chain verifies"
        );
        Ok(migrated)
    }
}

/// Runs `steps[from-1..]` in order; returns what each changed, by the format it produced.
fn run_steps(store: &Store, from: u32, steps: &[Step]) -> Result<serde_json::Value> {
    let mut changed = serde_json::Map::new();
    let first = usize::try_from(from.max(1) - 1).unwrap_or(usize::MAX);
    for (i, step) in steps.iter().enumerate().skip(first) {
        let to = i + 2;
        changed.insert(format!("to_{to}"), step(store)?);
    }
    Ok(serde_json::Value::Object(changed))
}

/// Rewrites each JSON value of `tree` in the shape the current code writes; returns how many
/// changed.
fn normalize_tree<T: DeserializeOwned + Serialize>(tree: &sled::Tree, what: &str) -> Result<u64> {
    let mut n = 0;
    for item in tree.iter() {
        let (k, v) = item?;
        if normalize_value::<T>(tree, &k, &v, what)? {
            n += 1;
        }
    }
    Ok(n)
}

fn normalize_value<T: DeserializeOwned + Serialize>(
    tree: &sled::Tree,
    k: &[u8],
    v: &sled::IVec,
    what: &str,
) -> Result<bool> {
    let parsed: T = serde_json::from_slice(v).map_err(|e| json_err(what, e))?;
    let bytes = serde_json::to_vec(&parsed).map_err(|e| json_err(what, e))?;
    if bytes == v.as_ref() {
        return Ok(false);
    }
    // The store is not shared yet (this runs inside `open`): nothing races this write.
    tree.insert(k, bytes)?;
    Ok(true)
}

/// 1 -> 2: records stored as JSON by earlier versions miss the fields added since (the
/// settings before the password action, SIEM forwarding, retention, department sync and the
/// token lifetime; credentials before JWT issuers; outbox items and password keys before
/// their optional fields), which the code only tolerates through serde defaults. Each is
/// rewritten whole, so what a dir holds no longer depends on the defaults of the binary that
/// reads it.
fn normalize_records(store: &Store) -> Result<serde_json::Value> {
    let settings = match store.settings_tree.get(super::settings_tree::KEY)? {
        Some(v) => u64::from(normalize_value::<Settings>(
            &store.settings_tree,
            super::settings_tree::KEY,
            &v,
            "settings",
        )?),
        None => 0,
    };
    Ok(serde_json::json!({
        "settings": settings,
        "credentials": normalize_tree::<CredentialRecord>(&store.credentials, "credential")?,
        "outbox": normalize_tree::<super::outbox::OutboxItem>(&store.outbox, "outbox item")?,
        "password_keys": normalize_tree::<super::password_keys::KeyRecord>(&store.password_keys, "password key")?,
    }))
}

/// Format 2 to 3: the audit batches move from the `audit` tree into segment files with an
/// index (see `audit::segments`).
fn move_audit_to_segments(store: &Store) -> Result<serde_json::Value> {
    store.move_batches_to_segments()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_a_step_and_a_first_version_in_order() {
        assert_eq!(STEPS.len() as u32, CURRENT_FORMAT - 1);
        let formats: Vec<u32> = FORMATS.iter().map(|(f, _)| *f).collect();
        assert_eq!(formats, (1..=CURRENT_FORMAT).collect::<Vec<_>>());
        let parse = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
        for pair in FORMATS.windows(2) {
            assert!(parse(pair[0].1) < parse(pair[1].1), "{pair:?}");
        }
    }

    fn step_a(s: &Store) -> Result<serde_json::Value> {
        s.settings_tree.insert("trace", b"a".to_vec())?;
        Ok(serde_json::json!("a"))
    }
    fn step_b(s: &Store) -> Result<serde_json::Value> {
        let before = s.settings_tree.get("trace")?.unwrap_or_default();
        let mut v = before.to_vec();
        v.push(b'b');
        s.settings_tree.insert("trace", v)?;
        Ok(serde_json::json!("b"))
    }
    fn step_c(s: &Store) -> Result<serde_json::Value> {
        let before = s.settings_tree.get("trace")?.unwrap_or_default();
        let mut v = before.to_vec();
        v.push(b'c');
        s.settings_tree.insert("trace", v)?;
        Ok(serde_json::json!("c"))
    }

    #[test]
    fn steps_run_in_order_from_the_format_found() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("d")).unwrap();
        let steps: &[Step] = &[step_a, step_b, step_c];
        let changed = run_steps(&store, 1, steps).unwrap();
        assert_eq!(
            changed,
            serde_json::json!({"to_2": "a", "to_3": "b", "to_4": "c"})
        );
        assert_eq!(store.settings_tree.get("trace").unwrap().unwrap(), b"abc");
        // From format 3 only the last step runs.
        store.settings_tree.insert("trace", b"x".to_vec()).unwrap();
        assert_eq!(
            run_steps(&store, 3, steps).unwrap(),
            serde_json::json!({"to_4": "c"})
        );
        assert_eq!(store.settings_tree.get("trace").unwrap().unwrap(), b"xc");
        assert_eq!(run_steps(&store, 4, steps).unwrap(), serde_json::json!({}));
    }

    #[test]
    fn a_fresh_dir_is_stamped_in_both_places() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        let store = Store::open(&dir).unwrap();
        assert_eq!(stored_format(&store).unwrap(), Some(CURRENT_FORMAT));
        let stamp = read_stamp(&dir).unwrap().unwrap();
        assert_eq!(stamp.format, CURRENT_FORMAT);
        assert_eq!(stamp.readable_by.as_deref(), first_version(CURRENT_FORMAT));
    }

    #[test]
    fn a_newer_key_is_refused_when_the_file_is_lost_and_a_lost_file_is_rewritten() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        {
            let store = Store::open(&dir).unwrap();
            store.flush().unwrap();
        }
        fs::remove_file(dir.join(FORMAT_FILE)).unwrap();
        {
            // A format-2 database without its file is not taken for format 1.
            let store = Store::open(&dir).unwrap();
            assert_eq!(store.verify_audit().unwrap().records, 0);
            assert_eq!(read_stamp(&dir).unwrap().unwrap().format, CURRENT_FORMAT);
            store
                .settings_tree
                .insert(KEY, &(CURRENT_FORMAT + 1).to_be_bytes())
                .unwrap();
            store.flush().unwrap();
        }
        fs::remove_file(dir.join(FORMAT_FILE)).unwrap();
        let e = Store::open(&dir).unwrap_err();
        assert!(
            matches!(e, StoreError::NewerFormat { found, .. } if found == CURRENT_FORMAT + 1),
            "{e}"
        );
    }
}
