//! CSRF.

use super::*;

/// Everything an admin change could show up in: each page's GET, the length of the audit
/// chain, the mails received, and whether both sessions still live.
async fn admin_state(a: &Admin, other: &Admin, mail: &MailServer) -> Value {
    let mut state = serde_json::Map::new();
    for page in [
        "/admin/api/departments",
        "/admin/api/credentials",
        "/admin/api/endpoint",
        "/admin/api/notifications",
        "/admin/api/outbox",
        "/admin/api/settings",
        "/admin/api/password/policy",
        "/admin/api/password/keys",
        "/admin/api/audit/verify",
    ] {
        let (st, v) = a.get(page).await;
        state.insert(page.into(), json!([st, v]));
    }
    // The retention and its archives, less the database's size (it moves by itself).
    let (st, mut v) = a.get("/admin/api/audit/retention").await;
    if let Some(o) = v.as_object_mut() {
        o.remove("db_bytes");
    }
    state.insert("/admin/api/audit/retention".into(), json!([st, v]));
    state.insert("mails".into(), json!(mail.mails().len()));
    state.insert(
        "sessions".into(),
        json!([
            a.get("/admin/api/session").await.0,
            other.get("/admin/api/session").await.0
        ]),
    );
    Value::Object(state)
}

/// A forged request: what it is, the CSRF token it carries, and its extra headers.
type Attack<'a> = (&'a str, Option<&'a str>, Vec<(&'a str, &'a str)>);

/// Every mutating admin operation the OpenAPI file describes is refused, with a live session
/// cookie each time, when the CSRF token is missing, wrong or another session's, or when the
/// request comes from another origin or site; the refusal changes nothing. The same requests
/// from the admin's own page (right token, same origin) do change something, so each refusal
/// was the CSRF defence and not a bad body.
#[tokio::test(flavor = "multi_thread")]
async fn csrf_refusals_on_every_mutating_route_change_nothing() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    // Records of a month long ended, first in the chain, for the archive case to move.
    dir.with_store(|s| crate::support::audit::append_days_ago(s, 100, 5));
    let cred = dir.standard();
    set_password(&dir);
    configure_mail(&dir, plain_smtp(mail.addr.port(), Encryption::None));
    // A failed e-mail for outbox/retry.
    let outbox_id = dir.with_store(seed_failed_mail);
    // A password-sharing key to retire.
    let key_id = dir.with_store(|s| {
        use profilegate::keys::{KeySize, PasswordKey};
        let key = PasswordKey::generate(KeySize::Rsa2048).unwrap();
        s.add_password_key("test", &key).unwrap().id
    });
    let pw_org = "10084a8d-113f-4211-a0d5-efe36b082211";
    let source = crate::support::source::Source::start("/departments", None).await;
    source.set(crate::support::source::ok(
        "application/json",
        r#"["HR", "R&D, Europe", "Legal", "Sales", "Finance", "Dept-{n}"]"#,
    ));
    let srv = Server::start(&dir.path).await;
    let victim = Admin::new(&srv.url).await;
    let attacker = Admin::new(&srv.url).await;
    assert_ne!(victim.csrf, attacker.csrf);
    let (_, settings) = victim.get("/admin/api/settings").await;

    // One request per mutating operation, each one that would change something; logout and
    // the password change last, as they end sessions.
    let cases: Vec<(&str, String, Value)> = vec![
        (
            "post",
            "/admin/api/departments".into(),
            json!({"names": ["Legal"]}),
        ),
        (
            "post",
            "/admin/api/departments/remove".into(),
            json!({"names": ["Engineering"]}),
        ),
        (
            "post",
            "/admin/api/departments/import".into(),
            json!({"csv": "Sales\nFinance\n", "apply": true}),
        ),
        // A department source whose every answer differs (a new name each time): the sync
        // case changes the list even after the schedule's own sync.
        (
            "post",
            "/admin/api/departments/source".into(),
            json!({"settings": {"source": {"kind": "http", "url": source.url}}}),
        ),
        (
            "post",
            "/admin/api/departments/sync".into(),
            json!({"mode": "sync"}),
        ),
        (
            "post",
            "/admin/api/departments/source-remove".into(),
            json!({}),
        ),
        (
            "post",
            "/admin/api/credentials".into(),
            json!({"type": "bearer"}),
        ),
        (
            "delete",
            format!("/admin/api/credentials/{}", cred.record.id),
            json!({}),
        ),
        (
            "post",
            "/admin/api/endpoint/auth".into(),
            json!({"auth": "none"}),
        ),
        (
            "post",
            "/admin/api/notifications/smtp".into(),
            json!({"host": "127.0.0.1", "port": mail.addr.port(), "encryption": "none",
                   "from": "changed@example.com", "timeout_ms": 2000}),
        ),
        (
            "post",
            "/admin/api/notifications/recipients".into(),
            json!({"recipients": ["attacker@evil.example"]}),
        ),
        (
            "post",
            "/admin/api/notifications/sensitive".into(),
            json!({"claims": ["http://wso2.org/claims/country"]}),
        ),
        (
            "post",
            "/admin/api/notifications/test".into(),
            json!({"to": "attacker@evil.example"}),
        ),
        (
            "post",
            "/admin/api/notifications/mode".into(),
            json!({"mode": "queued"}),
        ),
        (
            "post",
            "/admin/api/outbox/retry".into(),
            json!({"id": outbox_id}),
        ),
        (
            "post",
            "/admin/api/settings".into(),
            json!({"department_match": "case-insensitive", "messages": settings["messages"]}),
        ),
        (
            "post",
            "/admin/api/password/policy".into(),
            json!({"org": pw_org, "rules": {"min_length": 20}}),
        ),
        (
            "post",
            "/admin/api/password/policy/remove".into(),
            json!({ "org": pw_org }),
        ),
        (
            "post",
            "/admin/api/password/notify".into(),
            json!({"notify": "all"}),
        ),
        (
            "post",
            "/admin/api/password/breached".into(),
            json!("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:3"),
        ),
        (
            "post",
            "/admin/api/password/online".into(),
            json!({"enabled": true, "url": "https://r.example/range/", "timeout_ms": 800}),
        ),
        (
            "post",
            "/admin/api/audit/retention".into(),
            json!({"keep_days": 30, "archive_dir": dir.path.parent().unwrap().join("archives")}),
        ),
        (
            "post",
            "/admin/api/audit/archive".into(),
            json!({"dry_run": false}),
        ),
        (
            "post",
            "/admin/api/password/try".into(),
            json!({"password": "short"}),
        ),
        ("post", "/admin/api/simulate".into(), json!({"event": "{}"})),
        (
            "post",
            "/admin/api/password/keys".into(),
            json!({"bits": 2048}),
        ),
        (
            "post",
            format!("/admin/api/password/keys/{key_id}/retire"),
            json!({}),
        ),
        (
            "post",
            "/admin/api/password".into(),
            json!({"current": PASSWORD, "new": "another long password"}),
        ),
        ("post", "/admin/api/logout".into(), json!({})),
    ];

    // The cases are every mutating operation the API describes, but login and setup (no
    // session yet: see the next test).
    let doc: Value = reqwest::Client::new()
        .get(format!("{}/admin/api/openapi.json", srv.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut described: Vec<String> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            if method != "get" && !["/admin/api/login", "/admin/api/setup"].contains(&path.as_str())
            {
                described.push(format!("{method} {path}"));
            }
        }
    }
    described.sort();
    let mut covered: Vec<String> = cases
        .iter()
        .map(|(m, p, _)| {
            let p = p.replace(&cred.record.id, "{id}").replace(&key_id, "{id}");
            format!("{m} {p}")
        })
        .collect();
    covered.sort();
    assert_eq!(covered, described, "a mutating route without a CSRF case");
    assert!(covered.len() >= 15, "{covered:?}");

    let origin = srv.url.clone();
    // The right token with its last character changed.
    let last = if victim.csrf.ends_with('x') { "y" } else { "x" };
    let wrong = format!("{}{last}", &victim.csrf[..victim.csrf.len() - 1]);
    // (what, CSRF token, extra headers); the victim's session cookie goes with each.
    let attacks: Vec<Attack> = vec![
        ("no token", None, vec![]),
        ("a wrong token", Some(&wrong), vec![]),
        ("another session's token", Some(&attacker.csrf), vec![]),
        (
            "a foreign Origin",
            Some(&victim.csrf),
            vec![("origin", "http://evil.example")],
        ),
        ("Origin: null", Some(&victim.csrf), vec![("origin", "null")]),
        (
            "an Origin on another port",
            Some(&victim.csrf),
            vec![("origin", "http://127.0.0.1:1")],
        ),
        (
            "Sec-Fetch-Site: same-site",
            Some(&victim.csrf),
            vec![("sec-fetch-site", "same-site")],
        ),
        (
            "Sec-Fetch-Site: cross-site",
            Some(&victim.csrf),
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "cross-site with our own Origin",
            Some(&victim.csrf),
            vec![("sec-fetch-site", "cross-site"), ("origin", &origin)],
        ),
    ];
    let send =
        |method: &str, path: &str, body: &Value, token: Option<&str>, extra: &[(&str, &str)]| {
            let m: reqwest::Method = method.to_uppercase().parse().unwrap();
            let rb = client()
                .request(m, format!("{}{path}", srv.url))
                .header("cookie", &victim.cookie);
            // A text body (the breached-password file) as a file, the rest as JSON.
            let mut rb = match body {
                Value::String(text) => rb.header("content-type", "text/plain").body(text.clone()),
                _ => rb.json(body),
            };
            if let Some(t) = token {
                rb = rb.header("x-csrf-token", t);
            }
            for (k, v) in extra {
                rb = rb.header(*k, *v);
            }
            rb.send()
        };

    let before = admin_state(&victim, &attacker, &mail).await;
    assert_eq!(
        before,
        admin_state(&victim, &attacker, &mail).await,
        "the state reads the same twice"
    );
    for (method, path, body) in &cases {
        for (what, token, extra) in &attacks {
            let r = send(method, path, body, *token, extra).await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            assert_eq!(status, 403, "{method} {path} with {what}: {text}");
            assert_eq!(
                admin_state(&victim, &attacker, &mail).await,
                before,
                "{method} {path} with {what} changed something"
            );
        }
    }

    // The admin's own page: the same requests go through and each changes something, but
    // trying a password and simulating an event, POSTs that must change nothing.
    let read_only = ["/admin/api/password/try", "/admin/api/simulate"];
    let mut last = before;
    for (method, path, body) in &cases {
        let r = send(
            method,
            path,
            body,
            Some(&victim.csrf),
            &[("origin", &origin), ("sec-fetch-site", "same-origin")],
        )
        .await
        .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, 200, "{method} {path} from the admin's page: {text}");
        let now = admin_state(&victim, &attacker, &mail).await;
        if read_only.contains(&path.as_str()) {
            assert_eq!(now, last, "{method} {path} changed something");
        } else {
            assert_ne!(now, last, "{method} {path} changed nothing: a useless case");
        }
        last = now;
    }
    srv.stop().await;
}

/// Login and the setup link have no session yet, so no CSRF token: a request a browser marks
/// as cross-site, or from another origin, is refused before the password or token is looked
/// at, and sets nothing.
#[tokio::test(flavor = "multi_thread")]
async fn login_and_setup_refuse_cross_site_requests() {
    let dir = DataDir::new();
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            setup_token: Some("the-setup-token".into()),
            ..Default::default()
        },
    )
    .await;
    let attacks: [(&str, &str); 5] = [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("origin", "http://127.0.0.1:1"),
        ("sec-fetch-site", "same-site"),
        ("sec-fetch-site", "cross-site"),
    ];
    let setup = format!("{}/admin/api/setup", srv.url);
    let login = format!("{}/admin/api/login", srv.url);
    for (k, v) in attacks {
        let r = client()
            .post(&setup)
            .header(k, v)
            .json(&json!({"token": "the-setup-token", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "setup with {k}: {v}");
        assert!(
            r.headers().get("set-cookie").is_none(),
            "setup with {k}: {v}"
        );
    }
    // Nothing was set: there is still no password, and the link still works once.
    let r = client()
        .post(&login)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "no admin password yet");
    let r = client()
        .post(&setup)
        .header("origin", &srv.url)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"token": "the-setup-token", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    for (k, v) in attacks {
        let r = client()
            .post(&login)
            .header(k, v)
            .json(&json!({"password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "login with {k}: {v}");
        assert!(
            r.headers().get("set-cookie").is_none(),
            "login with {k}: {v}"
        );
    }
    let r = client()
        .post(&login)
        .header("origin", &srv.url)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "refusals are not counted as failed logins");
    srv.stop().await;
}
