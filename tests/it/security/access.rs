//! Issue 16 items 1, 2, 7 and 13: who may make the server run argon2, and how often.
//!
//! - Admin password checks (login, setup link, password change) pass one gate: two argon2
//!   runs at once in all, one attempt at a time per address, a growing delay after failures,
//!   and 429 with `Retry-After` instead of a queue (`src/admin/gate.rs`).
//! - Endpoint authentication counts only attempts that cost argon2, before they run; requests
//!   without a credential or with an unknown one cost nothing and lock nobody out
//!   (`src/auth/mod.rs`).
//! - `/readyz` answers from a probe at most a second old, one probe at a time.
//!
//! Every test here fails on the code before f160925 (see each test's comment for why).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::admin::{client, set_password, PASSWORD};
use crate::support::*;

/// The value of a counter on a server's `/metrics` page, `None` when the page has no such line.
async fn try_metric(base: &str, name: &str) -> Option<u64> {
    let page = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics page");
    let v = page
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name} {v:?}: {e}")),
    )
}

/// The value of a counter on a server's `/metrics` page.
async fn metric(base: &str, name: &str) -> u64 {
    try_metric(base, name)
        .await
        .unwrap_or_else(|| panic!("no {name} on /metrics"))
}

/// An admin API answer: status, `Retry-After` in whole seconds (if any), the JSON body and the
/// session cookie (if one was set).
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    json: Value,
    cookie: Option<String>,
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let retry_after = r.headers().get("retry-after").map(|v| {
        let v = v.to_str().expect("Retry-After is text");
        v.parse::<u64>()
            .unwrap_or_else(|_| panic!("Retry-After is not whole seconds: {v:?}"))
    });
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let json = r.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        json,
        cookie,
    }
}

async fn login_with(c: &reqwest::Client, base: &str, password: &str) -> Answer {
    let r = c
        .post(format!("{base}/admin/api/login"))
        .json(&json!({ "password": password }))
        .send()
        .await
        .expect("login request");
    answer(r).await
}

async fn login(base: &str, password: &str) -> Answer {
    login_with(&client(), base, password).await
}

/// A 429 that tells the client how long to wait, naming the field.
fn assert_told_to_wait(a: &Answer, field: &str) -> u64 {
    assert_eq!(a.status, 429, "{a:?}");
    assert_eq!(a.json["field"], field, "{a:?}");
    let secs = a
        .retry_after
        .unwrap_or_else(|| panic!("429 without Retry-After: {a:?}"));
    assert!(secs >= 1, "{a:?}");
    secs
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{status}"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Kills the server child even when the test panics half-way.
struct Child(Option<std::process::Child>);

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            stop_child(c);
        }
    }
}

/// 200 concurrent wrong logins from one address against the real binary: every answer is 401
/// or 429 with `Retry-After`, at most 5 reach argon2, and memory stays flat.
///
/// Before f160925 each login ran argon2 (19 MiB) on the blocking pool with no bound, and the
/// old throttle (5 failures a minute) was checked before any of the concurrent attempts had
/// failed: all 200 ran at once (40 concurrent logins once took the process from 24 MB to
/// 668 MB), the 429s carried no `Retry-After`, and the metric did not exist.
#[test]
fn a_login_flood_from_one_address_costs_few_argon2_runs_and_no_memory() {
    const FLOOD: usize = 200;
    const SLACK_KIB: u64 = 64 * 1024;
    let dir = DataDir::new();
    set_password(&dir);
    let (mut child, out, err) = spawn_serve(&dir.path, &[], &["--listen", "127.0.0.1:0"], &[]);
    assert!(out.contains("serving on"), "{out}{err}");
    // A full stderr pipe would block the server: drain it, keeping the text for failures.
    let stderr = child.stderr.take().expect("stderr");
    let drain = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut s);
        s
    });
    let pid = child.id();
    let child = Child(Some(child));
    let base = format!("http://{}", banner_addr(&out));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (statuses, checks, before, after) = rt.block_on(async {
        let c = client();
        // Started and answering before the baseline is taken.
        let r = c.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let before = memory_kib(pid);
        let answers = futures_util::future::join_all((0..FLOOD).map(|i| {
            let (c, base) = (&c, &base);
            async move { login_with(c, base, &format!("wrong password {i}")).await }
        }))
        .await;
        let after = memory_kib(pid);
        let checks = try_metric(&base, "profilegate_admin_password_checks_total").await;
        (answers, checks, before, after)
    });
    // The server answered /metrics after the flood: it is alive. Now stop it.
    drop(child);
    let logs = drain.join().unwrap_or_default();
    let tail: String = {
        let n = logs.len();
        logs[n.saturating_sub(2000)..].to_string()
    };

    let (rss0, hwm0) = before;
    let (rss1, hwm1) = after;
    eprintln!(
        "login flood: VmRSS {rss0} -> {rss1} KiB, VmHWM {hwm0} -> {hwm1} KiB, argon2 runs {checks:?}"
    );
    // Memory first: it is what the flood used to break.
    assert!(
        rss1 <= rss0 + SLACK_KIB,
        "RSS grew from {rss0} KiB to {rss1} KiB\n{tail}"
    );
    assert!(
        hwm1 <= rss0.max(hwm0) + SLACK_KIB,
        "peak RSS rose to {hwm1} KiB from {rss0} KiB (peak {hwm0} KiB before)\n{tail}"
    );
    let mut unauthorized = 0;
    for a in &statuses {
        match a.status {
            401 => unauthorized += 1,
            429 => {
                assert_told_to_wait(a, "password");
            }
            _ => panic!("neither 401 nor 429: {a:?}\n{tail}"),
        }
    }
    assert!(unauthorized >= 1, "no attempt was checked at all");
    let checks = checks.expect("profilegate_admin_password_checks_total on /metrics");
    assert!(
        checks <= 5,
        "{checks} argon2 runs for {FLOOD} concurrent logins from one address ({unauthorized} answered 401)"
    );
    assert_eq!(
        checks, unauthorized as u64,
        "every argon2 run answered 401, every other attempt 429"
    );
}

/// The two argon2 permits are shared by all addresses: 40 concurrent wrong logins from 40
/// loopback addresses (no back-off applies, each address tries once) get some 429s with
/// `Retry-After`, and only the attempts that ran argon2 answer 401.
///
/// Before f160925 every address's first attempt ran argon2 at once: 40 answers 401.
#[tokio::test(flavor = "multi_thread")]
async fn argon2_permits_are_shared_by_all_addresses() {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let clients: Vec<reqwest::Client> = (2..42u8)
        .map(|last| {
            reqwest::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
                .build()
                .unwrap()
        })
        .collect();
    let answers = futures_util::future::join_all(
        clients
            .iter()
            .map(|c| login_with(c, &srv.url, "not the password")),
    )
    .await;
    let checks = try_metric(&srv.url, "profilegate_admin_password_checks_total").await;
    let mut busy = 0;
    for a in &answers {
        match a.status {
            401 => assert_eq!(a.json["field"], "password", "{a:?}"),
            429 => {
                assert_eq!(assert_told_to_wait(a, "password"), 1, "busy: {a:?}");
                busy += 1;
            }
            _ => panic!("neither 401 nor 429: {a:?}"),
        }
    }
    assert!(
        busy > 0,
        "40 concurrent checks from 40 addresses all ran argon2"
    );
    assert_eq!(
        checks.expect("profilegate_admin_password_checks_total on /metrics"),
        (answers.len() - busy) as u64,
        "every argon2 run answered 401"
    );
    srv.stop().await;
}

/// Growing back-off per address (item 7): none after the first failure, then 1 s, 2 s ...;
/// a correct password gets in once the delay has passed, and a success starts afresh.
///
/// Before f160925 the third attempt (the right password) was let in at once: the old rule
/// refused only after 5 failures, and then for a whole minute, the right password too.
#[tokio::test(flavor = "multi_thread")]
async fn login_back_off_grows_and_the_right_password_gets_in_after_it() {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let url = srv.url.clone();

    // Two failures in a row: the first costs no delay.
    assert_eq!(login(&url, "wrong password 1").await.status, 401);
    assert_eq!(login(&url, "wrong password 2").await.status, 401);
    // Now even the right password waits a second.
    let a = login(&url, PASSWORD).await;
    assert_eq!(assert_told_to_wait(&a, "password"), 1, "{a:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The third failure: 2 s.
    assert_eq!(login(&url, "wrong password 3").await.status, 401);
    let failed_at = Instant::now();
    let a = login(&url, PASSWORD).await;
    let wait = assert_told_to_wait(&a, "password");
    assert!(wait <= 2, "{a:?}");
    if failed_at.elapsed() < Duration::from_millis(900) {
        assert_eq!(wait, 2, "the delay after a third failure is 2 s: {a:?}");
    }
    tokio::time::sleep(Duration::from_secs(wait)).await;
    // The delay has passed: the right password gets a session.
    let a = login(&url, PASSWORD).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(
        a.cookie
            .as_deref()
            .is_some_and(|c| c.starts_with("pg_session=")),
        "{a:?}"
    );
    assert!(a.json["csrf_token"].as_str().is_some_and(|t| !t.is_empty()));
    // The success reset the count: one failure is free again, the next costs 1 s (not 4).
    assert_eq!(login(&url, "wrong password 4").await.status, 401);
    assert_eq!(login(&url, "wrong password 5").await.status, 401);
    let a = login(&url, PASSWORD).await;
    assert_eq!(assert_told_to_wait(&a, "password"), 1, "{a:?}");
    srv.stop().await;
}

/// Setup-link guesses pass the same gate: two wrong tokens, and the right one waits a second.
///
/// Before f160925 the setup link was throttled only after 5 failures: the third try set the
/// password at once.
#[tokio::test(flavor = "multi_thread")]
async fn setup_link_guesses_are_slowed_down_like_logins() {
    let dir = DataDir::new();
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            setup_token: Some("the-setup-token".into()),
            ..Default::default()
        },
    )
    .await;
    let setup = |token: &'static str| {
        let url = format!("{}/admin/api/setup", srv.url);
        async move {
            let r = client()
                .post(url)
                .json(&json!({"token": token, "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            answer(r).await
        }
    };
    assert_eq!(setup("guess one").await.status, 403);
    assert_eq!(setup("guess two").await.status, 403);
    let a = setup("the-setup-token").await;
    assert_eq!(assert_told_to_wait(&a, "token"), 1, "{a:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let a = setup("the-setup-token").await;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.cookie.is_some(), "{a:?}");
    srv.stop().await;
}

/// A client that hangs up while its login is being checked: the check must still hold its
/// argon2 permit and its address's turn until argon2 is done, and its failure must count.
/// 30 such logins in a row from one address may reach argon2 no more often than 30 patient
/// ones would (at most 5, as in the flood above).
///
/// (Found while writing these tests: when the gate's `Attempt` lived in the request's future,
/// which hyper drops when the client disconnects, the permit and the address's turn were
/// released at once while argon2 went on in the blocking pool, and no failure was counted:
/// 26 of 30 hang-ups reached argon2, and 20 addresses x 20 hang-ups took the real binary from
/// 48 MB to 345 MB of RSS. The attempt now moves into the blocking task.)
#[tokio::test(flavor = "multi_thread")]
async fn abandoned_logins_still_hold_the_gate_and_count() {
    use tokio::io::AsyncWriteExt;
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let addr = srv.url.trim_start_matches("http://").to_string();
    let body = r#"{"password":"wrong password here"}"#;
    let request = format!(
        "POST /admin/api/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let started = Instant::now();
    for _ in 0..30 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        // Long enough for the server to admit the attempt and start argon2, then hang up.
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(s);
    }
    let took = started.elapsed();
    let checks = metric(&srv.url, "profilegate_admin_password_checks_total").await;
    assert!(
        checks <= 5,
        "{checks} argon2 runs admitted for 30 logins abandoned one after another from one address in {took:?}"
    );
    // When at least two of them reached argon2 (on a busy machine a hang-up may come before
    // its check is admitted, and then nothing is counted) and all of this took under a second,
    // the last failure is less than a second old (or its check still runs): the next one waits.
    let elapsed = started.elapsed();
    if checks >= 2 && elapsed < Duration::from_millis(900) {
        let a = login(&srv.url, "yet another wrong one").await;
        assert_told_to_wait(&a, "password");
    }
    srv.stop().await;
}

// --- Endpoint authentication ---------------------------------------------------------------

fn description(r: &Reply) -> String {
    r.json["errorDescription"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// 10,000 calls without a credential or with unknown ones from the identity server's address,
/// interleaved with 100 real calls: every real call succeeds, every other one is a plain 401.
/// The server is fresh, so the real secret is not yet in the verified cache: its first call
/// needs argon2, which strangers' failures must not have used up.
///
/// Before f160925 every refused call counted as a failure of the address: after the first 10
/// bad calls the first real one was refused ("too many failed attempts") for a minute.
#[tokio::test(flavor = "multi_thread")]
async fn strangers_without_a_valid_credential_id_cannot_lock_out_the_caller() {
    const ROUNDS: usize = 100;
    const PER_ROUND: usize = 100;
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let url = srv.action_url();
    let good = Auth::of(&cred);
    let Auth::Basic(user, pass) = good.clone() else {
        unreachable!("a basic credential")
    };
    let id = cred.record.id.clone();
    assert_eq!(profilegate::auth::secret::id_of(&pass), Some(id.as_str()));
    let tail = pass.splitn(3, '_').nth(2).expect("secret tail").to_string();
    let c = reqwest::Client::new();
    let started = Instant::now();
    for round in 0..ROUNDS {
        let bad: Vec<Auth> = (0..PER_ROUND)
            .map(|i| {
                let n = round * PER_ROUND + i;
                match n % 4 {
                    0 => Auth::None,
                    1 => Auth::Basic(format!("someone-{n}"), pass.clone()),
                    2 => Auth::Bearer("pg_000000000000_x".into()),
                    _ => {
                        // The credential's user with a secret naming another id.
                        let mut other = format!("{n:012x}");
                        if other == id {
                            other = format!("{:012x}", n + 1);
                        }
                        Auth::Basic(user.clone(), format!("pg_{other}_{tail}"))
                    }
                }
            })
            .collect();
        let replies = futures_util::future::join_all(bad.iter().map(|a| {
            post_with(
                &c,
                &url,
                a,
                profile_event(None, dept(json!("HR"))).to_string(),
            )
        }))
        .await;
        for (a, r) in bad.iter().zip(&replies) {
            assert_eq!(r.status, 401, "{a:?}: {}", r.json);
            assert_eq!(r.json["actionStatus"], "ERROR", "{a:?}");
            assert!(
                !description(r).contains("too many"),
                "round {round}: a call without a valid credential id was throttled: {a:?} {}",
                r.json
            );
        }
        let rid = format!("lockout-{round}");
        let r = post_with(
            &c,
            &url,
            &good,
            profile_event(Some(&rid), dept(json!("HR"))).to_string(),
        )
        .await;
        assert_eq!(
            (r.status, r.json["actionStatus"].as_str()),
            (200, Some("SUCCESS")),
            "round {round}: the real caller was refused: {}",
            r.json
        );
    }
    eprintln!(
        "{} refused calls and {ROUNDS} real ones in {:?}",
        ROUNDS * PER_ROUND,
        started.elapsed()
    );
    srv.stop().await;
}

/// 50 concurrent wrong secrets naming the real credential id, from one address: at most 10
/// reach argon2 ('credentials are not valid'); the rest are refused unchecked ('too many failed
/// attempts').
///
/// Before f160925 the throttle was checked before any of them had failed and failures were
/// counted after argon2: all 50 ran argon2 and answered 'not valid'.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_wrong_secrets_cannot_all_slip_past_the_throttle() {
    const N: usize = 50;
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let url = srv.action_url();
    let Auth::Basic(user, pass) = Auth::of(&cred) else {
        unreachable!("a basic credential")
    };
    let c = reqwest::Client::new();
    // Distinct secrets, so no two share one verification.
    let wrong: Vec<Auth> = (0..N)
        .map(|i| Auth::Basic(user.clone(), format!("{pass}{i}")))
        .collect();
    for a in &wrong {
        let Auth::Basic(_, s) = a else { unreachable!() };
        assert_eq!(
            profilegate::auth::secret::id_of(s),
            Some(cred.record.id.as_str())
        );
    }
    let replies = futures_util::future::join_all(wrong.iter().map(|a| {
        post_with(
            &c,
            &url,
            a,
            profile_event(None, dept(json!("HR"))).to_string(),
        )
    }))
    .await;
    let (mut invalid, mut throttled) = (0, 0);
    for r in &replies {
        assert_eq!(r.status, 401, "{}", r.json);
        let d = description(r);
        if d.contains("credentials are not valid") {
            invalid += 1;
        } else if d.contains("too many failed attempts") {
            throttled += 1;
        } else {
            panic!("unexpected refusal: {}", r.json);
        }
    }
    assert!(
        (1..=10).contains(&invalid),
        "{invalid} of {N} concurrent wrong secrets reached argon2 ({throttled} throttled)"
    );
    assert_eq!(invalid + throttled, N);
    srv.stop().await;
}

// --- Readiness ------------------------------------------------------------------------------

/// 300 concurrent `/readyz` calls cost at most two probes; a call 1.2 s later costs one more.
///
/// Before f160925 every call ran its own probe (a store write made durable), and the counter
/// did not exist.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_reuses_its_probe_for_a_second() {
    let dir = DataDir::new();
    dir.standard();
    let srv = Server::start(&dir.path).await;
    let name = "profilegate_readiness_probes_total";
    let c = reqwest::Client::new();
    let readyz = format!("{}/readyz", srv.url);
    let p0 = metric(&srv.url, name).await;
    let statuses = futures_util::future::join_all((0..300).map(|_| {
        let r = c.get(&readyz).send();
        async move { r.await.expect("readyz").status().as_u16() }
    }))
    .await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let p1 = metric(&srv.url, name).await;
    assert!(
        (1..=2).contains(&(p1 - p0)),
        "300 concurrent /readyz ran {} probes",
        p1 - p0
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = c.get(&readyz).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
    let p2 = metric(&srv.url, name).await;
    assert_eq!(p2 - p1, 1, "a call after the answer expired runs one probe");
    srv.stop().await;
}

/// Callers that hang up while their wrong secret is being checked: each argon2 run keeps its
/// permit until it is done, so hang-ups from many addresses cannot pile up argon2 runs (19 MiB
/// each) beyond the two permits. Before a3c0e08 the permit was released with the dropped
/// request: 40 addresses x 10 abandoned calls took the real binary from 48 MB to 305 MB.
#[test]
fn abandoned_action_calls_cannot_pile_up_argon2_runs() {
    use std::io::Write;
    const SLACK_KIB: u64 = 64 * 1024;
    let dir = DataDir::new();
    let cred = dir.standard();
    let Auth::Basic(user, secret) = Auth::of(&cred) else {
        panic!("basic")
    };
    let id = secret.split('_').nth(1).expect("credential id").to_string();
    let (mut child, out, err) = spawn_serve(&dir.path, &[], &["--listen", "127.0.0.1:0"], &[]);
    assert!(out.contains("serving on"), "{out}{err}");
    let stderr = child.stderr.take().expect("stderr");
    let drain = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut s);
        s
    });
    let pid = child.id();
    let child = Child(Some(child));
    let addr: std::net::SocketAddr = banner_addr(&out).parse().unwrap();
    let before = memory_kib(pid);
    let body = profile_event(Some("gone"), dept(json!("HR"))).to_string();
    let mut open = Vec::new();
    let mut sent = 0;
    for a in 2..42u8 {
        for i in 0..10 {
            let basic = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{user}:pg_{id}_wrong{a}x{i}"),
            );
            let sock = std::net::SocketAddr::from(([127, 0, 0, a], 0));
            let mut s = connect_from(sock, addr).expect("connect from a loopback alias");
            s.write_all(
                format!(
                    "POST /actions/pre-update-profile HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {basic}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .expect("send the request");
            sent += 1;
            open.push(s);
        }
        // Let the server start checking, then hang up on all of them.
        std::thread::sleep(Duration::from_millis(5));
        open.clear();
    }
    assert_eq!(sent, 400, "every abandoned call was sent");
    // Whatever was admitted runs to its end; the peak is what matters.
    std::thread::sleep(Duration::from_secs(2));
    let after = memory_kib(pid);
    drop(child);
    let logs = drain.join().unwrap_or_default();
    let (rss0, hwm0) = before;
    let (_, hwm1) = after;
    eprintln!("abandoned calls: VmHWM {hwm0} -> {hwm1} KiB (VmRSS at start {rss0} KiB)");
    assert!(
        hwm1 <= rss0.max(hwm0) + SLACK_KIB,
        "peak RSS rose to {hwm1} KiB from {rss0} KiB\n{}",
        &logs[logs.len().saturating_sub(2000)..]
    );
}

/// A blocking TCP connection from a given local address (loopback aliases need no setup).
fn connect_from(
    local: std::net::SocketAddr,
    to: std::net::SocketAddr,
) -> Option<std::net::TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().ok()?;
        s.bind(local).ok()?;
        s.connect(to).await.ok()?.into_std().ok()
    })
    .and_then(|s| s.set_nonblocking(false).ok().map(|()| s))
}
