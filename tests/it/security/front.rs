//! What a connection meets before any route: read timeouts on every body, the connection cap,
//! the headers of every admin answer (no-store, nosniff, HSTS under TLS), the admin host names
//! (DNS rebinding), JSON-only action calls, and log lines a flood cannot multiply.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::admin::{client, set_password, Admin};
use crate::support::*;

/// Sends raw bytes, then reads until the server closes or `wait` passes; returns the text.
async fn raw(host: &str, request: &str, wait: Duration) -> String {
    let mut s = TcpStream::connect(host).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn host_of(srv: &Server) -> String {
    srv.url.trim_start_matches("http://").to_string()
}

/// An admin body trickling in a byte a second is cut off at the body timeout (10 s) with 408,
/// as the action endpoint does; before, the connection stayed open past 90 s.
#[tokio::test(flavor = "multi_thread")]
async fn a_trickling_admin_body_is_cut_off() {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let host = host_of(&srv);
    let mut s = TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /admin/api/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let trickle = async {
        loop {
            if s.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut b = [0u8; 1024];
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut b)).await
            {
                return String::from_utf8_lossy(&b[..n]).into_owned();
            }
        }
        String::new()
    };
    let answer = tokio::time::timeout(Duration::from_secs(20), trickle)
        .await
        .expect("the trickling body was not cut off within 20 s");
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("did not arrive within 10 s"), "{answer}");
    assert!(
        took >= Duration::from_secs(9) && took <= Duration::from_secs(13),
        "{took:?}"
    );
    srv.stop().await;
}

/// A listener holds at most `max_connections`, and one address at most half of them; the
/// excess is answered 503 (a contract-valid ERROR) and closed, and the others keep working.
#[tokio::test(flavor = "multi_thread")]
async fn connections_are_capped_per_listener_and_per_address() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            max_connections: 16,
            ..Default::default()
        },
    )
    .await;
    let host = host_of(&srv);
    let port: u16 = host.rsplit(':').next().unwrap().parse().unwrap();
    // Eight idle connections from 127.0.0.1: that address's half.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(&host).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = raw(
        &host,
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused:?}");
    let body = refused.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["actionStatus"], "ERROR");
    assert!(refused.contains("Retry-After: 1"), "{refused}");
    // Another address still gets in, and is served.
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let Auth::Basic(user, pass) = Auth::of(&cred) else {
        panic!("basic")
    };
    let r = other
        .post(format!(
            "http://127.0.0.1:{port}/actions/pre-update-profile"
        ))
        .basic_auth(&user, Some(&pass))
        .header("content-type", "application/json")
        .body(profile_event(Some("cap-1"), dept(json!("HR"))).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Once the idle ones are gone, 127.0.0.1 is served again.
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = post(
        &srv.action_url(),
        &Auth::of(&cred),
        profile_event(Some("cap-2"), dept(json!("HR"))).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    srv.stop().await;
}

/// `check-config` shows the two new settings with their source, and bad values are refused.
#[test]
fn max_connections_and_admin_hosts_are_configured_like_the_rest() {
    let dir = DataDir::new();
    let check = |env: &[(&str, &str)]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_profilegate"))
            .arg("--data-dir")
            .arg(&dir.path)
            .arg("check-config")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let o = check(&[
        ("PROFILEGATE_MAX_CONNECTIONS", "64"),
        (
            "PROFILEGATE_ADMIN_HOSTS",
            "pg.example.com, Admin.Example.org",
        ),
    ]);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        text.contains("max_connections = 64  # environment"),
        "{text}"
    );
    assert!(
        text.contains("admin_hosts = [\"pg.example.com\", \"admin.example.org\"]  # environment"),
        "{text}"
    );
    let o = check(&[]);
    assert!(
        stdout(&o).contains("max_connections = 1024  # default"),
        "{}",
        stdout(&o)
    );
    for (var, value, says) in [
        ("PROFILEGATE_MAX_CONNECTIONS", "3", "16 to 100000"),
        (
            "PROFILEGATE_ADMIN_HOSTS",
            "evil.example:8080",
            "not a host name",
        ),
    ] {
        let o = check(&[(var, value)]);
        assert!(!o.status.success(), "{var}={value} was accepted");
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
}

/// Every operation of the API description, the UI files and an unknown admin path answer
/// with `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`, whatever the status
/// (the two exports lacked both before).
#[tokio::test(flavor = "multi_thread")]
async fn every_admin_answer_is_no_store_and_nosniff() {
    let dir = DataDir::new();
    dir.standard();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let doc: Value = client()
        .get(format!("{}/admin/api/openapi.json", srv.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut calls: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                calls.push((method.to_uppercase(), path.replace("{id}", "000000000000")));
            }
        }
    }
    assert!(calls.len() >= 25, "{calls:?}");
    // Logging out ends the session the other calls use: last.
    calls.sort_by_key(|(_, p)| p.ends_with("/logout"));
    for extra in [
        "/admin/",
        "/admin/app.js",
        "/admin/app.css",
        "/admin/nope.js",
        "/admin",
    ] {
        calls.push(("GET".into(), extra.into()));
    }
    let mut seen = 0;
    for (method, path) in &calls {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = client()
            .request(m.clone(), format!("{}{path}", srv.url))
            .header("cookie", &a.cookie)
            .header("x-csrf-token", &a.csrf);
        if m != reqwest::Method::GET {
            rb = rb.json(&json!({}));
        }
        let r = rb.send().await.unwrap();
        let h = r.headers();
        let status = r.status();
        assert_eq!(
            h.get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{method} {path} ({status})"
        );
        assert_eq!(
            h.get("x-content-type-options").map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{method} {path} ({status})"
        );
        assert!(
            h.get("strict-transport-security").is_none(),
            "no HSTS on plain HTTP"
        );
        seen += 1;
    }
    assert!(seen >= 30, "{seen}");
    srv.stop().await;
}

/// Under TLS every answer, admin or not, says `Strict-Transport-Security`.
#[tokio::test(flavor = "multi_thread")]
async fn hsts_under_tls() {
    let dir = DataDir::new();
    set_password(&dir);
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, ca) = crate::support::tls::generate(tmp.path());
    let loaded = profilegate::http::tls::load(&cert, &key).unwrap();
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            tls: Some(loaded.config),
            ..Default::default()
        },
    )
    .await;
    let https = srv.url.replace("http://127.0.0.1", "https://localhost");
    for path in [
        "/admin/",
        "/admin/api/session",
        "/admin/api/openapi.json",
        "/healthz",
    ] {
        let r = crate::support::tls::client_trusting(&ca, true)
            .get(format!("{https}{path}"))
            .send()
            .await
            .unwrap();
        let hsts = r
            .headers()
            .get("strict-transport-security")
            .unwrap_or_else(|| panic!("no HSTS on {path}"));
        assert!(
            hsts.to_str().unwrap().contains("max-age=31536000"),
            "{hsts:?}"
        );
    }
    srv.stop().await;
}

/// The action endpoint takes `application/json` only (a charset allowed); text, forms,
/// multipart or no type get a contract-valid 400 ERROR naming the type, even with
/// authentication off (a web page could otherwise post to it cross-site).
#[tokio::test(flavor = "multi_thread")]
async fn the_action_endpoint_takes_json_only() {
    let dir = DataDir::new();
    dir.standard();
    dir.with_store(|s| {
        s.update_settings("test", "endpoint.auth", |st| {
            st.endpoint_auth = profilegate::model::EndpointAuth::None
        })
        .unwrap()
    });
    let srv = Server::start(&dir.path).await;
    let body = profile_event(Some("ct"), dept(json!("HR"))).to_string();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        Some("text/json"),
        None,
    ] {
        let mut rb = client().post(srv.action_url()).body(body.clone());
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        let r = rb.send().await.unwrap();
        let reply = Reply {
            status: r.status().as_u16(),
            content_type: r.headers()["content-type"].to_str().unwrap().to_string(),
            raw: Vec::new(),
            json: Value::Null,
        };
        let raw = r.bytes().await.unwrap().to_vec();
        let reply = Reply {
            json: serde_json::from_slice(&raw).unwrap(),
            raw,
            ..reply
        };
        assert_contract_valid(&reply);
        assert_eq!(reply.status, 400, "{ct:?}");
        assert_eq!(reply.json["errorMessage"], "Unsupported content type");
        assert!(
            reply.json["errorDescription"]
                .as_str()
                .unwrap()
                .contains("application json"),
            "{}",
            reply.json
        );
    }
    for ct in [
        "application/json",
        "application/json; charset=UTF-8",
        "Application/JSON",
    ] {
        let r = client()
            .post(srv.action_url())
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{ct}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["actionStatus"], "SUCCESS", "{ct}");
    }
    srv.stop().await;
}

/// DNS rebinding: the admin side answers only to IP addresses, localhost and configured names;
/// another `Host` gets 421. The action endpoint is not affected.
#[tokio::test(flavor = "multi_thread")]
async fn the_admin_side_answers_only_to_its_own_host_names() {
    let dir = DataDir::new();
    let cred = dir.standard();
    set_password(&dir);
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            admin_hosts: vec!["pg.example.com".into()],
            ..Default::default()
        },
    )
    .await;
    let host = host_of(&srv);
    let port = host.rsplit(':').next().unwrap().to_string();
    let get = |h: String, path: &'static str| {
        let host = host.clone();
        async move {
            raw(
                &host,
                &format!("GET {path} HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n"),
                Duration::from_secs(5),
            )
            .await
        }
    };
    for bad in [
        format!("evil.example:{port}"),
        "evil.example".into(),
        format!("localhost.evil.example:{port}"),
        format!("pg.example.com.evil:{port}"),
    ] {
        for path in ["/admin/", "/admin/api/session", "/admin/api/openapi.json"] {
            let r = get(bad.clone(), path).await;
            assert!(r.starts_with("HTTP/1.1 421"), "{bad} {path}: {r}");
            assert!(r.contains("--admin-host"), "{r}");
            assert!(!r.contains("app.js"), "no page for {bad}");
        }
    }
    for good in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("PG.example.com:{port}"),
        format!("[::1]:{port}"),
    ] {
        let r = get(good.clone(), "/admin/").await;
        assert!(r.starts_with("HTTP/1.1 200"), "{good}: {r}");
    }
    // A login from a rebinding page is refused before the password is looked at.
    let mut s = TcpStream::connect(&host).await.unwrap();
    let login = json!({ "password": crate::support::admin::PASSWORD }).to_string();
    s.write_all(
        format!(
            "POST /admin/api/login HTTP/1.1\r\nHost: evil.example:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{login}",
            login.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 421"), "{out}");
    assert!(!out.to_ascii_lowercase().contains("set-cookie"), "{out}");
    // The identity server may call through any name.
    let Auth::Basic(user, pass) = Auth::of(&cred) else {
        panic!("basic")
    };
    let r = client()
        .post(srv.action_url())
        .header("host", "evil.example")
        .basic_auth(&user, Some(&pass))
        .header("content-type", "application/json")
        .body(profile_event(Some("host-1"), dept(json!("HR"))).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    srv.stop().await;
}

/// A flood of refused action calls writes a bounded number of log lines and one summary of
/// what was dropped (before, every refusal was an INFO line).
#[test]
fn a_flood_of_refused_calls_writes_few_log_lines() {
    let dir = DataDir::new();
    dir.standard();
    let (mut child, out, err) = spawn_serve(&dir.path, &[], &["--listen", "127.0.0.1:0"], &[]);
    assert!(out.contains("serving on"), "{out}{err}");
    let addr = banner_addr(&out);
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let logs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr_pipe, &mut s);
        s
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let url = format!("http://{addr}/actions/pre-update-profile");
        let calls = (0..2000).map(|i| {
            let c = c.clone();
            let url = url.clone();
            async move {
                let mut rb = c
                    .post(&url)
                    .header("content-type", "application/json")
                    .body("{}");
                if i % 2 == 0 {
                    rb = rb.basic_auth("stranger", Some(format!("guess{i}")));
                }
                rb.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
            }
        });
        use futures_util::StreamExt;
        let statuses: Vec<u16> = futures_util::stream::iter(calls)
            .buffer_unordered(32)
            .collect()
            .await;
        assert!(statuses.iter().all(|s| *s == 401), "all refused");
    });
    stop_child(child);
    let logs = logs.join().unwrap();
    let refused = logs.matches("refused an action call").count();
    // Two reasons (missing, invalid), ten lines each per 10-s window; the flood takes one or
    // two windows.
    assert!(refused <= 40, "{refused} lines:\n{logs}");
    assert!(refused >= 2, "{logs}");
    let dropped: u64 = logs
        .lines()
        .filter(|l| l.contains("log lines dropped"))
        .filter_map(|l| {
            l.split("dropped=")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum();
    assert_eq!(dropped + refused as u64, 2000, "{logs}");
}
