//! Offline compaction: sled reuses the space records leave behind, but never gives it back to
//! the file system, and after a large cut its files are larger than before (removing records
//! rewrites their pages). `profilegate compact` copies every tree into a fresh database beside
//! the old one, checks the copy, and swaps the two directories.
//!
//! The swap is two renames (`db` -> `db.old`, `db.compact` -> `db`); [`finish`] runs at every
//! open and completes or undoes whatever a crash interrupted, so the data dir always opens on
//! one whole database.

use std::fs;
use std::path::Path;

use super::{Result, Store, StoreError};

const DB: &str = "db";
const COPY: &str = "db.compact";
const OLD: &str = "db.old";
/// Entries copied per sled batch.
const STEP: usize = 1_000;

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// The database's size before and after.
    pub before: u64,
    pub after: u64,
    /// Entries copied, over every tree.
    pub entries: u64,
}

fn dir_err(dir: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::DataDir {
        dir: dir.to_path_buf(),
        source,
    }
}

/// Completes or undoes an interrupted compaction (at every open, before sled opens `db`): a
/// missing `db` with its copy present is the swap cut between its renames; a copy beside a
/// whole `db` was never swapped in; an `db.old` beside a whole `db` is the old one, swapped out.
pub(super) fn finish(dir: &Path) -> Result<()> {
    let (db, copy, old) = (dir.join(DB), dir.join(COPY), dir.join(OLD));
    if !db.exists() && copy.exists() {
        fs::rename(&copy, &db).map_err(dir_err(dir))?;
        tracing::warn!(dir = %dir.display(), "finished a compaction a crash interrupted");
    }
    if copy.exists() {
        fs::remove_dir_all(&copy).map_err(dir_err(dir))?;
    }
    if old.exists() {
        fs::remove_dir_all(&old).map_err(dir_err(dir))?;
    }
    Ok(())
}

/// Compacts the database of the data dir `dir`, which no server may hold: opens it (replaying
/// the journal), copies every tree into a fresh database, checks that the copy holds the same
/// keys and values (sled's checksum over everything), and swaps it in.
pub fn compact(dir: &Path) -> Result<Compacted> {
    let store = Store::open(dir)?;
    store.mark_durable_head()?;
    let before = store.size_on_disk()?;
    let target = dir.join(COPY);
    if target.exists() {
        fs::remove_dir_all(&target).map_err(dir_err(dir))?;
    }
    let mut entries = 0u64;
    let after = {
        let copy = sled::Config::new()
            .path(&target)
            .cache_capacity(32 * 1024 * 1024)
            .open()?;
        for name in store.db.tree_names() {
            let src = store.db.open_tree(&name)?;
            let dst = copy.open_tree(&name)?;
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for item in src.iter() {
                let (k, v) = item?;
                batch.insert(k, v);
                n += 1;
                if n == STEP {
                    dst.apply_batch(std::mem::take(&mut batch))?;
                    entries += n as u64;
                    n = 0;
                }
            }
            dst.apply_batch(batch)?;
            entries += n as u64;
        }
        copy.flush()?;
        if copy.checksum()? != store.db.checksum()? {
            drop(copy);
            let _ = fs::remove_dir_all(&target);
            return Err(StoreError::Corrupt {
                what: "the compacted copy".into(),
                detail: "it does not hold the same entries as the database; the database was left as it was".into(),
            });
        }
        // The audit's segment files are not copied: they shrink by archive cuts, not here.
        copy.size_on_disk()? + store.segment_bytes()
    };
    drop(store);
    let (db, old) = (dir.join(DB), dir.join(OLD));
    // sled's lock on the old files goes with its last handle (its threads may hold it a
    // moment longer): the renames do not depend on it.
    fs::rename(&db, &old).map_err(dir_err(dir))?;
    fs::rename(&target, &db).map_err(dir_err(dir))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(dir_err(dir))?;
    fs::remove_dir_all(&old).map_err(dir_err(dir))?;
    Ok(Compacted {
        before,
        after,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::admin_entry;

    #[test]
    fn a_compacted_store_holds_the_same_chain_and_an_interrupted_swap_is_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        {
            let store = Store::open(&dir).unwrap();
            for i in 0..2_000 {
                store.append_entries(&[admin_entry(i)]).unwrap();
            }
            store.add_departments("test", None, &["HR"]).unwrap();
            store.flush().unwrap();
        }
        let c = compact(&dir).unwrap();
        assert!(c.entries >= 2_000, "{c:?}");
        assert!(!dir.join(OLD).exists() && !dir.join(COPY).exists());
        let head = {
            let store = Store::open(&dir).unwrap();
            let r = store.verify_audit().unwrap();
            assert_eq!((r.records, r.first_bad), (2_001, None));
            assert!(store
                .directory()
                .contains(None, "HR", crate::policy::MatchMode::Exact));
            store.chain_head()
        };
        // The swap cut between its renames: the copy is taken at the next open.
        fs::rename(dir.join(DB), dir.join(COPY)).unwrap();
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.chain_head(), head);
        drop(store);
        // A copy never swapped in is dropped.
        fs::create_dir(dir.join(COPY)).unwrap();
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.chain_head(), head);
        assert!(!dir.join(COPY).exists());
    }
}
