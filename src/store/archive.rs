//! Audit archives: the oldest records moved out of the live database into files, one per
//! month (UTC) of record time, so the database stays bounded for years while the chain stays
//! verifiable end to end.
//!
//! # The file
//!
//! `audit-YYYY-MM-<first seq, 12 digits>.pgarchive`, mode 0600, written to a temporary name,
//! synced, then renamed (a crash leaves either no file or a whole one):
//!
//! ```text
//! "PGAUDIT-ARCHIVE1\n"                          magic (17 bytes)
//! header JSON, "\n"                             {"period","first_seq","prev_hash"}
//! chunks: u32 LE raw length, u32 LE lz4 length, lz4 block of the records' framing
//! u32 LE 0                                      end of chunks
//! trailer JSON, u32 LE its length               {"last_seq","last_hash","records"}
//! ```
//!
//! A chunk's records are framed exactly as in a stored batch (`u32 BE length || sha256 ||
//! body`, the body as written), so a verifier hashes the same bytes the chain was built from.
//! Nothing in a file is trusted: its records must hash to their stored hashes and link to the
//! record before them, file after file and on into the live database.
//!
//! # The cut
//!
//! The live chain starts after the *base*, the last archived record (`anchors` tree, key
//! `archived_to`: its sequence number and hash). The base moves in the same transaction as the
//! `audit.archive` record that names the files, and only after the files are on disk; the
//! archived batches are removed after that, in steps (and again at open, if a crash came
//! between). Reads and verification ignore anything at or below the base.

use std::fs;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::audit::{decode_batch, unpack_batch_value, Link, GENESIS_HASH};
use super::{json_err, Result, Store, StoreError};
use crate::model::{AuditEntry, VerifyReport};

const MAGIC: &[u8; 17] = b"PGAUDIT-ARCHIVE1\n";
/// File name suffix of an archive.
pub const SUFFIX: &str = ".pgarchive";
/// Records' bytes per compressed chunk (before compression).
const CHUNK: usize = 1024 * 1024;
/// Largest chunk a reader accepts: a damaged length must not allocate gigabytes.
const MAX_CHUNK: usize = 64 * 1024 * 1024;
/// Largest header or trailer a reader accepts.
const MAX_META: usize = 64 * 1024;
/// Key of the base in the `anchors` tree.
const BASE_KEY: &[u8] = b"archived_to";
/// Prefix of the archive index in the `anchors` tree: `archive:` || first seq (u64 BE) -> the
/// [`ArchiveFile`] as JSON, with its checksum.
const INDEX_PREFIX: &[u8] = b"archive:";
/// Archived batches removed per sled batch.
const REMOVE_STEP: usize = 10_000;

/// The last archived record: the live chain continues after it.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveBase {
    pub seq: u64,
    /// Its hash, 64 hex digits.
    pub hash: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    period: String,
    first_seq: u64,
    prev_hash: String,
}

#[derive(Serialize, Deserialize)]
struct Trailer {
    last_seq: u64,
    last_hash: String,
    records: u64,
}

/// What one archive file holds, as its header and trailer say.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveFile {
    /// The file's name in the archive directory.
    pub name: String,
    /// The month of its records' time, `YYYY-MM` (UTC).
    pub period: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub records: u64,
    /// The hash of the record before the first (64 hex digits).
    pub prev_hash: String,
    /// The hash of the last record (64 hex digits).
    pub last_hash: String,
    /// The file's size.
    pub bytes: u64,
    /// SHA-256 of the whole file (64 hex digits), as written; `None` when only read from the
    /// file's header and trailer.
    pub sha256: Option<String>,
}

/// One stored batch as the archive run sees it, to decide whether it goes.
#[derive(Debug, Clone, Copy)]
pub struct BatchInfo<'a> {
    pub first_seq: u64,
    pub last_seq: u64,
    /// The batch's commit time (every record of a batch has it), stored format.
    pub time: &'a str,
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |source| StoreError::Io { what, source }
}

/// `YYYY-MM` of a stored-format time.
fn period_of(time: &str) -> &str {
    time.get(..7).unwrap_or("0000-00")
}

/// The name of the archive of `period` starting at `first_seq`. The same start gives the same
/// name, so a run repeated after a crash replaces what the first one left.
pub fn file_name(period: &str, first_seq: u64) -> String {
    format!("audit-{period}-{first_seq:012}{SUFFIX}")
}

/// A file writer that hashes what goes through it (the archive's checksum).
struct Hashing {
    file: fs::File,
    hash: Sha256,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Writes one archive file under a temporary name; [`Writer::finish`] makes it whole.
/// Without a directory it only counts (a dry run).
struct Writer {
    dir: Option<PathBuf>,
    name: String,
    tmp: PathBuf,
    out: Option<BufWriter<Hashing>>,
    chunk: Vec<u8>,
    period: String,
    first_seq: u64,
    prev_hash: String,
    last_seq: u64,
    last_hash: [u8; 32],
    records: u64,
}

impl Writer {
    fn create(dir: Option<&Path>, period: &str, first_seq: u64, prev: [u8; 32]) -> Result<Writer> {
        let name = file_name(period, first_seq);
        let tmp = PathBuf::from(format!(".{name}.tmp"));
        let mut writer = Writer {
            dir: dir.map(Path::to_path_buf),
            tmp: dir.map(|d| d.join(&tmp)).unwrap_or(tmp),
            name,
            out: None,
            chunk: Vec::new(),
            period: period.to_string(),
            first_seq,
            prev_hash: hex::encode(prev),
            last_seq: first_seq - 1,
            last_hash: prev,
            records: 0,
        };
        if dir.is_none() {
            return Ok(writer);
        }
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts
            .open(&writer.tmp)
            .map_err(io("create an archive file"))?;
        let mut out = BufWriter::with_capacity(
            256 * 1024,
            Hashing {
                file,
                hash: Sha256::new(),
            },
        );
        let header = Header {
            period: period.to_string(),
            first_seq,
            prev_hash: hex::encode(prev),
        };
        let header = serde_json::to_vec(&header).map_err(|e| json_err("archive header", e))?;
        out.write_all(MAGIC).map_err(io("write an archive file"))?;
        out.write_all(&header)
            .map_err(io("write an archive file"))?;
        out.write_all(b"\n").map_err(io("write an archive file"))?;
        writer.out = Some(out);
        writer.chunk.reserve(CHUNK + 64 * 1024);
        Ok(writer)
    }

    /// Adds one batch's framed records (`raw`), `n` of them, the last with `last_hash`.
    fn add(&mut self, raw: &[u8], last_seq: u64, n: u64, last_hash: [u8; 32]) -> Result<()> {
        if self.out.is_some() {
            self.chunk.extend_from_slice(raw);
        }
        self.last_seq = last_seq;
        self.last_hash = last_hash;
        self.records += n;
        if self.chunk.len() >= CHUNK {
            self.flush_chunk()?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        let packed = lz4_flex::block::compress(&self.chunk);
        let w = io("write an archive file");
        out.write_all(&(self.chunk.len() as u32).to_le_bytes())
            .map_err(&w)?;
        out.write_all(&(packed.len() as u32).to_le_bytes())
            .map_err(&w)?;
        out.write_all(&packed).map_err(&w)?;
        self.chunk.clear();
        Ok(())
    }

    /// Writes the trailer, syncs the file and gives it its name (then syncs the directory).
    fn finish(mut self) -> Result<ArchiveFile> {
        self.flush_chunk()?;
        let trailer = Trailer {
            last_seq: self.last_seq,
            last_hash: hex::encode(self.last_hash),
            records: self.records,
        };
        let mut bytes = 0;
        let mut sha256 = None;
        if let (Some(mut out), Some(dir)) = (self.out.take(), self.dir.as_ref()) {
            let trailer =
                serde_json::to_vec(&trailer).map_err(|e| json_err("archive trailer", e))?;
            let w = io("write an archive file");
            out.write_all(&0u32.to_le_bytes()).map_err(&w)?;
            out.write_all(&trailer).map_err(&w)?;
            out.write_all(&(trailer.len() as u32).to_le_bytes())
                .map_err(&w)?;
            let Hashing { file, hash } = out.into_inner().map_err(|e| StoreError::Io {
                what: "write an archive file",
                source: e.into_error(),
            })?;
            sha256 = Some(hex::encode(hash.finalize()));
            file.sync_all().map_err(io("sync an archive file"))?;
            bytes = file.metadata().map_err(io("read an archive file"))?.len();
            drop(file);
            fs::rename(&self.tmp, dir.join(&self.name)).map_err(io("name an archive file"))?;
            sync_dir(dir)?;
        }
        Ok(ArchiveFile {
            name: self.name,
            period: self.period,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            records: self.records,
            prev_hash: self.prev_hash,
            last_hash: hex::encode(self.last_hash),
            bytes,
            sha256,
        })
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync the archive directory"))
}

/// Creates the archive directory (0700) if it is missing.
pub fn create_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(io("create the archive directory"))
}

/// Why a file is not a readable archive.
fn bad_file(name: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("{name} is not a readable archive: {why}"))
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// Reads a file's header (and the position where its chunks start).
fn read_header(r: &mut BufReader<fs::File>, name: &str) -> Result<(Header, u64)> {
    use std::io::BufRead;
    let mut magic = [0u8; MAGIC.len()];
    r.read_exact(&mut magic)
        .map_err(|e| bad_file(name, format!("{e}")))?;
    if &magic != MAGIC {
        return Err(bad_file(name, "it does not start like one"));
    }
    let mut line = Vec::new();
    r.by_ref()
        .take(MAX_META as u64)
        .read_until(b'\n', &mut line)
        .map_err(|e| bad_file(name, e))?;
    let header: Header = serde_json::from_slice(line.strip_suffix(b"\n").unwrap_or(&line))
        .map_err(|e| bad_file(name, format!("its header is damaged ({e})")))?;
    Ok((header, (MAGIC.len() + line.len()) as u64))
}

/// Reads a file's header and trailer: what it says it holds (not yet checked).
pub fn describe(path: &Path) -> Result<ArchiveFile> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = fs::File::open(path).map_err(|e| bad_file(&name, e))?;
    let bytes = file.metadata().map_err(|e| bad_file(&name, e))?.len();
    let mut r = BufReader::new(file);
    let (header, _) = read_header(&mut r, &name)?;
    let trailer = (|| -> std::io::Result<Vec<u8>> {
        r.seek(SeekFrom::End(-4))?;
        let len = read_u32(&mut r)? as usize;
        if len > MAX_META || len as u64 + 4 > bytes {
            return Err(std::io::Error::other("its trailer is damaged"));
        }
        r.seek(SeekFrom::End(-4 - len as i64))?;
        let mut t = vec![0u8; len];
        r.read_exact(&mut t)?;
        Ok(t)
    })()
    .map_err(|e| bad_file(&name, e))?;
    let trailer: Trailer = serde_json::from_slice(&trailer)
        .map_err(|e| bad_file(&name, format!("its trailer is damaged ({e})")))?;
    Ok(ArchiveFile {
        name,
        period: header.period,
        first_seq: header.first_seq,
        last_seq: trailer.last_seq,
        records: trailer.records,
        prev_hash: header.prev_hash,
        last_hash: trailer.last_hash,
        bytes,
        sha256: None,
    })
}

/// The archives in `dir`, oldest first (by first record). Files that are not archives
/// (by name) are ignored; an archive that cannot be read is an error naming it.
pub fn list(dir: &Path) -> Result<Vec<ArchiveFile>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io("read the archive directory")(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io("read the archive directory"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("audit-") && name.ends_with(SUFFIX) {
            out.push(describe(&entry.path())?);
        }
    }
    out.sort_by_key(|f| f.first_seq);
    Ok(out)
}

/// Where a walk over the chain stands: records checked, the last one's number and hash.
#[derive(Debug, Clone, Copy)]
struct Walk {
    records: u64,
    seq: u64,
    hash: [u8; 32],
}

/// Checks one record against the walk so far; `Err(why)` names what does not fit.
fn check_record(walk: &mut Walk, hash: [u8; 32], body: &[u8]) -> std::result::Result<(), String> {
    let expected = walk.seq + 1;
    if <[u8; 32]>::from(Sha256::digest(body)) != hash {
        return Err("record content does not match its hash: it was changed".into());
    }
    let link: Link =
        serde_json::from_slice(body).map_err(|e| format!("record is not readable: {e}"))?;
    if link.seq != expected {
        return Err(format!(
            "record says sequence {} but is stored as {expected}",
            link.seq
        ));
    }
    if link.prev_hash != hex::encode(walk.hash) {
        return Err("prev_hash does not match the previous record's hash".into());
    }
    walk.seq = expected;
    walk.hash = hash;
    walk.records += 1;
    Ok(())
}

/// What verifying archives and the live chain as one chain came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Archive files read.
    pub files: usize,
    /// Records in them, checked.
    pub archived: u64,
    /// The whole report: records checked (archived and live), and the first that does not
    /// fit (with the file it is in), or the missing file.
    pub report: VerifyReport,
}

/// Reads one file's chunks, checking every record against `walk`. `Ok(Some(..))` is the
/// first record that does not fit (or the damage), as (sequence number, why).
fn verify_file(
    path: &Path,
    f: &ArchiveFile,
    walk: &mut Walk,
    mut on_record: impl FnMut(u64, [u8; 32]),
) -> Result<Option<(u64, String)>> {
    let name = &f.name;
    let file = fs::File::open(path).map_err(|e| bad_file(name, e))?;
    let mut r = BufReader::with_capacity(256 * 1024, file);
    let (header, _) = read_header(&mut r, name)?;
    let at = |walk: &Walk, why: String| Ok(Some((walk.seq + 1, format!("{why} (in {name})"))));
    if header.prev_hash != hex::encode(walk.hash) {
        return at(
            walk,
            "the file does not continue the chain: its first record's predecessor differs".into(),
        );
    }
    let mut raw = Vec::new();
    let mut packed = Vec::new();
    loop {
        let len = match read_u32(&mut r) {
            Ok(n) => n as usize,
            Err(_) => return at(walk, "the file is cut short".into()),
        };
        if len == 0 {
            break;
        }
        let Ok(plen) = read_u32(&mut r) else {
            return at(walk, "the file is cut short".into());
        };
        if len > MAX_CHUNK || plen as usize > MAX_CHUNK {
            return at(walk, "a chunk of the file is damaged".into());
        }
        packed.resize(plen as usize, 0);
        if r.read_exact(&mut packed).is_err() {
            return at(walk, "the file is cut short".into());
        }
        raw.resize(len, 0);
        match lz4_flex::block::decompress_into(&packed, &mut raw) {
            Ok(n) if n == len => {}
            _ => return at(walk, "a chunk of the file is damaged".into()),
        }
        let Some(records) = decode_batch(&raw) else {
            return at(walk, "a chunk of the file is damaged".into());
        };
        for rec in records {
            if let Err(why) = check_record(walk, rec.hash, rec.body) {
                return at(walk, why);
            }
            on_record(walk.seq, walk.hash);
        }
    }
    if walk.seq != f.last_seq || hex::encode(walk.hash) != f.last_hash {
        return at(
            walk,
            format!(
                "the file's trailer says it ends at record {}, its records end at {}",
                f.last_seq, walk.seq
            ),
        );
    }
    Ok(None)
}

impl Store {
    /// Held for a whole archive run: from writing the files to removing the archived batches.
    pub fn archive_guard(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.archive_lock.lock()
    }

    /// The last archived record, if records were archived.
    pub fn archive_base(&self) -> Result<Option<ArchiveBase>> {
        match self.anchors.get(BASE_KEY)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| json_err("archive base", e)),
        }
    }

    /// The base as (sequence number, hash): the genesis when nothing was archived.
    pub(in crate::store) fn base_link(&self) -> Result<(u64, [u8; 32])> {
        match self.archive_base()? {
            None => Ok((0, GENESIS_HASH)),
            Some(b) => {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(&b.hash, &mut hash).map_err(|e| StoreError::Corrupt {
                    what: "archive base".into(),
                    detail: e.to_string(),
                })?;
                Ok((b.seq, hash))
            }
        }
    }

    /// Records in the live database (after the base, up to the head).
    pub fn live_records(&self) -> Result<u64> {
        let (base, _) = self.base_link()?;
        Ok(self.chain_head().seq.saturating_sub(base))
    }

    /// Writes the oldest live batches that `take` accepts (in order; the first it refuses ends
    /// the run) to archive files in `dir`, one per month, and returns them; without a `dir`,
    /// only says what they would be (a dry run, `bytes` 0). Changes nothing in the database:
    /// [`Store::commit_archive`] does, once the files are on disk.
    pub fn write_archives(
        &self,
        dir: Option<&Path>,
        mut take: impl FnMut(BatchInfo<'_>) -> bool,
    ) -> Result<Vec<ArchiveFile>> {
        #[derive(Deserialize)]
        struct TimeView<'a> {
            #[serde(borrow)]
            time: std::borrow::Cow<'a, str>,
        }
        let (base, base_hash) = self.base_link()?;
        let mut files = Vec::new();
        let mut current: Option<Writer> = None;
        let mut prev = base_hash;
        for item in self.audit_batches(base + 1..) {
            let (first, v) = item?;
            let raw = unpack_batch_value(&v).ok_or_else(|| super::audit::damaged(first))?;
            let records = decode_batch(&raw).ok_or_else(|| super::audit::damaged(first))?;
            let (Some(head), Some(last)) = (records.first(), records.last()) else {
                return Err(super::audit::damaged(first));
            };
            let view: TimeView<'_> = serde_json::from_slice(head.body)
                .map_err(|e| json_err(&format!("audit record {first}"), e))?;
            let info = BatchInfo {
                first_seq: first,
                last_seq: first + records.len() as u64 - 1,
                time: &view.time,
            };
            if !take(info) {
                break;
            }
            let period = period_of(&view.time).to_string();
            if current.as_ref().is_some_and(|w| w.period != period) {
                if let Some(w) = current.take() {
                    files.push(w.finish()?);
                }
            }
            if current.is_none() {
                if let Some(dir) = dir {
                    create_dir(dir)?;
                }
                current = Some(Writer::create(dir, &period, first, prev)?);
            }
            let last_hash = last.hash;
            let n = records.len() as u64;
            let last_seq = info.last_seq;
            if let Some(w) = current.as_mut() {
                w.add(&raw, last_seq, n, last_hash)?;
            }
            prev = last_hash;
        }
        if let Some(w) = current.take() {
            files.push(w.finish()?);
        }
        Ok(files)
    }

    /// Moves the base to the end of `files` (written by [`Store::write_archives`], oldest
    /// first) and appends `entry` (the `audit.archive` record) in one transaction, then
    /// removes the archived batches. Returns the record's sequence number; the caller makes
    /// it durable.
    pub fn commit_archive(&self, files: &[ArchiveFile], entry: &AuditEntry) -> Result<u64> {
        let Some(last) = files.last() else {
            return Err(StoreError::Precondition(
                "no archive files to commit".into(),
            ));
        };
        let (base, _) = self.base_link()?;
        if files.first().map(|f| f.first_seq) != Some(base + 1) {
            return Err(StoreError::Conflict(
                "the live chain moved since the archives were written; run the archive again"
                    .into(),
            ));
        }
        let new_base = serde_json::to_vec(&ArchiveBase {
            seq: last.last_seq,
            hash: last.last_hash.clone(),
        })
        .map_err(|e| json_err("archive base", e))?;
        let index = files
            .iter()
            .map(|f| {
                let mut k = INDEX_PREFIX.to_vec();
                k.extend_from_slice(&f.first_seq.to_be_bytes());
                serde_json::to_vec(f)
                    .map(|v| (k, v))
                    .map_err(|e| json_err("archive index", e))
            })
            .collect::<Result<Vec<_>>>()?;
        let seq = self.transact_with_audit(&self.anchors, entry, |t| {
            t.insert(BASE_KEY, new_base.as_slice())?;
            for (k, v) in &index {
                t.insert(k.as_slice(), v.as_slice())?;
            }
            Ok(())
        })?;
        Ok(seq)
    }

    /// The archive files written so far, oldest first, as recorded at each cut (with their
    /// checksums; where they are now is the archive directory's business).
    pub fn archived_files(&self) -> Result<Vec<ArchiveFile>> {
        self.anchors
            .scan_prefix(INDEX_PREFIX)
            .map(|item| {
                let (_, v) = item?;
                serde_json::from_slice(&v).map_err(|e| json_err("archive index", e))
            })
            .collect()
    }

    /// Removes the stored batches at or below the base (after an archive run, and at open in
    /// case a crash came between the base's move and the removal); returns how many.
    pub fn remove_archived(&self) -> Result<usize> {
        let (base, _) = self.base_link()?;
        if base == 0 {
            return Ok(0);
        }
        let mut removed = 0;
        for tree in self.audit_trees() {
            loop {
                let keys: Vec<sled::IVec> = tree
                    .range(..=base.to_be_bytes())
                    .keys()
                    .take(REMOVE_STEP)
                    .collect::<sled::Result<_>>()?;
                if keys.is_empty() {
                    break;
                }
                let mut batch = sled::Batch::default();
                let mut keys_batch = sled::Batch::default();
                for k in &keys {
                    batch.remove(k.clone());
                    keys_batch.remove(k.clone());
                }
                tree.apply_batch(batch)?;
                self.request_keys.apply_batch(keys_batch)?;
                removed += keys.len();
            }
        }
        // The removal goes to disk before any segment file it empties goes.
        if removed > 0 {
            self.flush()?;
        }
        self.remove_archived_segments()?;
        Ok(removed)
    }

    /// The live chain from the base on, checked like [`Store::verify_audit`] but continuing
    /// `walk` (archives verified before it).
    fn verify_live(&self, walk: &mut Walk) -> Result<Option<(u64, String)>> {
        for item in self.audit_batches(walk.seq + 1..) {
            let (first, v) = match item {
                Ok(batch) => batch,
                Err(e @ StoreError::Sled(_)) => return Err(e),
                // A key that is no sequence number, an index entry or a frame that does not
                // read: the chain breaks here.
                Err(e) => {
                    return Ok(Some((
                        walk.seq + 1,
                        format!("the stored batch is unreadable: {e}"),
                    )))
                }
            };
            if first != walk.seq + 1 {
                return Ok(Some((
                    walk.seq + 1,
                    format!(
                        "expected sequence {}, found {first}: a record is missing",
                        walk.seq + 1
                    ),
                )));
            }
            let raw = unpack_batch_value(&v);
            let Some(batch) = raw.as_deref().and_then(decode_batch) else {
                return Ok(Some((walk.seq + 1, "the stored batch is damaged".into())));
            };
            if batch.is_empty() {
                return Ok(Some((walk.seq + 1, "the stored batch is empty".into())));
            }
            for r in batch {
                if let Err(why) = check_record(walk, r.hash, r.body) {
                    return Ok(Some((walk.seq + 1, why)));
                }
            }
        }
        Ok(None)
    }

    /// Walks the live chain (from the last archived record, or the first record) and reports
    /// the first record that does not fit: a body whose hash differs from the stored one, a
    /// `prev_hash` that is not the previous record's hash, or a gap or jump in the sequence.
    pub fn verify_audit(&self) -> Result<VerifyReport> {
        let (seq, hash) = self.base_link()?;
        let mut walk = Walk {
            records: 0,
            seq,
            hash,
        };
        let first_bad = self.verify_live(&mut walk)?;
        Ok(VerifyReport {
            records: walk.records,
            first_bad,
        })
    }

    /// Verifies the archives in `dir` and the live chain as one chain, from the first record
    /// to the head: names the first record that does not fit, or the file that is missing.
    /// `on_archived` sees each archived record's number and hash (to check anchors).
    pub fn verify_with_archives(
        &self,
        dir: &Path,
        mut on_archived: impl FnMut(u64, [u8; 32]),
    ) -> Result<ChainReport> {
        let files = list(dir)?;
        let (base, base_hash) = self.base_link()?;
        let mut walk = Walk {
            records: 0,
            seq: 0,
            hash: GENESIS_HASH,
        };
        let mut hash_at_base = (base == 0).then_some(GENESIS_HASH);
        let done = |walk: &Walk, files: usize, archived: u64, bad: Option<(u64, String)>| {
            Ok::<_, StoreError>(ChainReport {
                files,
                archived,
                report: VerifyReport {
                    records: walk.records,
                    first_bad: bad,
                },
            })
        };
        for (i, f) in files.iter().enumerate() {
            if f.first_seq > walk.seq + 1 {
                return done(
                    &walk,
                    i,
                    walk.records,
                    Some((
                        walk.seq + 1,
                        format!(
                            "records {} to {} are in no archive file in {}: a file is missing (the next one, {}, starts at record {})",
                            walk.seq + 1,
                            f.first_seq - 1,
                            dir.display(),
                            f.name,
                            f.first_seq
                        ),
                    )),
                );
            }
            if f.first_seq <= walk.seq {
                return done(
                    &walk,
                    i,
                    walk.records,
                    Some((
                        f.first_seq,
                        format!(
                            "{} starts at record {}, which an earlier file holds: remove the file that does not belong",
                            f.name, f.first_seq
                        ),
                    )),
                );
            }
            let bad = verify_file(&dir.join(&f.name), f, &mut walk, |seq, hash| {
                if seq == base {
                    hash_at_base = Some(hash);
                }
                on_archived(seq, hash);
            })?;
            if bad.is_some() {
                return done(&walk, i + 1, walk.records, bad);
            }
        }
        let archived = walk.records;
        if walk.seq < base {
            return done(
                &walk,
                files.len(),
                archived,
                Some((
                    walk.seq + 1,
                    format!(
                        "records {} to {base} were archived, but no file in {} holds them: a file is missing",
                        walk.seq + 1,
                        dir.display()
                    ),
                )),
            );
        }
        if hash_at_base != Some(base_hash) {
            return done(
                &walk,
                files.len(),
                archived,
                Some((
                    base,
                    "the archived record the live chain continues from has another hash in the archives".into(),
                )),
            );
        }
        // Archives past the base (a run interrupted before its cut) overlap the live chain:
        // the live chain is checked from the base.
        let mut live = Walk {
            records: walk.records.saturating_sub(walk.seq - base),
            seq: base,
            hash: base_hash,
        };
        let bad = self.verify_live(&mut live)?;
        done(&live, files.len(), archived, bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::admin_entry;

    /// A store with `per_month` single-record batches in each of September to November 2026.
    fn store_with_months(dir: &Path, per_month: u32) -> Store {
        let store = Store::open(&dir.join("data")).unwrap();
        fill_months(&store, per_month);
        store
    }

    fn fill_months(store: &Store, per_month: u32) {
        for month in ["09", "10", "11"] {
            for day in 1..=per_month {
                let time = format!("2026-{month}-{:02}T10:00:00.000Z", day % 28 + 1);
                store
                    .append_entries_dated(&[admin_entry(day), admin_entry(day + 100)], &time)
                    .unwrap();
            }
        }
    }

    fn entry() -> AuditEntry {
        AuditEntry::Admin(crate::model::AdminEntry {
            actor: "test".into(),
            action: "audit.archive".into(),
            before: None,
            after: None,
        })
    }

    fn before_november(b: BatchInfo<'_>) -> bool {
        b.time < "2026-11-01"
    }

    #[test]
    fn months_go_to_one_file_each_and_the_chain_verifies_across_the_cut() {
        let tmp = tempfile::tempdir().unwrap();
        let arch = tmp.path().join("arch");
        let store = store_with_months(tmp.path(), 30);
        assert_eq!(store.chain_head().seq, 180);
        // A dry run names the files and writes nothing.
        let dry = store.write_archives(None, before_november).unwrap();
        assert_eq!(
            dry.iter()
                .map(|f| (f.period.as_str(), f.first_seq, f.last_seq, f.bytes))
                .collect::<Vec<_>>(),
            [("2026-09", 1, 60, 0), ("2026-10", 61, 120, 0)]
        );
        assert!(!arch.exists());

        let files = store.write_archives(Some(&arch), before_november).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].name, "audit-2026-10-000000000061.pgarchive");
        for f in &files {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::metadata(arch.join(&f.name))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{}", f.name);
            }
            let bytes = fs::read(arch.join(&f.name)).unwrap();
            assert_eq!(f.sha256, Some(hex::encode(Sha256::digest(&bytes))));
            let described = describe(&arch.join(&f.name)).unwrap();
            assert_eq!(described.sha256, None);
            assert_eq!(
                ArchiveFile {
                    sha256: f.sha256.clone(),
                    ..described
                },
                *f
            );
        }
        assert_eq!(list(&arch).unwrap().len(), 2);
        let seq = store.commit_archive(&files, &entry()).unwrap();
        assert_eq!(seq, 181);
        assert_eq!(store.archived_files().unwrap(), files);
        assert_eq!(store.remove_archived().unwrap(), 60);
        assert_eq!(store.live_records().unwrap(), 61);
        assert_eq!(store.audit_record(120).unwrap(), None);
        assert!(store.audit_record(121).unwrap().is_some());

        let live = store.verify_audit().unwrap();
        assert_eq!((live.records, live.first_bad), (61, None));
        let mut seen = Vec::new();
        let all = store
            .verify_with_archives(&arch, |seq, _| seen.push(seq))
            .unwrap();
        assert_eq!((all.files, all.archived), (2, 120));
        assert_eq!((all.report.records, all.report.first_bad), (181, None));
        assert_eq!(seen, (1..=120).collect::<Vec<_>>());

        // After a restart the chain still continues from the base.
        store.flush().unwrap();
        drop(store);
        let store = Store::open(&tmp.path().join("data")).unwrap();
        assert_eq!(store.chain_head().seq, 181);
        assert_eq!(store.verify_audit().unwrap().first_bad, None);
        // The next run finds nothing older than November.
        assert!(store
            .write_archives(Some(&arch), before_november)
            .unwrap()
            .is_empty());
    }

    /// A cut gives the disk back by deleting the segment files whose batches are all archived
    /// (after the cut is on disk); the file that also holds live batches stays, and so does the
    /// last one.
    #[test]
    fn segment_files_wholly_archived_are_deleted_and_the_rest_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let arch = tmp.path().join("arch");
        let data = tmp.path().join("data");
        let store = Store::open(&data).unwrap();
        store.segments.set_limit(2048);
        fill_months(&store, 30);
        let files_before = store.segments.count();
        assert!(files_before >= 10, "{files_before} files");
        let bytes_before = store.segment_bytes();
        let files = store.write_archives(Some(&arch), before_november).unwrap();
        store.commit_archive(&files, &entry()).unwrap();
        assert_eq!(store.remove_archived().unwrap(), 60);
        let left = store.segments.count();
        assert!(
            left < files_before / 2,
            "{left} of {files_before} files left"
        );
        assert!(store.segment_bytes() < bytes_before / 2);
        // Every live batch still reads, and the chain verifies with the archives.
        let live = store.verify_audit().unwrap();
        assert_eq!((live.records, live.first_bad), (61, None));
        let all = store.verify_with_archives(&arch, |_, _| {}).unwrap();
        assert_eq!((all.report.records, all.report.first_bad), (181, None));
        store.flush().unwrap();
        drop(store);
        let store = Store::open(&data).unwrap();
        assert_eq!(store.segments.count(), left);
        assert_eq!(store.verify_audit().unwrap().first_bad, None);
        assert!(store.audit_record(121).unwrap().is_some());
    }

    #[test]
    fn a_changed_record_a_missing_file_and_a_cut_short_file_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let arch = tmp.path().join("arch");
        let store = store_with_months(tmp.path(), 10);
        let files = store.write_archives(Some(&arch), before_november).unwrap();
        store.commit_archive(&files, &entry()).unwrap();
        store.remove_archived().unwrap();
        let verify = |store: &Store| store.verify_with_archives(&arch, |_, _| {}).unwrap();
        assert_eq!(verify(&store).report.first_bad, None);

        // A record rewritten inside the first file (its chunk recompressed, so only the
        // chain can tell).
        let first = arch.join(&files[0].name);
        let original = fs::read(&first).unwrap();
        let (header, start) =
            read_header(&mut BufReader::new(fs::File::open(&first).unwrap()), "x").unwrap();
        assert_eq!(header.first_seq, 1);
        let at = start as usize;
        let len = u32::from_le_bytes(original[at..at + 4].try_into().unwrap()) as usize;
        let plen = u32::from_le_bytes(original[at + 4..at + 8].try_into().unwrap()) as usize;
        let mut raw = lz4_flex::block::decompress(&original[at + 8..at + 8 + plen], len).unwrap();
        let pos = raw.windows(8).position(|w| w == b"change 5").unwrap();
        raw[pos + 7] = b'6';
        let packed = lz4_flex::block::compress(&raw);
        let mut changed = original[..at].to_vec();
        changed.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        changed.extend_from_slice(&(packed.len() as u32).to_le_bytes());
        changed.extend_from_slice(&packed);
        changed.extend_from_slice(&original[at + 8 + plen..]);
        fs::write(&first, &changed).unwrap();
        let bad = verify(&store).report.first_bad.unwrap();
        assert_eq!(bad.0, 9, "{bad:?}");
        assert!(bad.1.contains("does not match its hash"), "{bad:?}");
        assert!(bad.1.contains(&files[0].name), "{bad:?}");

        // Cut short.
        fs::write(&first, &original[..original.len() / 2]).unwrap();
        let err = verify_err_or_bad(&store, &arch);
        assert!(err.contains(&files[0].name), "{err}");
        fs::write(&first, &original).unwrap();
        assert_eq!(verify(&store).report.first_bad, None);

        // The first file missing: records 1 to 20 are in no file.
        fs::rename(&first, tmp.path().join("away")).unwrap();
        let bad = verify(&store).report.first_bad.unwrap();
        assert_eq!(bad.0, 1);
        assert!(
            bad.1.contains("records 1 to 20 are in no archive file"),
            "{bad:?}"
        );
        fs::rename(tmp.path().join("away"), &first).unwrap();

        // The last file missing: the live chain's base is in no file.
        fs::remove_file(arch.join(&files[1].name)).unwrap();
        let bad = verify(&store).report.first_bad.unwrap();
        assert!(bad.1.contains("records 21 to 40 were archived"), "{bad:?}");
    }

    /// The first broken record's reason, or the error's text (a file too damaged to list).
    fn verify_err_or_bad(store: &Store, arch: &Path) -> String {
        match store.verify_with_archives(arch, |_, _| {}) {
            Ok(r) => r.report.first_bad.map(|b| b.1).unwrap_or_default(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_run_cut_short_is_finished_at_open_or_done_again() {
        let tmp = tempfile::tempdir().unwrap();
        let arch = tmp.path().join("arch");
        let path = tmp.path().join("data");
        let store = store_with_months(tmp.path(), 5);
        // Files written, then a crash before the cut: the next run writes the same names.
        let first = store.write_archives(Some(&arch), before_november).unwrap();
        let again = store.write_archives(Some(&arch), before_november).unwrap();
        assert_eq!(first, again);
        assert_eq!(list(&arch).unwrap().len(), 2);
        // The cut made, then a crash before the archived batches went: open removes them.
        store.commit_archive(&again, &entry()).unwrap();
        store.flush().unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.audit_tree().range(..=20u64.to_be_bytes()).count(), 0);
        assert_eq!(store.live_records().unwrap(), 11);
        let r = store.verify_with_archives(&arch, |_, _| {}).unwrap();
        assert_eq!((r.report.records, r.report.first_bad), (31, None));
        // A stale commit (the base moved since the files were written) is refused.
        assert!(matches!(
            store.commit_archive(&again, &entry()),
            Err(StoreError::Conflict(_))
        ));
    }
}
