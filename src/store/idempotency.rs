//! The idempotency index: which audit record answered a request id recently.
//!
//! The caller retries a timed-out request with the same `requestId` (CONTRACT.md §3), possibly
//! after we already acted. Keys are `bucket || key` where `bucket = time / window`, so a lookup
//! reads the current and the previous bucket and expiry is one range delete of older buckets:
//! no full scans, and the index stays as large as one or two windows of traffic.

use sha2::{Digest, Sha256};

use super::audit::AuditEntry;
use super::{now_unix_ms, Result, Store};

/// A request's idempotency key: from the tenant and `requestId` when there is one, otherwise
/// from the whole body (a retry sends the same bytes).
pub fn idempotency_key(tenant_id: Option<&str>, request_id: Option<&str>, body: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    match request_id.filter(|r| !r.is_empty()) {
        Some(rid) => {
            h.update(b"rid\0");
            h.update(tenant_id.unwrap_or("").as_bytes());
            h.update(b"\0");
            h.update(rid.as_bytes());
        }
        None => {
            h.update(b"body\0");
            h.update(body);
        }
    }
    let d = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// Hex form of a key, as kept in the audit record.
pub fn key_hex(k: &[u8; 16]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_key_hex(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut k = [0u8; 16];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let hexs = std::str::from_utf8(chunk).ok()?;
        k[i] = u8::from_str_radix(hexs, 16).ok()?;
    }
    Some(k)
}

fn window_ms(window_secs: u64) -> u64 {
    window_secs.max(1) * 1000
}

fn tree_key(bucket: u64, k: &[u8; 16]) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..8].copy_from_slice(&bucket.to_be_bytes());
    out[8..].copy_from_slice(k);
    out
}

fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

impl Store {
    /// The audit sequence number of the decision recorded for `k` within the window, if any.
    pub fn idempotent_lookup(
        &self,
        k: &[u8; 16],
        window_secs: u64,
        now_ms: u64,
    ) -> Result<Option<u64>> {
        let w = window_ms(window_secs);
        let b = now_ms / w;
        for bucket in [b, b.saturating_sub(1)] {
            if let Some(v) = self.idempotency.get(tree_key(bucket, k))? {
                if v.len() == 16 {
                    let seq = u64::from_be_bytes(v[..8].try_into().unwrap_or_default());
                    let at = u64::from_be_bytes(v[8..].try_into().unwrap_or_default());
                    if now_ms.saturating_sub(at) <= w {
                        return Ok(Some(seq));
                    }
                }
            }
            if b == 0 {
                break;
            }
        }
        Ok(None)
    }

    /// Remembers that record `seq` answered `k` at `at_ms`.
    pub fn idempotent_remember(
        &self,
        k: &[u8; 16],
        seq: u64,
        window_secs: u64,
        at_ms: u64,
    ) -> Result<()> {
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&seq.to_be_bytes());
        v[8..].copy_from_slice(&at_ms.to_be_bytes());
        self.idempotency
            .insert(tree_key(at_ms / window_ms(window_secs), k), &v[..])?;
        Ok(())
    }

    /// Drops entries older than the previous bucket; returns how many.
    pub fn purge_idempotency(&self, window_secs: u64, now_ms: u64) -> Result<usize> {
        let b = now_ms / window_ms(window_secs);
        let end = b.saturating_sub(1).to_be_bytes();
        let mut n = 0;
        let mut batch = sled::Batch::default();
        for item in self.idempotency.range(..end.to_vec()) {
            let (k, _) = item?;
            batch.remove(k);
            n += 1;
        }
        self.idempotency.apply_batch(batch)?;
        Ok(n)
    }

    /// After a crash the last decisions may be on disk without their index entries (they are
    /// separate inserts). Re-index the records of the last window so retries still find them.
    pub fn repair_idempotency(&self, window_secs: u64) -> Result<usize> {
        let now = now_unix_ms();
        let w = window_ms(window_secs);
        let mut n = 0;
        for rec in self.audit_iter_rev() {
            let rec = rec?;
            let Some(at) = parse_rfc3339_ms(&rec.time) else {
                continue;
            };
            // Stop a little past the window: times are taken just before the chain lock.
            if now.saturating_sub(at) > w + 1000 {
                break;
            }
            if let AuditEntry::Decision(d) = &rec.entry {
                if let Some(k) = parse_key_hex(&d.idempotency_key) {
                    if self.idempotent_lookup(&k, window_secs, now)?.is_none() {
                        self.idempotent_remember(&k, rec.seq, window_secs, at)?;
                        n += 1;
                    }
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let a = idempotency_key(Some("1"), Some("r"), b"x");
        assert_eq!(a, idempotency_key(Some("1"), Some("r"), b"y"));
        assert_ne!(a, idempotency_key(Some("2"), Some("r"), b"x"));
        assert_ne!(
            idempotency_key(None, None, b"x"),
            idempotency_key(None, None, b"y")
        );
        assert_eq!(parse_key_hex(&key_hex(&a)), Some(a));
        assert!(parse_rfc3339_ms("2026-01-01T00:00:00.123Z").is_some());
    }
}
