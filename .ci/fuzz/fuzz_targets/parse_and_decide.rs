//! Any bytes as an action request body: parsing never panics, and whatever comes out (a
//! decision, or the 400 for a body that does not parse) is a response the identity server
//! accepts (CONTRACT.md §4): a known status, only the documented keys, and failure and error
//! texts within the caller's charset and lengths.
//!
//! The contract and the policy are compiled here from their sources, without the rest of the
//! crate: they are pure (no I/O, no other module of ours), and this build, which would fail the
//! day they are not, stays a minute long instead of instrumenting the server's whole graph.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../../src/contract/mod.rs"]
mod contract;
#[allow(dead_code, unused_imports)]
#[path = "../../../src/policy/mod.rs"]
mod policy;

use contract::response::ErrorStatus;
use contract::sanitize::is_allowed;
use contract::{parse_request, ActionResponse};
use libfuzzer_sys::fuzz_target;
use policy::{decide, Directory, MatchMode, PolicySettings};

fn text_ok(v: &serde_json::Value, max: usize) -> bool {
    v.as_str()
        .is_some_and(|s| !s.is_empty() && s.chars().count() <= max && s.chars().all(is_allowed))
}

fn check(resp: &ActionResponse) {
    let v: serde_json::Value = serde_json::from_slice(&resp.to_json()).expect("response is JSON");
    let obj = v.as_object().expect("response is an object");
    match obj["actionStatus"].as_str() {
        Some("SUCCESS") => {
            assert!(
                obj.keys().all(|k| k == "actionStatus" || k == "operations"),
                "{v}"
            );
            assert_eq!(resp.http_status(), 200);
        }
        Some("FAILED") => {
            assert!(text_ok(&obj["failureReason"], 100), "{v}");
            assert!(text_ok(&obj["failureDescription"], 300), "{v}");
            assert_eq!(resp.http_status(), 200);
        }
        Some("ERROR") => {
            assert!(text_ok(&obj["errorMessage"], 100), "{v}");
            assert!(text_ok(&obj["errorDescription"], 300), "{v}");
            assert!(matches!(resp.http_status(), 400 | 401 | 500));
        }
        other => panic!("unknown status {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut dir = Directory::default();
    dir.insert(None, "HR");
    dir.insert(Some("10084a8d-113f-4211-a0d5-efe36b082211"), "Engineering");
    for mode in [MatchMode::Exact, MatchMode::CaseInsensitive] {
        let settings = PolicySettings {
            department_match: mode,
            ..Default::default()
        };
        match parse_request(data) {
            Ok(req) => {
                let verdict = decide(&req, &dir, &settings);
                check(&verdict.response);
            }
            Err(e) => check(&ActionResponse::error(
                ErrorStatus::BadRequest,
                "Invalid request body",
                &e.to_string(),
            )),
        }
    }
});
