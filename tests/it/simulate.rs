//! The event simulator ("Try an event", `POST /admin/api/simulate`, `profilegate simulate`):
//! a simulation and a real call on the same event give the same answer; a simulation leaves
//! the audit chain, the outbox, the metrics and the mail server as they were; a bad event
//! shows the 400 ERROR the identity server would get; the CLI's exit codes and `--against`.

use serde_json::{json, Value};

use crate::support::admin::{set_password, Admin};
use crate::support::mail::MailServer;
use crate::support::*;

fn sample(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name)).expect("fixture")
}

fn password_sample(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/password");
    std::fs::read_to_string(p.join(name)).expect("fixture")
}

/// What a simulation must not change: the audit log, the outbox, the counters, the mails.
async fn observed(srv: &Server, a: &Admin, mail: &MailServer) -> (Value, Value, String, usize) {
    let metrics = reqwest::get(format!("{}/metrics", srv.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Only the action counters: the process's own gauges move by themselves.
    let metrics = metrics
        .lines()
        .filter(|l| {
            [
                "action_request",
                "audit_records",
                "outbox_depth",
                "emails_sent",
            ]
            .iter()
            .any(|k| l.starts_with(&format!("profilegate_{k}")))
        })
        .collect::<Vec<_>>()
        .join("\n");
    (
        a.get("/admin/api/audit?limit=5").await.1,
        a.get("/admin/api/outbox").await.1,
        metrics,
        mail.mails().len(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_simulation_answers_as_the_real_call_and_changes_nothing() {
    let dir = DataDir::new();
    let cred = dir.standard();
    set_password(&dir);
    let mail = MailServer::start();
    let port = mail.addr.port().to_string();
    let o = cli(
        &dir.path,
        &[
            "notify",
            "smtp",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--encryption",
            "none",
            "--from",
            "profilegate@example.com",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(
        &dir.path,
        &["notify", "recipients", "add", "sec@example.com"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let auth = Auth::of(&cred);
    let password_url = format!("{}/actions/pre-update-password", srv.url);

    let mut nowhere: Value = serde_json::from_str(&sample("seed-usecase-profile.json")).unwrap();
    nowhere["event"]["request"]["claims"][0]["value"] = json!("Nowhere");
    let cases: Vec<(String, String, &str)> = vec![
        // HR is a department, e-mail and mobile are sensitive: SUCCESS and an e-mail.
        (
            sample("seed-usecase-profile.json"),
            srv.action_url(),
            "SUCCESS",
        ),
        (nowhere.to_string(), srv.action_url(), "FAILED"),
        (
            "{\"actionType\": \"PRE_UPDATE_PROFILE\", \"event\": [".into(),
            srv.action_url(),
            "ERROR",
        ),
        // The password samples: whatever the rules say, the same both ways.
        (
            password_sample("v1.1-user-reset-plain.json"),
            password_url.clone(),
            "",
        ),
        (
            password_sample("v2.0-application-register-plain.json"),
            password_url.clone(),
            "",
        ),
    ];
    for (event, url, want) in cases {
        let before = observed(&srv, &a, &mail).await;
        let (st, sim) = a
            .post("/admin/api/simulate", json!({ "event": event }))
            .await;
        assert_eq!(st, 200, "{sim}");
        if !want.is_empty() {
            assert_eq!(sim["decision"], want, "{sim}");
        }
        // Nothing written, sent or counted.
        assert_eq!(observed(&srv, &a, &mail).await, before, "{event}");

        let real = post(&url, &auth, event.clone()).await;
        assert_contract_valid(&real);
        assert_eq!(sim["answer"]["status"], real.status, "{event}");
        assert_eq!(sim["answer"]["body"], real.json, "{event}");
        assert_eq!(sim["answer"]["contract_problems"], json!([]));
        // The record the simulation showed is the one written (but for the caller's
        // credential and the time it took); a key from a whole body is salted with the
        // server's salt, which its simulation uses too.
        let (_, audit) = a.get("/admin/api/audit?limit=1").await;
        let written = &audit["records"][0];
        assert_eq!(written["kind"], "decision", "{audit}");
        for k in [
            "decision",
            "http_status",
            "rule",
            "reason",
            "description",
            "claims",
            "user_id",
            "notification",
            "password",
            "idempotency_key",
        ] {
            assert_eq!(sim["audit"][k], written[k], "{k} of {event}: {written}");
        }
        if sim["mail"].is_null() {
            assert_eq!(mail.mails().len(), before.3, "no e-mail went out: {event}");
        } else {
            let m = &sim["mail"];
            assert_eq!(m["recipients"], json!(["sec@example.com"]));
            let sent = mail.mails();
            assert_eq!(sent.len(), before.3 + 1, "the real call sent it");
            let text = sent.last().unwrap().text();
            assert!(text.contains(m["subject"].as_str().unwrap()), "{text}");
        }
        if want == "SUCCESS" {
            let body = sim["mail"]["body"].as_str().expect("an e-mail");
            assert!(body.contains("+94771223448"), "{body}");
        }
    }

    // Queued delivery: the simulation shows the e-mail and leaves the outbox as it was; the
    // real call queues it.
    let (st, _) = a
        .post("/admin/api/notifications/mode", json!({"mode": "queued"}))
        .await;
    assert_eq!(st, 200);
    let mut seed: Value = serde_json::from_str(&sample("seed-usecase-profile.json")).unwrap();
    seed["requestId"] = json!("queued-1");
    let before = observed(&srv, &a, &mail).await;
    let (_, sim) = a
        .post("/admin/api/simulate", json!({ "event": seed.to_string() }))
        .await;
    assert_eq!(sim["mail"]["mode"], "queued", "{sim}");
    assert_eq!(observed(&srv, &a, &mail).await, before);
    let real = post(&srv.action_url(), &auth, seed.to_string()).await;
    assert_eq!(real.json, sim["answer"]["body"]);
    // The real call queued it, and the outbox worker delivers it.
    let t = std::time::Instant::now();
    while mail.mails().len() == before.3 {
        assert!(
            t.elapsed().as_secs() < 10,
            "the queued e-mail never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A department list not saved yet: Nowhere refused without it, accepted with it.
    let (_, sim) = a
        .post(
            "/admin/api/simulate",
            json!({"event": nowhere.to_string(), "overrides": {"departments": {"names": ["Nowhere"]}}}),
        )
        .await;
    assert_eq!(sim["decision"], "SUCCESS", "{sim}");
    assert_eq!(sim["edited"], true);
    // An override refused names its field; a body over the limit is the endpoint's 400.
    let (st, e) = a
        .post(
            "/admin/api/simulate",
            json!({"event": "{}", "overrides": {"sensitive": ["not a uri"]}}),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["field"], "overrides.sensitive");
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(70 * 1024));
    let (_, sim) = a.post("/admin/api/simulate", json!({ "event": big })).await;
    assert_eq!(sim["answer"]["status"], 400);
    assert_eq!(
        sim["answer"]["body"]["errorMessage"],
        "Request body too large"
    );
    let real = post(&srv.action_url(), &auth, big).await;
    assert_eq!(real.json, sim["answer"]["body"]);
    // Without the CSRF token, refused like every admin POST.
    let r = reqwest::Client::new()
        .post(format!("{}/admin/api/simulate", srv.url))
        .header("cookie", &a.cookie)
        .json(&json!({"event": "{}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_exits_by_the_decision_offline_and_through_the_server() {
    let dir = DataDir::new();
    dir.standard();
    let tmp = tempfile::tempdir().unwrap();
    let seed = tmp.path().join("seed.json");
    std::fs::write(&seed, sample("seed-usecase-profile.json")).unwrap();
    let mut nowhere: Value = serde_json::from_str(&sample("seed-usecase-profile.json")).unwrap();
    nowhere["event"]["request"]["claims"][0]["value"] = json!("Nowhere");
    let bad = tmp.path().join("nowhere.json");
    std::fs::write(&bad, nowhere.to_string()).unwrap();
    let csv = tmp.path().join("new.csv");
    std::fs::write(&csv, "department\nNowhere\n").unwrap();
    let export = |dir: &DataDir| stdout(&cli(&dir.path, &["audit", "export"]));
    let before = export(&dir);

    let seed_s = seed.to_str().unwrap();
    let bad_s = bad.to_str().unwrap();
    let o = cli(&dir.path, &["simulate", seed_s]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("SUCCESS"), "{}", stdout(&o));
    let o = cli(&dir.path, &["simulate", "--json", bad_s]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rule"], "invalid_department");
    let o = cli(
        &dir.path,
        &["simulate", "--against", csv.to_str().unwrap(), bad_s],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = cli(
        &dir.path,
        &["simulate", "--against", csv.to_str().unwrap(), seed_s],
    );
    assert_eq!(o.status.code(), Some(1), "HR is not in the new list");
    let o = cli_with_input(
        &dir.path,
        &["simulate", "--json", "-"],
        Some("{\"actionType\""),
    );
    assert_eq!(o.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["answer"]["status"], 400);
    // Offline, nothing was appended.
    assert_eq!(export(&dir), before);

    // While the server holds the data dir, the server runs it.
    let srv = Server::start_with_control(&dir.path).await;
    let o = cli(
        &dir.path,
        &[
            "simulate",
            "--json",
            "--against",
            csv.to_str().unwrap(),
            bad_s,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["edited"], true);
    let o = cli(&dir.path, &["simulate", bad_s]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    srv.stop().await;
    assert_eq!(export(&dir), before, "the server wrote nothing either");
}
