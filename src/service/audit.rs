//! The audit chain: verifying it and exporting it. Plain reads of the store, here so the CLI
//! and the admin API report their failures alike (a write error of the export is ours or the
//! output's, never the caller's mistake). Both walk the whole chain: admin callers run them
//! off the runtime threads.

use std::io::Write;

use super::{ServiceError, Watched};
use crate::store::{Store, VerifyReport};

/// Checks the hash chain; a broken chain is a report, not an error.
pub fn verify(store: &Store) -> Result<VerifyReport, ServiceError> {
    Ok(store.verify_audit()?)
}

/// Writes every record as one JSON object a line; returns how many.
pub fn export(store: &Store, out: &mut dyn Write) -> Result<u64, ServiceError> {
    let mut watched = Watched::new(out);
    let r = store.export_audit(&mut watched);
    match (r, watched.error) {
        (Ok(n), _) => Ok(n),
        (Err(_), Some(e)) => Err(ServiceError::Unavailable(format!(
            "cannot write the export: {e}"
        ))),
        (Err(e), None) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{run, TestStore};

    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn verify_and_export() {
        let t = TestStore::new();
        run(crate::service::departments::add(
            t.ctx(),
            None,
            &["HR".into()],
        ))
        .unwrap();
        let report = verify(&t.store).unwrap();
        assert_eq!((report.records, report.first_bad), (1, None));
        let mut out = Vec::new();
        assert_eq!(export(&t.store, &mut out).unwrap(), 1);
        let line: serde_json::Value = serde_json::from_slice(out.trim_ascii_end()).unwrap();
        assert!(line["hash"].is_string(), "{line}");
        // A failing output is not the caller's mistake.
        let e = export(&t.store, &mut Full).unwrap_err();
        assert!(matches!(e, ServiceError::Unavailable(_)), "{e:?}");
        assert!(e.to_string().contains("disk full"), "{e}");
    }
}
