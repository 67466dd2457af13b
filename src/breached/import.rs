//! Import of a Pwned-Passwords file (`SHA1HEX:COUNT` lines, upper or lower case, CRLF allowed,
//! or bare 40-hex hashes) in two passes of bounded memory: the file is streamed once and each
//! key is appended to its shard's temporary file in the data dir; then each shard's keys are
//! read back, deduplicated, built into a filter and written to a temporary filter file, which
//! is synced and renamed over the live one. A malformed line stops the import before the live
//! file is touched.
//!
//! Bare hashes carry no count: with `--min-count` 1 they are taken, above 1 the file is
//! refused (the safer choice: counting them as 1 would drop them all without a word, taking
//! them would ignore the threshold).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use xorf::BinaryFuse16;

use super::filter::{self, Meta, ShardEntry, SHARDS, SHARD_BITS};
use super::{io_err, BreachedError};

/// How far an import is, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Lines read so far.
    pub lines: u64,
    /// Hashes taken (count at least the minimum).
    pub taken: u64,
    /// Bytes of the input read so far, and its size.
    pub bytes: u64,
    pub total_bytes: u64,
    /// Shards built so far (the second pass).
    pub shards_built: usize,
    pub elapsed: Duration,
}

/// How often progress is reported at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Imports `source` into `<data_dir>/breached.filter`, keeping hashes whose count is at least
/// `min_count`. The live file is replaced only when the new one is complete and synced.
pub fn import(
    data_dir: &Path,
    source: &Path,
    min_count: u64,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Meta, BreachedError> {
    let min_count = min_count.max(1);
    let input = File::open(source).map_err(io_err(format!("cannot open {}", source.display())))?;
    let total_bytes = input
        .metadata()
        .map_err(io_err(format!("cannot read {}", source.display())))?
        .len();
    let source_name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let work = WorkDir::create(data_dir)?;
    let started = Instant::now();
    let mut state = Progress {
        lines: 0,
        taken: 0,
        bytes: 0,
        total_bytes,
        shards_built: 0,
        elapsed: Duration::ZERO,
    };
    split(input, &work, min_count, &mut state, started, progress)?;
    if state.taken == 0 {
        return Err(BreachedError::Empty { min_count });
    }
    let created_unix = time::OffsetDateTime::now_utc().unix_timestamp();
    let meta = Meta {
        entries: 0,
        min_count,
        created_unix,
        source_name: filter::truncate_name(&source_name).to_owned(),
        source_size: total_bytes,
        file_size: 0,
    };
    let partial = work.dir.join("filter.partial");
    let meta = build(&work, &partial, meta, &mut state, started, progress)?;
    let live = super::path(data_dir);
    std::fs::rename(&partial, &live).map_err(io_err(format!(
        "cannot move the filter to {}",
        live.display()
    )))?;
    sync_dir(data_dir);
    Ok(meta)
}

/// A temporary dir in the data dir for the shards and the partial filter, removed on drop.
struct WorkDir {
    dir: PathBuf,
}

impl WorkDir {
    fn create(data_dir: &Path) -> Result<WorkDir, BreachedError> {
        // A data dir no server has used yet: made as the store makes it (owner only).
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(data_dir)
            .map_err(io_err(format!("cannot create {}", data_dir.display())))?;
        remove_abandoned(data_dir);
        let mut nonce = [0u8; 6];
        let _ = getrandom::fill(&mut nonce);
        let dir = data_dir.join(format!(
            "breached-import-{}-{}.tmp",
            std::process::id(),
            hex::encode(nonce)
        ));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir)
            .map_err(io_err(format!("cannot create {}", dir.display())))?;
        Ok(WorkDir { dir })
    }

    fn shard(&self, i: usize) -> PathBuf {
        self.dir.join(format!("shard-{i:03}"))
    }
}

/// Removes the temporary dirs of imports whose process is gone (killed mid-import: up to 8
/// bytes a hash of shard files would stay behind). Linux only (`/proc`); best effort.
fn remove_abandoned(data_dir: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix("breached-import-")
            .filter(|_| name.ends_with(".tmp"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates a file only its owner can read (0600 whatever the umask).
fn create_private(path: &Path) -> Result<File, BreachedError> {
    let mut open = std::fs::OpenOptions::new();
    open.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(path)
        .map_err(io_err(format!("cannot create {}", path.display())))
}

/// The first pass: every line parsed, each taken key appended to its shard's file.
fn split(
    input: File,
    work: &WorkDir,
    min_count: u64,
    state: &mut Progress,
    started: Instant,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(), BreachedError> {
    let mut shards = Vec::with_capacity(SHARDS);
    for i in 0..SHARDS {
        shards.push(BufWriter::with_capacity(
            32 * 1024,
            create_private(&work.shard(i))?,
        ));
    }
    let mut r = BufReader::with_capacity(1 << 20, input);
    let mut line = Vec::with_capacity(128);
    let mut last = started;
    let write_err = || io_err(format!("cannot write to {}", work.dir.display()));
    loop {
        line.clear();
        let n = (&mut r)
            .take(4096)
            .read_until(b'\n', &mut line)
            .map_err(io_err("cannot read the input file"))?;
        if n == 0 {
            break;
        }
        state.lines += 1;
        state.bytes += n as u64;
        let (key, count) = parse_line(&line).map_err(|problem| BreachedError::BadLine {
            line: state.lines,
            problem,
        })?;
        let Some(key) = key else { continue };
        match count {
            None if min_count > 1 => {
                return Err(BreachedError::NoCount {
                    line: state.lines,
                    min_count,
                })
            }
            Some(c) if c < min_count => {}
            _ => {
                state.taken += 1;
                shards[(key >> (64 - SHARD_BITS)) as usize]
                    .write_all(&key.to_le_bytes())
                    .map_err(write_err())?;
            }
        }
        if state.lines % 65536 == 0 {
            let now = Instant::now();
            if now - last >= PROGRESS_EVERY {
                last = now;
                state.elapsed = now - started;
                progress(state);
            }
        }
    }
    for s in shards {
        s.into_inner()
            .map_err(|e| e.into_error())
            .map_err(write_err())?;
    }
    state.elapsed = started.elapsed();
    progress(state);
    Ok(())
}

/// One line: `Ok((None, _))` for a blank line; the key and the count (`None`: a bare hash).
fn parse_line(line: &[u8]) -> Result<(Option<u64>, Option<u64>), &'static str> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Ok((None, None));
    }
    if line.len() < 40 {
        return Err("not a SHA-1 hash (40 hex digits)");
    }
    let (hash, rest) = line.split_at(40);
    let mut key = 0u64;
    for (i, &c) in hash.iter().enumerate() {
        let v = hex_value(c).ok_or("not a SHA-1 hash (40 hex digits)")?;
        if i < 16 {
            key = (key << 4) | v as u64;
        }
    }
    if rest.is_empty() {
        return Ok((Some(key), None));
    }
    let digits = rest
        .strip_prefix(b":")
        .ok_or("expected HASH:COUNT or a bare hash")?;
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err("the count is not a number");
    }
    let count = digits.iter().fold(0u64, |n, d| n * 10 + (d - b'0') as u64);
    Ok((Some(key), Some(count)))
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The second pass: each shard's keys read back, deduplicated, built and appended to the
/// partial filter; the header last; then the file is synced.
fn build(
    work: &WorkDir,
    partial: &Path,
    mut meta: Meta,
    state: &mut Progress,
    started: Instant,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Meta, BreachedError> {
    let write_err = || io_err(format!("cannot write {}", partial.display()));
    let mut out = BufWriter::with_capacity(1 << 20, create_private(partial)?);
    // The header's size is known before the shards are: written as zeros now, for real last.
    let placeholder = filter::header_bytes(&meta, &vec![ShardEntry::default(); SHARDS]);
    out.write_all(&placeholder).map_err(write_err())?;
    out.write_all(&[0u8; 32]).map_err(write_err())?;
    let mut body = Sha256::new();
    let mut table = Vec::with_capacity(SHARDS);
    let mut offset = 0u64;
    let mut last = started;
    for i in 0..SHARDS {
        let keys = read_keys(&work.shard(i))?;
        let _ = std::fs::remove_file(work.shard(i));
        if keys.is_empty() {
            table.push(ShardEntry {
                offset,
                len: 0,
                entries: 0,
            });
            continue;
        }
        let f = BinaryFuse16::try_from(&keys).map_err(BreachedError::Build)?;
        let bytes = filter::shard_bytes(&f);
        body.update(&bytes);
        out.write_all(&bytes).map_err(write_err())?;
        table.push(ShardEntry {
            offset,
            len: bytes.len() as u64,
            entries: keys.len() as u64,
        });
        offset += bytes.len() as u64;
        meta.entries += keys.len() as u64;
        state.shards_built = i + 1;
        let now = Instant::now();
        if now - last >= PROGRESS_EVERY {
            last = now;
            state.elapsed = now - started;
            progress(state);
        }
    }
    let header = filter::header_bytes(&meta, &table);
    let sum = filter::checksum(&header, &body.finalize().into());
    let mut file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(write_err())?;
    file.seek(SeekFrom::Start(0)).map_err(write_err())?;
    file.write_all(&header).map_err(write_err())?;
    file.write_all(&sum).map_err(write_err())?;
    file.sync_all().map_err(write_err())?;
    meta.file_size = file.metadata().map_err(write_err())?.len();
    state.shards_built = SHARDS;
    state.elapsed = started.elapsed();
    progress(state);
    Ok(meta)
}

/// A shard's keys, sorted and without duplicates.
fn read_keys(path: &Path) -> Result<Vec<u64>, BreachedError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_err(format!("cannot read {}", path.display())))?;
    let mut keys: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            u64::from_le_bytes(a)
        })
        .collect();
    drop(bytes);
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// Makes the rename durable; best effort (not every platform can sync a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
pub(super) fn parse_line_for_tests(
    line: &[u8],
) -> Result<(Option<u64>, Option<u64>), &'static str> {
    parse_line(line)
}
