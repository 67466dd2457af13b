//! Backups of the whole data dir and their restore. A backup file appears only once it is
//! complete, synced and private (0600: it holds the SMTP password, credential hashes and the
//! audit log's personal data). A failing disk or output is reported as ours (Unavailable),
//! never as a mistake in the request; a damaged backup given to restore is the caller's.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use super::{ServiceError, Watched};
use crate::store::{Store, StoreError};

pub use crate::store::backup::BackupSummary;

fn unavailable(context: String) -> impl FnOnce(std::io::Error) -> ServiceError {
    move |e| ServiceError::Unavailable(format!("{context}: {e}"))
}

/// Writes a backup of the store to `out`. Safe while the server runs.
pub fn write(store: &Store, out: &mut dyn Write) -> Result<BackupSummary, ServiceError> {
    let mut watched = Watched::new(out);
    let r = store.backup(&mut watched);
    match (r, watched.error) {
        (Ok(s), _) => Ok(s),
        (Err(_), Some(e)) => Err(unavailable("cannot write the backup".into())(e)),
        (Err(e), None) => Err(ServiceError::Internal(e)),
    }
}

/// Checks a backup taken by the running server (its bytes whole) and says what it holds.
/// A bad one is the server's fault, not the caller's.
pub fn check(bytes: &[u8]) -> Result<BackupSummary, ServiceError> {
    crate::store::backup::inspect(bytes).map_err(ServiceError::Internal)
}

/// Writes a backup of the store to `file`.
pub fn save(store: &Store, file: &Path) -> Result<BackupSummary, ServiceError> {
    to_file(file, &mut |f| write(store, f))
}

/// Checks a backup taken by the running server, then writes it to `file`.
pub fn save_bytes(bytes: &[u8], file: &Path) -> Result<BackupSummary, ServiceError> {
    let summary = check(bytes)?;
    to_file(file, &mut |f| {
        f.write_all(bytes).map_err(unavailable(format!(
            "cannot write {}",
            partial(file).display()
        )))?;
        Ok(summary)
    })
}

fn partial(file: &Path) -> std::path::PathBuf {
    file.with_extension("partial")
}

/// Fills `<file>.partial` (created 0600 whatever the umask, never over an existing file's
/// modes), syncs it, and renames it into place.
fn to_file(
    file: &Path,
    fill: &mut dyn FnMut(&mut File) -> Result<BackupSummary, ServiceError>,
) -> Result<BackupSummary, ServiceError> {
    let partial = partial(file);
    let _ = std::fs::remove_file(&partial);
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut f = open
        .open(&partial)
        .map_err(unavailable(format!("cannot create {}", partial.display())))?;
    let summary = fill(&mut f)?;
    f.sync_all()
        .map_err(unavailable(format!("cannot write {}", partial.display())))?;
    std::fs::rename(&partial, file).map_err(unavailable(format!(
        "cannot move the backup to {}",
        file.display()
    )))?;
    Ok(summary)
}

/// Restores the backup `file` into `data_dir`, which must not hold a database yet; the audit
/// chain is verified on the way in.
pub fn restore(data_dir: &Path, file: &Path) -> Result<BackupSummary, ServiceError> {
    let mut data = Vec::new();
    File::open(file)
        .map_err(unavailable(format!("cannot open {}", file.display())))?
        .read_to_end(&mut data)
        .map_err(unavailable("cannot read the backup".into()))?;
    crate::store::backup::restore(data_dir, &mut data.as_slice()).map_err(|e| match e {
        // A damaged file, or a data dir that already holds a database.
        StoreError::Invalid(m) => ServiceError::invalid("file", m),
        other => other.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{run, Full, TestStore};

    #[test]
    fn save_and_restore() {
        let t = TestStore::new();
        run(crate::service::departments::add(
            t.ctx(),
            None,
            &["HR".into()],
        ))
        .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("pg.backup");
        let saved = save(&t.store, &file).unwrap();
        assert_eq!(saved.audit_records, 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!partial(&file).exists());

        let bytes = std::fs::read(&file).unwrap();
        let copy = tmp.path().join("copy.backup");
        assert_eq!(save_bytes(&bytes, &copy).unwrap(), check(&bytes).unwrap());

        let target = tmp.path().join("restored");
        assert_eq!(restore(&target, &file).unwrap().audit_records, 1);
        let e = restore(&target, &copy).unwrap_err();
        assert!(
            matches!(e, ServiceError::Invalid { field: "file", .. }),
            "{e:?}"
        );
    }

    #[test]
    fn io_failures_are_ours_and_bad_files_the_callers() {
        let t = TestStore::new();
        let e = write(&t.store, &mut Full).unwrap_err();
        assert!(matches!(e, ServiceError::Unavailable(_)), "{e:?}");
        let tmp = tempfile::tempdir().unwrap();
        let e = save(&t.store, &tmp.path().join("no/such/dir/pg.backup")).unwrap_err();
        assert!(matches!(e, ServiceError::Unavailable(_)), "{e:?}");
        let e = restore(&tmp.path().join("r1"), &tmp.path().join("missing")).unwrap_err();
        assert!(matches!(e, ServiceError::Unavailable(_)), "{e:?}");

        let junk = tmp.path().join("junk");
        std::fs::write(&junk, b"not a backup").unwrap();
        let e = restore(&tmp.path().join("r2"), &junk).unwrap_err();
        assert!(
            matches!(e, ServiceError::Invalid { field: "file", .. }),
            "{e:?}"
        );
        assert!(!tmp.path().join("r2/db").exists());
        assert!(matches!(check(b"junk"), Err(ServiceError::Internal(_))));
    }
}
