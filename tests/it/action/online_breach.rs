//! The optional online breach check against a local range server: only the hash prefix leaves
//! the machine (with `Add-Padding`), padding is not a hit, a slow or broken source fails open
//! with an audit note (or closed when set), and a refused or HASH-form password is never sent.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::password::{hashed, password_decisions, password_url, plain, request};
use crate::support::source::{ok, Answer, Source};
use crate::support::*;

/// A range answer at once.
fn body(text: String) -> Answer {
    ok("text/plain", &text)
}

/// An answer after `delay`.
fn slow(delay: Duration) -> Answer {
    Answer {
        delay,
        ..ok("text/plain", "")
    }
}

/// A captive portal's page: 200, but not a range list.
fn portal() -> Answer {
    ok(
        "text/html",
        "<html><body>Sign in to the network</body></html>",
    )
}

fn sha1(password: &str) -> String {
    profilegate::online_breach::sha1_hex(password).to_string()
}

/// A range answer for `password`'s prefix: its suffix with `count`, beside padding entries
/// (count 0) and another real one.
fn range_body(password: &str, count: u32) -> String {
    let suffix = sha1(password)[5..].to_string();
    format!(
        "0018A45C4D1DEF81644B54AB7F969B88D65:0\r\n{suffix}:{count}\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2\r\nFFFFF6E8FA6EECAD2A3AA415EEC418D38EC:0"
    )
}

fn online(dir: &DataDir, args: &[&str]) {
    let mut all = vec!["password", "policy", "online"];
    all.extend_from_slice(args);
    let o = cli(&dir.path, &all);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Online breach check:"),
        "{}",
        stdout(&o)
    );
}

fn last_record(dir: &DataDir) -> profilegate::model::PasswordDecision {
    password_decisions(dir)
        .pop()
        .and_then(|d| d.password)
        .expect("a password decision")
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_prefix_is_sent_and_a_listed_password_is_refused() {
    let stub = Source::start("/range/", None).await;
    let dir = DataDir::new();
    let cred = dir.standard();
    online(&dir, &["on", "--url", &stub.url, "--timeout-ms", "900"]);
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let listed = "violet hammock sunrise bell";
    let clean = "amber kettle across the meadow";
    let url = password_url(&srv);

    // Listed with a count: refused, naming the breach.
    stub.set(body(range_body(listed, 7)));
    let r = post(
        &url,
        &auth,
        request(plain(listed), Some("ob-1")).to_string(),
    )
    .await;
    assert_contract_valid(&r);
    assert_eq!(r.json["actionStatus"], "FAILED", "{}", r.json);
    assert_eq!(r.json["failureReason"], "password_breached");
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 1);
    let head = reqs[0].to_ascii_lowercase();
    let hash = sha1(listed);
    assert!(
        head.starts_with(&format!(
            "get /range/{} http/1.1",
            hash[..5].to_ascii_lowercase()
        )),
        "{head}"
    );
    assert!(head.contains("\r\nadd-padding: true\r\n"), "{head}");
    assert!(
        !head.contains(&hash[5..].to_ascii_lowercase()),
        "the suffix left: {head}"
    );

    // Only a padding entry (count 0) matches: not a hit.
    stub.set(body(range_body(clean, 0)));
    let r = post(&url, &auth, request(plain(clean), Some("ob-2")).to_string()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{}", r.json);

    // A password the local rules refuse is never sent, nor is the HASH form.
    let before = stub.requests().len();
    let r = post(
        &url,
        &auth,
        request(plain("short one"), Some("ob-3")).to_string(),
    )
    .await;
    assert_eq!(r.json["failureReason"], "password_too_short", "{}", r.json);
    let r = post(
        &url,
        &auth,
        request(hashed(clean), Some("ob-4")).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{}", r.json);
    assert_eq!(stub.requests().len(), before);
    srv.stop().await;

    let all = password_decisions(&dir);
    let by_id = |id: &str| {
        all.iter()
            .find(|d| d.request_id.as_deref() == Some(id))
            .and_then(|d| d.password.clone())
            .unwrap()
    };
    let refused = by_id("ob-1");
    assert_eq!(
        refused.failed_rule,
        Some(profilegate::policy::password::Rule::Breached)
    );
    let ok = by_id("ob-2");
    assert!(ok
        .rules_applied
        .contains(&profilegate::policy::password::Rule::Breached));
    assert_eq!(ok.note, None);
    let hash_form = by_id("ob-4");
    assert!(!hash_form
        .rules_applied
        .contains(&profilegate::policy::password::Rule::Breached));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_that_does_not_answer_fails_open_with_a_note_or_closed_when_set() {
    let stub = Source::start("/range/", None).await;
    let dir = DataDir::new();
    let cred = dir.standard();
    online(&dir, &["on", "--url", &stub.url, "--timeout-ms", "200"]);
    let auth = Auth::of(&cred);
    let pw = "quiet lantern over seven hills";

    let srv = Server::start(&dir.path).await;
    // The first request pays for checking the credential (argon2); this one is refused by a
    // local rule, so the source is not asked.
    let r = post(
        &password_url(&srv),
        &auth,
        request(plain("short"), Some("warm")).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "FAILED", "{}", r.json);
    stub.set(slow(Duration::from_secs(3)));
    let t = Instant::now();
    let r = post(
        &password_url(&srv),
        &auth,
        request(plain(pw), Some("slow-1")).to_string(),
    )
    .await;
    let took = t.elapsed();
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{}", r.json);
    assert!(
        took < Duration::from_millis(1500),
        "{took:?} {:?}",
        stub.requests()
    );
    stub.set(portal());
    let r = post(
        &password_url(&srv),
        &auth,
        request(plain(pw), Some("portal-1")).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{}", r.json);
    srv.stop().await;
    let all = password_decisions(&dir);
    let notes: Vec<String> = all
        .iter()
        .filter_map(|d| d.password.as_ref().and_then(|p| p.note.clone()))
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].contains("timed out after 200 ms") && notes[0].contains("fails open"),
        "{notes:?}"
    );
    assert!(notes[1].contains("not a range list"), "{notes:?}");
    let p = last_record(&dir);
    assert!(p
        .rules_unchecked
        .contains(&profilegate::policy::password::Rule::Breached));

    // Fail closed: the password is refused with its own text.
    online(&dir, &["on", "--on-failure", "closed"]);
    let srv = Server::start(&dir.path).await;
    stub.set(slow(Duration::from_secs(3)));
    let r = post(
        &password_url(&srv),
        &auth,
        request(plain(pw), Some("slow-2")).to_string(),
    )
    .await;
    assert_contract_valid(&r);
    assert_eq!(r.json["actionStatus"], "FAILED", "{}", r.json);
    assert_eq!(r.json["failureReason"], "password_check_unavailable");
    srv.stop().await;
    let p = last_record(&dir);
    assert_eq!(
        p.failed_rule,
        Some(profilegate::policy::password::Rule::BreachUnavailable)
    );
    assert!(p.note.unwrap().contains("fails closed"));
}

#[test]
fn the_setting_is_validated_and_kept_when_switched_off() {
    let dir = DataDir::new();
    dir.standard();
    for (args, field) in [
        (vec!["on"], "URL"),
        (vec!["on", "--url", "ftp://x.example/"], "URL"),
        (
            vec![
                "on",
                "--url",
                "https://r.example/range/",
                "--timeout-ms",
                "5000",
            ],
            "timeout",
        ),
    ] {
        let mut all = vec!["password", "policy", "online"];
        all.extend_from_slice(&args);
        let o = cli(&dir.path, &all);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(field), "{args:?}: {}", stderr(&o));
    }
    online(&dir, &["on", "--url", "https://r.example/range/"]);
    online(&dir, &["off"]);
    let o = cli(&dir.path, &["password", "policy", "show"]);
    assert!(
        stdout(&o).contains("Online breach check: off"),
        "{}",
        stdout(&o)
    );
    let v: Value = dir.with_store(|s| serde_json::to_value(&s.settings().password.online).unwrap());
    assert_eq!(v["url"], "https://r.example/range/");
    assert_eq!(v["enabled"], false);
}
