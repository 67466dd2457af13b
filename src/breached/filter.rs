//! The filter and its file. Little-endian throughout:
//!
//! ```text
//! magic "PGBREACH" | version u32 | header_len u32 | entries u64 | min_count u64
//! | created (unix seconds) i64 | source_size u64 | shard_count u32 | name_len u32 | name
//! | shard table: shard_count x { offset u64, len u64, entries u64 } (offsets into the body)
//! | checksum [32]: SHA-256( header bytes before it || SHA-256(body) )
//! body: per non-empty shard: seed u64 | segment_length u32 | segment_length_mask u32
//!       | segment_count_length u32 | fingerprint count u32 | fingerprints u16 x count
//! ```
//!
//! The body's digest is folded into the checksum so the file can be written shard by shard and
//! the header last (bounded memory), and loaded shard by shard straight into the filter.

use std::io::{BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};
use xorf::{BinaryFuse16, Descriptor, Filter as _};

use super::{io_err, BreachedError};

pub(crate) const MAGIC: &[u8; 8] = b"PGBREACH";
pub(crate) const VERSION: u32 = 1;
/// Keys are bucketed by their top 8 bits.
pub(crate) const SHARD_BITS: u32 = 8;
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;
/// A shard's descriptor in the body: seed, three u32 of segment geometry, fingerprint count.
pub(crate) const SHARD_HEAD: usize = 8 + 4 * 4;
/// Longest source name kept (bytes).
pub(crate) const MAX_NAME: usize = 255;
const FIXED_HEADER: usize = 8 + 4 + 4 + 8 + 8 + 8 + 8 + 4 + 4;

/// What the header says about a filter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Meta {
    /// Distinct keys in the filter.
    pub entries: u64,
    /// Lines with a lower count were left out.
    pub min_count: u64,
    /// When it was imported (unix seconds).
    pub created_unix: i64,
    /// The imported file's name (no directory) and size.
    pub source_name: String,
    pub source_size: u64,
    /// The filter file's size.
    pub file_size: u64,
}

/// Where a shard lies in the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShardEntry {
    pub offset: u64,
    pub len: u64,
    pub entries: u64,
}

/// A loaded filter: one binary fuse filter per shard (`None`: no key fell in it).
pub struct Filter {
    meta: Meta,
    shards: Vec<Option<BinaryFuse16>>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter").field("meta", &self.meta).finish()
    }
}

impl Filter {
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Whether `key` (see [`super::key_of`]) is in the filter (false positives ~1/65536).
    pub fn contains_key(&self, key: u64) -> bool {
        match self.shards.get((key >> (64 - SHARD_BITS)) as usize) {
            Some(Some(f)) => f.contains(&key),
            _ => false,
        }
    }

    /// Bytes of fingerprints held in memory.
    pub fn heap_bytes(&self) -> u64 {
        self.shards
            .iter()
            .flatten()
            .map(|f| f.len() as u64 * 2)
            .sum()
    }

    /// Reads and checks a filter file (magic, version, geometry, checksum).
    pub fn load(path: &Path) -> Result<Filter, BreachedError> {
        let damaged = |problem: &str| BreachedError::Damaged {
            path: path.display().to_string(),
            problem: problem.into(),
        };
        let (file, file_size) = open_sized(path)?;
        let mut r = BufReader::with_capacity(1 << 20, file);
        let (mut meta, table, expected) = read_header(&mut r, path)?;
        meta.file_size = file_size;
        let mut body = Sha256::new();
        let mut shards = Vec::with_capacity(SHARDS);
        let mut pos = 0u64;
        let mut chunk = vec![0u8; 64 * 1024];
        for e in &table {
            if e.len == 0 {
                shards.push(None);
                continue;
            }
            if e.offset != pos {
                return Err(damaged("the shard table does not match the body"));
            }
            let mut head = [0u8; SHARD_HEAD];
            r.read_exact(&mut head)
                .map_err(|_| damaged("the file is truncated"))?;
            body.update(head);
            let descriptor = Descriptor {
                seed: le_u64(&head[0..8]),
                segment_length: le_u32(&head[8..12]),
                segment_length_mask: le_u32(&head[12..16]),
                segment_count_length: le_u32(&head[16..20]),
            };
            let count = le_u32(&head[20..24]) as usize;
            if e.len != (SHARD_HEAD + 2 * count) as u64 || !geometry_ok(&descriptor, count) {
                return Err(damaged("a shard's geometry is inconsistent"));
            }
            let mut fingerprints = Vec::with_capacity(count);
            let mut left = count * 2;
            while left > 0 {
                let n = left.min(chunk.len());
                let buf = &mut chunk[..n];
                r.read_exact(buf)
                    .map_err(|_| damaged("the file is truncated"))?;
                body.update(&*buf);
                fingerprints.extend(
                    buf.chunks_exact(2)
                        .map(|b| u16::from_le_bytes([b[0], b[1]])),
                );
                left -= n;
            }
            shards.push(Some(BinaryFuse16 {
                descriptor,
                fingerprints: fingerprints.into_boxed_slice(),
            }));
            pos += e.len;
        }
        let mut extra = [0u8; 1];
        if r.read(&mut extra)
            .map_err(io_err("cannot read the filter"))?
            != 0
        {
            return Err(damaged("there are bytes after the last shard"));
        }
        if checksum(&expected.0, &body.finalize().into()) != expected.1 {
            return Err(damaged("the checksum does not match"));
        }
        Ok(Filter { meta, shards })
    }
}

/// Reads only the header (for `status`): no fingerprints are read, the checksum is not checked.
pub fn read_meta(path: &Path) -> Result<Meta, BreachedError> {
    let (file, file_size) = open_sized(path)?;
    let (mut meta, table, _) = read_header(&mut BufReader::new(file), path)?;
    let body: u64 = table.iter().map(|e| e.len).sum();
    let header_len = FIXED_HEADER as u64 + meta.source_name.len() as u64 + 24 * SHARDS as u64 + 32;
    if header_len + body != file_size {
        return Err(BreachedError::Damaged {
            path: path.display().to_string(),
            problem: "its size does not match its header".into(),
        });
    }
    meta.file_size = file_size;
    Ok(meta)
}

/// The file opened for reading, and its size.
fn open_sized(path: &Path) -> Result<(std::fs::File, u64), BreachedError> {
    let file =
        std::fs::File::open(path).map_err(io_err(format!("cannot open {}", path.display())))?;
    let size = file
        .metadata()
        .map_err(io_err(format!("cannot read {}", path.display())))?
        .len();
    Ok((file, size))
}

/// The header's bytes up to the checksum, and the checksum.
type Expected = (Vec<u8>, [u8; 32]);

fn read_header(
    r: &mut impl Read,
    path: &Path,
) -> Result<(Meta, Vec<ShardEntry>, Expected), BreachedError> {
    let damaged = |problem: &str| BreachedError::Damaged {
        path: path.display().to_string(),
        problem: problem.into(),
    };
    let mut fixed = [0u8; FIXED_HEADER];
    r.read_exact(&mut fixed)
        .map_err(|_| damaged("too short to be a filter file"))?;
    if &fixed[0..8] != MAGIC {
        return Err(damaged("not a profilegate breached-password filter"));
    }
    let version = le_u32(&fixed[8..12]);
    if version != VERSION {
        return Err(damaged(&format!(
            "format version {version}; this profilegate reads version {VERSION}"
        )));
    }
    let header_len = le_u32(&fixed[12..16]) as usize;
    let entries = le_u64(&fixed[16..24]);
    let min_count = le_u64(&fixed[24..32]);
    let created_unix = le_u64(&fixed[32..40]) as i64;
    let source_size = le_u64(&fixed[40..48]);
    let shard_count = le_u32(&fixed[48..52]) as usize;
    let name_len = le_u32(&fixed[52..56]) as usize;
    if shard_count != SHARDS || name_len > MAX_NAME {
        return Err(damaged("unexpected shard count or name length"));
    }
    if header_len != FIXED_HEADER + name_len + 24 * SHARDS + 32 {
        return Err(damaged("the header length is inconsistent"));
    }
    let mut rest = vec![0u8; name_len + 24 * SHARDS];
    r.read_exact(&mut rest)
        .map_err(|_| damaged("the header is truncated"))?;
    let mut sum = [0u8; 32];
    r.read_exact(&mut sum)
        .map_err(|_| damaged("the header is truncated"))?;
    let source_name = String::from_utf8_lossy(&rest[..name_len]).into_owned();
    let table: Vec<ShardEntry> = rest[name_len..]
        .chunks_exact(24)
        .map(|c| ShardEntry {
            offset: le_u64(&c[0..8]),
            len: le_u64(&c[8..16]),
            entries: le_u64(&c[16..24]),
        })
        .collect();
    if table.iter().map(|e| e.entries).sum::<u64>() != entries {
        return Err(damaged("the shard table does not add up"));
    }
    let mut before = fixed.to_vec();
    before.extend_from_slice(&rest);
    let meta = Meta {
        entries,
        min_count,
        created_unix,
        source_name,
        source_size,
        file_size: 0,
    };
    Ok((meta, table, (before, sum)))
}

/// The header's bytes (without the checksum) for `meta` and `table`.
pub(crate) fn header_bytes(meta: &Meta, table: &[ShardEntry]) -> Vec<u8> {
    let name = truncate_name(&meta.source_name);
    let header_len = FIXED_HEADER + name.len() + 24 * table.len() + 32;
    let mut h = Vec::with_capacity(header_len);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&(header_len as u32).to_le_bytes());
    h.extend_from_slice(&meta.entries.to_le_bytes());
    h.extend_from_slice(&meta.min_count.to_le_bytes());
    h.extend_from_slice(&meta.created_unix.to_le_bytes());
    h.extend_from_slice(&meta.source_size.to_le_bytes());
    h.extend_from_slice(&(table.len() as u32).to_le_bytes());
    h.extend_from_slice(&(name.len() as u32).to_le_bytes());
    h.extend_from_slice(name.as_bytes());
    for e in table {
        h.extend_from_slice(&e.offset.to_le_bytes());
        h.extend_from_slice(&e.len.to_le_bytes());
        h.extend_from_slice(&e.entries.to_le_bytes());
    }
    h
}

/// The name as stored: at most [`MAX_NAME`] bytes, cut at a character boundary.
pub(crate) fn truncate_name(name: &str) -> &str {
    let mut end = name.len().min(MAX_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

pub(crate) fn checksum(header: &[u8], body_digest: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(header);
    h.update(body_digest);
    h.finalize().into()
}

/// A shard's bytes in the body.
pub(crate) fn shard_bytes(f: &BinaryFuse16) -> Vec<u8> {
    let d = &f.descriptor;
    let mut out = Vec::with_capacity(SHARD_HEAD + f.fingerprints.len() * 2);
    out.extend_from_slice(&d.seed.to_le_bytes());
    out.extend_from_slice(&d.segment_length.to_le_bytes());
    out.extend_from_slice(&d.segment_length_mask.to_le_bytes());
    out.extend_from_slice(&d.segment_count_length.to_le_bytes());
    out.extend_from_slice(&(f.fingerprints.len() as u32).to_le_bytes());
    for fp in f.fingerprints.iter() {
        out.extend_from_slice(&fp.to_le_bytes());
    }
    out
}

/// Whether a lookup with this geometry stays inside `count` fingerprints (xorf indexes
/// without bounds checks of its own beyond the slice's, which would panic).
fn geometry_ok(d: &Descriptor, count: usize) -> bool {
    let sl = d.segment_length as u64;
    let scl = d.segment_count_length as u64;
    sl > 0
        && sl.is_power_of_two()
        && d.segment_length_mask as u64 == sl - 1
        && scl > 0
        && scl % sl == 0
        && scl + 2 * sl <= count as u64
        && (count as u64) <= u32::MAX as u64
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}
