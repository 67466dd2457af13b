//! Backup and restore: one file holding every tree, checked by a SHA-256 trailer.
//!
//! Layout: the magic line, a JSON header line, then frames `tree (u8) || key length (u32 BE)
//! || key || value length (u32 BE) || value`, then the end frame `0xFF || sha256(everything
//! before)`. A backup taken while the server runs is consistent where it matters: the audit
//! chain is cut at the head seen when the backup starts (later batches are left out whole),
//! and so are the outbox items keyed by those later records.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Result, Store, StoreError};

const MAGIC: &[u8] = b"PROFILEGATE-BACKUP 1\n";
const END: u8 = 0xFF;

/// The trees, by their number in the file.
/// `request_keys` is left out: it is rebuilt from the audit chain. `anchors` holds the
/// checkpoint signing key: a restored data dir keeps its public key.
const TREES: [(u8, &str); 7] = [
    (1, "departments"),
    (2, "settings"),
    (3, "credentials"),
    (4, "audit"),
    (5, "outbox"),
    (6, "password_keys"),
    (7, "anchors"),
];

/// One entry of a section: key and value.
type KeyValue = (Vec<u8>, Vec<u8>);

/// What a backup or restore covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    /// Audit records in the backup (the chain's length).
    pub audit_records: u64,
    /// Key/value pairs.
    pub entries: u64,
}

/// Hashes everything written through it.
struct Hashing<'a> {
    out: &'a mut dyn Write,
    hash: Sha256,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn io(source: std::io::Error) -> StoreError {
    StoreError::Io {
        what: "write the backup",
        source,
    }
}

fn bad(detail: impl Into<String>) -> StoreError {
    StoreError::Invalid(format!(
        "not a usable profilegate backup: {}; nothing was restored",
        detail.into()
    ))
}

impl Store {
    /// A tree by its name in the file; `audit` is the batches' index (their values are read
    /// from the segments: see [`Store::backup_entries`]).
    fn tree(&self, name: &str) -> &sled::Tree {
        match name {
            "departments" => &self.departments,
            "settings" => &self.settings_tree,
            "credentials" => &self.credentials,
            "audit" => self.audit_tree(),
            "password_keys" => &self.password_keys,
            "anchors" => &self.anchors,
            _ => &self.outbox,
        }
    }

    /// A section's entries as the file holds them: the audit batches up to the one holding
    /// record `head`, keyed by their first sequence number with the packed batch as value
    /// (whatever the layout on disk), the other trees as they are.
    fn backup_entries(
        &self,
        name: &str,
        head: u64,
    ) -> Box<dyn Iterator<Item = Result<KeyValue>> + '_> {
        if name == "audit" {
            return Box::new(
                self.audit_batches(..=head)
                    .map(|item| item.map(|(first, v)| (first.to_be_bytes().to_vec(), v))),
            );
        }
        Box::new(self.tree(name).iter().map(|item| {
            let (k, v) = item?;
            Ok((k.to_vec(), v.to_vec()))
        }))
    }

    /// Writes a backup of everything to `out`. Safe while the server runs.
    pub fn backup(&self, out: &mut dyn Write) -> Result<BackupSummary> {
        let head = self.chain_head();
        let mut w = Hashing {
            out,
            hash: Sha256::new(),
        };
        w.write_all(MAGIC).map_err(io)?;
        // The format the data is in: a migration's backup is taken before it converts anything.
        let format = super::format::stored_format(self)?.unwrap_or(1);
        let header = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "created": super::now_rfc3339(),
            "audit_records": head.seq,
            "format": format,
            "readable_by": super::format::first_version(format),
        });
        writeln!(w, "{header}").map_err(io)?;
        let mut entries = 0;
        for (id, name) in TREES {
            for item in self.backup_entries(name, head.seq) {
                let (k, v) = item?;
                // Audit batches and outbox items are keyed by sequence number: leave out what
                // was appended after the head this backup stands for.
                if matches!(name, "audit" | "outbox") {
                    let seq = <[u8; 8]>::try_from(k.as_ref()).map(u64::from_be_bytes);
                    if seq.is_ok_and(|s| s > head.seq) {
                        continue;
                    }
                }
                // Likewise checkpoints of a later head: the restored chain would not hold them.
                if name == "anchors"
                    && super::anchors::checkpoint_seq(&k).is_some_and(|s| s > head.seq)
                {
                    continue;
                }
                w.write_all(&[id]).map_err(io)?;
                for part in [k.as_slice(), v.as_slice()] {
                    let len = u32::try_from(part.len()).map_err(|_| {
                        io(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "an entry is over 4 GiB",
                        ))
                    })?;
                    w.write_all(&len.to_be_bytes()).map_err(io)?;
                    w.write_all(part).map_err(io)?;
                }
                entries += 1;
            }
        }
        let digest = w.hash.clone().finalize();
        w.out.write_all(&[END]).map_err(io)?;
        w.out.write_all(&digest).map_err(io)?;
        w.out.flush().map_err(io)?;
        Ok(BackupSummary {
            audit_records: head.seq,
            entries,
        })
    }
}

/// Restores a backup into `dir`, which must not hold a database yet. The file is checked
/// whole (magic, framing, checksum) before anything is written, and the audit chain is
/// verified afterwards; on any failure the new database is removed again.
pub fn restore(dir: &Path, input: &mut dyn Read) -> Result<BackupSummary> {
    let db_dir = dir.join("db");
    let segment_dir = dir.join(super::audit::segments::SEGMENT_DIR);
    if db_dir.exists() || segment_dir.exists() {
        return Err(StoreError::Invalid(format!(
            "{} already holds a database; restore into an empty data dir (or move this one away first)",
            dir.display()
        )));
    }
    let mut data = Vec::new();
    input
        .read_to_end(&mut data)
        .map_err(|source| StoreError::Io {
            what: "read the backup",
            source,
        })?;
    let frames = parse(&data)?;
    // A backup from before format stamps says none: format 1.
    let header = header(&data)?;
    let format = header["format"]
        .as_u64()
        .map_or(1, |f| u32::try_from(f).unwrap_or(u32::MAX));
    if format > super::format::CURRENT_FORMAT {
        return Err(StoreError::Invalid(format!(
            "the backup holds data format {format}, written by a newer profilegate; this profilegate ({}) reads data formats up to {}. Restore it with profilegate {} or later; nothing was restored",
            env!("CARGO_PKG_VERSION"),
            super::format::CURRENT_FORMAT,
            header["readable_by"].as_str().unwrap_or("a version that reads it"),
        )));
    }
    let result = (|| {
        let store = Store::open(dir)?;
        let mut entries = 0u64;
        for (id, name) in TREES {
            let mut batch = sled::Batch::default();
            for (_, k, v) in frames.iter().filter(|(t, _, _)| *t == id) {
                if name == "audit" {
                    // The batch goes to a segment, its place into the index.
                    let first = super::audit::key_seq(k)?;
                    batch.insert(*k, store.stored_batch(first, v)?);
                } else {
                    batch.insert(*k, *v);
                }
                entries += 1;
            }
            store.tree(name).apply_batch(batch)?;
        }
        store.flush()?;
        if format < super::format::CURRENT_FORMAT {
            // The chain's tip is the restored one now. The file restored is the backup of
            // what the migration converts.
            *store.chain.lock() = store.load_chain_head()?;
            store.migrate_from(format, None)?;
        }
        drop(store);
        // Reopen so every snapshot (chain head, directory, settings, keys) is read from disk.
        let store = Store::open(dir)?;
        let report = store.verify_audit()?;
        if let Some((seq, why)) = report.first_bad {
            return Err(bad(format!(
                "the audit chain breaks at record {seq}: {why}"
            )));
        }
        store.mark_durable_head()?;
        Ok(BackupSummary {
            audit_records: report.records,
            entries,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&db_dir);
        let _ = std::fs::remove_dir_all(&segment_dir);
    }
    result
}

/// Checks a backup file whole (magic, framing, checksum) and says what it holds.
pub fn inspect(data: &[u8]) -> Result<BackupSummary> {
    let frames = parse(data)?;
    let header = header(data)?;
    Ok(BackupSummary {
        audit_records: header["audit_records"].as_u64().unwrap_or(0),
        entries: frames.len() as u64,
    })
}

/// The header line of a backup whose magic [`parse`] checked.
fn header(data: &[u8]) -> Result<serde_json::Value> {
    let line = data
        .get(MAGIC.len()..)
        .unwrap_or_default()
        .split(|b| *b == b'\n')
        .next()
        .unwrap_or_default();
    serde_json::from_slice(line).map_err(|e| bad(format!("its header is not JSON: {e}")))
}

/// Writes a backup of `store` to `file` (the migration's): created 0600 as
/// `<file>.partial`, synced, renamed into place and the directory synced, so the file
/// appears only once whole. Nothing is left behind on failure.
pub(super) fn save_file(store: &Store, file: &Path) -> Result<BackupSummary> {
    let partial = file.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let f = open.open(&partial).map_err(io)?;
        let mut w = std::io::BufWriter::new(f);
        let summary = store.backup(&mut w)?;
        let f = w.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&partial, file).map_err(io)?;
        if let Some(parent) = file.parent() {
            std::fs::File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

type Frame<'a> = (u8, &'a [u8], &'a [u8]);

/// Splits a backup into frames after checking its magic and checksum.
fn parse(data: &[u8]) -> Result<Vec<Frame<'_>>> {
    let rest = data
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("it does not start with the backup header"))?;
    let nl = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| bad("the header line is cut off"))?;
    let mut pos = MAGIC.len() + nl + 1;
    let mut frames = Vec::new();
    let take = |pos: &mut usize, n: usize| -> Result<&[u8]> {
        let s = data
            .get(*pos..*pos + n)
            .ok_or_else(|| bad("it is cut off (incomplete copy?)"))?;
        *pos += n;
        Ok(s)
    };
    loop {
        let tag = take(&mut pos, 1)?[0];
        if tag == END {
            let body_end = pos - 1;
            let digest = take(&mut pos, 32)?;
            if pos != data.len() {
                return Err(bad("there are bytes after its end"));
            }
            if Sha256::digest(&data[..body_end]).as_slice() != digest {
                return Err(bad(
                    "its checksum does not match (the file was changed or damaged)",
                ));
            }
            return Ok(frames);
        }
        if !TREES.iter().any(|(id, _)| *id == tag) {
            return Err(bad(format!("unknown section {tag}")));
        }
        let len = |pos: &mut usize| -> Result<usize> {
            let b = take(pos, 4)?;
            Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        let kl = len(&mut pos)?;
        let k = take(&mut pos, kl)?;
        let vl = len(&mut pos)?;
        let v = take(&mut pos, vl)?;
        frames.push((tag, k, v));
    }
}
