use base64::Engine as _;

use super::*;

fn key_2048() -> PasswordKey {
    PasswordKey::generate(KeySize::Rsa2048).expect("generate")
}

#[test]
fn only_2048_and_3072_bits_are_offered() {
    assert_eq!(KeySize::from_bits(2048).unwrap(), KeySize::Rsa2048);
    assert_eq!(KeySize::from_bits(3072).unwrap().bits(), 3072);
    for bits in [0, 1024, 2047, 4096, 8192] {
        assert!(matches!(
            KeySize::from_bits(bits),
            Err(KeyError::UnsupportedSize(b)) if b == bits
        ));
    }
}

#[test]
fn a_generated_key_exports_what_wso2_and_the_store_need() {
    let key = key_2048();
    assert_eq!(key.size(), KeySize::Rsa2048);
    assert_eq!(key.id().len(), 16);
    assert!(key
        .id()
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));

    let pem = key.certificate_pem();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    assert!(pem.trim_end().ends_with("-----END CERTIFICATE-----"));
    let from_base64 = base64::engine::general_purpose::STANDARD
        .decode(key.certificate_base64())
        .unwrap();
    assert_eq!(from_base64, pem.as_bytes());
    // What WSO2's own management test sends starts like this: base64 of "-----BEGIN CERTIFICATE-----".
    assert!(key
        .certificate_base64()
        .starts_with("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"));

    let fingerprint = key.fingerprint_sha256();
    assert_eq!(fingerprint.len(), 32 * 3 - 1);
    assert_eq!(
        fingerprint.replace(':', ""),
        hex::encode_upper(Sha256::digest(key.certificate_der()))
    );
    // The certificate carries the subject and the key, and names its signer as itself.
    let der = CertificateDer::from(key.certificate_der());
    let cert = webpki::EndEntityCert::try_from(&der).unwrap();
    assert_eq!(
        cert.subject_public_key_info().as_ref(),
        PrivateDecryptingKey::from_pkcs8(key.pkcs8_der())
            .unwrap()
            .public_key()
            .as_der()
            .unwrap()
            .as_ref()
    );
    let subject = key.certificate_der().windows(CERTIFICATE_SUBJECT.len());
    assert_eq!(
        subject
            .filter(|w| *w == CERTIFICATE_SUBJECT.as_bytes())
            .count(),
        2,
        "subject and issuer"
    );
}

#[test]
fn a_key_reloads_from_its_stored_form() {
    let key = key_2048();
    let again = PasswordKey::load(key.pkcs8_der(), key.certificate_pem()).expect("load");
    assert_eq!(again.id(), key.id());
    assert_eq!(again.fingerprint_sha256(), key.fingerprint_sha256());
    assert_eq!(again.certificate_der(), key.certificate_der());
    assert_eq!(again.pkcs8_der(), key.pkcs8_der());
    assert_eq!(again.size(), KeySize::Rsa2048);
}

#[test]
fn a_3072_bit_key_is_generated_and_reloaded() {
    let key = PasswordKey::generate(KeySize::Rsa3072).expect("generate");
    assert_eq!(key.size().bits(), 3072);
    let again = PasswordKey::load(key.pkcs8_der(), key.certificate_pem()).unwrap();
    assert_eq!(again.id(), key.id());
}

#[test]
fn two_keys_differ_and_a_certificate_does_not_load_with_the_other_key() {
    let (a, b) = (key_2048(), key_2048());
    assert_ne!(a.id(), b.id());
    assert_ne!(a.fingerprint_sha256(), b.fingerprint_sha256());
    assert!(matches!(
        PasswordKey::load(a.pkcs8_der(), b.certificate_pem()),
        Err(KeyError::CertificateMismatch)
    ));
}

#[test]
fn damaged_stored_forms_are_refused() {
    let key = key_2048();
    assert!(matches!(
        PasswordKey::load(b"not a key", key.certificate_pem()),
        Err(KeyError::BadPrivateKey)
    ));
    let mut truncated = key.pkcs8_der().to_vec();
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(
        PasswordKey::load(&truncated, key.certificate_pem()),
        Err(KeyError::BadPrivateKey)
    ));
    for pem in [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        assert!(
            matches!(
                PasswordKey::load(key.pkcs8_der(), pem),
                Err(KeyError::BadCertificate)
            ),
            "{pem}"
        );
    }
}

#[test]
fn an_ec_key_is_refused() {
    let rng = SystemRandom::new();
    let ec = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap();
    let key = key_2048();
    assert!(matches!(
        PasswordKey::load(ec.as_ref(), key.certificate_pem()),
        Err(KeyError::BadPrivateKey)
    ));
}

#[test]
fn debug_shows_no_key_material() {
    let key = key_2048();
    let shown = format!("{key:?}");
    assert!(shown.contains(key.id()), "{shown}");
    assert!(shown.contains("2048"));
    let pkcs8_hex = hex::encode(key.pkcs8_der());
    let pkcs8_b64 = base64::engine::general_purpose::STANDARD.encode(key.pkcs8_der());
    // No run of 16 bytes of the private key, in any usual spelling.
    for i in (0..key.pkcs8_der().len() - 16).step_by(16) {
        let chunk = &key.pkcs8_der()[i..i + 16];
        assert!(!shown.contains(&hex::encode(chunk)));
        assert!(!shown.contains(&hex::encode_upper(chunk)));
        assert!(!shown.contains(&format!("{chunk:?}")[1..40]));
    }
    assert!(!shown.contains(&pkcs8_hex[..32]));
    assert!(!shown.contains(&pkcs8_b64[..24]));
    assert!(!shown.contains("BEGIN"));
}
