//! Retention with archives (issue 20): records beyond the retention move to one compressed
//! 0600 file per month, the live database keeps the rest, and the archives and the live chain
//! verify as one chain, from the first record to the head, through the real binary, offline,
//! through a running server and on its own schedule. A missing file, a checkpoint on an
//! archived record and a SIEM that has not yet taken a record are each handled as a security
//! team would expect.

use std::path::Path;

use serde_json::Value;

use crate::support::audit::append_days_ago;
use crate::support::*;

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = cli(dir, args);
    assert!(o.status.success(), "{args:?}: {}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let out = ok(dir, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Fails, exit status 1, and says `what`.
fn fails(dir: &Path, args: &[&str], what: &str) -> String {
    let o = cli(dir, args);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!o.status.success(), "{args:?} passed: {text}");
    assert!(text.contains(what), "{args:?}: expected {what:?} in {text}");
    text
}

/// The hash of record `seq` as `audit export` gives it.
fn exported_hash(dir: &Path, seq: u64) -> String {
    ok(dir, &["audit", "export"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["seq"] == seq)
        .unwrap_or_else(|| panic!("no record {seq} in the export"))["hash"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_months_move_to_archives_that_verify_with_the_live_chain() {
    let dir = DataDir::new();
    let arch = dir.path.parent().unwrap().join("archive volume");
    // Three old months (200, 150 and 100 days ago) of 40 batches each, then today's.
    dir.with_store(|s| {
        for days in [200, 150, 100] {
            append_days_ago(s, days, 40);
        }
        append_days_ago(s, 0, 10);
        s.flush().unwrap();
    });
    let anchor = format!("100:{}", exported_hash(&dir.path, 100));
    let before = json(&dir.path, &["audit", "checkpoint", "--json"]);
    assert_eq!(before["seq"], 260);

    // Nothing is archived until a retention is set.
    let out = ok(&dir.path, &["audit", "archive"]);
    assert!(out.contains("audit retention is off"), "{out}");
    fails(
        &dir.path,
        &["audit", "retention", "--archive-dir", "relative"],
        "give --keep-days, --keep-records or both",
    );
    fails(
        &dir.path,
        &[
            "audit",
            "retention",
            "--keep-days",
            "30",
            "--archive-dir",
            "relative",
        ],
        "absolute path",
    );
    fails(
        &dir.path,
        &["audit", "retention", "--keep-records", "10"],
        "keep at least 1000 records",
    );
    // Months that ended more than 110 days ago: those of 200 and 150 days ago.
    let out = ok(
        &dir.path,
        &[
            "audit",
            "retention",
            "--keep-days",
            "110",
            "--archive-dir",
            arch.to_str().unwrap(),
        ],
    );
    assert!(out.contains("more than 110 days ago"), "{out}");

    // The dry run says what would go and writes nothing.
    let dry = json(&dir.path, &["audit", "archive", "--dry-run", "--json"]);
    assert_eq!(dry["records"], 160, "{dry}");
    assert_eq!(dry["files"].as_array().unwrap().len(), 2, "{dry}");
    assert!(!arch.exists());

    let done = json(&dir.path, &["audit", "archive", "--json"]);
    assert_eq!(done["records"], 160, "{done}");
    // After the 260 records and the retention's own record.
    let record = done["record_seq"].as_u64().unwrap();
    assert_eq!(record, 262);
    let files = done["files"].as_array().unwrap().clone();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    for (f, first) in files.iter().zip([1, 81]) {
        assert_eq!(f["first_seq"], first, "{f}");
        assert_eq!(f["records"], 80, "{f}");
        let path = arch.join(f["name"].as_str().unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    // The cut is anchored: the latest checkpoint covers the archive record.
    assert_eq!(
        json(&dir.path, &["audit", "checkpoint", "--json"])["seq"],
        record
    );

    let status = json(&dir.path, &["audit", "retention", "status", "--json"]);
    assert_eq!(status["base"]["seq"], 160, "{status}");
    assert_eq!(status["live_records"], 102, "{status}");
    assert_eq!(status["archives"].as_array().unwrap().len(), 2, "{status}");
    // Listed with their ranges and checksums.
    let text = ok(&dir.path, &["audit", "retention"]);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        std::fs::read(arch.join(names[1])).unwrap(),
    ));
    assert!(
        text.contains(&format!("{}  81..160  sha256 {sha}", names[1])),
        "{text}"
    );

    // The live chain verifies from its base; with the archives, from the first record.
    let out = ok(&dir.path, &["audit", "verify"]);
    assert!(
        out.contains("intact: 102 records (the live chain, after archived record 160"),
        "{out}"
    );
    let out = ok(
        &dir.path,
        &["audit", "verify", "--archives", arch.to_str().unwrap()],
    );
    assert!(
        out.contains("intact: 262 records (160 in 2 archive files, 102 live)"),
        "{out}"
    );
    // An anchor on an archived record: checked in the archives, and only there. The
    // checkpoint of record 260 is live.
    let line = before["line"].as_str().unwrap();
    let out = fails(
        &dir.path,
        &["audit", "verify", "--anchor", &anchor, "--checkpoint", line],
        "record 100 was archived",
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("checkpoint seq=260 ") && l.ends_with(" holds")),
        "{out}"
    );
    let out = ok(
        &dir.path,
        &[
            "audit",
            "verify",
            "--archives",
            arch.to_str().unwrap(),
            "--anchor",
            &anchor,
            "--checkpoint",
            line,
        ],
    );
    assert!(out.contains(&format!("anchor {anchor} holds")), "{out}");

    // A missing month is named.
    let away = dir.path.parent().unwrap().join("away");
    std::fs::rename(arch.join(names[0]), &away).unwrap();
    fails(
        &dir.path,
        &["audit", "verify", "--archives", arch.to_str().unwrap()],
        "records 1 to 80 are in no archive file",
    );
    std::fs::rename(&away, arch.join(names[0])).unwrap();

    // A shorter retention, applied by the running server through its control socket: the
    // month of 100 days ago goes too, and the chain goes on after the cut.
    let server = Server::start_with_control(&dir.path).await;
    let out = ok(&dir.path, &["audit", "retention", "--keep-days", "30"]);
    assert!(out.contains("more than 30 days ago"), "{out}");
    assert!(out.contains(names[0]), "{out}");
    let out = ok(&dir.path, &["audit", "archive"]);
    assert!(out.contains("archived 80 records to 1 files"), "{out}");
    let again = ok(&dir.path, &["audit", "archive", "--dry-run"]);
    assert!(again.contains("nothing to archive"), "{again}");
    // Compaction needs the server stopped.
    fails(
        &dir.path,
        &["compact"],
        "in use by a running profilegate server",
    );
    server.stop().await;
    // Compacted, the same chain verifies with the same archives.
    let out = ok(&dir.path, &["compact"]);
    assert!(out.contains("entries copied and checked"), "{out}");
    let out = ok(
        &dir.path,
        &["audit", "verify", "--archives", arch.to_str().unwrap()],
    );
    assert!(
        out.contains("intact: 264 records (240 in 3 archive files, 24 live)"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_siem_that_has_not_taken_a_record_keeps_it_live() {
    let dir = DataDir::new();
    dir.with_store(|s| {
        append_days_ago(s, 400, 600);
        append_days_ago(s, 0, 1);
        s.flush().unwrap();
    });
    // A collector that is not there, forwarding from the first record: nothing was taken.
    let port = free_port().to_string();
    ok(
        &dir.path,
        &[
            "audit",
            "forward",
            "syslog",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--from-start",
        ],
    );
    ok(&dir.path, &["audit", "retention", "--keep-records", "1000"]);
    let dry = json(&dir.path, &["audit", "archive", "--dry-run", "--json"]);
    assert_eq!(dry["records"], 0, "{dry}");
    // Without forwarding, the oldest go while over 1000 stay live (whole batches of two).
    ok(&dir.path, &["audit", "forward", "off"]);
    let done = json(&dir.path, &["audit", "archive", "--json"]);
    // 1205 records (1202, then three settings changes): those up to 205 may go, in batches
    // of two, so 204.
    assert_eq!(done["records"], 204, "{done}");
    let status = json(&dir.path, &["audit", "retention", "status", "--json"]);
    assert_eq!(status["live_records"], 1002, "{status}");
    // The default directory is inside the data dir.
    assert!(
        status["dir"].as_str().unwrap().ends_with("data/archive"),
        "{status}"
    );
    let out = ok(
        &dir.path,
        &[
            "audit",
            "verify",
            "--archives",
            dir.path.join("archive").to_str().unwrap(),
        ],
    );
    assert!(
        out.contains("intact: 1206 records (204 in 1 archive files"),
        "{out}"
    );
}

/// The `audit.archive` records the server's schedule wrote (actor `retention`), oldest first.
async fn scheduled_archives(a: &crate::support::admin::Admin) -> Vec<Value> {
    let (st, page) = a.get("/admin/api/audit?decision=admin&limit=500").await;
    assert_eq!(st, 200, "{page}");
    let mut records: Vec<Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "audit.archive" && r["actor"] == "retention")
        .cloned()
        .collect();
    records.reverse();
    records
}

/// Waits up to 5 s for the retention's base (the last archived record) to reach `seq`.
async fn base_reaches(a: &crate::support::admin::Admin, seq: u64) -> Value {
    let t = std::time::Instant::now();
    loop {
        let (st, status) = a.get("/admin/api/audit/retention").await;
        assert_eq!(st, 200, "{status}");
        if status["base"]["seq"].as_u64().is_some_and(|b| b >= seq) {
            return status;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "no scheduled archive reached record {seq} in 5 s: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The server runs the retention on its own (a second after start, then every second here;
/// a minute and an hour by default): the oldest records beyond `--keep-records` go to archive
/// files with no one asking, and the records written later push more out at a later run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_archives_on_its_schedule() {
    use crate::support::admin::{set_password, Admin};
    let dir = DataDir::new();
    // 1200 records of 400 days ago, then a few of today's (departments, credential, password,
    // retention).
    dir.with_store(|s| {
        append_days_ago(s, 400, 600);
        s.flush().unwrap();
    });
    let cred = dir.standard();
    set_password(&dir);
    ok(&dir.path, &["audit", "retention", "--keep-records", "1000"]);
    let head = json(&dir.path, &["audit", "retention", "status", "--json"])["head"]
        .as_u64()
        .unwrap();
    assert!(head > 1200, "{head}");
    let every = std::time::Duration::from_secs(1);
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            retention: profilegate::RetentionSchedule {
                first: every,
                every,
            },
            ..Default::default()
        },
    )
    .await;
    let a = Admin::new(&srv.url).await;

    // The first run: the old batches (of two) beyond the last 1000 records.
    let first_cut = (head - 1000) / 2 * 2;
    let status = base_reaches(&a, first_cut).await;
    let first = scheduled_archives(&a).await;
    assert!(!first.is_empty(), "{status}");
    assert!(first[0]["after"]["records"].as_u64().unwrap() >= first_cut);
    let base = status["base"]["seq"].as_u64().unwrap();

    // 40 decisions later, a later run moves 40 more old records out.
    let auth = Auth::of(&cred);
    for i in 0..40 {
        let r = post(
            &srv.action_url(),
            &auth,
            profile_event(Some(&format!("later-{i}")), dept(serde_json::json!("HR"))).to_string(),
        )
        .await;
        assert_eq!(r.json["actionStatus"], "SUCCESS", "{:?}", r.json);
    }
    let (_, page) = a.get("/admin/api/audit?decision=SUCCESS&limit=1").await;
    let last = page["records"][0]["seq"].as_u64().unwrap();
    let status = base_reaches(&a, base + 40).await;
    let runs = scheduled_archives(&a).await;
    assert!(
        runs.last().unwrap()["seq"].as_u64().unwrap() > last,
        "no scheduled run after the decisions: {runs:?}"
    );
    // Each run's files are in the archive directory, as its record names them.
    let files = status["archives"].as_array().unwrap();
    assert!(files.len() >= 2, "{status}");
    assert!(files.iter().all(|f| f["present"] == true), "{status}");
    let named: usize = runs
        .iter()
        .map(|r| r["after"]["files"].as_array().unwrap().len())
        .sum();
    assert_eq!(named, files.len(), "{runs:?} vs {status}");
    srv.stop().await;

    // The archives and the live chain verify as one chain.
    let status = json(&dir.path, &["audit", "retention", "status", "--json"]);
    let arch = status["dir"].as_str().unwrap();
    let out = ok(&dir.path, &["audit", "verify", "--archives", arch]);
    let archived = format!(
        "({} in {} archive files",
        status["base"]["seq"],
        status["archives"].as_array().unwrap().len()
    );
    assert!(out.contains(&archived), "{out}");
}
