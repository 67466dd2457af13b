//! The commit journal: how a group commit is made durable without a sled flush each time.
//!
//! sled 0.34's `flush()` wakes all seven idle threads of its I/O pool for each write (about
//! 250 µs and over a dozen context switches per commit, the largest share of a commit's cost
//! on two cores). Instead, the committer appends each batch, exactly the values it inserts
//! into sled (the packed records, their request keys and their queued e-mails), as one
//! checksummed frame to `<data-dir>/journal` and syncs that range itself, on its own thread,
//! with the same call sled's flush uses (`sync_file_range`, so the same promise: see
//! docs/ARCHITECTURE.md, durability). The sled inserts reach sled's log through its background
//! flush or a checkpoint (a sled flush, after which the journal is emptied).
//!
//! A frame also carries the outbox's delivery notes (queued e-mails the mail server accepted,
//! removed from the outbox) that were made durable with it: the outbox worker notes each
//! delivery right away, and a sled flush for each note would cost what the journal saves.
//!
//! On open, [`Store::open`](crate::store::Store::open) applies again the frames that continue the
//! chain sled recovered, in order; frames the chain already has are skipped, except for their
//! delivery notes, applied again whatever sled has (removing an item twice is harmless). A
//! torn frame (a crash mid-write) ends the journal: its batch was never acknowledged.
//!
//! The file is reused, not truncated: emptying it only moves the write position back to the
//! start and picks a new random epoch, which every frame carries. Writing over blocks the file
//! already has needs no block allocation or extent conversion, so the sync is a plain data
//! write (a regrown file doubled the median append-and-sync, 64-128 µs against 32-64 µs), and
//! a frame needs no file metadata on disk to be read back after a power loss once the file
//! has grown to its working size. Frames left from an earlier epoch end the journal when read,
//! like a torn one.
//!
//! Frame: `b"PGJ3"`, payload length (u32 LE), the epoch (u64 LE), the first 8 bytes of the
//! SHA-256 of epoch and payload, then the payload: the batch's first sequence number (u64 LE;
//! 0 for delivery notes alone); the request-key log's length (u32 LE) and bytes; the number of
//! queued e-mails (u32 LE) and for each its sequence number (u64 LE), length (u32 LE) and
//! bytes; the number of delivery notes (u32 LE) and each outbox id (u64 LE); then the stored
//! batch value (the rest, empty for notes alone). Bytes that do not start with this header
//! end the journal.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"PGJ3";
/// Header of a frame: magic, length, epoch, checksum.
const HEADER: usize = 24;

/// A journal file grown beyond this (by an exceptionally large batch) is truncated when
/// emptied, so a one-off does not keep the disk it took.
const KEEP_BYTES: u64 = 2 * CHECKPOINT_BYTES;

/// Largest payload accepted when reading: a batch is at most 256 records of at most a 64 KiB
/// request each, plus its e-mails. A damaged length must not make us allocate gigabytes.
const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// Journal size after which the committer checkpoints (flushes sled, empties the journal):
/// bounds the disk it takes and the replay after a crash to a few thousand batches.
pub const CHECKPOINT_BYTES: u64 = 8 * 1024 * 1024;

/// One committed batch as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Sequence number of the batch's first record (the sled key of `value`); 0 when the frame
    /// holds delivery notes alone.
    pub first: u64,
    /// The batch's request-key log (the `request_keys` value), if any decision had a key.
    pub keys: Option<Vec<u8>>,
    /// Queued e-mails: (sequence number, outbox item JSON).
    pub outbox: Vec<(u64, Vec<u8>)>,
    /// Outbox ids of e-mails the mail server accepted, removed from the outbox.
    pub delivered: Vec<u64>,
    /// The stored batch value (the `audit` value).
    pub value: Vec<u8>,
}

impl Frame {
    fn encode(&self, epoch: u64) -> Vec<u8> {
        let keys = self.keys.as_deref().unwrap_or_default();
        let mail: usize = self.outbox.iter().map(|(_, m)| 12 + m.len()).sum();
        let mut payload = Vec::with_capacity(
            20 + keys.len() + mail + 8 * self.delivered.len() + self.value.len(),
        );
        payload.extend_from_slice(&self.first.to_le_bytes());
        payload.extend_from_slice(&len32(keys.len()).to_le_bytes());
        payload.extend_from_slice(keys);
        payload.extend_from_slice(&len32(self.outbox.len()).to_le_bytes());
        for (seq, item) in &self.outbox {
            payload.extend_from_slice(&seq.to_le_bytes());
            payload.extend_from_slice(&len32(item.len()).to_le_bytes());
            payload.extend_from_slice(item);
        }
        payload.extend_from_slice(&len32(self.delivered.len()).to_le_bytes());
        for id in &self.delivered {
            payload.extend_from_slice(&id.to_le_bytes());
        }
        payload.extend_from_slice(&self.value);
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&len32(payload.len()).to_le_bytes());
        out.extend_from_slice(&epoch.to_le_bytes());
        out.extend_from_slice(&checksum(epoch, &payload));
        out.extend_from_slice(&payload);
        out
    }

    /// Parses a payload whose checksum matched; `None` if its inner lengths do not add up.
    fn decode(payload: &[u8]) -> Option<Frame> {
        let mut r = payload;
        let first = u64::from_le_bytes(*take::<8>(&mut r)?);
        let keys_len = u32::from_le_bytes(*take::<4>(&mut r)?) as usize;
        let keys = take_slice(&mut r, keys_len)?.to_vec();
        let n_mail = u32::from_le_bytes(*take::<4>(&mut r)?) as usize;
        let mut outbox = Vec::new();
        for _ in 0..n_mail {
            let seq = u64::from_le_bytes(*take::<8>(&mut r)?);
            let len = u32::from_le_bytes(*take::<4>(&mut r)?) as usize;
            outbox.push((seq, take_slice(&mut r, len)?.to_vec()));
        }
        let n_delivered = u32::from_le_bytes(*take::<4>(&mut r)?) as usize;
        if n_delivered > r.len() / 8 {
            return None;
        }
        let mut delivered = Vec::with_capacity(n_delivered);
        for _ in 0..n_delivered {
            delivered.push(u64::from_le_bytes(*take::<8>(&mut r)?));
        }
        Some(Frame {
            first,
            keys: (!keys.is_empty()).then_some(keys),
            outbox,
            delivered,
            value: r.to_vec(),
        })
    }
}

fn take<'a, const N: usize>(r: &mut &'a [u8]) -> Option<&'a [u8; N]> {
    let (head, rest) = r.split_first_chunk::<N>()?;
    *r = rest;
    Some(head)
}

fn take_slice<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if r.len() < n {
        return None;
    }
    let (head, rest) = r.split_at(n);
    *r = rest;
    Some(head)
}

/// Lengths inside a frame: every part is far below 4 GiB (a batch is bounded).
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A frame's checksum: covers the epoch too, so a frame of another epoch cannot pass
/// for one of this epoch by a damaged header.
fn checksum(epoch: u64, payload: &[u8]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(epoch.to_le_bytes());
    h.update(payload);
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&h.finalize()[..8]);
    sum
}

/// A fresh epoch for the frames written after the journal is emptied: random, so it differs
/// from every epoch whose frames may still lie further on in the file.
fn new_epoch() -> io::Result<u64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(u64::from_le_bytes(b))
}

/// A frame header as read.
struct Header {
    epoch: u64,
    payload_len: usize,
    sum: [u8; 8],
}

/// Reads the next frame's header; `None` where the journal ends: at the end of the file, at
/// bytes that are no frame's header, or at a length beyond any batch.
fn read_header(r: &mut impl Read) -> io::Result<Option<Header>> {
    let mut buf = [0u8; HEADER];
    if read_full(r, &mut buf)? < HEADER {
        return Ok(None);
    }
    let mut h = buf.as_slice();
    if take::<4>(&mut h) != Some(MAGIC) {
        return Ok(None);
    }
    let (Some(len), Some(epoch), Some(sum)) =
        (take::<4>(&mut h), take::<8>(&mut h), take::<8>(&mut h))
    else {
        return Ok(None);
    };
    let payload_len = u32::from_le_bytes(*len) as usize;
    Ok((payload_len <= MAX_PAYLOAD).then_some(Header {
        epoch: u64::from_le_bytes(*epoch),
        payload_len,
        sum: *sum,
    }))
}

/// The open journal file. Only the committer writes it (through the store).
#[derive(Debug)]
pub struct Journal {
    file: File,
    /// Bytes of valid frames; the next frame is written here.
    len: u64,
    /// The epoch the frames since the last reset carry.
    epoch: u64,
    /// The file's size: frames of earlier epochs may lie between `len` and it.
    size: u64,
}

impl Journal {
    /// Opens (or creates) the journal and reads its frames up to the first damaged one, or
    /// the first of another epoch than the frames before it (left from before a reset).
    pub fn open(path: &Path) -> io::Result<(Journal, Vec<Frame>)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let size = file.metadata()?.len();
        let mut frames = Vec::new();
        let mut reader = io::BufReader::new(&file);
        let mut len = 0u64;
        // The epoch of the frames read so far.
        let mut epoch = None;
        while let Some(h) = read_header(&mut reader)? {
            if epoch.is_some_and(|e| h.epoch != e) {
                break;
            }
            let mut payload = vec![0u8; h.payload_len];
            if read_full(&mut reader, &mut payload)? < h.payload_len {
                break;
            }
            if checksum(h.epoch, &payload) != h.sum {
                break;
            }
            let Some(frame) = Frame::decode(&payload) else {
                break;
            };
            frames.push(frame);
            epoch = Some(h.epoch);
            len += (HEADER + h.payload_len) as u64;
        }
        drop(reader);
        // Frames after these continue their epoch; a journal without frames starts a new one
        // (whatever lies in the file is then from before).
        let epoch = match epoch {
            Some(e) => e,
            None => new_epoch()?,
        };
        Ok((
            Journal {
                file,
                len,
                epoch,
                size,
            },
            frames,
        ))
    }

    /// Appends a frame and returns once it is on disk (as far as `sync_file_range` takes it).
    pub fn append(&mut self, frame: &Frame) -> io::Result<()> {
        let bytes = frame.encode(self.epoch);
        self.file.write_all_at(&bytes, self.len)?;
        sync_range(&self.file, self.len, bytes.len() as u64)?;
        self.len += bytes.len() as u64;
        self.size = self.size.max(self.len);
        Ok(())
    }

    /// Bytes of frames written since the last reset.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no frame was written since the last reset.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the journal. Only after a sled flush that covers every frame in it: a frame
    /// left behind (the new epoch's first frame not yet written over it) is harmless (its
    /// records are in sled and it is skipped), but a frame whose records sled does not have
    /// must never be dropped. The file keeps its blocks (see the module doc) unless an
    /// exceptionally large batch grew it beyond `KEEP_BYTES`.
    pub fn reset(&mut self) -> io::Result<()> {
        let epoch = new_epoch()?;
        if self.size > KEEP_BYTES {
            self.file.set_len(0)?;
            self.size = 0;
        }
        self.epoch = epoch;
        self.len = 0;
        Ok(())
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes a range of the file to disk and waits for it: what sled's flush does with its log.
#[cfg(target_os = "linux")]
fn sync_range(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return file.sync_data();
    };
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: the descriptor belongs to `file`, which outlives the call; the call reads no
    // memory of ours.
    let ret = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
    if ret == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // A file system without it: the stronger full sync.
        Some(libc::ENOSYS) | Some(libc::EINVAL) => file.sync_data(),
        _ => Err(err),
    }
}

#[cfg(not(target_os = "linux"))]
fn sync_range(file: &File, _offset: u64, _len: u64) -> io::Result<()> {
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(first: u64, n: usize) -> Frame {
        Frame {
            first,
            keys: (n % 2 == 0).then(|| vec![n as u8; 26]),
            outbox: (0..n as u64).map(|i| (first + i, vec![b'm'; 10])).collect(),
            delivered: (0..n as u64 / 2).map(|i| 1000 + i).collect(),
            value: vec![first as u8; 100 + n],
        }
    }

    /// Delivery notes alone, as the outbox worker's notes between two batches.
    fn notes(ids: &[u64]) -> Frame {
        Frame {
            first: 0,
            keys: None,
            outbox: Vec::new(),
            delivered: ids.to_vec(),
            value: Vec::new(),
        }
    }

    #[test]
    fn frames_read_back_in_order_and_reset_empties_without_shrinking_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut j, frames) = Journal::open(&path).unwrap();
        assert!(frames.is_empty() && j.is_empty());
        let written = [frame(1, 0), frame(2, 3), notes(&[2, 3]), frame(6, 2)];
        for f in &written {
            j.append(f).unwrap();
        }
        drop(j);
        let (mut j, frames) = Journal::open(&path).unwrap();
        assert_eq!(frames, written);
        let size = std::fs::metadata(&path).unwrap().len();
        assert_eq!(j.len(), size);
        j.reset().unwrap();
        assert!(j.is_empty());
        // Until the new epoch's first frame is written, the old frames are still read (their
        // records are in sled, so replay skips them).
        assert_eq!(Journal::open(&path).unwrap().1, written);
        j.append(&frame(9, 1)).unwrap();
        // The old epoch's frames after it are not: the file kept its blocks, and the
        // reading ends at the first frame of another epoch.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
        drop(j);
        let (mut j, frames) = Journal::open(&path).unwrap();
        assert_eq!(frames, vec![frame(9, 1)]);
        j.append(&frame(10, 2)).unwrap();
        drop(j);
        assert_eq!(
            Journal::open(&path).unwrap().1,
            vec![frame(9, 1), frame(10, 2)]
        );
    }

    #[test]
    fn frames_of_another_epoch_or_format_end_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        // The frames read from a journal of frame 1 (epoch 5) followed by `second`.
        let read_with = |second: Vec<u8>| {
            let mut bytes = frame(1, 1).encode(5);
            bytes.extend_from_slice(&second);
            std::fs::write(&path, &bytes).unwrap();
            Journal::open(&path).unwrap().1
        };
        assert_eq!(
            read_with(frame(2, 1).encode(5)),
            vec![frame(1, 1), frame(2, 1)]
        );
        assert_eq!(read_with(frame(2, 1).encode(6)), vec![frame(1, 1)]);
        // Another frame format, after frames or first in the file.
        for magic in [b"PGJ2", b"PGJ1"] {
            let mut other = frame(2, 1).encode(5);
            other[..4].copy_from_slice(magic);
            assert_eq!(read_with(other.clone()), vec![frame(1, 1)]);
            std::fs::write(&path, &other).unwrap();
            let (j, frames) = Journal::open(&path).unwrap();
            assert!(frames.is_empty() && j.is_empty());
        }
        // An epoch changed in the header fails the checksum: it cannot join another epoch.
        let mut second = frame(2, 1).encode(6);
        second[8..16].copy_from_slice(&5u64.to_le_bytes());
        assert_eq!(read_with(second), vec![frame(1, 1)]);
    }

    #[test]
    fn a_journal_grown_by_an_exceptional_batch_is_truncated_when_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut j, _) = Journal::open(&path).unwrap();
        let big = Frame {
            value: vec![1; KEEP_BYTES as usize + 1],
            ..frame(1, 0)
        };
        j.append(&big).unwrap();
        j.reset().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        j.append(&frame(2, 1)).unwrap();
        drop(j);
        assert_eq!(Journal::open(&path).unwrap().1, vec![frame(2, 1)]);
    }

    #[test]
    fn a_torn_or_changed_frame_ends_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut j, _) = Journal::open(&path).unwrap();
        for f in [frame(1, 1), frame(2, 2), frame(4, 1)] {
            j.append(&f).unwrap();
        }
        drop(j);
        let whole = std::fs::read(&path).unwrap();
        let first_len = frame(1, 1).encode(0).len();
        let second_end = (first_len + frame(2, 2).encode(0).len()) as u64;
        // Cut inside the third frame: the first two survive.
        std::fs::write(&path, &whole[..whole.len() - 5]).unwrap();
        let (j, frames) = Journal::open(&path).unwrap();
        assert_eq!(frames, vec![frame(1, 1), frame(2, 2)]);
        assert_eq!(
            j.len(),
            second_end,
            "the next frame overwrites the torn one"
        );
        drop(j);
        // A changed byte in the second frame's payload: only the first survives.
        let mut changed = whole.clone();
        changed[first_len + HEADER + 3] ^= 1;
        std::fs::write(&path, &changed).unwrap();
        assert_eq!(Journal::open(&path).unwrap().1, vec![frame(1, 1)]);
        // A length far beyond the file: nothing is allocated for it, the journal ends there.
        let mut huge = whole;
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &huge).unwrap();
        assert!(Journal::open(&path).unwrap().1.is_empty());
    }
}
