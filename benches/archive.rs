//! Years of audit on one VM: bytes on disk per record, opening a store with a long chain, the
//! archive run and `audit verify --archives` throughput, and the database's size under a
//! retention that keeps cutting. The store and the use cases run in this process, on a
//! temporary data dir (removed at the end).
//!
//!     cargo bench -j 1 --bench archive
//!
//! Settings (environment): PG_BENCH_RECORDS (default 10000000), the records written, spread over
//! the twelve months before yesterday; PG_BENCH_KEEP (default 1000000), the records the
//! retention keeps live, so RECORDS - KEEP are archived; PG_BENCH_CYCLES (default 3), rounds of
//! KEEP more records followed by an archive run, to watch the database's size; then an offline
//! compaction. PG_BENCH_SERVER=1 instead has a running release server make the first cut (through
//! its control socket) and reports the server's own memory; PG_BENCH_SERVER=scan has it export
//! and verify the whole live chain through the admin API (as the Audit page does), with nothing
//! archived, and reports its memory; PG_BENCH_SERVER=migrate rewrites the data dir in data format
//! 2's layout (the batches as values of sled's `audit` tree) and times `profilegate audit verify`,
//! which migrates it to segment files, with its peak memory.
//!
//! Each record is the decision the seed payload produces (about 800 bytes of JSON), in batches
//! of 256 as a busy server commits them. Peak RSS is this process's (VmHWM, reset before each
//! step), so it includes the benchmark's own memory.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Instant;

use profilegate::model::RetentionSettings;
use profilegate::service::retention;
use profilegate::store::{format_unix_ms, now_unix_ms, Store};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DAY_MS: u64 = 86_400_000;
const BATCH: u64 = 256;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's peak resident memory since the last [`reset_peak`], in MB.
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// Resets the peak resident memory (Linux: `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Appends `n` decision records numbered from `from`, dated evenly from `start_ms` to `end_ms`.
fn append(store: &Store, from: u64, n: u64, start_ms: u64, end_ms: u64) {
    let batches = n.div_ceil(BATCH).max(1);
    let step = (end_ms - start_ms) / batches;
    for b in 0..batches {
        let first = from + b * BATCH;
        let last = (from + n).min(first + BATCH);
        let entries: Vec<Vec<u8>> = (first..last)
            .map(|i| support::decision_record(i, "cred01"))
            .collect();
        store
            .append_entries_dated(&entries, &format_unix_ms(start_ms + b * step))
            .expect("append");
    }
    store.flush().expect("flush");
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let records = env_u64("PG_BENCH_RECORDS", 10_000_000);
    let keep = env_u64("PG_BENCH_KEEP", 1_000_000).max(1_000);
    let cycles = env_u64("PG_BENCH_CYCLES", 3);
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let arch = tmp.path().join("archive");
    let now = now_unix_ms();
    let year_ago = now - 366 * DAY_MS;
    let yesterday = now - 2 * DAY_MS;

    // Writing.
    let store = Store::open(&data).expect("store");
    let t = Instant::now();
    append(&store, 0, records, year_ago, yesterday);
    let secs = t.elapsed().as_secs_f64();
    let size = store.size_on_disk().expect("size");
    println!(
        "written: {records} records in {secs:.1} s ({:.0} records/s); database {:.0} MB on disk, {:.0} bytes per record",
        records as f64 / secs,
        mb(size),
        size as f64 / records as f64
    );
    drop(store);

    if std::env::var("PG_BENCH_SERVER").is_ok_and(|v| v == "scan") {
        server_scan(&data);
        return;
    }
    if std::env::var("PG_BENCH_SERVER").is_ok_and(|v| v == "migrate") {
        migrate_format_2(&data);
        return;
    }
    // PG_BENCH_SERVER=1: the cut made by a running release server instead (through its
    // control socket, as `profilegate audit archive` does), and the server's own memory.
    if env_u64("PG_BENCH_SERVER", 0) != 0 {
        let store = Store::open(&data).expect("store");
        set_retention(&store, keep, &arch);
        store.flush().expect("flush");
        drop(store);
        server_cut(&data);
        return;
    }

    // Opening a store with the whole chain (the store's part of the server's start-up).
    reset_peak();
    let t = Instant::now();
    let store = Store::open(&data).expect("store");
    println!(
        "open: {:.0} ms with {records} records, peak RSS {:.0} MB",
        t.elapsed().as_secs_f64() * 1000.0,
        peak_mb()
    );

    // The first cut: everything but the newest `keep`.
    set_retention(&store, keep, &arch);
    let archived = archive(&store, now, "first cut");

    // Verifying, live alone and with the archives.
    reset_peak();
    let t = Instant::now();
    let live = store.verify_audit().expect("verify");
    let secs = t.elapsed().as_secs_f64();
    assert!(live.first_bad.is_none(), "{live:?}");
    println!(
        "verify (live): {} records in {secs:.2} s ({:.0} records/s), peak RSS {:.0} MB",
        live.records,
        live.records as f64 / secs,
        peak_mb()
    );
    reset_peak();
    let t = Instant::now();
    let all = store
        .verify_with_archives(&arch, |_, _| {})
        .expect("verify with archives");
    let secs = t.elapsed().as_secs_f64();
    assert!(all.report.first_bad.is_none(), "{:?}", all.report);
    println!(
        "verify --archives: {} records ({} archived in {} files) in {secs:.2} s ({:.0} records/s), peak RSS {:.0} MB",
        all.report.records,
        all.archived,
        all.files,
        all.report.records as f64 / secs,
        peak_mb()
    );
    assert!(archived > 0);

    // The size under a retention that keeps cutting: `keep` more records, then a run. The
    // clock moves three days a cycle (the runs take it as a parameter), so the records the
    // runs themselves write at the real time are old enough to go in the next cycle.
    let mut next = records + 10;
    for c in 1..=cycles {
        let clock = now + c * 3 * DAY_MS;
        let before = store.size_on_disk().expect("size");
        append(
            &store,
            next,
            keep,
            clock - 2 * DAY_MS,
            clock - 3 * DAY_MS / 2,
        );
        next += keep;
        let written = store.size_on_disk().expect("size");
        archive(&store, clock, &format!("cycle {c}"));
        let after = store.size_on_disk().expect("size");
        println!(
            "cycle {c}: database {:.0} MB before, {:.0} MB with {keep} more records, {:.0} MB after the run",
            mb(before),
            mb(written),
            mb(after)
        );
    }
    drop(store);
    let t = Instant::now();
    let store = Store::open(&data).expect("store");
    println!(
        "open after the cycles: {:.0} ms, {} live records, database {:.0} MB",
        t.elapsed().as_secs_f64() * 1000.0,
        store.live_records().expect("live"),
        mb(store.size_on_disk().expect("size"))
    );
    drop(store);

    // Offline compaction (`profilegate compact`).
    let t = Instant::now();
    let c = profilegate::store::compact::compact(&data).expect("compact");
    println!(
        "compact: {:.0} MB -> {:.0} MB in {:.1} s ({} entries)",
        mb(c.before),
        mb(c.after),
        t.elapsed().as_secs_f64(),
        c.entries
    );
    let t = Instant::now();
    let store = Store::open(&data).expect("store");
    println!(
        "open after compaction: {:.0} ms, database {:.0} MB",
        t.elapsed().as_secs_f64() * 1000.0,
        mb(store.size_on_disk().expect("size"))
    );
}

fn set_retention(store: &Store, keep: u64, arch: &Path) {
    store
        .update_settings("bench", "audit.retention", |s| {
            s.audit_retention = RetentionSettings {
                keep_days: None,
                keep_records: Some(keep),
                dir: Some(arch.display().to_string()),
            }
        })
        .expect("settings");
}

/// One archive run; prints its rate, files and sizes; returns the records it moved.
fn archive(store: &Store, now: u64, label: &str) -> u64 {
    reset_peak();
    let t = Instant::now();
    let o = retention::run(store, "bench", now, false).expect("archive");
    let secs = t.elapsed().as_secs_f64();
    store.flush().expect("flush");
    let bytes: u64 = o.files.iter().map(|f| f.bytes).sum();
    println!(
        "archive ({label}): {} records to {} files in {secs:.2} s ({:.0} records/s), {:.0} MB of archives ({:.0} bytes per record), peak RSS {:.0} MB; database {:.0} MB, {} live records",
        o.records,
        o.files.len(),
        o.records as f64 / secs.max(1e-9),
        mb(bytes),
        bytes as f64 / o.records.max(1) as f64,
        peak_mb(),
        mb(store.size_on_disk().expect("size")),
        store.live_records().expect("live")
    );
    o.records
}

/// VmRSS and VmHWM of a process, in MB.
fn proc_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts the release server on `data`, has it archive through its control socket, and
/// reports its memory before, at the peak and after.
fn server_cut(data: &Path) {
    let (child, _addr) = support::spawn_server(data);
    let pid = child.id();
    let socket = data.join("control.sock");
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (rss0, _) = proc_mb(pid);
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_profilegate"))
        .arg("--data-dir")
        .arg(data)
        .args(["audit", "archive", "--json"])
        .output()
        .expect("audit archive");
    let secs = t.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "audit archive: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let (rss1, hwm1) = proc_mb(pid);
    println!(
        "server cut: {} records in {secs:.1} s; server RSS {rss0:.0} MB before, {rss1:.0} MB after, peak {hwm1:.0} MB",
        v["records"]
    );
    support::stop_server(child);
}

/// Starts the release server on `data`, logs in to the admin API, downloads the export of the
/// whole live chain and has it verified, and reports the server's memory around each.
fn server_scan(data: &Path) {
    const PASSWORD: &str = "bench admin password";
    let mut set = std::process::Command::new(env!("CARGO_BIN_EXE_profilegate"))
        .arg("--data-dir")
        .arg(data)
        .args(["admin", "set-password", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("set-password");
    {
        use std::io::Write;
        let mut stdin = set.stdin.take().expect("stdin");
        writeln!(stdin, "{PASSWORD}").expect("password");
    }
    assert!(set.wait().expect("set-password").success());
    let (child, addr) = support::spawn_server(data);
    let pid = child.id();
    let reset = || {
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let url = format!("http://{addr}");
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{url}/admin/api/login"))
            .json(&serde_json::json!({ "password": PASSWORD }))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200, "login");
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        let (rss0, _) = proc_mb(pid);
        reset();
        let t = Instant::now();
        let mut r = client
            .get(format!("{url}/admin/api/audit/export"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("export");
        assert_eq!(r.status(), 200, "export");
        let (mut lines, mut bytes) = (0u64, 0u64);
        while let Some(chunk) = r.chunk().await.expect("export body") {
            lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            bytes += chunk.len() as u64;
        }
        let secs = t.elapsed().as_secs_f64();
        let (rss1, hwm1) = proc_mb(pid);
        println!(
            "server export: {lines} records ({:.0} MB) in {secs:.1} s ({:.0} records/s); server RSS {rss0:.0} MB before, peak {hwm1:.0} MB, {rss1:.0} MB after",
            mb(bytes),
            lines as f64 / secs
        );
        reset();
        let t = Instant::now();
        let v: serde_json::Value = client
            .get(format!("{url}/admin/api/audit/verify"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("verify")
            .json()
            .await
            .expect("verify answer");
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(v["ok"], true, "{v}");
        let (rss2, hwm2) = proc_mb(pid);
        println!(
            "server verify: {} records in {secs:.1} s; server peak {hwm2:.0} MB, {rss2:.0} MB after",
            v["records"]
        );
    });
    support::stop_server(child);
}

/// Rewrites `data` as data format 2 stored it (each batch a value of the `audit` tree, no
/// index, no segment files, stamped 2), then runs `profilegate audit verify`, which migrates it,
/// and reports its time and peak memory (polled from /proc while it runs).
fn migrate_format_2(data: &Path) {
    use profilegate::store::audit::segments::{segment_name, Loc, INDEX_TREE, SEGMENT_DIR};
    use std::os::unix::fs::FileExt;
    {
        let db = sled::open(data.join("db")).expect("sled");
        let index = db.open_tree(INDEX_TREE).expect("index");
        let audit = db.open_tree("audit").expect("audit tree");
        let mut files = std::collections::HashMap::new();
        let mut batch = sled::Batch::default();
        for (n, item) in index.iter().enumerate() {
            let (k, v) = item.expect("entry");
            let loc = Loc::decode(&v).expect("loc");
            let file = files.entry(loc.segment).or_insert_with(|| {
                std::fs::File::open(data.join(SEGMENT_DIR).join(segment_name(loc.segment)))
                    .expect("segment")
            });
            let mut value = vec![0u8; loc.len as usize];
            file.read_exact_at(&mut value, loc.offset + 20)
                .expect("frame");
            batch.insert(k, value);
            if n % 1024 == 1023 {
                audit
                    .apply_batch(std::mem::take(&mut batch))
                    .expect("insert");
            }
        }
        audit.apply_batch(batch).expect("insert");
        db.drop_tree(INDEX_TREE).expect("drop index");
        db.open_tree("settings")
            .expect("settings")
            .insert("format", 2u32.to_be_bytes().as_slice())
            .expect("stamp");
        db.flush().expect("flush");
    }
    std::fs::remove_dir_all(data.join(SEGMENT_DIR)).expect("segments");
    std::fs::write(data.join("FORMAT"), "format = 2\nreadable_by = \"0.2.0\"\n").expect("stamp");
    let t = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_profilegate"))
        .arg("--data-dir")
        .arg(data)
        .args(["audit", "verify"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("audit verify");
    let mut peak = 0f64;
    let status = loop {
        peak = peak.max(proc_mb(child.id()).1);
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "audit verify failed");
    println!(
        "migrate from format 2 and verify: {:.1} s; the process's peak RSS {peak:.0} MB (polled every 20 ms)",
        t.elapsed().as_secs_f64()
    );
}
