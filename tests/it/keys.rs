//! The encrypted credential form against an independent implementation: node's built-in
//! `crypto` builds the JWEs as WSO2 (Nimbus, Gson) does, from the certificate our code made
//! (`tests/vectors/jwe.mjs`), and `keys::KeyRing` opens them. Node is required, not optional:
//! without it these tests fail and say so.

use std::time::Instant;

use base64::Engine as _;
use profilegate::keys::{
    CredentialFormat, JweError, KeyRing, KeySize, PasswordKey, CERTIFICATE_SUBJECT, MAX_TOKEN_LEN,
};
use serde_json::{json, Value};

use crate::support::jwe::node;
use sha2::{Digest as _, Sha256};

fn token<'a>(vectors: &'a Value, name: &str) -> &'a str {
    vectors["tokens"][name].as_str().expect(name)
}

fn sha256_base64(password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(password.as_bytes()))
}

/// Our certificate, as OpenSSL (inside node) reads it.
fn check_certificate(key: &PasswordKey, seen: &Value, bits: u64) {
    assert_eq!(seen["subject"], format!("CN={CERTIFICATE_SUBJECT}"));
    assert_eq!(seen["issuer"], seen["subject"]);
    assert_eq!(seen["fingerprint256"], key.fingerprint_sha256());
    assert_eq!(seen["keyType"], "rsa");
    assert_eq!(seen["bits"], bits);
    assert_eq!(
        seen["selfSigned"], true,
        "the signature verifies with its own key"
    );
    let year = |field: &str| seen[field].as_str().unwrap()[..4].parse::<i32>().unwrap();
    assert!(year("validTo") - year("validFrom") >= 10, "{seen}");
}

#[test]
fn node_built_jwes_open_with_a_2048_bit_key() {
    let key = PasswordKey::generate(KeySize::Rsa2048).unwrap();
    let cases = json!([
        { "name": "string", "password": "correct horse=battery", "form": "string" },
        { "name": "chars", "password": "p4ss=wörd<&>'\"\\" },
        { "name": "emoji", "password": "smile 😀 please" },
        { "name": "java-emoji", "password": "smile 😀 please", "form": "java-chars" },
        { "name": "hash", "password": "p4ss wörd 😀", "format": "HASH" },
        { "name": "hash-string", "password": "p4ss", "format": "HASH", "form": "string" },
    ]);
    let vectors = node(key.certificate_pem(), cases);
    check_certificate(&key, &vectors["certificate"], 2048);
    let ring = KeyRing::new(vec![key]).unwrap();
    let open = |name: &str| ring.decrypt(token(&vectors, name)).unwrap();

    let c = open("string");
    assert_eq!(
        (c.format(), c.value()),
        (CredentialFormat::PlainText, "correct horse=battery")
    );
    assert_eq!(open("chars").value(), "p4ss=wörd<&>'\"\\");
    assert_eq!(open("emoji").value(), "smile 😀 please");
    // What a real IS sends for a character outside the BMP: Gson writes each surrogate half
    // raw and Nimbus's String.getBytes(UTF_8) turns a lone surrogate into "?". Nothing can
    // recover the character; the policy sees "??".
    assert_eq!(open("java-emoji").value(), "smile ?? please");
    let c = open("hash");
    assert_eq!(
        (c.format(), c.value()),
        (
            CredentialFormat::Sha256Hash,
            sha256_base64("p4ss wörd 😀").as_str()
        )
    );
    assert_eq!(open("hash-string").value(), sha256_base64("p4ss"));
}

#[test]
fn node_built_jwes_open_with_a_3072_bit_key_given_as_base64_of_the_pem() {
    let key = PasswordKey::generate(KeySize::Rsa3072).unwrap();
    let cases = json!([{ "name": "chars", "password": "three thousand seventy-two" }]);
    let vectors = node(&key.certificate_base64(), cases);
    check_certificate(&key, &vectors["certificate"], 3072);
    // Reloaded from the stored form, as the service will.
    let key = PasswordKey::load(key.pkcs8_der(), key.certificate_pem()).unwrap();
    let ring = KeyRing::new(vec![key]).unwrap();
    assert_eq!(
        ring.decrypt(token(&vectors, "chars")).unwrap().value(),
        "three thousand seventy-two"
    );
}

#[test]
fn node_built_jwes_for_either_of_two_active_keys_open() {
    let (old, new) = (
        PasswordKey::generate(KeySize::Rsa2048).unwrap(),
        PasswordKey::generate(KeySize::Rsa3072).unwrap(),
    );
    let for_old = node(
        old.certificate_pem(),
        json!([{ "name": "t", "password": "old key" }]),
    );
    let for_new = node(
        new.certificate_pem(),
        json!([{ "name": "t", "password": "new key" }]),
    );
    let ring = KeyRing::new(vec![new, old]).unwrap();
    assert_eq!(
        ring.decrypt(token(&for_old, "t")).unwrap().value(),
        "old key"
    );
    assert_eq!(
        ring.decrypt(token(&for_new, "t")).unwrap().value(),
        "new key"
    );
}

#[test]
fn node_built_jwes_that_must_not_open() {
    let key = PasswordKey::generate(KeySize::Rsa2048).unwrap();
    let other = PasswordKey::generate(KeySize::Rsa2048).unwrap();
    let cases = json!([
        { "name": "good", "password": "tamper with me" },
        { "name": "rsa-oaep-sha1", "password": "x", "alg": "RSA-OAEP" },
        { "name": "a128gcm", "password": "x", "enc": "A128GCM" },
        { "name": "oversize", "password": "x".repeat(MAX_TOKEN_LEN) },
    ]);
    let vectors = node(key.certificate_pem(), cases);
    let for_other = node(
        other.certificate_pem(),
        json!([{ "name": "t", "password": "x" }]),
    );
    let ring = KeyRing::new(vec![key]).unwrap();
    let good = token(&vectors, "good");
    assert_eq!(ring.decrypt(good).unwrap().value(), "tamper with me");

    assert_eq!(
        ring.decrypt(token(&for_other, "t")).unwrap_err(),
        JweError::NoKey,
        "wrong key"
    );

    let parts: Vec<&str> = good.split('.').collect();
    let flip_first_byte = |part: usize| {
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[part])
            .unwrap();
        bytes[0] ^= 0x80;
        let mut altered: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        altered[part] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        altered.join(".")
    };
    assert_eq!(
        ring.decrypt(&flip_first_byte(4)).unwrap_err(),
        JweError::NoKey,
        "tag"
    );
    assert_eq!(
        ring.decrypt(&flip_first_byte(3)).unwrap_err(),
        JweError::NoKey,
        "ciphertext"
    );
    assert_eq!(
        ring.decrypt(&flip_first_byte(2)).unwrap_err(),
        JweError::NoKey,
        "iv"
    );
    assert_eq!(
        ring.decrypt(&flip_first_byte(1)).unwrap_err(),
        JweError::NoKey,
        "encrypted key"
    );

    for cut in [
        good.len() - 1,
        good.len() - 23,
        good.rfind('.').unwrap(),
        good.len() / 2,
        10,
    ] {
        assert!(
            matches!(
                ring.decrypt(&good[..cut]),
                Err(JweError::Malformed(_) | JweError::NoKey)
            ),
            "truncated to {cut}"
        );
    }
    assert!(matches!(
        ring.decrypt(&good[..good.rfind('.').unwrap()]),
        Err(JweError::Malformed(_))
    ));

    let malformed = |name: &str| match ring.decrypt(token(&vectors, name)) {
        Err(JweError::Malformed(why)) => why,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(malformed("rsa-oaep-sha1"), "alg is not RSA-OAEP-256");
    assert_eq!(malformed("a128gcm"), "enc is not A256GCM");
    assert_eq!(malformed("oversize"), "longer than 16384 bytes");
}

/// A rough cost of one decryption (RSA-OAEP unwrap + AES-GCM + parse), printed; run with
/// `cargo test --release --test it keys::decrypt_cost -- --nocapture` for a meaningful figure.
#[test]
fn decrypt_cost() {
    for size in [KeySize::Rsa2048, KeySize::Rsa3072] {
        let key = PasswordKey::generate(size).unwrap();
        let second = PasswordKey::generate(size).unwrap();
        let vectors = node(
            key.certificate_pem(),
            json!([{ "name": "t", "password": "a fairly ordinary passphrase" }]),
        );
        let token = token(&vectors, "t");
        let first_key = KeyRing::new(vec![key]).unwrap();
        let n = if cfg!(debug_assertions) { 50 } else { 500 };
        let start = Instant::now();
        for _ in 0..n {
            assert_eq!(
                first_key.decrypt(token).unwrap().format(),
                CredentialFormat::PlainText
            );
        }
        let one = start.elapsed() / n;
        let key = first_key.keys()[0].size();
        let second_key = KeyRing::new(vec![
            second,
            PasswordKey::load(
                first_key.keys()[0].pkcs8_der(),
                first_key.keys()[0].certificate_pem(),
            )
            .unwrap(),
        ])
        .unwrap();
        let start = Instant::now();
        for _ in 0..n {
            assert!(second_key.decrypt(token).is_ok());
        }
        let two = start.elapsed() / n;
        eprintln!(
            "JWE decrypt, RSA-{}: {one:?} per token (key found first), {two:?} (found second); one core: ~{:.0}/s",
            key.bits(),
            1.0 / one.as_secs_f64()
        );
    }
}
