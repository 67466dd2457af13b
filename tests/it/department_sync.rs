//! The department sync end to end, against a real HTTP source started here: the CLI's source,
//! dry run, sync, the safety limit holding and then approved, a failing source leaving the
//! list alone; the server's schedule, its status in `/readyz` and `/metrics`, decisions made
//! with the last good list while the source fails, a sync under load, and the security team's
//! stale and recovered e-mail.

use std::time::{Duration, Instant};

use profilegate::model::{AuditEntry, AuditRecord};
use serde_json::{json, Value};

use crate::support::mail::MailServer;
use crate::support::source::{ok, Source};
use crate::support::*;

const FIVE: &str = r#"[{"name": "HR"}, {"name": "Engineering"}, {"name": "R&D, Europe"},
    {"name": "Finance"}, {"name": "Legal"}]"#;

fn list(dir: &DataDir, org: Option<&str>) -> Vec<String> {
    dir.with_store(|s| s.list_departments(org).unwrap())
}

fn admin_records(dir: &DataDir, action: &str) -> Vec<Value> {
    dir.with_store(|s| {
        s.audit_iter_rev()
            .map(|r| r.unwrap())
            .collect::<Vec<AuditRecord>>()
            .into_iter()
            .rev()
            .filter_map(|r: AuditRecord| match r.entry {
                AuditEntry::Admin(a) if a.action == action => {
                    Some(json!({ "before": a.before, "after": a.after, "actor": a.actor }))
                }
                _ => None,
            })
            .collect()
    })
}

fn held_exit(o: &std::process::Output) -> bool {
    o.status.code() == Some(3)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_syncs_holds_until_approved_and_survives_a_failing_source() {
    let dir = DataDir::new();
    dir.standard(); // HR, Engineering, "R&D, Europe"
    let src = Source::start("/hr/departments", None).await;
    src.set(ok("application/json", FIVE));

    // A clear source off this machine is refused, with the reason.
    let o = cli(
        &dir.path,
        &[
            "departments",
            "source",
            "http",
            "--url",
            "http://hr.example/d",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("https://"), "{}", stderr(&o));

    let o = cli_with_input(
        &dir.path,
        &[
            "departments",
            "source",
            "http",
            "--url",
            &src.url,
            "--field",
            "name",
            "--token-stdin",
            "--every",
            "30m",
        ],
        Some("tok-secret-1\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("every 1800 s"), "{}", stdout(&o));
    let o = cli(&dir.path, &["departments", "source", "status"]);
    assert!(stdout(&o).contains(&src.url) && stdout(&o).contains("Last success: never"));

    // The dry run shows the diff and changes nothing.
    let o = cli(&dir.path, &["departments", "sync", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("would be applied") && out.contains("+ Finance\n+ Legal\n"),
        "{out}"
    );
    assert_eq!(list(&dir, None), ["Engineering", "HR", "R&D, Europe"]);

    let o = cli(&dir.path, &["departments", "sync"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("applied. 2 added, 0 removed, 3 unchanged"),
        "{}",
        stdout(&o)
    );
    assert!(src
        .last_head()
        .contains("authorization: bearer tok-secret-1\r\n"));
    assert_eq!(
        list(&dir, None),
        ["Engineering", "Finance", "HR", "Legal", "R&D, Europe"]
    );
    let synced = admin_records(&dir, "departments.sync");
    assert_eq!(synced.len(), 1, "{synced:?}");
    assert_eq!(synced[0]["after"]["source"], src.url.as_str());
    assert_eq!(synced[0]["after"]["added"], json!(["Finance", "Legal"]));
    // The token is in no audit record.
    let set = admin_records(&dir, "departments.source");
    assert_eq!(set.len(), 1);
    assert!(!set[0].to_string().contains("tok-secret-1"), "{}", set[0]);
    assert!(set[0].to_string().contains("********"), "{}", set[0]);

    // An answer with an ETag, then a 304 for the same list.
    let mut tagged = ok("application/json", FIVE);
    tagged.etag = Some("\"v2\"");
    src.set(tagged);
    let o = cli(&dir.path, &["departments", "sync"]);
    assert!(stdout(&o).contains("nothing to do"), "{}", stdout(&o));
    let o = cli(&dir.path, &["departments", "sync"]);
    assert!(stdout(&o).contains("not modified"), "{}", stdout(&o));
    assert!(src.last_head().contains("if-none-match: \"v2\"\r\n"));

    // Three of five would go: held, shown, the list untouched until approved.
    src.set(ok(
        "application/json",
        r#"[{"name": "HR"}, {"name": "Finance"}]"#,
    ));
    let o = cli(&dir.path, &["departments", "sync"]);
    assert!(held_exit(&o), "{:?} {}", o.status, stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("HELD") && out.contains("- Engineering\n- Legal\n- R&D, Europe\n"),
        "{out}"
    );
    assert!(out.contains("3 of 5 departments would be removed"), "{out}");
    assert_eq!(list(&dir, None).len(), 5);
    let o = cli(&dir.path, &["departments", "source", "status", "--json"]);
    let st: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        st["held"]["removed"],
        json!(["Engineering", "Legal", "R&D, Europe"])
    );
    assert!(!stdout(&o).contains("tok-secret-1"));

    let o = cli(&dir.path, &["departments", "sync", "--approve"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("approved and applied"),
        "{}",
        stdout(&o)
    );
    assert_eq!(list(&dir, None), ["Finance", "HR"]);
    assert_eq!(admin_records(&dir, "departments.sync.approve").len(), 1);
    let o = cli(&dir.path, &["departments", "sync", "--approve"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no sync"), "{}", stderr(&o));

    // An empty answer would empty the list: held too.
    src.set(ok("application/json", "[]"));
    let o = cli(&dir.path, &["departments", "sync"]);
    assert!(held_exit(&o), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("would empty the list"),
        "{}",
        stdout(&o)
    );
    assert_eq!(list(&dir, None), ["Finance", "HR"]);

    // A failing source changes nothing and says why.
    let mut failing = ok("text/plain", "maintenance");
    failing.status = 503;
    src.set(failing);
    let o = cli(&dir.path, &["departments", "sync"]);
    assert!(!o.status.success() && !held_exit(&o));
    assert!(
        stderr(&o).contains("HTTP 503") && stderr(&o).contains("unchanged"),
        "{}",
        stderr(&o)
    );
    assert_eq!(list(&dir, None), ["Finance", "HR"]);
    let o = cli(&dir.path, &["departments", "source", "status"]);
    assert!(
        stdout(&o).contains("Last error: answered HTTP 503"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("HELD"),
        "the held sync stays: {}",
        stdout(&o)
    );

    // Off: the list stays, kept by hand.
    let o = cli(&dir.path, &["departments", "source", "off"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(&dir.path, &["departments", "source", "status"]);
    assert!(stdout(&o).contains("kept by hand"));
    assert_eq!(list(&dir, None), ["Finance", "HR"]);
    let o = cli(&dir.path, &["departments", "sync"]);
    assert!(
        stderr(&o).contains("no department source"),
        "{}",
        stderr(&o)
    );
}

/// A sub-organization's list syncs from its own source; the root's stays hand-kept.
#[tokio::test(flavor = "multi_thread")]
async fn a_sub_organization_has_its_own_source() {
    let dir = DataDir::new();
    dir.standard();
    let src = Source::start("/d.csv", None).await;
    src.set(ok("text/csv", "department\nTreasury\nAudit\n"));
    let o = cli(
        &dir.path,
        &[
            "departments",
            "source",
            "http",
            "--org",
            "org-7",
            "--url",
            &src.url,
            "--format",
            "csv",
            "--field",
            "department",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(&dir.path, &["departments", "sync", "--org", "org-7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(list(&dir, Some("org-7")), ["Audit", "Treasury"]);
    assert_eq!(list(&dir, None), ["Engineering", "HR", "R&D, Europe"]);
    let o = cli(&dir.path, &["departments", "sync"]);
    assert!(
        stderr(&o).contains("no department source"),
        "{}",
        stderr(&o)
    );
}

fn set_source(dir: &DataDir, url: &str) {
    let o = cli(
        &dir.path,
        &[
            "departments",
            "source",
            "http",
            "--url",
            url,
            "--field",
            "name",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A decision under a request id of its own (a repeated id would replay the first answer).
async fn decide(server: &Server, auth: &Auth, dept_value: &str) -> Reply {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = format!(
        "sync-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    post(
        &server.action_url(),
        auth,
        profile_event(Some(&id), dept(json!(dept_value))).to_string(),
    )
    .await
}

/// A server on `dir` that also answers on its control socket (where the CLI reaches it).
async fn start_server(dir: &DataDir) -> Server {
    Server::start_with_control(&dir.path).await
}

async fn wait_for<F: Fn() -> bool>(what: &str, within: Duration, f: F) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < within, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The server syncs on its own, decides with the synced list, keeps deciding with the last
/// good copy while the source fails, and shows the sync's freshness in `/readyz` and
/// `/metrics`; `profilegate departments sync` reaches the running server.
#[tokio::test(flavor = "multi_thread")]
async fn the_server_syncs_on_schedule_and_decides_with_the_last_good_list() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let auth = Auth::of(&cred);
    let src = Source::start("/hr/departments", None).await;
    src.set(ok("application/json", FIVE));
    set_source(&dir, &src.url);

    let server = start_server(&dir).await;
    // Never synced: due at once (the schedule looks every 5 s).
    let t = Instant::now();
    loop {
        let r = decide(&server, &auth, "Finance").await;
        assert_contract_valid(&r);
        if r.json["actionStatus"] == "SUCCESS" {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "not synced: {:?}",
            r.json
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let ready: Value = reqwest::get(format!("{}/readyz", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let detail = &ready["department_sync"][0];
    assert_eq!(ready["status"], "ready");
    assert_eq!(detail["org"], Value::Null);
    assert_eq!(detail["stale"], false);
    assert!(detail["age_secs"].as_u64().unwrap() < 60, "{ready}");
    assert!(
        !ready.to_string().contains("/hr/"),
        "no source address: {ready}"
    );
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("profilegate_department_sync_age_seconds{org=\"\"} "),
        "{metrics}"
    );
    assert!(metrics.contains("profilegate_department_sync_failures{org=\"\"} 0"));

    // The source fails: a sync through the running server says so, decisions go on.
    let mut failing = ok("text/plain", "down");
    failing.status = 500;
    src.set(failing);
    let d = dir.path.clone();
    let o = tokio::task::spawn_blocking(move || cli(&d, &["departments", "sync"]))
        .await
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("HTTP 500"), "{}", stderr(&o));
    for v in ["Finance", "Legal", "HR"] {
        let r = decide(&server, &auth, v).await;
        assert_eq!(r.json["actionStatus"], "SUCCESS", "{v}: {:?}", r.json);
    }
    let r = decide(&server, &auth, "Marketing").await;
    assert_eq!(r.json["actionStatus"], "FAILED");
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("profilegate_department_sync_failures{org=\"\"} 1"),
        "{metrics}"
    );

    // Recovered, through the control socket: the dry run shows, the sync applies.
    src.set(ok(
        "application/json",
        r#"[{"name": "HR"}, {"name": "Engineering"}, {"name": "R&D, Europe"},
            {"name": "Finance"}, {"name": "Legal"}, {"name": "Marketing"}]"#,
    ));
    let d = dir.path.clone();
    let o = tokio::task::spawn_blocking(move || cli(&d, &["departments", "sync", "--dry-run"]))
        .await
        .unwrap();
    assert!(
        stdout(&o).contains("+ Marketing"),
        "{} {}",
        stdout(&o),
        stderr(&o)
    );
    assert_eq!(
        decide(&server, &auth, "Marketing").await.json["actionStatus"],
        "FAILED"
    );
    let d = dir.path.clone();
    let o = tokio::task::spawn_blocking(move || cli(&d, &["departments", "sync"]))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        decide(&server, &auth, "Marketing").await.json["actionStatus"],
        "SUCCESS"
    );
    server.stop().await;
}

/// Syncs of a slow source while the action endpoint is busy: no call fails, and none waits
/// for the sync (each answers well within the source's delay).
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_under_load_delays_no_decision() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let auth = Auth::of(&cred);
    let src = Source::start("/hr/departments", None).await;
    let mut slow = ok("application/json", FIVE);
    slow.delay = Duration::from_secs(2);
    src.set(slow.clone());
    set_source(&dir, &src.url);
    let server = start_server(&dir).await;

    let url = server.action_url();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut callers = Vec::new();
    for _ in 0..4 {
        let (url, auth, stop) = (url.clone(), auth.clone(), stop.clone());
        callers.push(tokio::spawn(async move {
            let (mut n, mut slowest) = (0u32, Duration::ZERO);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                let r = post(
                    &url,
                    &auth,
                    profile_event(None, dept(json!("HR"))).to_string(),
                )
                .await;
                slowest = slowest.max(t.elapsed());
                assert_eq!(r.status, 200, "{:?}", r.json);
                assert_eq!(r.json["actionStatus"], "SUCCESS", "{:?}", r.json);
                n += 1;
            }
            (n, slowest)
        }));
    }
    // The scheduled sync (due at start) and two on demand, each waiting 2 s on the source,
    // the second one changing the list.
    for body in [
        FIVE,
        r#"[{"name": "HR"}, {"name": "Engineering"}, {"name": "R&D, Europe"}, {"name": "Finance"}, {"name": "Legal"}, {"name": "Ops"}]"#,
    ] {
        let mut a = slow.clone();
        a.body = body.into();
        src.set(a);
        let d = dir.path.clone();
        let o = tokio::task::spawn_blocking(move || cli(&d, &["departments", "sync"]))
            .await
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for c in callers {
        let (n, slowest) = c.await.unwrap();
        total += n;
        assert!(
            slowest < Duration::from_millis(1500),
            "a call waited {slowest:?}"
        );
    }
    assert!(total > 20, "only {total} calls");
    assert_eq!(
        decide(&server, &auth, "Ops").await.json["actionStatus"],
        "SUCCESS"
    );
    server.stop().await;
}

/// One e-mail when the list grows stale, one when it is fresh again.
#[tokio::test(flavor = "multi_thread")]
async fn the_security_team_hears_once_when_stale_and_once_when_fresh() {
    let dir = DataDir::new();
    dir.standard();
    let mail = MailServer::start();
    crate::notify::configure(&dir, mail.addr, 3000);
    let src = Source::start("/hr/departments", None).await;
    let mut failing = ok("text/plain", "down");
    failing.status = 502;
    src.set(failing);
    set_source(&dir, &src.url);
    // The source was set two hours ago and never answered: stale past its 1 h threshold.
    dir.with_store(|s| {
        let mut st = s.sync_state(None).unwrap();
        st.since_ms = profilegate::store::now_unix_ms() - 2 * 3600 * 1000;
        s.put_sync_state(None, &st).unwrap();
    });
    let server = start_server(&dir).await;
    wait_for("the stale e-mail", Duration::from_secs(20), || {
        mail.mails()
            .iter()
            .any(|m| m.text().contains("could not sync the department list"))
    })
    .await;
    let stale = mail
        .mails()
        .into_iter()
        .find(|m| m.text().contains("could not sync the department list"))
        .unwrap();
    assert!(
        stale.text().contains("answered HTTP 502"),
        "{}",
        stale.text()
    );
    assert!(stale.text().contains(&src.url));
    // Once only, while it stays stale.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        mail.mails()
            .iter()
            .filter(|m| m.text().contains("could not sync the department list"))
            .count(),
        1
    );

    src.set(ok("application/json", FIVE));
    let d = dir.path.clone();
    let o = tokio::task::spawn_blocking(move || cli(&d, &["departments", "sync"]))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    wait_for("the recovered e-mail", Duration::from_secs(15), || {
        mail.mails().len() >= 2
    })
    .await;
    let mails = mail.mails();
    assert_eq!(mails.len(), 2);
    // (The subject is folded in the message; the body says it in one line.)
    assert!(
        mails[1]
            .text()
            .contains("source of the root organization answers again"),
        "{}",
        mails[1].text()
    );
    assert!(
        !mails[1]
            .text()
            .contains("could not sync the department list"),
        "{}",
        mails[1].text()
    );
    server.stop().await;
}

/// An LDAP source set and synced from the CLI against a real slapd: the OUs become the list,
/// the bind password is in no audit record, and a wrong one leaves the list alone.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_syncs_from_ldap() {
    use crate::support::ldap::{Slapd, DEPARTMENTS, OUS, READER_DN, READER_PW};
    let Some(slapd) = Slapd::start() else { return };
    let dir = DataDir::new();
    dir.standard();
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, &slapd.ca_pem).unwrap();
    let args = |url: &str| -> Vec<String> {
        [
            "departments",
            "source",
            "ldap",
            "--url",
            url,
            "--bind-dn",
            READER_DN,
            "--password-stdin",
            "--base-dn",
            DEPARTMENTS,
            "--filter",
            "(&(objectClass=organizationalUnit)(!(ou=departments)))",
            "--attribute",
            "ou",
            "--tls-ca",
            ca.to_str().unwrap(),
            "--max-removal",
            "100",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |a: Vec<String>, input: &str| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        cli_with_input(&dir.path, &a, Some(input))
    };

    // A clear bind off loopback is refused before anything is stored.
    let o = run(args("ldap://dc1.corp.example"), &format!("{READER_PW}\n"));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("never a clear bind off loopback"),
        "{}",
        stderr(&o)
    );

    let o = run(args(&slapd.ldaps_url), &format!("{READER_PW}\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(&dir.path, &["departments", "sync"]);
    assert!(o.status.success(), "{} {}", stdout(&o), stderr(&o));
    let mut want: Vec<String> = OUS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(list(&dir, None), want);
    let set = admin_records(&dir, "departments.source");
    assert!(!set[0].to_string().contains(READER_PW), "{}", set[0]);
    let synced = admin_records(&dir, "departments.sync");
    assert!(synced[0]["after"]["source"]
        .as_str()
        .unwrap()
        .starts_with("ldaps://"));

    let o = run(args(&slapd.ldaps_url), "wrong-password\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(&dir.path, &["departments", "sync"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("the bind was refused"),
        "{}",
        stderr(&o)
    );
    assert_eq!(list(&dir, None), want);
}
