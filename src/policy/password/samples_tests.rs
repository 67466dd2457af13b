//! The HASH form, the sample requests end to end, and the per-request cost.

use super::tests::{bundled, mfa, seed_words, Stub, GOOD};
use super::*;
use crate::contract::{parse_password_request, validate_message, MessageKind, UpdatingCredential};

#[test]
fn hash_form_exact_matches_only() {
    let words = seed_words();
    let stub = Stub(BreachAnswer::Found);
    let ctx = PasswordContext {
        blocklist: bundled(),
        words: &words,
        year: Some(2026),
        breached: Some(&stub),
    };
    let rules = PasswordRules::default();
    let check = |pw: &str| evaluate(&rules, Candidate::Sha256(&sha256(pw)), &ctx);
    for pw in [
        "password1",
        "Password1",
        "PASSWORD1",
        "iloveyou",
        "1qaz2wsx3edc4rfv",
    ] {
        assert_eq!(check(pw).failed_rule(), Some(Rule::Common), "{pw}");
    }
    for pw in [
        "bob",
        "Builders123",
        "BUILDERS",
        "Builders2026",
        "builders.com!",
        "Asgardeo1",
    ] {
        assert_eq!(check(pw).failed_rule(), Some(Rule::ContextWord), "{pw}");
    }
    assert_eq!(
        check("aaaaaaaaaaaaaaaa").failed_rule(),
        Some(Rule::Repetitive)
    );
    assert_eq!(
        check("1234567890123456").failed_rule(),
        Some(Rule::Sequential)
    );
    assert_eq!(
        check("QWERTYUIOPASDFGH").failed_rule(),
        None,
        "only generated runs match"
    );
    let v = check("violet hammock sunrise");
    assert!(v.is_accepted());
    assert_eq!(v.applied, [Rule::Common, Rule::ContextWord]);
    assert_eq!(
        v.unchecked,
        [
            Rule::MinLength,
            Rule::MaxLength,
            Rule::Repetitive,
            Rule::Sequential,
            Rule::Breached
        ]
    );
    // The seed's own HASH value goes through the same path.
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/password/suborg-user-password.json"
    ))
    .unwrap();
    let req = parse_password_request(&body).unwrap();
    let UpdatingCredential::Clear(cred) = &req.credential else {
        panic!()
    };
    assert!(evaluate(&rules, Candidate::from(cred), &ctx).is_accepted());
    assert_eq!(hash_form("Password1").len(), 44);
}

#[test]
fn every_sample_request_gets_a_contract_valid_answer() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/password");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let req = parse_password_request(&std::fs::read(&path).unwrap()).unwrap();
        let UpdatingCredential::Clear(cred) = &req.credential else {
            continue; // the JWE form needs the decryptor
        };
        let words = ContextWords::from_request(&req, &[]);
        let ctx = PasswordContext {
            blocklist: bundled(),
            words: &words,
            year: Some(2026),
            breached: None,
        };
        for rules in [PasswordRules::default(), mfa()] {
            let v = evaluate(&rules, Candidate::from(cred), &ctx);
            let answer = v.to_response();
            assert_eq!(answer.http_status(), 200, "{path:?}");
            if let (Some(r), Some(d)) = (answer.reason(), answer.description()) {
                validate_message(r, MessageKind::Reason).unwrap();
                validate_message(d, MessageKind::Description).unwrap();
            }
            let json: serde_json::Value = serde_json::from_slice(&answer.to_json()).unwrap();
            assert!(
                json["actionStatus"] == "SUCCESS" || json["actionStatus"] == "FAILED",
                "{json}"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 4);
    // The REGISTER sample's password is its organization's name twice: refused with the reason.
    let body = std::fs::read(format!("{dir}/v2.0-application-register-plain.json")).unwrap();
    let req = parse_password_request(&body).unwrap();
    let UpdatingCredential::Clear(cred) = &req.credential else {
        panic!()
    };
    let words = ContextWords::from_request(&req, &[]);
    let ctx = PasswordContext {
        blocklist: bundled(),
        words: &words,
        year: None,
        breached: None,
    };
    let v = evaluate(&PasswordRules::default(), Candidate::from(cred), &ctx);
    assert_eq!(v.failed_rule(), Some(Rule::Repetitive));
    assert_eq!(v.to_response().reason(), Some("password_repetitive"));
}

/// Per-request cost. Run with
/// `cargo test --release --lib evaluation_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement; run in --release"]
fn evaluation_cost() {
    let list = Blocklist::bundled();
    let words = seed_words();
    let ctx = PasswordContext {
        blocklist: &list,
        words: &words,
        year: Some(2026),
        breached: None,
    };
    let rules = PasswordRules::default();
    let digest = sha256("violet hammock sunrise");
    let n = 1000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        assert!(evaluate(&rules, Candidate::Sha256(&digest), &ctx).is_accepted());
    }
    let hash = start.elapsed() / n;
    let start = std::time::Instant::now();
    for _ in 0..n {
        assert!(evaluate(&rules, Candidate::Plain(GOOD), &ctx).is_accepted());
    }
    let plain = start.elapsed() / n;
    println!(
        "evaluate: HASH form {hash:?} ({} context words, {} variant digests), PLAIN_TEXT {plain:?}",
        words.words().len(),
        words.variant_digests(Some(2026)).len()
    );
}
