//! The password action over HTTP with the real authentication: every sample shape, each
//! credential form, retries, wrong bodies, and that the password reaches no log or record.

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::*;

pub(super) fn password_url(srv: &Server) -> String {
    format!("{}/actions/pre-update-password", srv.url)
}

fn sample_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/password"
    ))
}

/// The v1.1 sample (user `emily.rose`, org `bar.com`) with the given credential and request id.
pub(super) fn request(credential: Value, request_id: Option<&str>) -> Value {
    let body = std::fs::read(sample_dir().join("v1.1-user-reset-plain.json")).unwrap();
    let mut v: Value = serde_json::from_slice(&body).unwrap();
    v["event"]["user"]["updatingCredential"] = credential;
    match request_id {
        Some(r) => v["requestId"] = r.into(),
        None => {
            v.as_object_mut().unwrap().remove("requestId");
        }
    }
    v
}

pub(super) fn plain(password: &str) -> Value {
    json!({"type": "PASSWORD", "format": "PLAIN_TEXT", "value": password})
}

fn hash_of(password: &str) -> String {
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(password.as_bytes()))
}

pub(super) fn hashed(password: &str) -> Value {
    json!({"type": "PASSWORD", "format": "HASH", "value": hash_of(password),
           "additionalData": {"algorithm": "SHA256"}})
}

/// A token shaped like WSO2's (five base64url parts, the right header), for no key of ours.
fn jwe_token() -> String {
    let body = std::fs::read(sample_dir().join("v2.0-admin-invite-jwe.json")).unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    v["event"]["user"]["updatingCredential"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(super) fn password_decisions(dir: &DataDir) -> Vec<profilegate::model::DecisionEntry> {
    dir.with_store(decisions)
        .into_iter()
        .filter(|d| d.action_type.as_deref() == Some("PRE_UPDATE_PASSWORD"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_request_gets_a_contract_valid_answer() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(sample_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.push(fixtures_dir().join("suborg-user-password.json"));
    for path in &paths {
        let body = std::fs::read(path).unwrap();
        let r = post(&password_url(&srv), &auth, body).await;
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let expected = match name.as_str() {
            // The docs' HASH sample is not a common password, nor a context word.
            "suborg-user-password.json" | "v1.0-admin-update-hash.json" => "SUCCESS",
            "v1.1-user-reset-plain.json" => "SUCCESS",
            // Its organization's name twice.
            "v2.0-application-register-plain.json" => "FAILED",
            // No password-sharing key here.
            "v2.0-admin-invite-jwe.json" => "ERROR",
            other => panic!("a new sample {other}: add its expected answer"),
        };
        assert_eq!(r.json["actionStatus"], expected, "{name}: {}", r.json);
    }
    srv.stop().await;
    let recorded = password_decisions(&dir);
    // The seed in ../shared is the same body as its copy here, and without a requestId a
    // repeated body is a retry: replayed, not recorded again.
    let mut bodies: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(recorded.len(), bodies.len());
    let register = recorded
        .iter()
        .find(|d| d.password.as_ref().is_some_and(|p| p.action == "REGISTER"))
        .expect("the REGISTER decision");
    assert_eq!(register.user_id.as_deref(), Some("new user"));
    assert_eq!(register.initiator.as_deref(), Some("APPLICATION"));
    let p = register.password.as_ref().unwrap();
    assert_eq!(p.form, "PLAIN_TEXT");
    assert_eq!(
        p.failed_rule,
        Some(profilegate::policy::password::Rule::Repetitive)
    );
    let hash = recorded
        .iter()
        .find(|d| d.password.as_ref().is_some_and(|p| p.form == "HASH"))
        .unwrap();
    assert!(!hash.password.as_ref().unwrap().rules_unchecked.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_and_hash_forms_are_judged_with_the_rule_named() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let url = password_url(&srv);
    let cases = [
        (plain("violet hammock sunrise"), None),
        (plain("Tr0ub4dor&3"), Some("password_too_short")),
        (plain("momsanaladventure"), Some("password_too_common")),
        (plain("Emily.Rose2026!!!"), Some("password_context_word")),
        (hashed("momsanaladventure"), Some("password_too_common")),
        (hashed("violet hammock sunrise"), None),
    ];
    for (credential, refused) in cases {
        let r = post(&url, &auth, request(credential.clone(), None).to_string()).await;
        match refused {
            None => assert_eq!(
                r.json["actionStatus"], "SUCCESS",
                "{credential}: {}",
                r.json
            ),
            Some(reason) => {
                assert_eq!(r.json["actionStatus"], "FAILED", "{credential}: {}", r.json);
                assert_eq!(r.json["failureReason"], reason);
            }
        }
    }
    srv.stop().await;
    let recorded = password_decisions(&dir);
    assert_eq!(recorded.len(), 6);
    assert_eq!(recorded[4].password.as_ref().unwrap().form, "HASH");
    assert_eq!(
        recorded[1].user_id.as_deref(),
        Some("8eebb941-51e1-4d13-9d5a-81da190383ae")
    );
    assert_eq!(recorded[1].password.as_ref().unwrap().action, "RESET");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jwe_without_a_key_gets_the_clear_error() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let token = jwe_token();
    let r = post(
        &password_url(&srv),
        &Auth::of(&cred),
        request(json!(token), Some("jwe-1")).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(r.json["errorMessage"], "No password sharing key");
    assert!(r.json["errorDescription"]
        .as_str()
        .unwrap()
        .contains("certificate that profilegate does not have"));
    assert!(!String::from_utf8_lossy(&r.raw).contains(&token[..20]));
    srv.stop().await;
    let d = password_decisions(&dir).pop().unwrap();
    assert_eq!(d.password.unwrap().form, "JWE");
    assert_eq!(d.http_status, 400);
}

/// A JWE made by node's own crypto (as WSO2 makes it) for the newer of two active keys, and
/// one for the older: both open over HTTP, the policy judges the password inside, and the
/// record says JWE. A token for a retired key gets the clear error.
#[tokio::test(flavor = "multi_thread")]
async fn jwes_for_active_keys_open_and_are_judged() {
    use profilegate::keys::{KeySize, PasswordKey};
    let dir = DataDir::new();
    let cred = dir.standard();
    let (old, new) = dir.with_store(|store| {
        let old = PasswordKey::generate(KeySize::Rsa2048).unwrap();
        store.add_password_key("test", &old).unwrap();
        let new = PasswordKey::generate(KeySize::Rsa2048).unwrap();
        store.add_password_key("test", &new).unwrap();
        (old, new)
    });
    let cases = json!([
        {"name": "good", "password": "violet-harbour-lantern-7"},
        {"name": "short", "password": "hunter2"},
    ]);
    let by_new = crate::support::jwe::node(&new.certificate_base64(), cases.clone());
    let by_old = crate::support::jwe::node(old.certificate_pem(), cases);
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let send = |vectors: &Value, name: &str, id: &str| {
        request(json!(vectors["tokens"][name].as_str().unwrap()), Some(id)).to_string()
    };
    for (vectors, name, id, status, reason) in [
        (&by_new, "good", "jwe-new-good", "SUCCESS", None),
        (&by_old, "good", "jwe-old-good", "SUCCESS", None),
        (
            &by_new,
            "short",
            "jwe-new-short",
            "FAILED",
            Some("password_too_short"),
        ),
    ] {
        let r = post(&password_url(&srv), &auth, send(vectors, name, id)).await;
        assert_eq!(
            (r.status, r.json["actionStatus"].as_str()),
            (200, Some(status)),
            "{id}: {}",
            r.json
        );
        assert_eq!(r.json["failureReason"].as_str(), reason, "{id}: {}", r.json);
    }
    srv.stop().await;

    dir.with_store(|store| store.retire_password_key("test", old.id()).unwrap());
    let srv = Server::start(&dir.path).await;
    let r = post(
        &password_url(&srv),
        &auth,
        send(&by_old, "good", "jwe-old-retired"),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(
        r.json["errorMessage"], "Encrypted credential unreadable",
        "{}",
        r.json
    );
    srv.stop().await;
    let forms: Vec<String> = password_decisions(&dir)
        .into_iter()
        .map(|d| d.password.unwrap().form)
        .collect();
    assert_eq!(forms, ["JWE", "JWE", "JWE", "JWE"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_is_answered_the_same_with_one_record() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let body = request(plain("momsanaladventure"), Some("retry-pw-1")).to_string();
    let first = post(&password_url(&srv), &auth, body.clone()).await;
    let second = post(&password_url(&srv), &auth, body).await;
    assert_eq!(first.json["actionStatus"], "FAILED");
    assert_eq!(first.raw, second.raw);
    // The same request id at the profile endpoint is another request.
    let profile = profile_event(Some("retry-pw-1"), dept(json!("HR")));
    let p = post(&srv.action_url(), &auth, profile.to_string()).await;
    assert_eq!(p.json["actionStatus"], "SUCCESS");
    // Both answers count under the password action's own label.
    let metrics = reqwest::get(format!("{}/metrics", srv.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = r#"profilegate_action_requests_total{action_type="PRE_UPDATE_PASSWORD",outcome="FAILED"} 2"#;
    assert!(metrics.contains(line), "{metrics}");
    srv.stop().await;
    let recorded = password_decisions(&dir);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_bodies_are_answered_by_the_contract() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let url = password_url(&srv);
    // A profile body at the password endpoint, and the other way round.
    let profile = profile_event(Some("p-1"), dept(json!("HR")));
    let r = post(&url, &auth, profile.to_string()).await;
    assert_eq!(r.json["actionStatus"], "FAILED", "{}", r.json);
    assert_eq!(r.json["failureReason"], "invalid_input");
    let pw = request(plain("violet hammock sunrise"), Some("pw-at-profile"));
    let r = post(&srv.action_url(), &auth, pw.to_string()).await;
    assert_eq!(r.json["failureReason"], "invalid_input");
    // Malformed: 400 naming the JSON path.
    let mut missing = request(plain("violet hammock sunrise"), None);
    missing["event"]
        .as_object_mut()
        .unwrap()
        .remove("initiatorType");
    let r = post(&url, &auth, missing.to_string()).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["errorDescription"]
            .as_str()
            .unwrap()
            .contains("event.initiatorType"),
        "{}",
        r.json
    );
    let bad = request(
        json!({"type": "PASSWORD", "format": "PLAIN_TEXT", "value": 5}),
        None,
    );
    let r = post(&url, &auth, bad.to_string()).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["errorDescription"]
            .as_str()
            .unwrap()
            .contains("event.user.updatingCredential"),
        "{}",
        r.json
    );
    // The same authentication as the profile endpoint.
    let r = post(
        &url,
        &Auth::None,
        request(plain("violet hammock sunrise"), None).to_string(),
    )
    .await;
    assert_eq!(r.status, 401);
    // The trailing-slash spelling goes through warp to the same handler.
    let r = post(&format!("{url}/"), &auth, profile.to_string()).await;
    assert_eq!(r.json["failureReason"], "invalid_input");
    srv.stop().await;
}

#[test]
fn the_password_reaches_no_log_and_no_record() {
    const SECRET: &str = "zebra-lantern-quartz-7741";
    let dir = DataDir::new();
    let cred = dir.standard();
    let (mut child, out, err) = spawn_serve(
        &dir.path,
        &[],
        &["--listen", "127.0.0.1:0"],
        &[("PROFILEGATE_LOG", "debug")],
    );
    assert!(out.contains("serving on"), "{out}{err}");
    // Read both streams while the server runs: a full pipe would stall its logging.
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let errs = drain(Box::new(child.stderr.take().unwrap()));
    let url = format!("http://{}/actions/pre-update-password", banner_addr(&out));
    let token = jwe_token();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let auth = Auth::of(&cred);
        let short = &SECRET[..12];
        for credential in [plain(SECRET), plain(short), hashed(SECRET), json!(token)] {
            post(&url, &auth, request(credential, None).to_string()).await;
        }
        // Malformed, with the password inside.
        let mut bad = request(plain(SECRET), Some("bad-1"));
        bad["event"]["action"] = json!(7);
        let r = post(&url, &auth, bad.to_string()).await;
        assert_eq!(r.status, 400);
        let r = post(&url, &auth, format!("{{\"value\":\"{SECRET}\"")).await;
        assert_eq!(r.status, 400);
    });
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    // (stdout, the banner, was read up to the admin UI line by `spawn_serve`.)
    let logs = format!("{out}{}", errs.join().unwrap());
    assert!(logs.contains("malformed"), "debug logs expected:\n{logs}");
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(export.contains("PRE_UPDATE_PASSWORD"), "{export}");
    for (what, text) in [("log", &logs), ("audit export", &export)] {
        for needle in [
            SECRET,
            &SECRET[..12],
            &hash_of(SECRET),
            &token[..40],
            &token[token.len() - 20..],
        ] {
            assert!(
                !text.contains(needle),
                "the {what} holds {needle:?}:\n{text}"
            );
        }
    }
}
