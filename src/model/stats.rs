//! Counts over time for the overview's chart: one [`HourCounts`] per hour (decisions by
//! outcome, e-mail delivered and failed, refused action calls), and the organizations seen
//! in traffic. Plain data with their fixed byte forms; bucketing is `service::stats`.

use serde::{Deserialize, Serialize};

/// Milliseconds in an hour.
pub const HOUR_MS: u64 = 3_600_000;

/// The hour number (hours since the Unix epoch) a time falls in.
pub fn hour_of(unix_ms: u64) -> u64 {
    unix_ms / HOUR_MS
}

/// A decision's outcome as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failed,
    Error,
}

impl Outcome {
    /// The outcome of a decision's status name; anything unknown counts as ERROR.
    pub fn of(status: &str) -> Outcome {
        match status {
            "SUCCESS" => Outcome::Success,
            "FAILED" => Outcome::Failed,
            _ => Outcome::Error,
        }
    }
}

/// What one hour (or a sum of hours) counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HourCounts {
    pub success: u64,
    pub failed: u64,
    pub error: u64,
    /// Queued e-mails the mail server accepted.
    pub mail_sent: u64,
    /// Queued e-mails given up on after their last attempt.
    pub mail_failed: u64,
    /// Action calls refused before a decision (authentication, content type, body limits).
    pub refused: u64,
}

/// Bytes of [`HourCounts`] as stored: six big-endian u64s.
pub const COUNTS_LEN: usize = 48;

impl HourCounts {
    fn fields(&self) -> [u64; 6] {
        [
            self.success,
            self.failed,
            self.error,
            self.mail_sent,
            self.mail_failed,
            self.refused,
        ]
    }

    fn from_fields(f: [u64; 6]) -> Self {
        HourCounts {
            success: f[0],
            failed: f[1],
            error: f[2],
            mail_sent: f[3],
            mail_failed: f[4],
            refused: f[5],
        }
    }

    /// Counts one decision.
    pub fn add_outcome(&mut self, o: Outcome) {
        match o {
            Outcome::Success => self.success += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Error => self.error += 1,
        }
    }

    /// Adds another count, saturating.
    pub fn add(&mut self, other: &HourCounts) {
        let (a, b) = (self.fields(), other.fields());
        let mut out = [0u64; 6];
        for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
            *o = x.saturating_add(y);
        }
        *self = HourCounts::from_fields(out);
    }

    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|&n| n == 0)
    }

    pub fn to_bytes(&self) -> [u8; COUNTS_LEN] {
        let mut out = [0u8; COUNTS_LEN];
        for (i, n) in self.fields().iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&n.to_be_bytes());
        }
        out
    }

    /// The stored form; a shorter value (an older, smaller layout) reads its missing fields
    /// as zero, so a field can be added at the end.
    pub fn from_bytes(b: &[u8]) -> HourCounts {
        let mut f = [0u64; 6];
        for (i, slot) in f.iter_mut().enumerate() {
            if let Some(chunk) = b.get(i * 8..i * 8 + 8) {
                let mut n = [0u8; 8];
                n.copy_from_slice(chunk);
                *slot = u64::from_be_bytes(n);
            }
        }
        HourCounts::from_fields(f)
    }
}

/// Most organizations remembered from traffic.
pub const MAX_ORGS: usize = 1000;
/// Longest organization id or name kept (in characters).
pub const MAX_ORG_TEXT: usize = 128;

/// An organization seen in an authenticated action call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeenOrg {
    pub id: String,
    pub name: Option<String>,
    /// When it was last seen, to the hour (unix ms).
    pub last_seen_ms: u64,
}

/// An id or name as kept: control characters dropped, cut to [`MAX_ORG_TEXT`] characters;
/// `None` when nothing is left.
pub fn org_text(s: &str) -> Option<String> {
    let t: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ORG_TEXT)
        .collect();
    let t = t.trim().to_string();
    (!t.is_empty()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_trip_and_short_values_read_as_zero() {
        let c = HourCounts {
            success: 1,
            failed: 2,
            error: 3,
            mail_sent: 4,
            mail_failed: 5,
            refused: u64::MAX,
        };
        assert_eq!(HourCounts::from_bytes(&c.to_bytes()), c);
        let short = HourCounts::from_bytes(&c.to_bytes()[..16]);
        assert_eq!((short.success, short.failed, short.error), (1, 2, 0));
        let mut sum = c;
        sum.add(&c);
        assert_eq!((sum.success, sum.refused), (2, u64::MAX));
    }

    #[test]
    fn org_text_is_bounded() {
        assert_eq!(org_text(" \u{7}a\u{0}b "), Some("ab".into()));
        assert_eq!(org_text("  "), None);
        assert_eq!(
            org_text(&"x".repeat(500)).map(|s| s.len()),
            Some(MAX_ORG_TEXT)
        );
    }
}
