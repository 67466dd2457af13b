//! Defences an attacker's review found holding, pinned here so they keep holding: security
//! headers, CSRF on every mutating admin route, the setup link, session fixation, throttling
//! keyed by the socket address, path traversal under /admin/, oversized headers, idle
//! keep-alive connections, hostile values near e-mail headers, STARTTLS downgrade, TLS
//! versions, and secrets kept out of logs, metrics and the audit chain. Each test asserts the
//! refusal and that nothing changed; where a request is sent raw over TCP it is because an
//! HTTP client would normalise it.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::admin::{client, set_password, Admin, PASSWORD};
use crate::mail::MailServer;
use crate::support::*;
use profilegate::model::{Encryption, SmtpSettings};

/// `host:port` of a server started over plain HTTP.
fn host_of(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

/// Sends `request` byte for byte on a new connection and returns what the server answered
/// before it closed the connection (or 5 s passed). A reset after the answer is ignored.
async fn raw(host: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(host).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 answer (0 when there is none).
fn status_of(resp: &str) -> u16 {
    resp.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The SMTP settings of a plain mail server on `port` without a login.
fn plain_smtp(port: u16, encryption: Encryption) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        encryption,
        username: None,
        password: None,
        from: "profilegate@example.com".into(),
        timeout_ms: 2000,
        tls_ca_pem: None,
    }
}

/// Stores SMTP settings and one recipient (blocking mode, the default).
fn configure_mail(dir: &DataDir, smtp: SmtpSettings) {
    dir.with_store(|s| {
        s.update_settings("test", "notify", |st| {
            st.notify.smtp = Some(smtp);
            st.notify.recipients = vec!["security@example.com".into()];
        })
        .unwrap()
    });
}

// ---------------------------------------------------------------------------------------
// Security headers
// ---------------------------------------------------------------------------------------

/// What every page of the admin UI, and every admin API answer, must carry.
fn assert_security_headers(what: &str, h: &reqwest::header::HeaderMap) {
    let get = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let csp = get("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{what}: content-security-policy {csp:?}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp:?}"
    );
    assert_eq!(get("x-frame-options"), "DENY", "{what}: x-frame-options");
    assert_eq!(
        get("x-content-type-options"),
        "nosniff",
        "{what}: x-content-type-options"
    );
    let referrer = get("referrer-policy");
    assert!(
        ["no-referrer", "same-origin", "strict-origin"].contains(&referrer.as_str()),
        "{what}: referrer-policy {referrer:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_pages_carry_the_security_headers() {
    let dir = DataDir::new();
    let srv = Server::start(&dir.path).await;
    for path in [
        "/admin/",
        "/admin/index.html",
        "/admin/app.js",
        "/admin/app.css",
        "/admin/api/openapi.json",
    ] {
        let r = client()
            .get(format!("{}{path}", srv.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_security_headers(path, r.headers());
        // The script is the page's only code: CSP allows no inline script, so none is there.
        if path == "/admin/" {
            let page = r.text().await.unwrap();
            assert!(!page.contains("<script>"), "inline script in {path}");
        }
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]

async fn admin_api_answers_carry_the_security_headers() {
    let dir = DataDir::new();
    dir.standard();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let url = &srv.url;
    let c = client();
    let answers = [
        (
            "GET session",
            c.get(format!("{url}/admin/api/session"))
                .header("cookie", &a.cookie),
        ),
        (
            "GET departments/export",
            c.get(format!("{url}/admin/api/departments/export"))
                .header("cookie", &a.cookie),
        ),
        (
            "GET overview, no session",
            c.get(format!("{url}/admin/api/overview")),
        ),
        (
            "POST departments, no CSRF token",
            c.post(format!("{url}/admin/api/departments"))
                .header("cookie", &a.cookie)
                .json(&json!({"names": ["Legal"]})),
        ),
        (
            "POST login, wrong password",
            c.post(format!("{url}/admin/api/login"))
                .json(&json!({"password": "not the password"})),
        ),
        (
            "GET a missing UI file",
            c.get(format!("{url}/admin/nope.js")),
        ),
    ];
    // Every answer checked, then all that lack something reported at once.
    let mut lacking = Vec::new();
    for (what, rb) in answers {
        let r = rb.send().await.unwrap();
        let what = format!("{what} ({})", r.status());
        let h = r.headers().clone();
        if std::panic::catch_unwind(|| assert_security_headers(&what, &h)).is_err() {
            lacking.push(what);
        }
    }
    srv.stop().await;
    assert!(
        lacking.is_empty(),
        "without the security headers: {lacking:?}"
    );
}

// ---------------------------------------------------------------------------------------
// CSRF
// ---------------------------------------------------------------------------------------

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
        "/admin/api/audit/verify",
    ] {
        let (st, v) = a.get(page).await;
        state.insert(page.into(), json!([st, v]));
    }
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
    use profilegate::store::outbox::{OutboxItem, OutboxStatus};
    let mail = MailServer::start();
    let dir = DataDir::new();
    let cred = dir.standard();
    set_password(&dir);
    configure_mail(&dir, plain_smtp(mail.addr.port(), Encryption::None));
    // A failed e-mail for outbox/retry.
    let outbox_id = dir.with_store(|s| {
        let item = OutboxItem {
            created: "2026-01-01T00:00:00.000Z".into(),
            request_id: Some("stuck-1".into()),
            subject: "stuck".into(),
            body: "a stuck message".into(),
            status: OutboxStatus::Failed,
            attempts: 8,
            next_attempt_ms: 0,
            last_error: Some("connection refused".into()),
        };
        let entry = br#"{"kind":"admin","actor":"test","action":"outbox.seed"}"#.to_vec();
        s.append_entries_with_outbox(&[entry], &[(0, serde_json::to_vec(&item).unwrap())])
            .unwrap()
    });
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
            let p = p.replace(&cred.record.id, "{id}");
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
            let mut rb = client()
                .request(m, format!("{}{path}", srv.url))
                .header("cookie", &victim.cookie)
                .json(body);
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

    // The admin's own page: the same requests go through and each changes something.
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
        assert_ne!(now, last, "{method} {path} changed nothing: a useless case");
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

// ---------------------------------------------------------------------------------------
// Setup link
// ---------------------------------------------------------------------------------------

/// Starts `profilegate serve` on 127.0.0.1:0 with all logging on; returns the child, its
/// start-up banner (through the setup link's lines when `setup_link`, else through the admin
/// UI line), and a thread that collects its stderr (the log) until it exits.
fn serve_logging(
    dir: &std::path::Path,
    setup_link: bool,
) -> (std::process::Child, String, std::thread::JoinHandle<String>) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_profilegate"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("PROFILEGATE_LISTEN")
        .env("PROFILEGATE_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run profilegate serve");
    let mut stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut rd = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut out = String::new();
    loop {
        let mut l = String::new();
        if rd.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        out.push_str(&l);
        let last = if setup_link {
            l.contains("set-password")
        } else {
            l.starts_with("Admin UI:")
        };
        if last {
            break;
        }
    }
    (child, out, logs)
}

/// The setup link carries its token in the URL fragment (never sent to a server, never in a
/// proxy's or the server's access log), works once, and the token never reaches the log,
/// even at the most verbose level.
#[test]
fn setup_token_is_in_the_fragment_single_use_and_never_logged() {
    let dir = DataDir::new();
    let (child, banner, logs) = serve_logging(&dir.path, true);
    let link = banner
        .lines()
        .map(str::trim)
        .find(|l| l.contains("/admin/") && l.contains("setup="))
        .unwrap_or_else(|| panic!("no setup link in {banner}"))
        .to_string();
    assert!(
        link.contains("/admin/#setup=") && !link.contains('?'),
        "the token must be in the fragment: {link}"
    );
    let token = link.split("#setup=").nth(1).unwrap().to_string();
    assert!(token.len() >= 32, "{token}");
    let host = banner_addr(&banner);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let setup = format!("http://{host}/admin/api/setup");
        let r = client()
            .post(&setup)
            .json(&json!({"token": "not-the-token", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = client()
            .post(&setup)
            .json(&json!({"token": token, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Spent: refused, and the password set with it stays.
        let r = client()
            .post(&setup)
            .json(&json!({"token": token, "password": "another long password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        let r = client()
            .post(format!("http://{host}/admin/api/login"))
            .json(&json!({"password": "another long password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        Admin::new(&format!("http://{host}")).await;
    });
    stop_child(child);
    let logs = logs.join().unwrap();
    assert!(
        logs.lines().count() >= 3,
        "the log was expected to say something at trace level: {logs}"
    );
    assert!(
        !logs.contains(&token),
        "the setup token was logged:\n{logs}"
    );
    assert!(!logs.contains(PASSWORD), "the admin password was logged");
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(export.contains("setup link"), "{export}");
    assert!(
        !export.contains(&token),
        "the setup token is in the audit chain"
    );
}

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

/// The session id in a `Set-Cookie` answer.
fn session_id(r: &reqwest::Response) -> String {
    let c = r.headers()["set-cookie"].to_str().unwrap();
    c.split(';')
        .next()
        .unwrap()
        .strip_prefix("pg_session=")
        .unwrap_or_else(|| panic!("{c}"))
        .to_string()
}

async fn session_status(url: &str, id: &str) -> u16 {
    client()
        .get(format!("{url}/admin/api/session"))
        .header("cookie", format!("pg_session={id}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A session id the client makes up is never adopted; each login issues a fresh id, also
/// when the client already holds a live one; logout ends the session on the server, so the
/// old cookie replayed is refused.
#[tokio::test(flavor = "multi_thread")]
async fn no_session_fixation_and_logout_ends_the_session_on_the_server() {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let url = &srv.url;
    let login = |cookie: Option<String>| {
        let mut rb = client()
            .post(format!("{url}/admin/api/login"))
            .json(&json!({"password": PASSWORD}));
        if let Some(c) = cookie {
            rb = rb.header("cookie", c);
        }
        rb.send()
    };
    let invented = "attacker-chosen-session-id-0123456789abcdefghij";
    assert_eq!(session_status(url, invented).await, 401);
    let r = login(Some(format!("pg_session={invented}"))).await.unwrap();
    assert_eq!(r.status(), 200);
    let first = session_id(&r);
    assert_ne!(first, invented, "the invented id was adopted");
    assert!(first.len() >= 32, "{first}");
    assert_eq!(
        session_status(url, invented).await,
        401,
        "after the login too"
    );
    assert_eq!(session_status(url, &first).await, 200);

    // A second login with the live session's cookie: a new id.
    let r = login(Some(format!("pg_session={first}"))).await.unwrap();
    assert_eq!(r.status(), 200);
    let second = session_id(&r);
    assert_ne!(second, first);
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Logout: the cookie, replayed as an attacker who copied it would, no longer works.
    let r = client()
        .post(format!("{url}/admin/api/logout"))
        .header("cookie", format!("pg_session={second}"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(session_status(url, &second).await, 401);
    let r = client()
        .post(format!("{url}/admin/api/departments"))
        .header("cookie", format!("pg_session={second}"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"names": ["Legal"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a mutation with the ended session");
    srv.stop().await;
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(!export.contains("departments.add"), "{export}");
}

// ---------------------------------------------------------------------------------------
// Throttling by socket address
// ---------------------------------------------------------------------------------------

/// Headers a client might send to pretend it is someone else.
fn spoofed(rb: reqwest::RequestBuilder, i: usize) -> reqwest::RequestBuilder {
    let ip = format!("198.51.100.{}", i + 1);
    rb.header("x-forwarded-for", &ip)
        .header("forwarded", format!("for={ip}"))
        .header("x-real-ip", &ip)
}

/// A fresh server's answers to 16 wrong secrets for the real credential id (each costs
/// argon2 until the address is throttled), then one more without any forwarding header.
async fn endpoint_failures(spoof: bool) -> Vec<(u16, String)> {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let Auth::Basic(user, secret) = Auth::of(&cred) else {
        panic!("basic")
    };
    let id = secret.split('_').nth(1).unwrap().to_string();
    let mut seen = Vec::new();
    for i in 0..17 {
        let mut rb = client()
            .post(srv.action_url())
            .basic_auth(&user, Some(format!("pg_{id}_wrong{i}")))
            .header("content-type", "application/json")
            .body(profile_event(None, dept(json!("HR"))).to_string());
        if spoof && i < 16 {
            rb = spoofed(rb, i);
        }
        let r = rb.send().await.unwrap();
        seen.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    srv.stop().await;
    seen
}

/// Wrong endpoint secrets are counted per socket address: each carrying a different
/// X-Forwarded-For / Forwarded / X-Real-IP is answered exactly as the same attempts without
/// them, so the spoofed headers neither reset nor escape the accounting.
#[tokio::test(flavor = "multi_thread")]
async fn forwarding_headers_do_not_escape_endpoint_throttling() {
    let plain = endpoint_failures(false).await;
    assert!(
        plain.iter().any(|a| a != &plain[0]),
        "16 wrong secrets were not throttled at all: {plain:?}"
    );
    let spoofing = endpoint_failures(true).await;
    assert_eq!(spoofing, plain);
}

/// A fresh server's answers to 8 wrong admin passwords, then the right one (status codes).
async fn admin_login_failures(spoof: bool) -> Vec<u16> {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let mut seen = Vec::new();
    for i in 0..9 {
        let password = if i < 8 { "wrong password!!" } else { PASSWORD };
        let mut rb = client()
            .post(format!("{}/admin/api/login", srv.url))
            .json(&json!({ "password": password }));
        if spoof {
            rb = spoofed(rb, i);
        }
        seen.push(rb.send().await.unwrap().status().as_u16());
    }
    srv.stop().await;
    seen
}

/// The same for admin logins.
#[tokio::test(flavor = "multi_thread")]
async fn forwarding_headers_do_not_escape_admin_login_throttling() {
    let plain = admin_login_failures(false).await;
    assert!(
        plain.contains(&429),
        "8 wrong passwords were not throttled: {plain:?}"
    );
    assert_eq!(plain.last(), Some(&429), "{plain:?}");
    let spoofing = admin_login_failures(true).await;
    assert_eq!(spoofing, plain);
}

// ---------------------------------------------------------------------------------------
// Path traversal
// ---------------------------------------------------------------------------------------

/// Paths that try to leave the UI's folder (or reach a file beside it), sent exactly as
/// written: each is a 404, never a file. (Debug builds, these tests included, read the UI
/// files from static/ on disk; release builds embed them.)
#[tokio::test(flavor = "multi_thread")]
async fn path_traversal_under_admin_finds_nothing() {
    let dir = DataDir::new();
    let srv = Server::start(&dir.path).await;
    let host = host_of(&srv.url);
    // Sanity: a UI file is served this way.
    let ok = raw(
        &host,
        format!("GET /admin/app.js HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&ok), 200, "{ok}");
    let targets = [
        "/admin/../Cargo.toml",
        "/admin/../../../../../../etc/passwd",
        "/admin/..%2fCargo.toml",
        "/admin/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/admin/%2e%2e/Cargo.toml",
        "/admin/%2e%2e%2fCargo.toml",
        "/admin/%2E%2E%2Fsrc%2Flib.rs",
        "/admin/..%5cCargo.toml",
        "/admin/%252e%252e%252fCargo.toml",
        "/admin/..;/Cargo.toml",
        "/admin/.%2e/Cargo.toml",
        "/admin/.%2e%2fCargo.toml",
        "/admin/%c0%ae%c0%ae/Cargo.toml",
        "/admin/%c0%ae%c0%ae%c0%afCargo.toml",
        "/admin/....//Cargo.toml",
        "/admin/....%2f%2fCargo.toml",
        "/admin/..\\Cargo.toml",
        "/admin/..\\..\\..\\..\\etc\\passwd",
        "/admin/x/../../Cargo.toml",
        "/admin/x%2f..%2f..%2fCargo.toml",
        "/admin/app.js%2f..%2f..%2fCargo.toml",
        "/admin/x%5c..%5c..%5cCargo.toml",
        "/admin/%2fetc%2fpasswd",
        "/admin//etc/passwd",
        "//etc/passwd",
        "/admin/%00../Cargo.toml",
        "/admin/.env",
        "/admin/.%2e",
        "/admin/Cargo.toml",
        "/admin/openapi.json/../../Cargo.toml",
    ];
    for t in targets {
        let resp = raw(
            &host,
            format!("GET {t} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        for leak in ["[package]", "root:", "pub mod", "[dependencies]"] {
            assert!(!resp.contains(leak), "{t} served a file:\n{resp}");
        }
        assert_eq!(status_of(&resp), 404, "{t}:\n{resp}");
    }
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------
// Oversized headers and idle keep-alive connections
// ---------------------------------------------------------------------------------------

/// Sends a request head of any size while reading the answer, the way an attacker would:
/// the server may answer and close before the head is all sent.
async fn send_head(host: &str, head: Vec<u8>) -> String {
    let s = TcpStream::connect(host).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&head).await;
        wr
    });
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline.into(), rd.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    drop(writer.await);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_request_headers_get_431() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let host = host_of(&srv.url);
    // One 1 MiB header.
    let mut big = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Big: ").into_bytes();
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    let resp = send_head(&host, big).await;
    assert_eq!(status_of(&resp), 431, "{}", &resp[..resp.len().min(300)]);
    // Many small ones.
    let mut many = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n");
    for i in 0..500 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let resp = send_head(&host, many.into_bytes()).await;
    assert_eq!(status_of(&resp), 431, "{}", &resp[..resp.len().min(300)]);
    // The same on the action endpoint, and the server goes on serving.
    let mut big = format!(
        "POST /actions/pre-update-profile HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\nX-Big: "
    )
    .into_bytes();
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big.extend_from_slice(b"\r\n\r\n{}");
    let resp = send_head(&host, big).await;
    assert_eq!(status_of(&resp), 431, "{}", &resp[..resp.len().min(300)]);
    let r = post(
        &srv.action_url(),
        &Auth::of(&cred),
        profile_event(Some("after-431"), dept(json!("HR"))).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    srv.stop().await;
}

/// A connection that made one request and then keeps quiet (keep-alive) is closed once the
/// header timeout (10 s) passes, like one that never said anything (tests/it/abuse.rs).
#[tokio::test(flavor = "multi_thread")]
async fn idle_keep_alive_connections_are_closed_after_the_header_timeout() {
    let dir = DataDir::new();
    let srv = Server::start(&dir.path).await;
    let host = host_of(&srv.url);
    let mut s = TcpStream::connect(&host).await.unwrap();
    s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("\"ok\"") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    let idle_since = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
        .await
        .expect("an idle keep-alive connection was left open for 20 s")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    let waited = idle_since.elapsed();
    assert!(waited <= Duration::from_secs(15), "{waited:?}");
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------
// E-mail: hostile values, STARTTLS
// ---------------------------------------------------------------------------------------

/// The body of a received message, undoing its transfer encoding.
fn decoded_body(data: &str) -> String {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    let head = head.to_ascii_lowercase();
    if head.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            joined.trim_end_matches("."),
        )
        .unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    } else if head.contains("content-transfer-encoding: quoted-printable") {
        let soft = body.replace("=\r\n", "");
        let b = soft.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'=' && i + 2 < b.len() {
                if let Ok(x) = u8::from_str_radix(&soft[i + 1..i + 3], 16) {
                    out.push(x);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    } else {
        body.to_string()
    }
}

/// CR/LF and the Unicode line breaks (U+2028, U+2029, U+0085) in every request value the
/// security e-mail shows reach neither its headers nor the start of a line of its body.
#[tokio::test(flavor = "multi_thread")]
async fn line_breaks_in_request_values_never_reach_an_e_mail_header() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let cred = dir.standard();
    configure_mail(&dir, plain_smtp(mail.addr.port(), Encryption::None));
    let srv = Server::start(&dir.path).await;
    let breaks = ["\r\n", "\n", "\r", "\u{2028}", "\u{2029}", "\u{85}"];
    let hostile = |tag: &str| {
        breaks
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{tag}{b}Bcc: {tag}{i}@evil.example{b}{b}X-Injected-{tag}: {i}"))
            .collect::<String>()
    };
    let mut ev = profile_event(
        Some(&format!("rid{}", "\u{2028}X-Injected-rid: 1")),
        json!([
            {"uri": "http://wso2.org/claims/emailaddress", "value": hostile("mailvalue")},
            {"uri": "http://wso2.org/claims/mobile", "value": [hostile("multi"), "+1555"]},
        ]),
    );
    ev["event"]["user"]["id"] = json!(hostile("userid"));
    ev["event"]["user"]["claims"] = json!([
        {"uri": "http://wso2.org/claims/username", "value": hostile("username")},
        {"uri": "http://wso2.org/claims/emailaddress", "value": hostile("oldvalue")},
    ]);
    ev["event"]["tenant"]["name"] = json!(hostile("tenant"));
    ev["event"]["organization"] = json!({"id": "o1", "name": hostile("org")});
    ev["event"]["initiatorType"] = json!(hostile("initiator"));
    let r = post(&srv.action_url(), &Auth::of(&cred), ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{:?}", r.json);
    srv.stop().await;
    let mails = mail.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.to, ["security@example.com"], "an extra recipient");
    let (head, _) = m.data.split_once("\r\n\r\n").unwrap();
    for bad in ["Bcc", "X-Injected", "evil.example"] {
        assert!(!head.contains(bad), "{bad} in the headers:\n{head}");
    }
    assert!(
        head.contains(&format!(
            "Subject: {}",
            profilegate::notify::message::SUBJECT
        )),
        "{head}"
    );
    let body = decoded_body(&m.data);
    for c in ['\u{2028}', '\u{2029}', '\u{85}'] {
        assert!(!body.contains(c), "{c:?} in the body:\n{body}");
    }
    for (i, line) in body.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        assert!(!line.contains('\r'), "a bare CR in line {i}: {line:?}");
        let start = line.trim_start();
        assert!(
            !start.starts_with("Bcc") && !start.starts_with("X-Injected"),
            "a value started line {i}: {line:?}"
        );
    }
    // The values did reach the message (so the checks above looked at them).
    for tag in [
        "mailvalue",
        "multi",
        "userid",
        "username",
        "oldvalue",
        "tenant",
        "org",
    ] {
        assert!(
            body.contains(&format!("Bcc: {tag}0@evil.example")),
            "{tag} is not in the body:\n{body}"
        );
    }
}

/// The addresses an admin types (sender, recipients, test recipient) are where e-mail
/// headers come from. One with CR or LF is refused, and so is any address with a Unicode
/// line break outside a quoted display name; nothing is stored or sent. A quoted display name
/// with U+2028/U+2029/U+0085 is accepted, but it reaches the message's headers only encoded
/// (no raw line break there, no extra recipient).
#[tokio::test(flavor = "multi_thread")]
async fn line_breaks_in_admin_addresses_never_reach_an_e_mail_header() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    set_password(&dir);
    configure_mail(&dir, plain_smtp(mail.addr.port(), Encryption::None));
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let smtp_from = |from: &str| {
        json!({"host": "127.0.0.1", "port": mail.addr.port(), "encryption": "none",
               "from": from, "timeout_ms": 2000})
    };
    let mut named_ok = Vec::new();
    for b in ["\r\n", "\n", "\r", "\u{2028}", "\u{2029}", "\u{85}"] {
        let bare = format!("soc@example.com{b}Bcc: x@evil.example");
        let named = format!("\"Soc{b}Bcc: x@evil.example\" <soc@example.com>");
        for addr in [&bare, &named] {
            let must_refuse = b.contains(['\r', '\n']) || addr == &bare;
            let (_, before) = a.get("/admin/api/notifications").await;
            let answers = [
                (
                    "recipients",
                    a.post(
                        "/admin/api/notifications/recipients",
                        json!({ "recipients": [addr] }),
                    )
                    .await,
                ),
                (
                    "from",
                    a.post("/admin/api/notifications/smtp", smtp_from(addr))
                        .await,
                ),
            ];
            for (field, (st, v)) in answers {
                if must_refuse {
                    assert_eq!(
                        (st, v["field"].as_str()),
                        (400, Some(field)),
                        "{addr:?}: {v}"
                    );
                } else {
                    assert!(st == 200 || st == 400, "{field} {addr:?}: {st} {v}");
                    if st == 200 {
                        named_ok.push((field, addr.clone()));
                    }
                }
            }
            if must_refuse {
                assert_eq!(
                    a.get("/admin/api/notifications").await.1,
                    before,
                    "{addr:?}"
                );
                let (st, v) = a
                    .post("/admin/api/notifications/test", json!({ "to": addr }))
                    .await;
                assert_eq!(st, 400, "test to {addr:?}: {v}");
                assert!(mail.mails().is_empty(), "{:?}", mail.mails());
            }
        }
    }
    // What was accepted: sender and recipients with such display names at once, and a test
    // message to each.
    let recipients: Vec<&String> = named_ok
        .iter()
        .filter(|(f, _)| *f == "recipients")
        .map(|(_, a)| a)
        .collect();
    if let Some((_, from)) = named_ok.iter().find(|(f, _)| *f == "from") {
        assert_eq!(
            a.post("/admin/api/notifications/smtp", smtp_from(from))
                .await
                .0,
            200
        );
    }
    if !recipients.is_empty() {
        let (st, v) = a
            .post(
                "/admin/api/notifications/recipients",
                json!({ "recipients": recipients }),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
    let (st, v) = a.post("/admin/api/notifications/test", json!({})).await;
    assert_eq!(st, 200, "{v}");
    for to in &recipients {
        let (st, v) = a
            .post("/admin/api/notifications/test", json!({ "to": to }))
            .await;
        assert_eq!(st, 200, "{v}");
    }
    let mails = mail.mails();
    assert_eq!(mails.len(), 1 + recipients.len());
    for m in &mails {
        assert!(
            m.to.iter()
                .all(|t| t == "soc@example.com" || t == "security@example.com"),
            "{:?}",
            m.to
        );
        let (head, _) = m.data.split_once("\r\n\r\n").unwrap();
        for c in ['\u{2028}', '\u{2029}', '\u{85}', '\u{fffd}'] {
            assert!(!head.contains(c), "{c:?} in the headers:\n{head}");
        }
        for line in head.split("\r\n") {
            assert!(!line.contains(['\r', '\n']), "{line:?}");
            assert!(!line.trim_start().starts_with("Bcc"), "{head}");
        }
    }
    srv.stop().await;
}

/// With `starttls` configured, a mail server that does not offer STARTTLS (or a man in the
/// middle who removed it from the EHLO answer) gets no message: nothing goes out in clear.
#[tokio::test(flavor = "multi_thread")]
async fn starttls_is_not_downgraded_to_plain_text() {
    let mail = MailServer::start(); // plain: its EHLO offers no STARTTLS
    let dir = DataDir::new();
    let cred = dir.standard();
    let mut smtp = plain_smtp(mail.addr.port(), Encryption::Starttls);
    smtp.host = "localhost".into();
    configure_mail(&dir, smtp);
    let srv = Server::start(&dir.path).await;
    let mut body: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("seed-usecase-profile.json")).unwrap(),
    )
    .unwrap();
    body["requestId"] = json!("downgrade-1");
    let r = post(&srv.action_url(), &Auth::of(&cred), body.to_string()).await;
    assert_eq!(r.json["actionStatus"], "FAILED", "{:?}", r.json);
    assert_eq!(r.json["failureReason"], "email_error");
    srv.stop().await;
    assert!(mail.mails().is_empty(), "sent in clear: {:?}", mail.mails());
    let note = dir.with_store(|s| decisions(s).last().unwrap().notification.clone());
    assert!(
        note.as_deref().unwrap_or_default().contains("STARTTLS"),
        "{note:?}"
    );
    // The same through the notifier directly (the test message and the outbox use it).
    let mut smtp = plain_smtp(mail.addr.port(), Encryption::Starttls);
    smtp.host = "localhost".into();
    let e = profilegate::notify::Notifier::default()
        .send(
            &smtp,
            &["sec@example.com".to_string()],
            "downgrade",
            "must not be sent in clear\n".into(),
        )
        .await;
    let e = e.expect_err("sent without STARTTLS");
    assert!(e.to_string().contains("STARTTLS"), "{e}");
    assert!(mail.mails().is_empty(), "sent in clear: {:?}", mail.mails());
}

// ---------------------------------------------------------------------------------------
// TLS versions on the HTTPS listener
// ---------------------------------------------------------------------------------------

/// A TLS ClientHello record offering only `version` (no supported_versions extension), with
/// ECDHE suites for both TLS 1.2 (GCM) and older versions (CBC).
fn client_hello(version: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // no session id
    let suites: [u16; 6] = [0xc02b, 0xc02f, 0xc009, 0xc013, 0x002f, 0x0035];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null only
    let ext: [u8; 30] = [
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, // groups
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, // sig algs
    ];
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8]; // client_hello
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// The first bytes the server answers a ClientHello with.
async fn hello_answer(addr: &str, version: u16) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&client_hello(version)).await.unwrap();
    let mut out = vec![0u8; 16];
    let mut got = 0;
    while got < out.len() {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut out[got..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got += n,
        }
    }
    out.truncate(got);
    out
}

/// The HTTPS listener speaks TLS 1.2 and 1.3 only: a client offering TLS 1.0 or 1.1 gets an
/// alert, never a ServerHello; the same hello offering TLS 1.2 gets one.
#[tokio::test(flavor = "multi_thread")]
async fn https_refuses_tls_before_1_2() {
    let tmp = tempfile::tempdir().unwrap();
    let loaded = profilegate::http::tls::self_signed(tmp.path(), &["localhost".into()]).unwrap();
    let dir = DataDir::new();
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            tls: Some(loaded.config),
            ..Default::default()
        },
    )
    .await;
    let addr = host_of(&srv.url);
    let ok = hello_answer(&addr, 0x0303).await;
    assert!(
        ok.len() >= 11 && ok[0] == 0x16 && ok[5] == 0x02 && ok[9..11] == [3, 3],
        "no TLS 1.2 ServerHello: {ok:02x?}"
    );
    for old in [0x0301u16, 0x0302, 0x0300] {
        let answer = hello_answer(&addr, old).await;
        assert!(
            answer.first() != Some(&0x16),
            "TLS {old:#06x} got a handshake answer: {answer:02x?}"
        );
        // An alert (protocol_version) or a closed connection.
        assert!(
            answer.is_empty() || answer[0] == 0x15,
            "TLS {old:#06x}: {answer:02x?}"
        );
    }
    srv.stop().await;
}

// ---------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------

/// The endpoint secrets, the admin password (old, new and a wrong guess) and the SMTP
/// password appear in no log line (at trace level), no metric, no audit record (API and
/// export) and no admin API read-back, after they were used, failed and changed.
#[test]
fn no_secret_in_logs_metrics_or_the_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let (mail, ca_pem) = MailServer::start_tls_auth(tmp.path(), true);
    let dir = DataDir::new();
    let cred = dir.standard();
    set_password(&dir);
    const NEW_PASSWORD: &str = "the new admin password 42";
    const WRONG_PASSWORD: &str = "a wrong admin guess 1234";
    const SMTP_PASSWORD: &str = "smtp-secret-Zq8wX3";
    let (child, banner, logs) = serve_logging(&dir.path, false);
    let url = format!("http://{}", banner_addr(&banner));
    let Auth::Basic(user, basic_secret) = Auth::of(&cred) else {
        panic!("basic")
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (bearer_secret, seen) = rt.block_on(async {
        let r = client()
            .post(format!("{url}/admin/api/login"))
            .json(&json!({ "password": WRONG_PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let a = Admin::new(&url).await;
        let (st, created) = a
            .post("/admin/api/credentials", json!({"type": "bearer"}))
            .await;
        assert_eq!(st, 200, "{created}");
        let bearer = created["accessToken"].as_str().unwrap().to_string();
        let action = format!("{url}/actions/pre-update-profile");
        let ev = || profile_event(None, dept(json!("HR"))).to_string();
        for auth in [
            Auth::Bearer(bearer.clone()),
            Auth::Basic(user.clone(), basic_secret.clone()),
        ] {
            assert_eq!(
                post(&action, &auth, ev()).await.json["actionStatus"],
                "SUCCESS"
            );
        }
        for auth in [
            Auth::Bearer(format!("{bearer}x")),
            Auth::Basic(user.clone(), format!("{basic_secret}x")),
            Auth::Basic("nobody".into(), basic_secret.clone()),
        ] {
            assert_eq!(post(&action, &auth, ev()).await.status, 401);
        }
        // SMTP with a login the server rejects (after STARTTLS).
        let (st, v) = a
            .post(
                "/admin/api/notifications/smtp",
                json!({"host": "localhost", "port": mail.addr.port(), "encryption": "starttls",
                       "from": "pg@example.com", "username": "mailer", "password": SMTP_PASSWORD,
                       "tls_ca_pem": ca_pem, "timeout_ms": 3000}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let (st, _) = a
            .post(
                "/admin/api/notifications/recipients",
                json!({"recipients": ["sec@example.com"]}),
            )
            .await;
        assert_eq!(st, 200);
        let (st, v) = a.post("/admin/api/notifications/test", json!({})).await;
        assert_eq!(st, 502, "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("rejected the login"),
            "{v}"
        );
        let mut seen = v.to_string();
        let (st, v) = a
            .post(
                "/admin/api/password",
                json!({"current": PASSWORD, "new": NEW_PASSWORD}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        for page in [
            "/admin/api/overview",
            "/admin/api/credentials",
            "/admin/api/endpoint",
            "/admin/api/endpoint/registration",
            "/admin/api/notifications",
            "/admin/api/settings",
            "/admin/api/audit?limit=500",
            "/admin/api/audit?decision=admin&limit=500",
        ] {
            let (st, v) = a.get(page).await;
            assert!(st == 200 || page.ends_with("registration"), "{page}: {st}");
            seen.push_str(&v.to_string());
        }
        let metrics = client()
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("profilegate_auth_failures_total"),
            "{metrics}"
        );
        seen.push_str(&metrics);
        (bearer, seen)
    });
    stop_child(child);
    let logs = logs.join().unwrap();
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(export.contains("notify.smtp") && export.contains("credentials.create"));
    assert!(
        logs.contains("refused an action call"),
        "the log was expected to record the refusals:\n{logs}"
    );
    let tail = |s: &str| s.rsplit('_').next().unwrap().to_string();
    for (what, secret) in [
        ("basic secret", basic_secret.clone()),
        ("basic secret's random part", tail(&basic_secret)),
        ("bearer secret", bearer_secret.clone()),
        ("bearer secret's random part", tail(&bearer_secret)),
        ("admin password", PASSWORD.to_string()),
        ("new admin password", NEW_PASSWORD.to_string()),
        ("wrong admin password", WRONG_PASSWORD.to_string()),
        ("SMTP password", SMTP_PASSWORD.to_string()),
    ] {
        assert!(!logs.contains(&secret), "the {what} is in the log");
        assert!(
            !seen.contains(&secret),
            "the {what} is in the metrics or the API"
        );
        assert!(
            !export.contains(&secret),
            "the {what} is in the audit chain"
        );
    }
    assert!(!export.contains("$argon2"), "a hash is in the audit chain");
}
