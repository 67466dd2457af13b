//! Abuse resistance: a flood of wrong credentials, endless bodies, clients that never finish
//! their headers, and many idle connections; the identity server's calls keep working.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// The caller gives up after 5 s; a valid call must stay well inside that.
const CALLER_BUDGET: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_do_not_starve_valid_callers() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let url = srv.action_url();
    let good = Auth::of(&cred);
    let Auth::Basic(user, secret) = good.clone() else {
        panic!("basic")
    };
    // The identity server has been calling all along (its credential is verified and cached).
    let ev = |id: String| profile_event(Some(&id), dept(json!("HR"))).to_string();
    assert_eq!(
        post(&url, &good, ev("warm".into())).await.json["actionStatus"],
        "SUCCESS"
    );

    // 400 attackers: half with a real credential id and a wrong secret (the expensive case:
    // it gets as far as argon2 until the address is throttled), half with garbage.
    // Secrets are `pg_<id>_<random>`: keep the id, change the rest.
    let id = secret.split('_').nth(1).unwrap().to_string();
    let id_prefix = format!("pg_{id}");
    let mut flood = Vec::new();
    for i in 0..400 {
        let url = url.clone();
        let wrong = if i % 2 == 0 {
            Auth::Basic(user.clone(), format!("{id_prefix}_wrong{i}"))
        } else {
            Auth::Basic("x".into(), format!("garbage{i}"))
        };
        flood.push(tokio::spawn(async move {
            post(&url, &wrong, "{}").await.status
        }));
    }
    // Meanwhile the identity server's calls.
    let mut slowest = Duration::ZERO;
    for i in 0..30 {
        let t = Instant::now();
        let r = post(&url, &good, ev(format!("during-{i}"))).await;
        slowest = slowest.max(t.elapsed());
        assert_eq!(r.json["actionStatus"], "SUCCESS", "{:?}", r.json);
    }
    for f in flood {
        assert_eq!(f.await.unwrap(), 401);
    }
    assert!(
        slowest < CALLER_BUDGET,
        "a valid call took {slowest:?} during the flood"
    );
    // The flood was throttled: far fewer argon2 runs than attempts (see /metrics).
    let page = reqwest::get(format!("{}/metrics", srv.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("profilegate_auth_failures_total{reason=\"throttled\"}"),
        "{page}"
    );
    let throttled: f64 = page
        .lines()
        .find_map(|l| l.strip_prefix("profilegate_auth_failures_total{reason=\"throttled\"} "))
        .unwrap()
        .parse()
        .unwrap();
    // Of the 200 attempts that could reach argon2, only the first few per address do; the
    // rest are refused before it (the garbage ones never get that far: no credential id).
    assert!(throttled >= 150.0, "only {throttled} refused before argon2");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_bodies_are_cut_off() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let Auth::Basic(user, secret) = Auth::of(&cred) else {
        panic!("basic")
    };
    let host = srv.url.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&host).await.unwrap();
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{user}:{secret}"),
    );
    s.write_all(
        format!(
            "POST /actions/pre-update-profile HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {basic}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (mut rd, mut wr) = s.into_split();
    // Write 1 KiB chunks for as long as the server takes them.
    let writer = tokio::spawn(async move {
        let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
        let mut sent = 0usize;
        while sent < 64 * 1024 * 1024 {
            if wr.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            sent += 1024;
        }
        sent
    });
    let mut resp = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), rd.read(&mut resp))
        .await
        .expect("an answer, not a hang")
        .unwrap();
    let text = String::from_utf8_lossy(&resp[..n]).to_string();
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("too large"), "{text}");
    drop(rd);
    let sent = writer.await.unwrap();
    assert!(
        sent < 64 * 1024 * 1024,
        "the server kept reading an endless body"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_headers_time_out_and_idle_connections_do_not_exhaust_the_server() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let host = srv.url.trim_start_matches("http://").to_string();
    // A client that starts its headers and never finishes them.
    let mut slow = TcpStream::connect(&host).await.unwrap();
    slow.write_all(b"POST /actions/pre-update-profile HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // And 400 that connect and say nothing.
    let mut idle = Vec::new();
    for _ in 0..400 {
        idle.push(TcpStream::connect(&host).await.unwrap());
    }
    // The identity server is still served, promptly.
    for i in 0..10 {
        let t = Instant::now();
        let r = post(
            &srv.action_url(),
            &Auth::of(&cred),
            profile_event(Some(&format!("idle-{i}")), dept(json!("HR"))).to_string(),
        )
        .await;
        assert_eq!(r.json["actionStatus"], "SUCCESS");
        assert!(t.elapsed() < CALLER_BUDGET, "{:?}", t.elapsed());
    }
    // The server hangs up on them once the header timeout passes (10 s).
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(20), slow.read(&mut buf))
        .await
        .expect("the slow client was not cut off")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    let waited = started.elapsed();
    assert!(waited <= Duration::from_secs(15), "{waited:?}");
    // By then the idle ones (connected at the same time) are closed too.
    let reads = idle.into_iter().map(|mut c| async move {
        let mut b = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), c.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    });
    let closed = futures_util::future::join_all(reads)
        .await
        .into_iter()
        .filter(|c| *c)
        .count();
    assert_eq!(closed, 400, "idle connections left open");
    srv.stop().await;
}
