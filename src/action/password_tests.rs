use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::rsa::{
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::contract::{parse_password_request, Credential, Secret, UpdatingCredential};
use crate::keys::{self, JweError, KeyRing, KeySize, PasswordKey};
use crate::model::{DecisionEntry, PasswordDecision};
use crate::policy::password::{Blocklist, ContextWords, PasswordRules};
use crate::service::decide::{self, PasswordDeps, Refusal};
use base64::Engine as _;

/// A compact JWE as Nimbus builds it (RSA-OAEP-256 + A256GCM).
fn seal(key: &PasswordKey, payload: &[u8]) -> String {
    let rng = SystemRandom::new();
    let (mut cek, mut iv) = ([0u8; 32], [0u8; 12]);
    rng.fill(&mut cek).unwrap();
    rng.fill(&mut iv).unwrap();
    let private = PrivateDecryptingKey::from_pkcs8(key.pkcs8_der()).unwrap();
    let spki = private.public_key().as_der().unwrap();
    let rsa = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(spki.as_ref()).unwrap())
        .unwrap();
    let mut wrapped = vec![0u8; rsa.ciphertext_size()];
    let wrapped = rsa
        .encrypt(&OAEP_SHA256_MGF1SHA256, &cek, &mut wrapped, None)
        .unwrap()
        .to_vec();
    let header = URL_SAFE_NO_PAD
        .encode(r#"{"cty":"application/json","enc":"A256GCM","alg":"RSA-OAEP-256"}"#);
    let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &cek).unwrap());
    let mut body = payload.to_vec();
    let tag = aead
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(header.as_bytes()),
            &mut body,
        )
        .unwrap();
    let b = |x: &[u8]| URL_SAFE_NO_PAD.encode(x);
    format!(
        "{header}.{}.{}.{}.{}",
        b(&wrapped),
        b(&iv),
        b(&body),
        b(tag.as_ref())
    )
}

#[test]
fn a_decrypted_credential_becomes_the_policy_type() {
    let plain = keys::Credential::from_payload(
        br#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":["p","4","s","s"]}"#,
    )
    .unwrap();
    match Credential::try_from(plain).unwrap() {
        Credential::Plain(s) => assert_eq!(s.expose(), "p4ss"),
        other => panic!("{other:?}"),
    }
    let digest = crate::policy::password::sha256("p4ss");
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    let json = format!(
        r#"{{"type":"PASSWORD","format":"HASH","value":"{b64}","additionalData":{{"algorithm":"SHA256"}}}}"#
    );
    match Credential::try_from(keys::Credential::from_payload(json.as_bytes()).unwrap()).unwrap() {
        Credential::Sha256(d) => assert_eq!(d.bytes(), &digest),
        other => panic!("{other:?}"),
    }
    let bad =
        keys::Credential::from_payload(br#"{"type":"PASSWORD","format":"HASH","value":"abc"}"#)
            .unwrap();
    assert!(Credential::try_from(bad).is_err());
}

#[test]
fn records_without_the_password_sub_record_still_decode() {
    let old = r#"{"idempotency_key":"00","decision":"SUCCESS","http_status":200,"latency_us":5}"#;
    let d: DecisionEntry = serde_json::from_str(old).unwrap();
    assert_eq!(d.password, None);
    let new = DecisionEntry {
        password: Some(PasswordDecision {
            action: "REGISTER".into(),
            form: "JWE".into(),
            rules_applied: vec![crate::policy::password::Rule::MinLength],
            rules_unchecked: vec![crate::policy::password::Rule::Breached],
            failed_rule: Some(crate::policy::password::Rule::MinLength),
            note: None,
        }),
        ..d
    };
    let json = serde_json::to_string(&new).unwrap();
    assert!(json.contains(r#""failed_rule":"min_length""#), "{json}");
    assert_eq!(serde_json::from_str::<DecisionEntry>(&json).unwrap(), new);
}

#[test]
fn refusals_are_contract_valid_and_fixed() {
    for r in [
        Refusal::NoKeys,
        Refusal::Jwe(JweError::NoKey),
        Refusal::Task,
    ] {
        let resp = r.response();
        let (m, d) = (resp.reason().unwrap(), resp.description().unwrap());
        crate::contract::validate_message(m, crate::contract::MessageKind::Reason).unwrap();
        crate::contract::validate_message(d, crate::contract::MessageKind::Description).unwrap();
    }
}

/// Per-request CPU of the password action's steps, for the inline-or-blocking-pool choice.
/// Run with `cargo test --release --lib password_costs -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement; run in --release"]
fn password_costs() {
    let blocklist = Blocklist::bundled();
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/password/suborg-user-password.json"
    ))
    .unwrap();
    let req = parse_password_request(&body).unwrap();
    let words = ContextWords::from_request(&req, &[]);
    let rules = PasswordRules::default();
    let UpdatingCredential::Clear(hash) = &req.credential else {
        panic!()
    };
    let plain = Credential::Plain(Secret::new("violet hammock sunrise".into()));
    let empty_ring = KeyRing::default();
    let ctx = PasswordDeps {
        blocklist: &blocklist,
        breached: None,
        ring: &empty_ring,
        online: true,
    };
    let n = 2000;
    let time = |c: &Credential| {
        let start = Instant::now();
        for _ in 0..n {
            let c = UpdatingCredential::Clear(c.clone());
            let _ =
                std::hint::black_box(decide::check_password(&c, &rules, &words, Some(2026), &ctx));
        }
        start.elapsed() / n
    };
    let (hash_cost, plain_cost) = (time(hash), time(&plain));
    for size in [KeySize::Rsa2048, KeySize::Rsa3072] {
        let key = PasswordKey::generate(size).unwrap();
        let token = seal(
            &key,
            br#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":"violet hammock sunrise"}"#,
        );
        let ring = KeyRing::new(vec![key]).unwrap();
        let start = Instant::now();
        for _ in 0..200 {
            std::hint::black_box(ring.decrypt(&token).unwrap());
        }
        println!("JWE open {size:?}: {:?}", start.elapsed() / 200);
    }
    // And a JWE through the whole step the blocking pool runs.
    let key = PasswordKey::generate(KeySize::Rsa2048).unwrap();
    let token = Secret::new(seal(
        &key,
        br#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":["p","4","s","s"]}"#,
    ));
    let ring = KeyRing::new(vec![key]).unwrap();
    let ctx = PasswordDeps { ring: &ring, ..ctx };
    let token = UpdatingCredential::Encrypted(token);
    let v = decide::check_password(&token, &rules, &words, Some(2026), &ctx)
        .ok()
        .unwrap();
    // Refused: no SHA-1 is made for the online source.
    assert!(v.sha1.is_none());
    assert_eq!(
        v.verdict.failed_rule(),
        Some(crate::policy::password::Rule::MinLength)
    );
    println!("evaluate: HASH form {hash_cost:?}, PLAIN_TEXT {plain_cost:?}");
}
