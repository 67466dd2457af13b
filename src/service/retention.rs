//! Audit retention: which records leave the live database for archive files, when, and where
//! the trail stands. The rule (which batch goes) is [`takes`], pure; the files and the cut are
//! `store::archive`'s. The CLI, the control socket, the admin API and the hourly schedule all
//! run [`archive`].

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Ctx, ServiceError};
use crate::model::{AdminEntry, AuditEntry, RetentionSettings};
use crate::store::archive::{ArchiveBase, ArchiveFile, BatchInfo};
use crate::store::{format_unix_ms, Store};

/// Records younger than this are never archived, whatever the limits say: a retry of a recent
/// request is answered from its record, and a day's records are what an admin looks at first.
pub const MIN_AGE_MS: u64 = 24 * 3600 * 1000;
/// The fewest days `keep_days` may say (one month past its end is the earliest a month goes).
pub const MIN_KEEP_DAYS: u32 = 1;
/// At most a hundred years.
pub const MAX_KEEP_DAYS: u32 = 36_500;
/// The fewest records `keep_records` may say.
pub const MIN_KEEP_RECORDS: u64 = 1_000;
/// Records one pass of a run moves at most (the batch that crosses it goes whole). sled keeps
/// what a pass reads in memory until the pass's records are removed at its end (its cache
/// admits thousands of pages before it evicts any), so a run goes in passes: a cut of 1.8M
/// records in passes of this size peaked 40 MB above the store's own memory, in passes of
/// twice this 67 MB, and in one pass several hundred MB (a one-off harness; the server's peak
/// in passes: `PG_BENCH_SERVER=1 cargo bench --bench archive`, docs/benchmarks.md).
pub const PASS_RECORDS: u64 = 131_072;

/// The start of the month after `time`'s (stored format), in stored format.
fn month_end(time: &str) -> Option<String> {
    let year: i32 = time.get(..4)?.parse().ok()?;
    let month: u8 = time.get(5..7)?.parse().ok()?;
    let (y, m) = if month >= 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    Some(format!("{y:04}-{m:02}-01T00:00:00.000Z"))
}

/// The limits a run works with, resolved from the settings and the clock.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Batches at or after this time stay (stored format): now less [`MIN_AGE_MS`].
    pub young: String,
    /// A month whose end is at or before this goes (stored format): now less `keep_days`.
    pub age_cut: Option<String>,
    /// Records the live chain keeps at least, by count.
    pub keep_records: Option<u64>,
    /// The chain's head.
    pub head: u64,
    /// The last record every SIEM target has accepted: nothing past it goes, so forwarding
    /// never loses a record to the archive (`u64::MAX` without forwarding).
    pub forwarded: u64,
}

impl Limits {
    pub fn new(settings: &RetentionSettings, now_ms: u64, head: u64, forwarded: u64) -> Self {
        Limits {
            young: format_unix_ms(now_ms.saturating_sub(MIN_AGE_MS)),
            age_cut: settings
                .keep_days
                .map(|d| format_unix_ms(now_ms.saturating_sub(u64::from(d) * 86_400_000))),
            keep_records: settings.keep_records,
            head,
            forwarded,
        }
    }
}

/// Whether batch `b` (the oldest live one not yet taken) goes to the archive.
pub fn takes(l: &Limits, b: BatchInfo<'_>) -> bool {
    if *b.time >= *l.young || b.last_seq > l.forwarded {
        return false;
    }
    let by_age = l
        .age_cut
        .as_ref()
        .is_some_and(|cut| month_end(b.time).is_some_and(|end| end <= *cut));
    let by_count = l
        .keep_records
        .is_some_and(|keep| l.head.saturating_sub(b.last_seq) >= keep);
    by_age || by_count
}

/// The archive directory the settings name, or `<data-dir>/archive`.
pub fn archive_dir(store: &Store, settings: &RetentionSettings) -> PathBuf {
    settings
        .dir
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(|| store.dir().join("archive"))
}

/// Checks and stores the retention; each refusal names its field. Both limits are as given;
/// a directory left out keeps the one set before (archives already written stay findable).
pub async fn set(ctx: Ctx<'_>, mut r: RetentionSettings) -> Result<(), ServiceError> {
    if r.dir.is_none() {
        r.dir = ctx.store.settings().audit_retention.dir.clone();
    }
    if !r.enabled() {
        return Err(ServiceError::invalid(
            "keep_days",
            "give --keep-days, --keep-records or both (or switch retention off)",
        ));
    }
    if let Some(d) = r.keep_days {
        if !(MIN_KEEP_DAYS..=MAX_KEEP_DAYS).contains(&d) {
            return Err(ServiceError::invalid(
                "keep_days",
                format!("keep days must be {MIN_KEEP_DAYS} to {MAX_KEEP_DAYS}"),
            ));
        }
    }
    if let Some(n) = r.keep_records {
        if n < MIN_KEEP_RECORDS {
            return Err(ServiceError::invalid(
                "keep_records",
                format!("keep at least {MIN_KEEP_RECORDS} records"),
            ));
        }
    }
    if let Some(dir) = r.dir.as_mut() {
        *dir = dir.trim().to_string();
        let path = Path::new(dir.as_str());
        if !path.is_absolute() || dir.len() > 1024 || dir.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "dir",
                "give the archive directory as an absolute path",
            ));
        }
        if path.starts_with(ctx.store.dir().join("db")) {
            return Err(ServiceError::invalid(
                "dir",
                "the archive directory cannot be inside the database",
            ));
        }
        if path.exists() && !path.is_dir() {
            return Err(ServiceError::invalid(
                "dir",
                format!("{dir} is a file, not a directory"),
            ));
        }
    }
    ctx.store
        .update_settings(ctx.actor, "audit.retention", |s| s.audit_retention = r)?;
    ctx.durable().await
}

/// Switches retention off: everything from now on stays live (archives already written stay).
pub async fn off(ctx: Ctx<'_>) -> Result<(), ServiceError> {
    ctx.store
        .update_settings(ctx.actor, "audit.retention.off", |s| {
            s.audit_retention = RetentionSettings::default()
        })?;
    ctx.durable().await
}

/// A change to the retention, or none, as the CLI and the control socket carry it.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Set(RetentionSettings),
    Off,
    Status,
}

/// Carries out `req` and answers the status after it.
pub async fn apply(ctx: Ctx<'_>, req: Request) -> Result<Status, ServiceError> {
    match req {
        Request::Set(r) => set(ctx, r).await?,
        Request::Off => off(ctx).await?,
        Request::Status => {}
    }
    status(ctx.store)
}

/// The last record every configured SIEM target has accepted (`u64::MAX`: none configured).
fn forwarded(store: &Store) -> Result<u64, ServiceError> {
    let settings = store.settings();
    let mut floor = u64::MAX;
    for t in crate::forward::Target::ALL {
        if t.destination(&settings).is_some() {
            floor = floor.min(store.forward_cursor(t.name())?.map_or(0, |c| c.seq));
        }
    }
    Ok(floor)
}

/// What an archive run did (or, dry, would do).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
#[schema(as = ArchiveOutcome)] // `service::sync` has an `Outcome` schema too
pub struct Outcome {
    /// The files written (dry: that would be), oldest first.
    pub files: Vec<ArchiveFile>,
    /// Records moved out of the live database.
    pub records: u64,
    /// The `audit.archive` record that names them (none when nothing went, or dry).
    pub record_seq: Option<u64>,
    pub dry_run: bool,
    /// A dry run lists one pass ([`PASS_RECORDS`]): more records are due after it.
    pub more: bool,
    /// Where the files are.
    pub dir: String,
}

/// Runs retention once at `now_ms` (blocking: it reads and writes files). The `audit.archive`
/// record is not yet durable: [`archive`] waits for it.
pub fn run(
    store: &Store,
    actor: &str,
    now_ms: u64,
    dry_run: bool,
) -> Result<Outcome, ServiceError> {
    let settings = store.settings().audit_retention.clone();
    let dir = archive_dir(store, &settings);
    let mut outcome = Outcome {
        files: Vec::new(),
        records: 0,
        record_seq: None,
        dry_run,
        more: false,
        dir: dir.display().to_string(),
    };
    if !settings.enabled() {
        return Ok(outcome);
    }
    let _one_run = store.archive_guard();
    // Passes until one stops short of its cap: each cuts, records and removes what it read.
    loop {
        let limits = Limits::new(&settings, now_ms, store.chain_head().seq, forwarded(store)?);
        let (mut taken, mut capped) = (0u64, false);
        let files = store.write_archives((!dry_run).then_some(dir.as_path()), |b| {
            if taken >= PASS_RECORDS {
                capped = true;
                return false;
            }
            let goes = takes(&limits, b);
            if goes {
                taken += b.last_seq - b.first_seq + 1;
            }
            goes
        })?;
        let records: u64 = files.iter().map(|f| f.records).sum();
        outcome.records += records;
        if dry_run || files.is_empty() {
            outcome.more = dry_run && capped;
            outcome.files.extend(files);
            return Ok(outcome);
        }
        let entry = AuditEntry::Admin(AdminEntry {
            actor: actor.to_string(),
            action: "audit.archive".into(),
            before: None,
            after: Some(serde_json::json!({
                "dir": outcome.dir,
                "records": records,
                "files": files,
            })),
        });
        outcome.record_seq = Some(store.commit_archive(&files, &entry)?);
        store.remove_archived()?;
        outcome.files.extend(files);
        if !capped {
            return Ok(outcome);
        }
    }
}

/// Runs retention once and makes its record durable, then signs a checkpoint of the head
/// (which covers the archived records through the chain), so the cut is anchored.
pub async fn archive(ctx: Ctx<'_>, now_ms: u64, dry_run: bool) -> Result<Outcome, ServiceError> {
    let outcome = run(ctx.store, ctx.actor, now_ms, dry_run)?;
    if outcome.record_seq.is_some() {
        ctx.durable().await?;
        super::audit::checkpoint(ctx.store)?;
    }
    Ok(outcome)
}

/// [`archive`] for the server: the run on a blocking thread (it reads and writes files for
/// seconds), off the runtime's.
pub async fn archive_shared(
    store: &std::sync::Arc<Store>,
    durability: super::Durability<'_>,
    actor: &str,
    now_ms: u64,
    dry_run: bool,
) -> Result<Outcome, ServiceError> {
    let s = store.clone();
    // Owned for the blocking thread: an admin session's actor is built per request.
    let who = actor.to_owned();
    let outcome =
        super::blocking("the audit archive", move || run(&s, &who, now_ms, dry_run)).await??;
    if outcome.record_seq.is_some() {
        let ctx = Ctx {
            store,
            durability,
            actor,
        };
        ctx.durable().await?;
        let s = store.clone();
        super::blocking("signing a checkpoint", move || super::audit::checkpoint(&s)).await??;
    }
    Ok(outcome)
}

/// Where the audit trail stands.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
#[schema(as = RetentionStatus)] // a plain `Status` says nothing in the API's document
pub struct Status {
    pub settings: RetentionSettings,
    /// The archive directory in use.
    pub dir: String,
    /// The last archived record; the live chain starts after it.
    pub base: Option<ArchiveBase>,
    /// Records in the live database.
    pub live_records: u64,
    /// The chain's head.
    pub head: u64,
    /// The database's size on disk.
    pub db_bytes: u64,
    /// Every archive file written, oldest first, as recorded at its cut (range, checksum).
    pub archives: Vec<Archived>,
}

/// An archive file as recorded at its cut, and whether the archive directory still has it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct Archived {
    pub file: ArchiveFile,
    /// A file of that name and size is in the archive directory (moved elsewhere, it is for
    /// `audit verify --archives` to find wherever it is).
    pub present: bool,
}

/// Reads the retention's status (looks at the archive directory: blocking).
pub fn status(store: &Store) -> Result<Status, ServiceError> {
    let settings = store.settings().audit_retention.clone();
    let dir = archive_dir(store, &settings);
    let archives = store
        .archived_files()?
        .into_iter()
        .map(|file| Archived {
            present: std::fs::metadata(dir.join(&file.name)).is_ok_and(|m| m.len() == file.bytes),
            file,
        })
        .collect();
    Ok(Status {
        dir: dir.display().to_string(),
        settings,
        base: store.archive_base()?,
        live_records: store.live_records()?,
        head: store.chain_head().seq,
        db_bytes: store.size_on_disk()?,
        archives,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(keep_days: Option<u32>, keep_records: Option<u64>, head: u64) -> Limits {
        // 2026-11-30T12:00:00Z
        let now = 1_796_040_000_000;
        Limits::new(
            &RetentionSettings {
                keep_days,
                keep_records,
                dir: None,
            },
            now,
            head,
            u64::MAX,
        )
    }

    fn batch(first: u64, time: &str) -> BatchInfo<'_> {
        BatchInfo {
            first_seq: first,
            last_seq: first,
            time,
        }
    }

    #[test]
    fn a_month_goes_whole_once_it_ended_keep_days_ago() {
        assert_eq!(
            format_unix_ms(1_796_040_000_000),
            "2026-11-30T12:00:00.000Z"
        );
        let l = limits(Some(30), None, 100);
        // October ended on 2026-11-01, 29.5 days ago: it stays.
        assert!(!takes(&l, batch(1, "2026-10-02T00:00:00.000Z")));
        // September ended on 2026-10-01: it goes.
        assert!(takes(&l, batch(1, "2026-09-30T23:59:59.999Z")));
        assert!(takes(&l, batch(1, "2025-12-31T00:00:00.000Z")));
        let l = limits(Some(29), None, 100);
        assert!(takes(&l, batch(1, "2026-10-02T00:00:00.000Z")));
    }

    #[test]
    fn a_count_keeps_the_newest_and_nothing_younger_than_a_day_goes() {
        let l = limits(None, Some(10), 100);
        assert!(takes(&l, batch(90, "2026-11-01T00:00:00.000Z")));
        assert!(!takes(&l, batch(91, "2026-11-01T00:00:00.000Z")));
        // Younger than a day: stays whatever the count says.
        assert!(!takes(&l, batch(1, "2026-11-29T12:00:00.001Z")));
        assert!(takes(&l, batch(1, "2026-11-29T11:59:59.999Z")));
        // A SIEM that has not yet accepted a record keeps it live.
        let mut l = limits(None, Some(10), 100);
        l.forwarded = 40;
        assert!(takes(&l, batch(40, "2026-11-01T00:00:00.000Z")));
        assert!(!takes(&l, batch(41, "2026-11-01T00:00:00.000Z")));
        // Neither limit: nothing goes.
        assert!(!takes(
            &limits(None, None, 100),
            batch(1, "2020-01-01T00:00:00.000Z")
        ));
    }

    #[test]
    fn month_ends_roll_over_the_year() {
        assert_eq!(
            month_end("2026-12-15T00:00:00.000Z").as_deref(),
            Some("2027-01-01T00:00:00.000Z")
        );
        assert_eq!(
            month_end("2026-01-31T23:00:00.000Z").as_deref(),
            Some("2026-02-01T00:00:00.000Z")
        );
    }

    /// A run whose due records exceed [`PASS_RECORDS`] goes in passes (each reads, cuts and
    /// removes at most that many), and ends with every due record archived in one chain.
    #[test]
    fn a_large_cut_goes_in_passes_and_verifies_as_one_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("data")).unwrap();
        let entry = serde_json::to_vec(&AuditEntry::Admin(AdminEntry {
            actor: "t".into(),
            action: "x".into(),
            before: None,
            after: None,
        }))
        .unwrap();
        // 2.5 passes' worth in October 2026, in batches of 4,096, and 1,000 records to keep.
        let batch = vec![entry; 4096];
        let batches = (PASS_RECORDS * 5 / 2).div_ceil(4096);
        for _ in 0..batches {
            store
                .append_entries_dated(&batch, "2026-10-10T10:00:00.000Z")
                .unwrap();
        }
        let total = batches * 4096;
        store
            .update_settings("test", "audit.retention", |s| {
                s.audit_retention = RetentionSettings {
                    keep_days: None,
                    keep_records: Some(1_000),
                    dir: Some(tmp.path().join("arch").display().to_string()),
                }
            })
            .unwrap();
        // 2026-11-30T12:00:00Z.
        let now = 1_796_040_000_000;
        let dry = run(&store, "test", now, true).unwrap();
        assert!(dry.more, "a dry run lists the first pass only");
        assert!(dry.records >= PASS_RECORDS && dry.records < PASS_RECORDS + 4096);
        let o = run(&store, "test", now, false).unwrap();
        // Every batch but the last (4,096 > 1,000 records to keep) went, in three passes of
        // at most PASS_RECORDS (plus the batch that crosses it), each its own file and record.
        assert_eq!(o.records, total - 4096);
        assert_eq!(o.files.len(), 3, "{:?}", o.files);
        assert!(o.files.iter().all(|f| f.records <= PASS_RECORDS + 4096));
        assert!(!o.more);
        let cuts = store
            .audit_iter_rev()
            .filter_map(Result::ok)
            .filter(|r| matches!(&r.entry, AuditEntry::Admin(a) if a.action == "audit.archive"))
            .count();
        assert_eq!(cuts, 3);
        assert_eq!(store.archive_base().unwrap().unwrap().seq, total - 4096);
        let all = store
            .verify_with_archives(&tmp.path().join("arch"), |_, _| {})
            .unwrap();
        assert!(all.report.first_bad.is_none(), "{:?}", all.report);
        assert_eq!(all.archived, total - 4096);
        assert_eq!(all.files, 3);
    }
}
