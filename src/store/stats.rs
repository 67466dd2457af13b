//! The overview's counters and the organizations seen, in two small trees beside the chain
//! (never in it, and not in backups: they are a view of traffic, not a record of it).
//!
//! `stats_hourly`: key = hour number (big-endian u64), value = [`HourCounts`]. Decisions are
//! added once per committed batch by the committer; refused calls and e-mail outcomes are
//! counted in memory ([`Pending`]) and added at most once a minute (and at a clean stop), so a
//! stranger's noise never costs a write per call. Not journaled: a crash may lose the last
//! half second of counts, never a decision. Hours older than [`KEEP_HOURS`] are pruned.
//!
//! `orgs_seen`: key = organization id, value = [`SeenOrg`] JSON; at most [`MAX_ORGS`], the one
//! seen longest ago making room. A copy in memory means a call writes only when its
//! organization is new, renamed, or last written in an earlier hour.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::{json_err, Result, Store};
use crate::model::stats::{hour_of, org_text, HourCounts, SeenOrg, HOUR_MS, MAX_ORGS};

/// Hours of counts kept: 31 days.
pub const KEEP_HOURS: u64 = 31 * 24;

/// Counts not yet in the tree.
#[derive(Debug, Default)]
pub struct Pending {
    refused: AtomicU64,
    mail_sent: AtomicU64,
    mail_failed: AtomicU64,
}

impl Pending {
    /// An action call refused before a decision.
    pub fn refused(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    /// `n` queued e-mails accepted by the mail server.
    pub fn mail_sent(&self, n: u64) {
        self.mail_sent.fetch_add(n, Relaxed);
    }

    /// A queued e-mail given up on.
    pub fn mail_failed(&self) {
        self.mail_failed.fetch_add(1, Relaxed);
    }

    /// What is pending, left in place.
    pub fn peek(&self) -> HourCounts {
        HourCounts {
            refused: self.refused.load(Relaxed),
            mail_sent: self.mail_sent.load(Relaxed),
            mail_failed: self.mail_failed.load(Relaxed),
            ..HourCounts::default()
        }
    }

    fn take(&self) -> HourCounts {
        HourCounts {
            refused: self.refused.swap(0, Relaxed),
            mail_sent: self.mail_sent.swap(0, Relaxed),
            mail_failed: self.mail_failed.swap(0, Relaxed),
            ..HourCounts::default()
        }
    }

    /// Puts counts back after a failed write (they go with the next one).
    fn restore(&self, c: &HourCounts) {
        self.refused.fetch_add(c.refused, Relaxed);
        self.mail_sent.fetch_add(c.mail_sent, Relaxed);
        self.mail_failed.fetch_add(c.mail_failed, Relaxed);
    }
}

/// Loads the organizations seen into memory (at open).
pub(super) fn load_orgs(tree: &sled::Tree) -> Result<HashMap<String, SeenOrg>> {
    let mut out = HashMap::new();
    for kv in tree.iter() {
        let (_, v) = kv?;
        let o: SeenOrg =
            serde_json::from_slice(&v).map_err(|e| json_err("organization seen", e))?;
        out.insert(o.id.clone(), o);
    }
    Ok(out)
}

impl Store {
    /// Counts not yet written.
    pub fn pending_counts(&self) -> &Pending {
        &self.pending
    }

    /// Adds `c` to hour `hour` (one read-modify-write).
    pub fn add_counts(&self, hour: u64, c: &HourCounts) -> Result<()> {
        if c.is_empty() {
            return Ok(());
        }
        self.stats.update_and_fetch(hour.to_be_bytes(), |old| {
            let mut sum = old.map(HourCounts::from_bytes).unwrap_or_default();
            sum.add(c);
            Some(sum.to_bytes().to_vec())
        })?;
        Ok(())
    }

    /// Every stored hour from `first` on.
    pub fn counts_since(&self, first: u64) -> Result<BTreeMap<u64, HourCounts>> {
        let mut out = BTreeMap::new();
        for kv in self.stats.range(first.to_be_bytes()..) {
            let (k, v) = kv?;
            let mut h = [0u8; 8];
            if k.len() == 8 {
                h.copy_from_slice(&k);
                out.insert(u64::from_be_bytes(h), HourCounts::from_bytes(&v));
            }
        }
        Ok(out)
    }

    /// Writes the pending counts into the hour of `now_ms` and forgets hours older than
    /// [`KEEP_HOURS`].
    pub fn flush_pending_counts(&self, now_ms: u64) -> Result<()> {
        let hour = hour_of(now_ms);
        let c = self.pending.take();
        if let Err(e) = self.add_counts(hour, &c) {
            self.pending.restore(&c);
            return Err(e);
        }
        let cutoff = hour.saturating_sub(KEEP_HOURS);
        for kv in self.stats.range(..cutoff.to_be_bytes()) {
            let (k, _) = kv?;
            self.stats.remove(k)?;
        }
        Ok(())
    }

    /// Notes an organization seen in an authenticated call; writes only when it is new,
    /// renamed, or last written in an earlier hour. Returns whether it wrote.
    pub fn note_org(&self, id: &str, name: Option<&str>, now_ms: u64) -> Result<bool> {
        let seen = hour_of(now_ms) * HOUR_MS;
        let name = name.and_then(org_text);
        let mut orgs = self.orgs.lock();
        if orgs
            .get(id)
            .is_some_and(|o| o.name == name && o.last_seen_ms >= seen)
        {
            return Ok(false);
        }
        let Some(id) = org_text(id) else {
            return Ok(false);
        };
        if !orgs.contains_key(&id) && orgs.len() >= MAX_ORGS {
            let oldest = orgs
                .values()
                .min_by(|a, b| (a.last_seen_ms, &a.id).cmp(&(b.last_seen_ms, &b.id)))
                .map(|o| o.id.clone());
            if let Some(oldest) = oldest {
                self.orgs_seen.remove(oldest.as_bytes())?;
                orgs.remove(&oldest);
            }
        }
        let rec = SeenOrg {
            id,
            name,
            last_seen_ms: seen,
        };
        let bytes = serde_json::to_vec(&rec).map_err(|e| json_err("organization seen", e))?;
        self.orgs_seen.insert(rec.id.as_bytes(), bytes)?;
        orgs.insert(rec.id.clone(), rec);
        Ok(true)
    }

    /// The organizations seen, by id.
    pub fn seen_orgs(&self) -> Vec<SeenOrg> {
        let mut v: Vec<SeenOrg> = self.orgs.lock().values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_old_hours_are_pruned() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let now = 500_000 * HOUR_MS;
        let one = HourCounts {
            success: 1,
            ..HourCounts::default()
        };
        s.add_counts(500_000, &one).unwrap();
        s.add_counts(500_000, &one).unwrap();
        s.add_counts(500_000 - KEEP_HOURS - 1, &one).unwrap();
        s.pending_counts().refused();
        s.pending_counts().mail_sent(2);
        assert_eq!(s.pending_counts().peek().refused, 1);
        s.flush_pending_counts(now + 5).unwrap();
        assert_eq!(s.pending_counts().peek(), HourCounts::default());
        let all = s.counts_since(0).unwrap();
        assert_eq!(all.len(), 1, "the old hour is gone: {all:?}");
        let h = all[&500_000];
        assert_eq!((h.success, h.refused, h.mail_sent), (2, 1, 2));
    }

    #[test]
    fn organizations_are_capped_and_written_only_when_they_change() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let s = Store::open(tmp.path()).unwrap();
            let t0 = 100 * HOUR_MS;
            assert!(s.note_org("org-a", Some("A"), t0).unwrap());
            assert!(
                !s.note_org("org-a", Some("A"), t0 + 1000).unwrap(),
                "same hour, same name"
            );
            assert!(
                s.note_org("org-a", Some("A2"), t0 + 2000).unwrap(),
                "renamed"
            );
            assert!(
                s.note_org("org-a", Some("A2"), t0 + HOUR_MS).unwrap(),
                "a later hour"
            );
            for i in 0..MAX_ORGS + 10 {
                s.note_org(
                    &format!("org-{i:04}"),
                    None,
                    t0 + 2 * HOUR_MS + i as u64 * HOUR_MS,
                )
                .unwrap();
            }
            let seen = s.seen_orgs();
            assert_eq!(seen.len(), MAX_ORGS);
            assert!(
                !seen.iter().any(|o| o.id == "org-a"),
                "the oldest made room"
            );
            assert!(seen.iter().any(|o| o.id == "org-1009"));
            assert!(
                !s.note_org("\u{0}", None, t0).unwrap(),
                "nothing left to keep"
            );
            s.flush().unwrap();
        }
        let s = Store::open(tmp.path()).unwrap();
        assert_eq!(s.seen_orgs().len(), MAX_ORGS, "kept over a restart");
        assert_eq!(s.orgs_seen.len(), MAX_ORGS);
    }
}
