//! The idempotency index: which audit record answered a request recently.
//!
//! The caller retries a timed-out request with the same `requestId` (CONTRACT.md §3), possibly
//! after we already acted. The index maps a request's key to the sequence number of its audit
//! record, in memory: the audit chain is the durable truth, and at start-up the index is
//! rebuilt from the chain's last window. Two generations rotate every window, so an entry lives
//! at least one window and at most two, and expiry costs nothing per request. A cap bounds
//! memory under extreme rates by rotating early (the effective window then shrinks, which is
//! logged).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::store::{Result, Store};

/// Entries per generation at most (two generations: ~40 bytes each, so ~40 MB in all).
pub const MAX_PER_GENERATION: usize = 500_000;

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
    hex::encode(k)
}

fn parse_key_hex(s: &str) -> Option<[u8; 16]> {
    let mut k = [0u8; 16];
    hex::decode_to_slice(s, &mut k).ok()?;
    Some(k)
}

/// The part of a key the index keeps: its first 8 bytes (16 bytes an entry instead of 24,
/// which matters with a million recent decisions). A false match is not trusted: the replay
/// compares the stored record's full key (odds of one are about 1 in 10^13 per lookup even
/// with the index full).
fn fingerprint(key: &[u8; 16]) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&key[..8]);
    u64::from_le_bytes(head)
}

struct Generations {
    current: HashMap<u64, u64>,
    previous: HashMap<u64, u64>,
    started: Instant,
}

/// Request key -> audit sequence number, for at least `window`.
pub struct IdempotencyIndex {
    window: Duration,
    gens: Mutex<Generations>,
}

impl IdempotencyIndex {
    pub fn new(window: Duration) -> Self {
        IdempotencyIndex {
            window,
            gens: Mutex::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
                started: Instant::now(),
            }),
        }
    }

    fn rotate_if_due(&self, g: &mut Generations) {
        let full = g.current.len() >= MAX_PER_GENERATION;
        if g.started.elapsed() >= self.window || full {
            if full {
                tracing::warn!(
                    entries = MAX_PER_GENERATION,
                    after = ?g.started.elapsed(),
                    "idempotency index full: retries are recognized for less than the configured window at this rate"
                );
            }
            g.previous = std::mem::take(&mut g.current);
            g.started = Instant::now();
        }
    }

    /// The sequence number recorded for `key`, if it is recent: a candidate (see
    /// [`fingerprint`]) that the caller confirms against the record.
    pub fn get(&self, key: &[u8; 16]) -> Option<u64> {
        let mut g = self.gens.lock();
        self.rotate_if_due(&mut g);
        let f = fingerprint(key);
        g.current.get(&f).or_else(|| g.previous.get(&f)).copied()
    }

    /// Remembers that record `seq` answered `key`.
    pub fn insert(&self, key: [u8; 16], seq: u64) {
        let mut g = self.gens.lock();
        self.rotate_if_due(&mut g);
        g.current.insert(fingerprint(&key), seq);
    }

    /// How long a decision is remembered at least.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Number of remembered keys.
    pub fn len(&self) -> usize {
        let g = self.gens.lock();
        g.current.len() + g.previous.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Re-indexes the decisions of the last window (after a restart or a crash). Returns how
    /// many were indexed. Reads the stored request keys (a few bytes per decision); a data dir
    /// without them (one restored from a backup) is read from the audit chain instead.
    pub fn rebuild(&self, store: &Store) -> Result<usize> {
        let since = time::OffsetDateTime::now_utc() - self.window;
        let since_ms = u64::try_from(since.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let oldest_first: Vec<([u8; 16], u64)> = match store.recent_request_keys(since_ms)? {
            Some(keys) => keys,
            None => {
                let mut found: Vec<([u8; 16], u64)> = store
                    .recent_decision_keys(&crate::store::format_time(since))?
                    .into_iter()
                    .filter_map(|(k, seq)| parse_key_hex(&k).map(|k| (k, seq)))
                    .collect();
                found.reverse();
                found
            }
        };
        let n = oldest_first.len();
        // Oldest first, so the newest decision wins for a repeated key.
        for (k, seq) in oldest_first {
            self.insert(k, seq);
        }
        Ok(n)
    }
}

impl crate::store::CommitObserver for IdempotencyIndex {
    fn committed(&self, key: [u8; 16], seq: u64) {
        self.insert(key, seq);
    }
    fn window(&self) -> Duration {
        IdempotencyIndex::window(self)
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
    }

    #[test]
    fn entries_live_one_to_two_windows() {
        let idx = IdempotencyIndex::new(Duration::from_millis(50));
        idx.insert([1; 16], 7);
        assert_eq!(idx.get(&[1; 16]), Some(7));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(idx.get(&[1; 16]), Some(7), "kept through one rotation");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(idx.get(&[1; 16]), None, "gone after two");
    }
}
