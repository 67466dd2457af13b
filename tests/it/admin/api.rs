//! The admin API's pages over HTTP: the setup link, notifications and the outbox, the
//! endpoint's registration values, audit filters / verify / export, policy settings, limits,
//! and the embedded UI files.

use serde_json::{json, Value};

use crate::support::admin::{client, set_password, Admin, PASSWORD};
use crate::support::mail::{seed_failed_mail, MailServer};
use crate::support::*;

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_link_sets_the_password_once() {
    let dir = DataDir::new();
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            setup_token: Some("the-token".into()),
            ..Default::default()
        },
    )
    .await;
    let setup = format!("{}/admin/api/setup", srv.url);
    // No password yet: login says how to set one.
    let r = client()
        .post(format!("{}/admin/api/login", srv.url))
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("setup link"));
    // Wrong token, short password: refused, naming the field.
    let r = client()
        .post(&setup)
        .json(&json!({"token": "nope", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "token");
    let r = client()
        .post(&setup)
        .json(&json!({"token": "the-token", "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "password");
    // The right token: a session at once.
    let r = client()
        .post(&setup)
        .json(&json!({"token": "the-token", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    // Spent: a second use is refused and does not change the password.
    let r = client()
        .post(&setup)
        .json(&json!({"token": "the-token", "password": "another long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let a = Admin::new(&srv.url).await;
    let (st, _) = a.get("/admin/api/overview").await;
    assert_eq!(st, 200);
    srv.stop().await;
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(
        export
            .lines()
            .any(|l| l.contains("admin.password") && l.contains("setup link")),
        "{export}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn notification_settings_validate_and_the_test_message_names_the_failure() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    dir.standard();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let smtp = |port: u16| {
        json!({"host": "127.0.0.1", "port": port, "encryption": "none", "from": "pg@example.com",
               "username": "mailer", "password": "s3cret-smtp-pass", "timeout_ms": 2000})
    };

    // Each bad value is refused next to its field, and nothing is stored.
    for (patch, field) in [
        (json!({"timeout_ms": 99999}), "timeout_ms"),
        (json!({"from": "not an address"}), "from"),
        (json!({"host": "bad host"}), "host"),
        (json!({"tls_ca_pem": "not a certificate"}), "tls_ca_pem"),
        (json!({"port": 0}), "port"),
    ] {
        let mut body = smtp(mail.addr.port());
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (st, v) = a.post("/admin/api/notifications/smtp", body).await;
        assert_eq!((st, v["field"].as_str()), (400, Some(field)), "{v}");
    }
    let (_, v) = a.get("/admin/api/notifications").await;
    assert!(v["smtp"].is_null(), "{v}");
    let (st, v) = a
        .post(
            "/admin/api/notifications/recipients",
            json!({"recipients": ["soc@example.com", "oops"]}),
        )
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("recipients")));
    let (st, v) = a
        .post(
            "/admin/api/notifications/sensitive",
            json!({"claims": ["not a uri"]}),
        )
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("claims")));

    // A port with nothing behind it: saved, but the test names the cause.
    let (st, _) = a
        .post("/admin/api/notifications/smtp", smtp(closed_port()))
        .await;
    assert_eq!(st, 200);
    let (st, v) = a
        .post(
            "/admin/api/notifications/recipients",
            json!({"recipients": ["soc@example.com", " ", "soc@example.com"]}),
        )
        .await;
    assert_eq!((st, &v["recipients"]), (200, &json!(["soc@example.com"])));
    let (st, v) = a.post("/admin/api/notifications/test", json!({})).await;
    assert_eq!(st, 502);
    assert_eq!(v["field"], "test");
    assert!(
        v["error"].as_str().unwrap().contains("connection refused"),
        "{v}"
    );

    // The stored password is never sent back, and is kept when the form leaves it empty.
    let mut body = smtp(mail.addr.port());
    body.as_object_mut().unwrap().remove("password");
    let (st, _) = a.post("/admin/api/notifications/smtp", body).await;
    assert_eq!(st, 200);
    let (_, v) = a.get("/admin/api/notifications").await;
    assert_eq!(v["smtp"]["password_set"], true);
    assert!(!v.to_string().contains("s3cret-smtp-pass"));
    assert!(v["smtp_tested"].is_null());

    // This server offers no login on a plain connection: the test says so.
    let (st, v) = a.post("/admin/api/notifications/test", json!({})).await;
    assert_eq!(st, 502);
    assert!(
        v["error"].as_str().unwrap().contains("no login method"),
        "{v}"
    );
    // Without a login the real server gets the test message.
    let mut body = smtp(mail.addr.port());
    body["username"] = json!("");
    body["clear_password"] = json!(true);
    body.as_object_mut().unwrap().remove("password");
    let (st, _) = a.post("/admin/api/notifications/smtp", body).await;
    assert_eq!(st, 200);
    let (_, v) = a.get("/admin/api/notifications").await;
    assert_eq!(v["smtp"]["password_set"], false);
    let (st, v) = a
        .post(
            "/admin/api/notifications/test",
            json!({"to": "me@example.com"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(mail.mails().len(), 1);
    assert_eq!(mail.mails()[0].to, vec!["me@example.com".to_string()]);
    let (_, v) = a.get("/admin/api/overview").await;
    let smtp_check = v["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "smtp")
        .unwrap()
        .clone();
    assert_eq!(smtp_check["done"], true, "{smtp_check}");
    let (st, v) = a
        .post(
            "/admin/api/notifications/mode",
            json!({"mode": "sometimes"}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let (st, _) = a
        .post("/admin/api/notifications/mode", json!({"mode": "queued"}))
        .await;
    assert_eq!(st, 200);
    srv.stop().await;
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(export.contains("notify.smtp") && export.contains("notify.test"));
    assert!(
        !export.contains("s3cret-smtp-pass"),
        "password in the chain"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_outbox_items_are_listed_and_retried_from_the_api() {
    use profilegate::model::{Encryption, SmtpSettings};
    let mail = MailServer::start();
    let dir = DataDir::new();
    set_password(&dir);
    let id = dir.with_store(|s| {
        s.update_settings("test", "notify", |st| {
            st.notify.smtp = Some(SmtpSettings {
                host: "127.0.0.1".into(),
                port: mail.addr.port(),
                encryption: Encryption::None,
                username: None,
                password: None,
                from: "pg@example.com".into(),
                timeout_ms: 2000,
                tls_ca_pem: None,
            });
            st.notify.recipients = vec!["soc@example.com".into()];
        })
        .unwrap();
        seed_failed_mail(s)
    });
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let (_, v) = a.get("/admin/api/outbox").await;
    assert_eq!(
        (v["failed"].as_u64(), v["pending"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(v["items"][0]["request_id"], "stuck-1");
    assert_eq!(v["items"][0]["last_error"], "connection refused");
    let (st, v) = a
        .post("/admin/api/outbox/retry", json!({"id": id + 1000}))
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("id")));
    let (st, v) = a.post("/admin/api/outbox/retry", json!({"id": id})).await;
    assert_eq!((st, v["retried"].as_u64()), (200, Some(1)));
    // The worker is woken and delivers it.
    for _ in 0..100 {
        if !mail.mails().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(mail.mails().len(), 1);
    assert!(mail.mails()[0].text().contains("a stuck message"));
    srv.stop().await;
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(
        export.contains("outbox.retry") && export.contains("admin session"),
        "{export}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_values_and_the_authentication_switch() {
    let dir = DataDir::new();
    dir.with_store(|s| s.add_departments("test", None, &["HR"]).unwrap());
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let (st, v) = a.get("/admin/api/endpoint/registration").await;
    assert_eq!((st, v["field"].as_str()), (400, Some("credential")));
    let (st, created) = a
        .post(
            "/admin/api/credentials",
            json!({"type": "api-key", "header": "X-PG-Key"}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = a
        .get("/admin/api/endpoint/registration?name=.bad&url=https://pg.example.com/actions/pre-update-profile")
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("name")));
    let (st, v) = a
        .get("/admin/api/endpoint/registration?name=Profile%20gate&url=pg.example.com")
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("url")));
    let (st, v) = a
        .get("/admin/api/endpoint/registration?name=Profile%20gate&url=https://pg.example.com/actions/pre-update-profile")
        .await;
    assert_eq!(st, 200, "{v}");
    let body = &v["rest_body"];
    assert_eq!(body["name"], "Profile gate");
    assert_eq!(body["endpoint"]["authentication"]["type"], "API_KEY");
    assert_eq!(
        body["endpoint"]["authentication"]["properties"]["header"],
        "x-pg-key"
    );
    let value = body["endpoint"]["authentication"]["properties"]["value"]
        .as_str()
        .unwrap();
    assert!(value.contains(created["id"].as_str().unwrap()));
    assert_ne!(
        value,
        created["value"].as_str().unwrap(),
        "never the secret"
    );
    let attrs = body["attributes"].as_array().unwrap();
    assert!(attrs.len() <= 10 && attrs.contains(&json!("http://wso2.org/claims/department")));
    // Default URL: how this browser reached the server.
    let (_, v) = a.get("/admin/api/endpoint").await;
    assert_eq!(
        v["default_url"],
        format!("{}/actions/pre-update-profile", srv.url)
    );

    // Authentication off: anyone may call, and the panel says NONE with a warning.
    let ev = profile_event(Some("open-1"), dept(json!("HR")));
    let r = post(&srv.action_url(), &Auth::None, ev.to_string()).await;
    assert_eq!(r.status, 401);
    let (st, _) = a
        .post("/admin/api/endpoint/auth", json!({"auth": "none"}))
        .await;
    assert_eq!(st, 200);
    let r = post(&srv.action_url(), &Auth::None, ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    let (_, v) = a.get("/admin/api/endpoint/registration").await;
    assert_eq!(v["authentication_type"], "NONE");
    assert!(!v["notes"].as_array().unwrap().is_empty());
    let (_, v) = a.get("/admin/api/overview").await;
    assert!(v["checklist"][0]["todo"].as_str().unwrap().contains("OFF"));
    let (st, _) = a
        .post("/admin/api/endpoint/auth", json!({"auth": "required"}))
        .await;
    assert_eq!(st, 200);
    let ev = profile_event(Some("open-2"), dept(json!("HR")));
    let r = post(&srv.action_url(), &Auth::None, ev.to_string()).await;
    assert_eq!(r.status, 401);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_filters_verify_and_export() {
    let dir = DataDir::new();
    let cred = dir.standard();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    for (id, d) in [("a-1", "HR"), ("a-2", "Sales"), ("a-3", "Engineering")] {
        let ev = profile_event(Some(id), dept(json!(d)));
        post(&srv.action_url(), &auth, ev.to_string()).await;
    }
    let mobile = profile_event(
        Some("a-4"),
        json!([{"uri": "http://wso2.org/claims/mobile", "value": "+100"}]),
    );
    post(&srv.action_url(), &auth, mobile.to_string()).await;
    let a = Admin::new(&srv.url).await;

    let count = |v: &Value| v["records"].as_array().unwrap().len();
    let (_, v) = a.get("/admin/api/audit?decision=FAILED").await;
    assert_eq!(count(&v), 1);
    assert_eq!(v["records"][0]["request_id"], "a-2");
    let (_, v) = a.get("/admin/api/audit?decision=success").await;
    assert_eq!(count(&v), 3);
    let (_, v) = a
        .get("/admin/api/audit?claim=http://wso2.org/claims/mobile")
        .await;
    assert_eq!(count(&v), 1);
    let (_, v) = a.get("/admin/api/audit?decision=admin").await;
    assert!(count(&v) >= 3, "departments, credential, password: {v}");
    let user = v["records"][0]["user_id"].clone();
    assert!(user.is_null());
    let (_, all) = a.get("/admin/api/audit?decision=SUCCESS").await;
    let user = all["records"][0]["user_id"].as_str().unwrap().to_string();
    let (_, v) = a.get(&format!("/admin/api/audit?user={user}")).await;
    assert_eq!(count(&v), 4, "every decision of the test user");
    let (_, v) = a.get("/admin/api/audit?user=someone-else").await;
    assert_eq!(count(&v), 0);
    let (_, v) = a.get("/admin/api/audit?from=2999-01-01").await;
    assert_eq!(count(&v), 0);
    let (_, v) = a.get("/admin/api/audit?to=2000-01-01").await;
    assert_eq!(count(&v), 0);
    let (st, v) = a.get("/admin/api/audit?from=last%20week").await;
    assert_eq!((st, v["field"].as_str()), (400, Some("from")));
    let (st, v) = a.get("/admin/api/audit?decision=MAYBE").await;
    assert_eq!((st, v["field"].as_str()), (400, Some("decision")));
    // Paging: two at a time, newest first, continuing with next_before.
    let (_, p1) = a.get("/admin/api/audit?limit=2").await;
    assert_eq!(count(&p1), 2);
    let next = p1["next_before"].as_u64().unwrap();
    let (_, p2) = a
        .get(&format!("/admin/api/audit?limit=2&before={next}"))
        .await;
    assert!(p2["records"][0]["seq"].as_u64().unwrap() < next);

    let (st, v) = a.get("/admin/api/audit/verify").await;
    assert_eq!(st, 200);
    assert_eq!(v["ok"], true);
    let records = v["records"].as_u64().unwrap();
    let r = a.get_raw("/admin/api/audit/export").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let text = r.text().await.unwrap();
    assert_eq!(text.lines().count() as u64, records);
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert!(v["hash"].is_string());
    }
    srv.stop().await;
}

/// An export larger than the server's chunks (64 KiB) arrives whole and in order, streamed
/// (no `Content-Length`: the server never holds it whole).
#[tokio::test(flavor = "multi_thread")]
async fn the_export_of_a_long_chain_is_streamed_whole() {
    let dir = DataDir::new();
    dir.with_store(|s| {
        for i in 0..3000 {
            s.append_audit(&profilegate::model::AuditEntry::Admin(
                profilegate::model::AdminEntry {
                    actor: "test".into(),
                    action: format!("change {i}"),
                    before: Some(json!({ "padding": "x".repeat(200) })),
                    after: None,
                },
            ))
            .unwrap();
        }
        s.flush().unwrap();
    });
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let (_, v) = a.get("/admin/api/audit/verify").await;
    let records = v["records"].as_u64().unwrap();
    assert!(records >= 3000, "{v}");
    let r = a.get_raw("/admin/api/audit/export").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("content-length").is_none(),
        "{:?}",
        r.headers()
    );
    let text = r.text().await.unwrap();
    assert!(text.len() > 10 * 64 * 1024, "{} bytes", text.len());
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=records).collect::<Vec<_>>());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failure_messages_are_checked_against_the_contract_when_saved() {
    let dir = DataDir::new();
    let cred = dir.standard();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let (_, s) = a.get("/admin/api/settings").await;
    assert_eq!(s["department_match"], "exact");
    let mut messages = s["messages"].clone();

    messages["invalid_department"]["description"] = json!("Ungültige Abteilung");
    let (st, v) = a
        .post(
            "/admin/api/settings",
            json!({"department_match": "exact", "messages": messages}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(v["field"], "messages.invalid_department.description");
    assert!(v["error"].as_str().unwrap().contains("'ü'"), "{v}");
    messages["invalid_department"]["description"] = json!("x".repeat(301));
    let (_, v) = a
        .post(
            "/admin/api/settings",
            json!({"department_match": "exact", "messages": messages}),
        )
        .await;
    assert!(v["error"].as_str().unwrap().contains("301"), "{v}");
    messages["invalid_department"]["description"] = json!("Choose a department from the list.");
    messages["notification_failed"]["reason"] = json!("");
    let (_, v) = a
        .post(
            "/admin/api/settings",
            json!({"department_match": "exact", "messages": messages}),
        )
        .await;
    assert_eq!(v["field"], "messages.notification_failed.reason");
    messages["notification_failed"]["reason"] = json!("email_error");
    let (st, _) = a
        .post(
            "/admin/api/settings",
            json!({"department_match": "case-insensitive", "messages": messages}),
        )
        .await;
    assert_eq!(st, 200);

    let auth = Auth::of(&cred);
    let r = post(
        &srv.action_url(),
        &auth,
        profile_event(Some("m-1"), dept(json!("nowhere"))).to_string(),
    )
    .await;
    assert_eq!(
        r.json["failureDescription"],
        "Choose a department from the list."
    );
    let r = post(
        &srv.action_url(),
        &auth,
        profile_event(Some("m-2"), dept(json!("hr"))).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS", "case-insensitive now");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_are_limited_and_the_ui_is_served_with_its_headers() {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    // A declared length over 1 MiB is refused from the headers alone (no body is sent, so the
    // answer cannot race the upload).
    let raw = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = srv.url.trim_start_matches("http://");
        let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
        let head = format!(
            "POST /admin/api/departments/import HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n",
            a.cookie, a.csrf
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await.unwrap();
        String::from_utf8_lossy(&resp).to_string()
    };
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("KiB"), "{raw}");
    // Chunked, without a declared length: refused once 1 MiB has arrived (the few KiB beyond
    // fit in the socket buffers, so the upload completes and the answer is read).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..1032).map(|_| Ok(vec![b' '; 1024])).collect();
    let r = client()
        .post(format!("{}/admin/api/departments/import", srv.url))
        .header("cookie", &a.cookie)
        .header("x-csrf-token", &a.csrf)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    let r = client()
        .get(format!("{}/admin", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "redirected to /admin/");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(r.text().await.unwrap().contains("app.js"));
    let r = client()
        .get(format!("{}/admin/app.js", srv.url))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let r = client()
        .get(format!("{}/admin/no-such-file.js", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    srv.stop().await;
}

/// The Audit page's retention over HTTP: each refusal names its field, a retention is set and
/// shown, a dry run says what would go and moves nothing, "archive now" moves the old month
/// to a file whose SHA-256 the status lists, and the chain still verifies.
#[tokio::test(flavor = "multi_thread")]
async fn audit_retention_set_status_dry_run_and_archive() {
    use sha2::Digest;
    let dir = DataDir::new();
    // 30 batches of two records dated 100 days ago (a month long ended), before anything else.
    dir.with_store(|s| crate::support::audit::append_days_ago(s, 100, 30));
    dir.standard();
    set_password(&dir);
    let arch = dir.path.parent().unwrap().join("archives");
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;

    let (st, v) = a.get("/admin/api/audit/retention").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["settings"]["keep_days"], Value::Null);
    assert_eq!(v["base"], Value::Null);
    assert_eq!(v["archives"], json!([]));
    let live = v["live_records"].as_u64().unwrap();
    assert!(live >= 60, "{v}");
    assert!(v["db_bytes"].as_u64().unwrap() > 0);

    // Refusals name their field, and change nothing.
    let refused = [
        (
            json!({"keep_days": 30, "archive_dir": "relative/dir"}),
            "dir",
        ),
        (json!({"keep_days": 0}), "keep_days"),
        (json!({"keep_days": -5}), "keep_days"),
        (json!({"keep_records": 10}), "keep_records"),
        (json!({"archive_dir": arch}), "keep_days"),
        (json!({"off": true, "keep_days": 30}), "off"),
    ];
    for (body, field) in refused {
        let (st, v) = a.post("/admin/api/audit/retention", body.clone()).await;
        assert_eq!((st, v["field"].as_str()), (400, Some(field)), "{body}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    let (_, v) = a.get("/admin/api/audit/retention").await;
    assert_eq!(v["settings"]["keep_days"], Value::Null, "{v}");

    let (st, v) = a
        .post(
            "/admin/api/audit/retention",
            json!({"keep_days": 30, "keep_records": null, "archive_dir": arch}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["settings"]["keep_days"], 30);
    assert_eq!(v["dir"], arch.to_str().unwrap());
    let head = v["head"].as_u64().unwrap();

    // A dry run names the month's file and its 60 records, and moves nothing.
    let (st, dry) = a
        .post("/admin/api/audit/archive", json!({"dry_run": true}))
        .await;
    assert_eq!(st, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["records"], 60, "{dry}");
    assert_eq!(dry["record_seq"], Value::Null);
    assert_eq!(dry["files"].as_array().unwrap().len(), 1, "{dry}");
    assert_eq!(dry["files"][0]["first_seq"], 1);
    assert_eq!(dry["files"][0]["last_seq"], 60);
    assert!(!arch.exists(), "a dry run wrote no file");
    let (_, v) = a.get("/admin/api/audit/retention").await;
    assert_eq!(v["base"], Value::Null);
    assert_eq!(v["head"], head, "a dry run records nothing");

    // Archive now: the same file, its record, the status listing it with its checksum.
    let (st, out) = a
        .post("/admin/api/audit/archive", json!({"dry_run": false}))
        .await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(out["records"], 60);
    assert_eq!(out["record_seq"], head + 1);
    assert_eq!(out["files"][0]["name"], dry["files"][0]["name"]);
    let (_, v) = a.get("/admin/api/audit/retention").await;
    assert_eq!(v["base"]["seq"], 60, "{v}");
    assert_eq!(v["live_records"], head + 1 - 60, "{v}");
    let files = v["archives"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{v}");
    assert_eq!(files[0]["present"], true);
    let name = files[0]["file"]["name"].as_str().unwrap();
    let bytes = std::fs::read(arch.join(name)).unwrap();
    assert_eq!(
        files[0]["file"]["sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(&bytes))
    );
    // The list ends at the base; the live chain verifies from it.
    let (_, page) = a.get("/admin/api/audit?decision=admin&limit=500").await;
    let oldest = page["records"].as_array().unwrap().last().unwrap()["seq"].clone();
    assert_eq!(oldest, 61, "{page}");
    let (_, v) = a.get("/admin/api/audit/verify").await;
    assert_eq!(v["ok"], true, "{v}");

    // Nothing more to go; then off: the archives stay listed.
    let (_, again) = a
        .post("/admin/api/audit/archive", json!({"dry_run": false}))
        .await;
    assert_eq!(
        (
            again["records"].as_u64(),
            again["files"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    let (st, v) = a
        .post("/admin/api/audit/retention", json!({"off": true}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["settings"]["keep_days"], Value::Null);
    assert_eq!(v["archives"].as_array().unwrap().len(), 1);
    srv.stop().await;
}
