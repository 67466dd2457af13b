//! Tokens built here with aws-lc-rs's encrypting side; the independent vectors (node's crypto)
//! are in tests/it/keys.rs.

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM};
use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256};

use super::*;
use crate::keys::{CredentialFormat, KeySize};

use super::super::seal::HEADER;
const PAYLOAD: &str = r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":["p","4","s","s"]}"#;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn seal_with(key: &PasswordKey, header: &str, payload: &str, sha1: bool, cek_len: usize) -> String {
    let alg = if sha1 {
        &OAEP_SHA1_MGF1SHA1
    } else {
        &OAEP_SHA256_MGF1SHA256
    };
    let gcm = if cek_len == 16 {
        &AES_128_GCM
    } else {
        &AES_256_GCM
    };
    super::super::seal::seal_with(key, header, payload, alg, gcm).unwrap()
}

/// A token as WSO2 makes it for `key` (also for other modules' tests).
pub(crate) fn seal(key: &PasswordKey, payload: &str) -> String {
    super::super::seal::seal(key, payload).unwrap()
}

fn ring(keys: Vec<PasswordKey>) -> KeyRing {
    KeyRing::new(keys).unwrap()
}

fn key() -> PasswordKey {
    PasswordKey::generate(KeySize::Rsa2048).unwrap()
}

#[test]
fn a_nimbus_style_token_opens() {
    let key = key();
    let token = seal(&key, PAYLOAD);
    let credential = ring(vec![key]).decrypt(&token).unwrap();
    assert_eq!(credential.value(), "p4ss");
    assert_eq!(credential.format(), CredentialFormat::PlainText);
}

#[test]
fn with_two_active_keys_a_token_for_either_opens() {
    let (old, new) = (key(), key());
    let for_old = seal(&old, PAYLOAD);
    let for_new = seal(
        &new,
        r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":"new one"}"#,
    );
    let ring = ring(vec![new, old]);
    assert_eq!(ring.decrypt(&for_old).unwrap().value(), "p4ss");
    assert_eq!(ring.decrypt(&for_new).unwrap().value(), "new one");
}

#[test]
fn a_retired_key_no_longer_opens() {
    let (old, new) = (key(), key());
    let for_old = seal(&old, PAYLOAD);
    assert_eq!(
        ring(vec![new]).decrypt(&for_old).unwrap_err(),
        JweError::NoKey
    );
    assert_eq!(
        KeyRing::default().decrypt(&for_old).unwrap_err(),
        JweError::NoKey
    );
}

#[test]
fn a_ring_holds_at_most_two_keys() {
    assert!(matches!(
        KeyRing::new(vec![key(), key(), key()]),
        Err(KeyError::TooManyKeys(2))
    ));
}

#[test]
fn other_algorithms_are_refused_before_any_key_is_tried() {
    let key = key();
    let cases = [
        (
            r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#,
            true,
            32,
            "alg is not RSA-OAEP-256",
        ),
        (
            r#"{"alg":"RSA1_5","enc":"A256GCM"}"#,
            false,
            32,
            "alg is not RSA-OAEP-256",
        ),
        (
            r#"{"alg":"dir","enc":"A256GCM"}"#,
            false,
            32,
            "alg is not RSA-OAEP-256",
        ),
        (
            r#"{"alg":"RSA-OAEP-256","enc":"A128GCM"}"#,
            false,
            16,
            "enc is not A256GCM",
        ),
        (
            r#"{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512"}"#,
            false,
            32,
            "enc is not A256GCM",
        ),
        (
            r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","zip":"DEF"}"#,
            false,
            32,
            "compressed (zip) tokens are not accepted",
        ),
        (
            r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","crit":["exp"],"exp":1}"#,
            false,
            32,
            "critical (crit) header parameters are not accepted",
        ),
        (
            r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"text/plain"}"#,
            false,
            32,
            "cty is not application/json",
        ),
        (
            r#"{"enc":"A256GCM"}"#,
            false,
            32,
            "the header is not a JSON object with alg and enc",
        ),
        (
            r#"{"alg":"RSA-OAEP-256","alg":"RSA-OAEP-256","enc":"A256GCM"}"#,
            false,
            32,
            "the header is not a JSON object with alg and enc",
        ),
        (
            r#"["RSA-OAEP-256"]"#,
            false,
            32,
            "the header is not a JSON object with alg and enc",
        ),
    ];
    let tokens: Vec<_> = cases
        .iter()
        .map(|(header, sha1, cek, _)| seal_with(&key, header, PAYLOAD, *sha1, *cek))
        .collect();
    let ring = ring(vec![key]);
    for ((header, _, _, why), token) in cases.iter().zip(tokens) {
        assert_eq!(
            ring.decrypt(&token).unwrap_err(),
            JweError::Malformed(why),
            "{header}"
        );
    }
}

#[test]
fn accepted_header_variants_open() {
    let key = key();
    let headers = [
        r#"{"alg":"RSA-OAEP-256","enc":"A256GCM"}"#,
        r#"{"enc":"A256GCM","alg":"RSA-OAEP-256","cty":"JSON"}"#,
        r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"k1","typ":"JWE"}"#,
    ];
    let tokens: Vec<_> = headers
        .iter()
        .map(|h| seal_with(&key, h, PAYLOAD, false, 32))
        .collect();
    let ring = ring(vec![key]);
    for (header, token) in headers.iter().zip(tokens) {
        assert_eq!(ring.decrypt(&token).unwrap().value(), "p4ss", "{header}");
    }
}

#[test]
fn structural_damage_is_malformed() {
    let key = key();
    let token = seal(&key, PAYLOAD);
    let ring = ring(vec![key]);
    let parts: Vec<&str> = token.split('.').collect();
    let malformed = |t: &str| match ring.decrypt(t) {
        Err(JweError::Malformed(why)) => why,
        other => panic!("{other:?}"),
    };
    assert_eq!(malformed(""), "not five dot-separated parts");
    assert_eq!(
        malformed(&parts[..4].join(".")),
        "not five dot-separated parts"
    );
    assert_eq!(
        malformed(&format!("{token}.")),
        "not five dot-separated parts"
    );
    assert_eq!(malformed(&format!("{token}=")), "the tag is not base64url");
    assert_eq!(
        malformed(&token.replacen('.', ".!", 1)),
        "the encrypted key is not base64url"
    );
    assert_eq!(
        malformed(&format!(" {token}")),
        "the header is not base64url"
    );
    let short_iv = format!(
        "{}.{}.{}.{}.{}",
        parts[0],
        parts[1],
        &parts[2][..8],
        parts[3],
        parts[4]
    );
    assert_eq!(malformed(&short_iv), "the IV is not 96 bits");
    assert_eq!(
        malformed(&token[..token.len() - 2]),
        "the tag is not 128 bits"
    );
    let long = format!("{token}{}", "A".repeat(MAX_TOKEN_LEN));
    assert_eq!(malformed(&long), "longer than 16384 bytes");
}

#[test]
fn any_altered_byte_after_the_header_means_no_key() {
    let key = key();
    let token = seal(&key, PAYLOAD);
    let ring = ring(vec![key]);
    let parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    for part in 1..5 {
        let mut bytes = URL_SAFE_NO_PAD.decode(&parts[part]).unwrap();
        bytes[0] ^= 1;
        let mut altered = parts.clone();
        altered[part] = b64(&bytes);
        assert_eq!(
            ring.decrypt(&altered.join(".")).unwrap_err(),
            JweError::NoKey,
            "part {part}"
        );
    }
    // The header is authenticated too: the same header re-encoded differently fails.
    let mut altered = parts.clone();
    altered[0] = b64(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM"}"#);
    assert_eq!(
        ring.decrypt(&altered.join(".")).unwrap_err(),
        JweError::NoKey
    );
}

#[test]
fn a_wrong_content_key_length_means_no_key() {
    let key = key();
    let token = seal_with(&key, HEADER, PAYLOAD, false, 16);
    assert_eq!(
        ring(vec![key]).decrypt(&token).unwrap_err(),
        JweError::NoKey
    );
}

#[test]
fn an_opened_token_that_is_not_a_credential_says_so() {
    let key = key();
    let not_json = seal(&key, "p4ss");
    let not_password = seal(&key, r#"{"type":"OTP","format":"PLAIN_TEXT","value":"1"}"#);
    let ring = ring(vec![key]);
    assert_eq!(
        ring.decrypt(&not_json).unwrap_err(),
        JweError::NotCredential("not JSON")
    );
    assert_eq!(
        ring.decrypt(&not_password).unwrap_err(),
        JweError::NotCredential("type is not PASSWORD")
    );
}

#[test]
fn error_messages_carry_no_secret() {
    let key = key();
    let secret = "Correct-Horse-Battery-Staple";
    let bad = seal(
        &key,
        &format!(r#"{{"type":"PASSWORD","format":{secret:?},"value":{secret:?}}}"#),
    );
    let ring = ring(vec![key]);
    let error = ring.decrypt(&bad).unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(!shown.contains(&bad[..20]));
}

#[test]
fn a_ring_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<KeyRing>();
    shared::<crate::keys::Credential>();
}
