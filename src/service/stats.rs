//! The overview's decisions over time: the last 24 hours by hour and the last 30 days by day,
//! summed from the hourly counters (`store::stats`). Bucketing is pure; `series` reads the
//! store once (at most 30 days of hours, about 720 small values) and never the audit log.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::stats::{hour_of, HourCounts, HOUR_MS};
use crate::store::{format_unix_ms, Store, StoreError};

/// Hours in the short view.
pub const HOURS: u64 = 24;
/// Days in the long view.
pub const DAYS: u64 = 30;

/// One bar: the start of its hour or day (UTC), and what it counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Bucket {
    pub start: String,
    pub counts: HourCounts,
}

/// The two views, oldest bucket first; the newest is the current hour or day (so far).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Series {
    pub hours: Vec<Bucket>,
    pub days: Vec<Bucket>,
}

/// The `n` hours up to and including `now_hour`, oldest first (missing hours are zeros).
pub fn hourly(counts: &BTreeMap<u64, HourCounts>, now_hour: u64, n: u64) -> Vec<(u64, HourCounts)> {
    (now_hour.saturating_sub(n - 1)..=now_hour)
        .map(|h| (h, counts.get(&h).copied().unwrap_or_default()))
        .collect()
}

/// The `n` UTC days up to and including the one of `now_hour`, oldest first, as day numbers
/// (days since the epoch) with their hours summed.
pub fn daily(counts: &BTreeMap<u64, HourCounts>, now_hour: u64, n: u64) -> Vec<(u64, HourCounts)> {
    let today = now_hour / 24;
    let first = today.saturating_sub(n - 1);
    let mut days: Vec<(u64, HourCounts)> = (first..=today)
        .map(|d| (d, HourCounts::default()))
        .collect();
    for (h, c) in counts.range(first * 24..) {
        if let Some((_, sum)) = usize::try_from(h / 24 - first)
            .ok()
            .and_then(|i| days.get_mut(i))
        {
            sum.add(c);
        }
    }
    days
}

/// Both views as of `now_ms`, with the counts not yet written (`pending`) in the current hour.
pub fn build(mut counts: BTreeMap<u64, HourCounts>, pending: &HourCounts, now_ms: u64) -> Series {
    let now_hour = hour_of(now_ms);
    counts.entry(now_hour).or_default().add(pending);
    let bucket = |start_ms: u64, counts: HourCounts| Bucket {
        start: format_unix_ms(start_ms),
        counts,
    };
    Series {
        hours: hourly(&counts, now_hour, HOURS)
            .into_iter()
            .map(|(h, c)| bucket(h * HOUR_MS, c))
            .collect(),
        days: daily(&counts, now_hour, DAYS)
            .into_iter()
            .map(|(d, c)| bucket(d * 24 * HOUR_MS, c))
            .collect(),
    }
}

/// The overview's series now.
pub fn series(store: &Store, now_ms: u64) -> Result<Series, StoreError> {
    let first_day = (hour_of(now_ms) / 24).saturating_sub(DAYS - 1);
    let counts = store.counts_since(first_day * 24)?;
    Ok(build(counts, &store.pending_counts().peek(), now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(success: u64) -> HourCounts {
        HourCounts {
            success,
            ..HourCounts::default()
        }
    }

    #[test]
    fn hours_are_the_last_24_with_gaps_as_zero() {
        let now = 1000 * 24 + 5;
        let counts = BTreeMap::from([(now, c(1)), (now - 23, c(2)), (now - 24, c(99))]);
        let h = hourly(&counts, now, HOURS);
        assert_eq!(h.len(), 24);
        assert_eq!(h[0], (now - 23, c(2)));
        assert_eq!(h[23], (now, c(1)));
        assert_eq!(
            h.iter().map(|(_, c)| c.success).sum::<u64>(),
            3,
            "hour 24 ago left out"
        );
    }

    #[test]
    fn days_sum_their_hours_and_stop_at_30() {
        let today = 1000;
        let now = today * 24 + 5;
        let counts = BTreeMap::from([
            (today * 24, c(1)),
            (today * 24 + 5, c(2)),
            ((today - 1) * 24 + 23, c(4)),
            ((today - 29) * 24, c(8)),
            ((today - 30) * 24 + 23, c(100)),
        ]);
        let d = daily(&counts, now, DAYS);
        assert_eq!(d.len(), 30);
        assert_eq!(d[29], (today, c(3)));
        assert_eq!(d[28], (today - 1, c(4)));
        assert_eq!(d[0], (today - 29, c(8)));
    }

    #[test]
    fn pending_counts_land_in_the_current_hour() {
        let now_ms = (1000 * 24 + 5) * HOUR_MS + 17;
        let pending = HourCounts {
            refused: 3,
            ..HourCounts::default()
        };
        let s = build(BTreeMap::new(), &pending, now_ms);
        assert_eq!(s.hours.last().unwrap().counts.refused, 3);
        assert_eq!(s.days.last().unwrap().counts.refused, 3);
        assert!(s.hours.last().unwrap().start.ends_with("05:00:00.000Z"));
        assert!(s.days.last().unwrap().start.ends_with("T00:00:00.000Z"));
    }

    #[test]
    fn early_times_do_not_underflow() {
        let s = build(BTreeMap::new(), &HourCounts::default(), 0);
        assert_eq!((s.hours.len(), s.days.len()), (1, 1));
    }
}
