//! The bundled list of common passwords: the 30,000 most frequent passwords of the password
//! frequency list shipped in zxcvbn 4.4.2 (npm package `zxcvbn`, `src/frequency_lists.coffee`,
//! key `passwords`), Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc., MIT licence (the
//! notice is in `common_passwords.LICENSE` next to the list). One lower-case password a line,
//! most frequent first.
//!
//! Built once at start-up into two sets: the passwords themselves (a plain password is compared
//! lower-cased) and the SHA-256 digests of each entry as listed, upper-cased and capitalized
//! (the HASH form can only be compared exactly). A third set holds the digests of generated
//! repetitive and sequential strings (`patterns::generated`), also for the HASH form.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::patterns::{self, PatternKind};

/// The list as bundled.
pub const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// Where the bundled list comes from, for the README, the admin UI and `password policy show`.
pub const COMMON_PASSWORDS_SOURCE: &str =
    "zxcvbn 4.4.2 password frequency list (Dropbox; MIT licence): the 30000 most common passwords";

/// The common-password sets. Built by the composition root and passed in, not a global.
#[derive(Debug, Clone)]
pub struct Blocklist {
    plain: HashSet<&'static str>,
    digests: HashSet<[u8; 32]>,
    /// Digests of generated repetitive and sequential strings, for the HASH form.
    patterns: HashMap<[u8; 32], PatternKind>,
}

impl Blocklist {
    /// The bundled list (about 30k entries, 90k digests; the cost is measured by
    /// `bundled_list_build_cost` in this module's tests).
    pub fn bundled() -> Self {
        Blocklist::from_lines(COMMON_PASSWORDS)
    }

    /// A list from text, one password a line; blank lines are skipped. Entries are expected in
    /// lower case (the plain comparison lower-cases the candidate).
    pub fn from_lines(text: &'static str) -> Self {
        let plain: HashSet<&'static str> = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        let mut digests = HashSet::with_capacity(plain.len() * 3);
        for p in &plain {
            digests.insert(sha256(p));
            let upper = p.to_uppercase();
            if upper != *p {
                digests.insert(sha256(&upper));
                let mut chars = p.chars();
                if let Some(first) = chars.next() {
                    let cap: String = first.to_uppercase().chain(chars).collect();
                    digests.insert(sha256(&cap));
                }
            }
        }
        let patterns = patterns::generated()
            .into_iter()
            .map(|(s, kind)| (sha256(&s), kind))
            .collect();
        Blocklist {
            plain,
            digests,
            patterns,
        }
    }

    /// Whether the lower-cased password is on the list.
    pub fn contains_lower(&self, lower: &str) -> bool {
        self.plain.contains(lower)
    }

    /// Whether a HASH-form digest is that of an entry (as listed, upper-case or capitalized).
    pub fn contains_digest(&self, digest: &[u8; 32]) -> bool {
        self.digests.contains(digest)
    }

    /// Whether a HASH-form digest is that of a generated repetitive or sequential string.
    pub fn pattern_of_digest(&self, digest: &[u8; 32]) -> Option<PatternKind> {
        self.patterns.get(digest).copied()
    }

    /// Number of passwords on the list.
    pub fn len(&self) -> usize {
        self.plain.len()
    }

    pub fn is_empty(&self) -> bool {
        self.plain.is_empty()
    }

    /// Number of digests kept for the HASH form.
    pub fn digest_count(&self) -> usize {
        self.digests.len()
    }

    /// Bytes held by the two sets' tables (not counting the bundled text, which is static):
    /// for the admin UI and the start-up figure.
    pub fn approx_heap_bytes(&self) -> usize {
        // hashbrown: one control byte per bucket plus the slot.
        self.plain.capacity() * (std::mem::size_of::<&str>() + 1)
            + self.digests.capacity() * (32 + 1)
            + self.patterns.capacity() * (32 + std::mem::size_of::<PatternKind>() + 1)
    }

    /// Number of generated pattern digests.
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }
}

/// SHA-256 of the UTF-8 bytes, as WSO2 computes the HASH form (no salt, no normalization).
pub fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// The HASH form's text for a password: `base64std(SHA-256(utf8))`, for tests and tools.
pub fn hash_form(password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha256(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_list_is_what_the_docs_say() {
        let b = Blocklist::bundled();
        assert_eq!(b.len(), 30_000);
        assert!(b.contains_lower("123456") && b.contains_lower("password"));
        assert!(COMMON_PASSWORDS
            .lines()
            .all(|l| l == l.to_lowercase() && l.is_ascii()));
        // The docs' HASH example is the SHA-256 of no listed password.
        assert!(!b.contains_digest(&[0; 32]));
        assert!(b.contains_digest(&sha256("Password")));
        assert!(b.contains_digest(&sha256("PASSWORD")));
        assert!(!b.contains_digest(&sha256("pAssword")));
        assert_eq!(
            hash_form("password"),
            "XohImNooBHFR0OVvjcYpJ3NgPQ1qq73WKhHvch0VQtg="
        );
    }

    /// Start-up cost of the bundled list. Run with
    /// `cargo test --release --lib bundled_list_build_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement; run in --release"]
    fn bundled_list_build_cost() {
        fn rss_kib() -> u64 {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmRSS:"))
                        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
                })
                .unwrap_or(0)
        }
        let before = rss_kib();
        let start = std::time::Instant::now();
        let b = Blocklist::bundled();
        let took = start.elapsed();
        let after = rss_kib();
        println!(
            "bundled list: {} passwords, {} digests, {} pattern digests, built in {:.1} ms; tables ~{} KiB; RSS +{} KiB",
            b.len(),
            b.digest_count(),
            b.pattern_count(),
            took.as_secs_f64() * 1e3,
            b.approx_heap_bytes() / 1024,
            after.saturating_sub(before)
        );
        let start = std::time::Instant::now();
        let mut hits = 0;
        for p in COMMON_PASSWORDS.lines().take(10_000) {
            hits += usize::from(b.contains_digest(&sha256(p)));
        }
        println!(
            "10000 digest lookups (hash + probe): {:.1} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!(hits, 10_000);
    }
}
