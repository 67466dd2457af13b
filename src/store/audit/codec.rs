//! The bytes of the chain as sled holds them: a record's body, a batch's framing, and the
//! lz4-packed value a batch is stored as (see the [module doc](super) for the layout).

use serde::Deserialize;

use crate::model::AuditRecord;
use crate::store::{json_err, Result, StoreError};

/// First byte of every stored batch value.
const PACKED: u8 = 0xff;

/// Largest decompressed batch accepted: a batch holds at most 256 records of at most a
/// 64 KiB request each. A damaged length must not make us allocate gigabytes.
const MAX_UNPACKED: usize = 32 * 1024 * 1024;

/// The fields verification needs; reading only these keeps `audit verify` fast.
#[derive(Deserialize)]
pub(in crate::store) struct Link {
    pub(in crate::store) seq: u64,
    pub(in crate::store) prev_hash: String,
}

/// One record as stored inside a batch.
pub(in crate::store) struct Stored<'a> {
    pub(in crate::store) hash: [u8; 32],
    pub(in crate::store) body: &'a [u8],
}

/// Builds a record's bytes: the chain fields first, then the entry's own fields. The entry is
/// serialized before the chain lock is taken; only this concatenation happens under it.
pub(super) fn record_bytes(seq: u64, time: &str, prev: &[u8; 32], entry_json: &[u8]) -> Vec<u8> {
    // entry_json is a JSON object: `{"kind":...}`; splice the chain fields in front.
    let mut body = Vec::with_capacity(entry_json.len() + 160);
    body.extend_from_slice(b"{\"seq\":");
    body.extend_from_slice(seq.to_string().as_bytes());
    body.extend_from_slice(b",\"time\":\"");
    body.extend_from_slice(time.as_bytes());
    body.extend_from_slice(b"\",\"prev_hash\":\"");
    body.extend_from_slice(hex::encode(prev).as_bytes());
    body.extend_from_slice(b"\",");
    body.extend_from_slice(entry_json.get(1..).unwrap_or_default());
    body
}

/// Appends one record's framing and body to a batch's records.
pub(super) fn encode_record(out: &mut Vec<u8>, hash: &[u8; 32], body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(hash);
    out.extend_from_slice(body);
}

/// Splits a batch's records' bytes into its records; `None` if the framing is damaged.
pub(in crate::store) fn decode_batch(v: &[u8]) -> Option<Vec<Stored<'_>>> {
    let mut out = Vec::new();
    let mut rest = v;
    while !rest.is_empty() {
        if rest.len() < 36 {
            return None;
        }
        let len = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&rest[4..36]);
        let body = rest.get(36..36 + len)?;
        out.push(Stored { hash, body });
        rest = &rest[36 + len..];
    }
    Some(out)
}

/// The stored value for a batch's records (framing, hashes, bodies): compressed, because
/// records repeat keys and claim URIs, and less to write means less for sled to rewrite.
pub fn pack_batch_value(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() / 2 + 16);
    out.push(PACKED);
    out.extend_from_slice(&lz4_flex::block::compress_prepend_size(raw));
    out
}

/// The records' bytes of a stored batch value (the inverse of [`pack_batch_value`]); `None`
/// if the value is damaged. Also for tools and tests that look beneath the store.
pub fn unpack_batch_value(v: &[u8]) -> Option<Vec<u8>> {
    let (&PACKED, rest) = v.split_first()? else {
        return None;
    };
    let (len, data) = rest.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > MAX_UNPACKED {
        return None;
    }
    let raw = lz4_flex::block::decompress(data, len).ok()?;
    (raw.len() == len).then_some(raw)
}

/// The error for a stored batch that cannot be read.
pub(in crate::store) fn damaged(seq: u64) -> StoreError {
    StoreError::Corrupt {
        what: format!("audit batch starting at record {seq}"),
        detail: "its framing is damaged".into(),
    }
}

/// The sequence number a sled key of the `audit` or `request_keys` tree stands for.
pub(in crate::store) fn key_seq(k: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = k.try_into().map_err(|_| StoreError::Corrupt {
        what: "audit key".into(),
        detail: format!("{} bytes, expected 8", k.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}

pub(super) fn parse_record(seq: u64, body: &[u8]) -> Result<AuditRecord> {
    serde_json::from_slice(body).map_err(|e| json_err(&format!("audit record {seq}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AdminEntry, AuditEntry};

    #[test]
    fn spliced_body_is_valid_json() {
        let e = AuditEntry::Admin(AdminEntry {
            actor: "cli".into(),
            action: "x".into(),
            before: None,
            after: Some(serde_json::json!(["a"])),
        });
        let j = serde_json::to_vec(&e).unwrap();
        let body = record_bytes(7, "2026-01-01T00:00:00.000Z", &[1; 32], &j);
        let rec: AuditRecord = serde_json::from_slice(&body).unwrap();
        assert_eq!(rec.seq, 7);
        assert_eq!(rec.entry, e);
        assert_eq!(rec.prev_hash, "01".repeat(32));
    }

    fn framed(n: u8) -> Vec<u8> {
        let mut raw = Vec::new();
        for i in 0..n {
            encode_record(&mut raw, &[i; 32], format!("{{\"n\":{i}}}").as_bytes());
        }
        raw
    }

    #[test]
    fn packed_values_round_trip_and_damage_is_refused() {
        let raw = framed(3);
        let packed = pack_batch_value(&raw);
        assert_eq!(packed[0], PACKED);
        assert_eq!(unpack_batch_value(&packed).as_deref(), Some(raw.as_slice()));
        // A damaged length must not allocate what it claims.
        let mut huge = packed.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(unpack_batch_value(&huge).is_none());
        let mut longer = packed.clone();
        longer[1..5].copy_from_slice(&((raw.len() + 1) as u32).to_le_bytes());
        assert!(unpack_batch_value(&longer).is_none());
        assert!(unpack_batch_value(&packed[..packed.len() - 3]).is_none());
        assert!(unpack_batch_value(&[PACKED, 1]).is_none());
    }

    #[test]
    fn a_value_without_the_packed_marker_is_damaged() {
        let raw = framed(3);
        assert_eq!(decode_batch(&raw).map(|r| r.len()), Some(3));
        assert!(unpack_batch_value(&raw).is_none());
        assert!(unpack_batch_value(&[]).is_none());
        let mut unmarked = pack_batch_value(&raw);
        unmarked[0] = 0;
        assert!(unpack_batch_value(&unmarked).is_none());
    }
}
