//! Sealing a credential as WSO2 does (Nimbus: the content key wrapped with RSA-OAEP-256, the
//! payload under A256GCM, a header of `alg`/`enc`/`cty` only): what a simulated event and the
//! benchmark send, and what the tests open. The other direction of `jwe.rs`.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
    OAEP_SHA256_MGF1SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::{KeyError, PasswordKey};

/// The protected header WSO2 sends, byte for byte.
pub const HEADER: &str = r#"{"cty":"application/json","enc":"A256GCM","alg":"RSA-OAEP-256"}"#;

/// A compact JWE of `payload` (the credential object's JSON) for `key`, as WSO2 makes it.
pub fn seal(key: &PasswordKey, payload: &str) -> Result<String, KeyError> {
    seal_with(key, HEADER, payload, &OAEP_SHA256_MGF1SHA256, &AES_256_GCM)
}

/// The same with another header or algorithms (the tests' wrong tokens).
pub(crate) fn seal_with(
    key: &PasswordKey,
    header: &str,
    payload: &str,
    alg: &'static OaepAlgorithm,
    gcm: &'static aead::Algorithm,
) -> Result<String, KeyError> {
    let crypto = KeyError::Crypto;
    let rng = SystemRandom::new();
    let mut cek = vec![0u8; gcm.key_len()];
    rng.fill(&mut cek)
        .map_err(|_| crypto("draw a content key"))?;
    let mut iv = [0u8; 12];
    rng.fill(&mut iv).map_err(|_| crypto("draw an IV"))?;
    let private =
        PrivateDecryptingKey::from_pkcs8(key.pkcs8_der()).map_err(|_| KeyError::BadPrivateKey)?;
    let spki = private
        .public_key()
        .as_der()
        .map_err(|_| crypto("encode a public key"))?;
    let public =
        PublicEncryptingKey::from_der(spki.as_ref()).map_err(|_| crypto("load a public key"))?;
    let rsa = OaepPublicEncryptingKey::new(public).map_err(|_| crypto("load a public key"))?;
    let mut wrapped = vec![0u8; rsa.ciphertext_size()];
    let wrapped = rsa
        .encrypt(alg, &cek, &mut wrapped, None)
        .map_err(|_| crypto("wrap a content key"))?
        .to_vec();
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let header = b64(header.as_bytes());
    let aead =
        LessSafeKey::new(UnboundKey::new(gcm, &cek).map_err(|_| crypto("load a content key"))?);
    let mut body = payload.as_bytes().to_vec();
    let tag = aead
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(header.as_bytes()),
            &mut body,
        )
        .map_err(|_| crypto("encrypt"))?;
    Ok(format!(
        "{header}.{}.{}.{}.{}",
        b64(&wrapped),
        b64(&iv),
        b64(&body),
        b64(tag.as_ref())
    ))
}
