//! Audit batches in segment files of our own, with a sled tree as their index.
//!
//! Why not sled values: sled 0.34 keeps every page a scan reads in the process's memory (its
//! LRU looks at accesses 16,384 at a time, and a node of big values lives in a blob file and is
//! counted as a few bytes), so a verify or an export of a long live chain inside the server
//! grew it by hundreds of MB that stayed. Read with `pread` from files of our own, a batch goes
//! through the kernel's page cache: a scan holds one batch at a time (docs/decisions.md, "Audit
//! batches in segment files").
//!
//! Layout: `<data-dir>/audit/<id, 20 digits>.seg` (0600), each appended to until it passes
//! [`SEGMENT_BYTES`], then the next. An id is the first sequence number of the batch that opened
//! the file (or one more than the last id, whichever is larger), so ids grow with the chain. A
//! frame: `b"PGA1"`, the value's length (u32 LE), the CRC-32 of the first sequence number and
//! the value (u32 LE), the batch's first sequence number (u64 LE), then the stored batch value
//! (the lz4-packed records, as the module doc describes). The `audit_index` tree maps a batch's
//! first sequence number (u64 BE) to its [`Loc`].
//!
//! Durability: frames are written without a sync. Until a checkpoint, the commit journal
//! carries each batch; a checkpoint (and [`Store::flush`](crate::store::Store::flush)) syncs the
//! segments before sled flushes and before the journal is emptied, then notes how far they are
//! synced. sled's own background flush may put an index entry on disk before its frame: on
//! open, every entry after the synced mark is read back, and the first that does not read
//! whole is dropped with everything after it; the journal brings back what was acknowledged.
//!
//! Removal: an archive cut removes index entries; a segment file goes once every batch in it
//! is archived (the next file's id is at or below the first live batch), after the cut is on
//! disk. The last file is never removed: it is the one appended to.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

/// The directory of segment files, inside the data dir.
pub const SEGMENT_DIR: &str = "audit";
/// The sled tree that indexes the batches.
pub const INDEX_TREE: &str = "audit_index";
/// A segment file is closed for appends once it holds this much (the next frame opens a new
/// one). Big enough that a chain of ten million records is a few dozen files; small enough that
/// an archive cut gives back disk in steps of this size.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

const MAGIC: &[u8; 4] = b"PGA1";
const HEADER: usize = 20;
/// Largest value accepted when reading: a batch's packed records (256 records of at most a
/// 64 KiB request each, compressed). A damaged index must not make us allocate gigabytes.
const MAX_VALUE: u32 = 64 * 1024 * 1024;

/// Where a batch's frame is: the segment, the frame's offset and the value's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
}

impl Loc {
    /// The index value: segment, offset, length (big-endian).
    pub fn encode(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..8].copy_from_slice(&self.segment.to_be_bytes());
        out[8..16].copy_from_slice(&self.offset.to_be_bytes());
        out[16..].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    pub fn decode(v: &[u8]) -> Option<Loc> {
        let v: &[u8; 20] = v.try_into().ok()?;
        Some(Loc {
            segment: u64::from_be_bytes(v[..8].try_into().ok()?),
            offset: u64::from_be_bytes(v[8..16].try_into().ok()?),
            len: u32::from_be_bytes(v[16..].try_into().ok()?),
        })
    }
}

/// A batch's frame as written to a segment.
pub fn encode_frame(first: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + value.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc(first, value).to_le_bytes());
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(value);
    out
}

fn crc(first: u64, value: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&first.to_le_bytes());
    h.update(value);
    h.finalize()
}

/// A segment file's name.
pub fn segment_name(id: u64) -> String {
    format!("{id:020}.seg")
}

fn segment_id(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The segment files of one data dir.
#[derive(Debug)]
pub struct Segments {
    dir: PathBuf,
    state: Mutex<State>,
    /// One sync at a time: a sync that found nothing to do must not return (and let its
    /// caller note the segments synced) while another is still syncing what it took.
    syncing: Mutex<()>,
    /// [`SEGMENT_BYTES`]; smaller in tests, to see files roll over and go.
    limit: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// Every segment file, by id; the last one is appended to.
    files: BTreeMap<u64, Arc<File>>,
    /// Where the next frame goes in the last file.
    end: u64,
    /// Files written since the last sync.
    dirty: BTreeMap<u64, Arc<File>>,
    /// A file was created since the last sync (the directory needs one too).
    dir_dirty: bool,
}

fn invalid(detail: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail)
}

impl Segments {
    /// Opens the segment directory of the data dir `data_dir` (creating it, 0700) and every
    /// file in it.
    pub fn open(data_dir: &Path) -> io::Result<Segments> {
        let dir = data_dir.join(SEGMENT_DIR);
        if !dir.exists() {
            let mut b = fs::DirBuilder::new();
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(&dir)?;
            File::open(data_dir)?.sync_all()?;
        }
        let mut state = State::default();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let Some(id) = entry.file_name().to_str().and_then(segment_id) else {
                continue;
            };
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(entry.path())?;
            state.files.insert(id, Arc::new(f));
        }
        if let Some((_, last)) = state.files.last_key_value() {
            state.end = last.metadata()?.len();
        }
        Ok(Segments {
            dir,
            state: Mutex::new(state),
            syncing: Mutex::new(()),
            limit: std::sync::atomic::AtomicU64::new(SEGMENT_BYTES),
        })
    }

    /// Rolls files over at `bytes` instead of [`SEGMENT_BYTES`].
    #[cfg(test)]
    pub(in crate::store) fn set_limit(&self, bytes: u64) {
        self.limit
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Appends a batch's frame (not synced) and says where it is.
    pub fn append(&self, first: u64, value: &[u8]) -> io::Result<Loc> {
        let len = u32::try_from(value.len())
            .ok()
            .filter(|l| *l <= MAX_VALUE)
            .ok_or_else(|| invalid(format!("a batch of {} bytes", value.len())))?;
        let frame = encode_frame(first, value);
        let mut s = self.state.lock();
        let limit = self.limit.load(std::sync::atomic::Ordering::Relaxed);
        let full = s.end > 0 && s.end + frame.len() as u64 > limit;
        if s.files.is_empty() || full {
            let id = s
                .files
                .last_key_value()
                .map_or(first, |(last, _)| first.max(last + 1));
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(self.dir.join(segment_name(id)))?;
            s.files.insert(id, Arc::new(f));
            s.end = 0;
            s.dir_dirty = true;
        }
        let (&segment, file) = s
            .files
            .last_key_value()
            .ok_or_else(|| invalid("no segment file".into()))?;
        let file = file.clone();
        let offset = s.end;
        file.write_all_at(&frame, offset)?;
        s.end += frame.len() as u64;
        s.dirty.insert(segment, file);
        Ok(Loc {
            segment,
            offset,
            len,
        })
    }

    /// Reads the value of the batch starting at `first` from `loc`, checked against its frame.
    pub fn read(&self, first: u64, loc: Loc) -> io::Result<Vec<u8>> {
        if loc.len > MAX_VALUE {
            return Err(invalid(format!("its index says {} bytes", loc.len)));
        }
        let file = self.state.lock().files.get(&loc.segment).cloned();
        let file = file.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("segment file {} is missing", segment_name(loc.segment)),
            )
        })?;
        let mut buf = vec![0u8; HEADER + loc.len as usize];
        file.read_exact_at(&mut buf, loc.offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                invalid(format!(
                    "segment file {} ends before it",
                    segment_name(loc.segment)
                ))
            } else {
                e
            }
        })?;
        let field = |r: std::ops::Range<usize>| buf.get(r).unwrap_or_default();
        let value_len = u32::from_le_bytes(field(4..8).try_into().unwrap_or([0xff; 4]));
        let sum = u32::from_le_bytes(field(8..12).try_into().unwrap_or([0; 4]));
        let at = u64::from_le_bytes(field(12..20).try_into().unwrap_or([0; 8]));
        let value = buf.split_off(HEADER);
        if &buf[..4] != MAGIC || value_len != loc.len || at != first || sum != crc(first, &value) {
            return Err(invalid(format!(
                "its frame in segment file {} at offset {} does not check",
                segment_name(loc.segment),
                loc.offset
            )));
        }
        Ok(value)
    }

    /// Syncs every frame written so far (and new files' directory entries).
    pub fn sync(&self) -> io::Result<()> {
        let _one = self.syncing.lock();
        let (dirty, dir_dirty) = {
            let mut s = self.state.lock();
            (
                std::mem::take(&mut s.dirty),
                std::mem::take(&mut s.dir_dirty),
            )
        };
        let result = (|| {
            for f in dirty.values() {
                f.sync_data()?;
            }
            if dir_dirty {
                File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        })();
        if result.is_err() {
            // Not synced: the next sync tries them again.
            let mut s = self.state.lock();
            s.dirty.extend(dirty);
            s.dir_dirty |= dir_dirty;
        }
        result
    }

    /// Removes the files whose batches are all below `live_first` (the first live batch;
    /// `None` when nothing is live): every file but the last whose successor's id is at or
    /// below it. Returns how many files went and their bytes.
    pub fn remove_below(&self, live_first: Option<u64>) -> io::Result<(usize, u64)> {
        let gone: Vec<u64> = {
            let s = self.state.lock();
            let ids: Vec<u64> = s.files.keys().copied().collect();
            ids.windows(2)
                .filter(|w| live_first.is_none_or(|live| w[1] <= live))
                .map(|w| w[0])
                .collect()
        };
        let (mut n, mut bytes) = (0, 0);
        for id in gone {
            let path = self.dir.join(segment_name(id));
            bytes += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path)?;
            let mut s = self.state.lock();
            s.files.remove(&id);
            s.dirty.remove(&id);
            n += 1;
        }
        if n > 0 {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok((n, bytes))
    }

    /// Bytes in the segment files.
    pub fn bytes(&self) -> u64 {
        let files: Vec<Arc<File>> = self.state.lock().files.values().cloned().collect();
        files
            .iter()
            .filter_map(|f| f.metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    /// How many segment files there are.
    #[cfg(test)]
    pub(in crate::store) fn count(&self) -> usize {
        self.state.lock().files.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_and_damage_is_caught() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Segments::open(tmp.path()).unwrap();
        let a = s.append(1, b"first batch").unwrap();
        let b = s.append(4, b"second").unwrap();
        assert_eq!((a.segment, a.offset, b.offset), (1, 0, HEADER as u64 + 11));
        assert_eq!(s.read(1, a).unwrap(), b"first batch");
        assert_eq!(s.read(4, b).unwrap(), b"second");
        assert_eq!(Loc::decode(&b.encode()), Some(b));
        // The wrong batch, the wrong length, a changed byte, a missing file.
        assert!(s.read(2, a).is_err());
        assert!(s.read(1, Loc { len: 3, ..a }).is_err());
        s.sync().unwrap();
        drop(s);
        let path = tmp.path().join(SEGMENT_DIR).join(segment_name(1));
        let mut bytes = fs::read(&path).unwrap();
        bytes[HEADER + 2] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let s = Segments::open(tmp.path()).unwrap();
        assert!(s.read(1, a).is_err());
        assert_eq!(s.read(4, b).unwrap(), b"second");
        assert!(s.read(4, Loc { segment: 9, ..b }).is_err());
        // Appends continue at the end of the last file.
        let c = s.append(5, b"third").unwrap();
        assert_eq!(c.offset, bytes.len() as u64);
    }

    #[test]
    fn files_roll_over_and_whole_archived_files_go() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Segments::open(tmp.path()).unwrap();
        let big = vec![7u8; (SEGMENT_BYTES / 2) as usize - 100];
        let locs: Vec<Loc> = (0..5u64)
            .map(|i| s.append(1 + i * 10, &big).unwrap())
            .collect();
        let ids: Vec<u64> = locs.iter().map(|l| l.segment).collect();
        assert_eq!(ids, [1, 1, 21, 21, 41]);
        assert_eq!(s.count(), 3);
        // Nothing below the first live batch 21 but file 1's.
        assert_eq!(s.remove_below(Some(20)).unwrap().0, 0);
        assert_eq!(s.remove_below(Some(21)).unwrap().0, 1);
        assert!(s.read(1, locs[0]).is_err());
        assert_eq!(s.read(21, locs[2]).unwrap().len(), big.len());
        // Nothing live: every file but the last.
        assert_eq!(s.remove_below(None).unwrap().0, 1);
        assert_eq!(s.count(), 1);
        // An id never goes back: a batch 30 (replayed) goes into file 41, and the file the
        // next one opens is 42, not 31.
        assert_eq!(s.append(30, &big).unwrap().segment, 41);
        assert_eq!(s.append(31, &big).unwrap().segment, 42);
    }
}
