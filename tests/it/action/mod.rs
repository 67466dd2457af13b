//! The action endpoint over HTTP: fixtures, rules, bad input, idempotency.

mod abuse;
mod online_breach;
mod password;
mod password_mail;
mod props;

use serde_json::{json, Value};

use crate::support::*;
use profilegate::policy::MatchMode;

#[tokio::test(flavor = "multi_thread")]
async fn every_fixture_gets_a_valid_answer() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures_dir()).expect("fixtures dir beside the repo") {
        let path = entry.unwrap().path();
        let body = std::fs::read(&path).unwrap();
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        let r = post(&srv.action_url(), &auth, body).await;
        let expected = if parsed["actionType"] == "PRE_UPDATE_PROFILE" {
            "SUCCESS"
        } else {
            "FAILED"
        };
        assert_eq!(
            r.json["actionStatus"],
            expected,
            "{}: {}",
            path.display(),
            r.json
        );
        if expected == "FAILED" {
            assert_eq!(r.json["failureReason"], "invalid_input");
            assert_eq!(r.json["failureDescription"], "Invalid actionType provided.");
        }
        seen += 1;
    }
    assert!(seen >= 5, "expected the shared fixtures, found {seen}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn department_rules_over_http() {
    let dir = DataDir::new();
    let cred = dir.standard();
    dir.with_store(|s| {
        s.add_departments("test", Some("org-sub"), &["Sales"])
            .unwrap()
    });
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let url = srv.action_url();
    let status = |r: &Reply| {
        r.json["actionStatus"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    let r = post(
        &url,
        &auth,
        profile_event(None, dept(json!("HR"))).to_string(),
    )
    .await;
    assert_eq!(status(&r), "SUCCESS");
    // A name with characters the caller forbids in messages is still a valid department.
    let r = post(
        &url,
        &auth,
        profile_event(None, dept(json!("R&D, Europe"))).to_string(),
    )
    .await;
    assert_eq!(status(&r), "SUCCESS");

    let r = post(
        &url,
        &auth,
        profile_event(None, dept(json!("Marketing"))).to_string(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["failureReason"], "invalid_department_input");
    assert_eq!(
        r.json["failureDescription"],
        "Provided user department value is invalid."
    );

    // Exact match by default.
    let r = post(
        &url,
        &auth,
        profile_event(None, dept(json!("hr"))).to_string(),
    )
    .await;
    assert_eq!(status(&r), "FAILED");
    // Removal is allowed, single- and multi-valued.
    for removal in [json!(""), json!([])] {
        let r = post(&url, &auth, profile_event(None, dept(removal)).to_string()).await;
        assert_eq!(status(&r), "SUCCESS");
    }
    // Every department claim counts, not the first only.
    let two = json!([{"uri": DEPT, "value": "HR"}, {"uri": DEPT, "value": "Nope"}]);
    let r = post(&url, &auth, profile_event(None, two).to_string()).await;
    assert_eq!(status(&r), "FAILED");
    let arr = dept(json!(["HR", "Nope"]));
    let r = post(&url, &auth, profile_event(None, arr).to_string()).await;
    assert_eq!(status(&r), "FAILED");
    // Claims the policy does not care about.
    let other = json!([{"uri": "http://wso2.org/claims/nickname", "value": "x"}]);
    let r = post(&url, &auth, profile_event(None, other).to_string()).await;
    assert_eq!(status(&r), "SUCCESS");

    // A sub-organization with its own list uses it; one without falls back to the root list.
    let mut sub = profile_event(None, dept(json!("Sales")));
    sub["event"]["organization"] =
        json!({"id": "org-sub", "name": "Sub", "orgHandle": "sub.com", "depth": 1});
    assert_eq!(status(&post(&url, &auth, sub.to_string()).await), "SUCCESS");
    sub["event"]["request"]["claims"] = dept(json!("HR"));
    assert_eq!(status(&post(&url, &auth, sub.to_string()).await), "FAILED");
    sub["event"]["organization"]["id"] = json!("org-other");
    assert_eq!(status(&post(&url, &auth, sub.to_string()).await), "SUCCESS");
    srv.stop().await;

    // The organization is recorded with the decision.
    dir.with_store(|s| {
        let d = decisions(s);
        let last = d.last().unwrap();
        assert_eq!(
            last.organization.as_ref().and_then(|o| o.id.as_deref()),
            Some("org-other")
        );
        assert_eq!(last.decision, "SUCCESS");
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn case_insensitive_setting() {
    let dir = DataDir::new();
    let cred = dir.standard();
    dir.with_store(|s| {
        s.update_settings("test", "policy", |st| {
            st.policy.department_match = MatchMode::CaseInsensitive
        })
        .unwrap()
    });
    let srv = Server::start(&dir.path).await;
    let r = post(
        &srv.action_url(),
        &Auth::of(&cred),
        profile_event(None, dept(json!("hr"))).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lenient_parsing() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    // Unknown fields anywhere, reordered keys, non-ASCII values, integer depth 0, no requestId.
    let body = r#"{"event":{"action":"UPDATE","initiatorType":"USER","application":{"x":1},
        "request":{"claims":[{"value":"Zoë 😀","uri":"http://wso2.org/claims/givenname","extra":true}]},
        "tenant":{"name":"carbon.super","id":"-1234"},"organization":{"id":"o","name":"n","orgHandle":"h","depth":0},
        "user":{"id":"u","userType":"LOCAL","claims":[{"uri":"http://wso2.org/claims/givenname","value":"Zoe","updatingValue":"Zoë 😀"}]},
        "userStore":{"id":"UFJJTUFSWQ==","name":"PRIMARY"}},"flowId":"f","allowedOperations":[],"actionType":"PRE_UPDATE_PROFILE"}"#;
    let r = post(&srv.action_url(), &auth, body).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    // Unknown initiator and action values do not crash anything.
    let mut odd = profile_event(None, dept(json!("HR")));
    odd["event"]["initiatorType"] = json!("ROBOT");
    odd["event"]["action"] = json!("DELETE");
    let r = post(&srv.action_url(), &auth, odd.to_string()).await;
    assert_eq!(r.status, 200);
    srv.stop().await;
    dir.with_store(|s| {
        let d = decisions(s);
        assert_eq!(
            d[0].claims[0].new,
            profilegate::contract::ClaimValue::Single("Zoë 😀".into())
        );
        assert_eq!(
            d[0].claims[0].old,
            Some(profilegate::contract::ClaimValue::Single("Zoe".into()))
        );
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_400_with_a_reason() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let url = srv.action_url();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not json", b"{not json".to_vec(), "not JSON"),
        ("array", b"[1,2]".to_vec(), "not a JSON object"),
        ("empty", b"".to_vec(), "empty"),
        ("not utf8", vec![0xff, 0xfe, 0x7b], "UTF-8"),
        ("trailing comma", br#"{"actionStatus":"x",}"#.to_vec(), "not JSON"),
        ("no actionType", b"{}".to_vec(), "actionType"),
        ("claims not array", br#"{"actionType":"PRE_UPDATE_PROFILE","event":{"request":{"claims":{}}}}"#.to_vec(), "event.request.claims"),
        ("null claim", br#"{"actionType":"PRE_UPDATE_PROFILE","event":{"request":{"claims":[null]}}}"#.to_vec(), "event.request.claims[0]"),
        ("numeric value", br#"{"actionType":"PRE_UPDATE_PROFILE","event":{"request":{"claims":[{"uri":"u","value":5}]}}}"#.to_vec(), "string or an array of strings"),
        ("tenant id number", br#"{"actionType":"PRE_UPDATE_PROFILE","event":{"tenant":{"id":5}}}"#.to_vec(), "event.tenant.id"),
    ];
    for (name, body, expect) in cases {
        let r = post(&url, &auth, body).await;
        assert_eq!(r.status, 400, "{name}: {}", r.json);
        assert_eq!(r.json["actionStatus"], "ERROR", "{name}");
        let desc = r.json["errorDescription"].as_str().unwrap_or_default();
        assert!(
            desc.contains(expect),
            "{name}: {desc:?} should mention {expect:?}"
        );
    }
    // Over 64 KiB with a declared length.
    let mut big = profile_event(None, dept(json!("HR")));
    big["padding"] = json!("x".repeat(70 * 1024));
    let r = post(&url, &auth, big.to_string()).await;
    assert_eq!(r.status, 400);
    assert!(r.json["errorMessage"]
        .as_str()
        .unwrap()
        .contains("too large"));
    // Over 64 KiB, chunked (no length declared).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    let r = post(
        &url,
        &auth,
        reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
    )
    .await;
    assert_eq!(r.status, 400);
    // Other paths and methods still answer JSON.
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 405);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("application/json"));
    let resp = reqwest::get(format!("{}/nope", srv.url)).await.unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["actionStatus"], "ERROR");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retried_request_id_replays_the_decision_once() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let url = srv.action_url();
    let first = post(
        &url,
        &auth,
        profile_event(Some("req-1"), dept(json!("Nope"))).to_string(),
    )
    .await;
    assert_eq!(first.json["actionStatus"], "FAILED");
    // The retry gets the stored answer, whatever its body says now.
    let again = post(
        &url,
        &auth,
        profile_event(Some("req-1"), dept(json!("HR"))).to_string(),
    )
    .await;
    assert_eq!(again.json, first.json);
    // Concurrent retries are decided once.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (url, auth) = (url.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            post(
                &url,
                &auth,
                profile_event(Some("req-2"), dept(json!("HR"))).to_string(),
            )
            .await
            .json
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap()["actionStatus"], "SUCCESS");
    }
    // Without a requestId, an identical body is the retry.
    let body = profile_event(None, dept(json!("Engineering"))).to_string();
    post(&url, &auth, body.clone()).await;
    post(&url, &auth, body).await;
    srv.stop().await;
    dir.with_store(|s| {
        let d = decisions(s);
        assert_eq!(
            d.iter()
                .filter(|d| d.request_id.as_deref() == Some("req-1"))
                .count(),
            1
        );
        assert_eq!(
            d.iter()
                .filter(|d| d.request_id.as_deref() == Some("req-2"))
                .count(),
            1
        );
        assert_eq!(d.len(), 3, "{d:?}");
    });
}

/// Every request example in the seed documents (some are not even valid JSON: the docs have
/// trailing commas) gets a response the identity server accepts.
#[tokio::test(flavor = "multi_thread")]
async fn every_seed_example_gets_a_valid_answer() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let seeds = fixtures_dir().join("../seeds");
    let mut examples = 0;
    for entry in std::fs::read_dir(&seeds).expect("seeds dir beside the repo") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for body in request_examples(&text) {
            let r = post(&srv.action_url(), &auth, body.clone()).await;
            match serde_json::from_str::<Value>(&body) {
                Ok(v) if v["actionType"] == "PRE_UPDATE_PROFILE" => {
                    assert_eq!(r.json["actionStatus"], "SUCCESS", "{body}")
                }
                Ok(_) => assert_eq!(r.json["failureReason"], "invalid_input", "{body}"),
                Err(_) => assert_eq!(r.status, 400, "{body}"),
            }
            examples += 1;
        }
    }
    assert!(examples >= 8, "found only {examples} examples in the seeds");
    srv.stop().await;
}

/// The JSON objects in a document that contain `"actionType"`: from the `{` that opens the
/// enclosing object to its matching `}` (strings and escapes respected).
fn request_examples(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("\"actionType\"") {
        let at = from + pos;
        from = at + 1;
        // The opening brace of the object this key belongs to.
        let Some(open) = text[..at].rfind('{') else {
            continue;
        };
        let (mut depth, mut in_str, mut esc) = (0i32, false, false);
        for (i, &b) in bytes.iter().enumerate().skip(open) {
            match (in_str, esc, b) {
                (true, true, _) => esc = false,
                (true, false, b'\\') => esc = true,
                (true, false, b'"') => in_str = false,
                (true, false, _) => {}
                (false, _, b'"') => in_str = true,
                (false, _, b'{') => depth += 1,
                (false, _, b'}') => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(text[open..=i].to_string());
                        from = i;
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_checked_before_the_body() {
    let dir = DataDir::new();
    dir.standard();
    let srv = Server::start(&dir.path).await;
    // A malformed body from an unauthenticated caller is refused for the credentials, not
    // parsed; and nothing is recorded for it.
    let r = post(&srv.action_url(), &Auth::None, "{not json").await;
    assert_eq!(r.status, 401);
    srv.stop().await;
    dir.with_store(|s| assert!(decisions(s).is_empty()));
}

/// The exact route is served by the connection loop directly, any other spelling warp matches
/// (a trailing slash) by the warp route: both must answer alike, each step of the way.
#[tokio::test(flavor = "multi_thread")]
async fn both_ways_to_the_endpoint_answer_alike() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let direct = srv.action_url();
    let routed = format!("{direct}/");
    let mut big = profile_event(None, dept(json!("HR")));
    big["padding"] = json!("x".repeat(70 * 1024));
    // Each way gets its own request id, so that neither answer is a replay of the other's.
    let event = |rid: &str, d: &str| profile_event(Some(rid), dept(json!(d))).to_string();
    let cases: Vec<(&str, &Auth, [String; 2], u16)> = vec![
        (
            "no credentials",
            &Auth::None,
            ["{not json".into(), "{not json".into()],
            401,
        ),
        (
            "allowed",
            &auth,
            [event("w-1", "HR"), event("w-2", "HR")],
            200,
        ),
        (
            "refused",
            &auth,
            [event("w-3", "Nope"), event("w-4", "Nope")],
            200,
        ),
        (
            "not json",
            &auth,
            ["{not json".into(), "{not json".into()],
            400,
        ),
        ("too large", &auth, [big.to_string(), big.to_string()], 400),
    ];
    for (name, who, [one, two], status) in cases {
        let a = post(&direct, who, one).await;
        let b = post(&routed, who, two).await;
        assert_eq!(a.status, status, "{name}: {}", a.json);
        assert_eq!((a.status, &a.json), (b.status, &b.json), "{name}");
    }
    srv.stop().await;
    // Both were decided and recorded: two allowed, two refused, two malformed.
    dir.with_store(|s| assert_eq!(decisions(s).len(), 6));
}
