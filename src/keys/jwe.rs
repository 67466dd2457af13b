//! The compact JWE WSO2 sends: `BASE64URL(header).BASE64URL(encrypted key).BASE64URL(iv).
//! BASE64URL(ciphertext).BASE64URL(tag)`, header `alg: RSA-OAEP-256`, `enc: A256GCM` (RFC 7516,
//! 7518). Only that pair is accepted: the header is checked before any key is used.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::credential::Credential;
use super::key::{KeyError, PasswordKey};

/// Tokens longer than this are refused before any work. A password credential of a few
/// hundred characters encrypted to a 3072-bit key is under 3 KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// At most this many keys are tried per token: the current one and, while WSO2 is being moved
/// to a new certificate, the previous one.
pub const MAX_ACTIVE_KEYS: usize = 2;

const CEK_LEN: usize = 32;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why an encrypted credential was not opened. Messages name the rule, never the token, a key
/// or a plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    /// Not a compact JWE of the accepted kind (structure, encoding, size or header).
    #[error("the encrypted credential is not an accepted compact JWE: {0}")]
    Malformed(&'static str),
    /// Well formed, but no active key unwraps and authenticates it: encrypted for another key
    /// (a certificate not, or no longer, ours) or altered on the way.
    #[error("no active password-sharing key opens the encrypted credential")]
    NoKey,
    /// Opened, but the plaintext is not a password credential.
    #[error("the decrypted payload is not a password credential: {0}")]
    NotCredential(&'static str),
}

/// The keys tried on each token, in order (put the one WSO2 was last given first: a token for
/// the second costs a second RSA operation).
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<PasswordKey>,
}

impl KeyRing {
    /// A ring of up to [`MAX_ACTIVE_KEYS`] keys; an empty ring opens nothing.
    pub fn new(keys: Vec<PasswordKey>) -> Result<Self, KeyError> {
        if keys.len() > MAX_ACTIVE_KEYS {
            return Err(KeyError::TooManyKeys(MAX_ACTIVE_KEYS));
        }
        Ok(Self { keys })
    }

    pub fn keys(&self) -> &[PasswordKey] {
        &self.keys
    }

    /// Decrypts a compact JWE and parses its payload as a credential. The content key and the
    /// plaintext are wiped before this returns.
    pub fn decrypt(&self, token: &str) -> Result<Credential, JweError> {
        let parts = Compact::parse(token)?;
        for key in &self.keys {
            if let Some(plaintext) = parts.open_with(key) {
                return Credential::from_payload(&plaintext);
            }
        }
        Err(JweError::NoKey)
    }
}

/// The protected header. Parameters other than these are ignored (RFC 7516 §4), except `zip`
/// and `crit`, which would change how the token must be read and are refused.
#[derive(Deserialize)]
struct Header {
    alg: String,
    enc: String,
    #[serde(default)]
    cty: Option<String>,
    #[serde(default)]
    zip: Option<IgnoredAny>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// A token split and decoded, header checked.
struct Compact<'a> {
    /// The header segment as sent: its ASCII is the AEAD's additional data.
    header: &'a str,
    encrypted_key: Vec<u8>,
    iv: [u8; IV_LEN],
    /// Ciphertext followed by the tag, the layout `open_in_place` wants.
    sealed: Vec<u8>,
}

impl<'a> Compact<'a> {
    fn parse(token: &'a str) -> Result<Self, JweError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JweError::Malformed("longer than 16384 bytes"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(key), Some(iv), Some(ciphertext), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(JweError::Malformed("not five dot-separated parts"));
        };
        check_header(&decode(header, "the header is not base64url")?)?;
        let encrypted_key = decode(key, "the encrypted key is not base64url")?;
        let iv: [u8; IV_LEN] = decode(iv, "the IV is not base64url")?
            .try_into()
            .map_err(|_| JweError::Malformed("the IV is not 96 bits"))?;
        let tag = decode(tag, "the tag is not base64url")?;
        if tag.len() != TAG_LEN {
            return Err(JweError::Malformed("the tag is not 128 bits"));
        }
        let mut sealed = decode(ciphertext, "the ciphertext is not base64url")?;
        sealed.extend_from_slice(&tag);
        Ok(Self {
            header,
            encrypted_key,
            iv,
            sealed,
        })
    }

    /// The plaintext if `key` unwraps a 256-bit content key and the content authenticates
    /// under it. Every failure looks the same (RFC 7516 §11.5); aws-lc's OAEP check is
    /// constant-time, so trying several keys tells an attacker nothing about the padding.
    fn open_with(&self, key: &PasswordKey) -> Option<Zeroizing<Vec<u8>>> {
        let rsa = key.decrypting();
        if self.encrypted_key.len() != rsa.key_size_bytes() {
            return None;
        }
        let mut cek = Zeroizing::new(vec![0u8; rsa.min_output_size()]);
        let cek_len = rsa
            .decrypt(&OAEP_SHA256_MGF1SHA256, &self.encrypted_key, &mut cek, None)
            .ok()?
            .len();
        if cek_len != CEK_LEN {
            return None;
        }
        let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &cek[..CEK_LEN]).ok()?);
        let mut buffer = Zeroizing::new(self.sealed.clone());
        let plain_len = aead
            .open_in_place(
                Nonce::assume_unique_for_key(self.iv),
                Aad::from(self.header.as_bytes()),
                &mut buffer,
            )
            .ok()?
            .len();
        buffer.truncate(plain_len);
        Some(buffer)
    }
}

/// A base64url part (no padding, as RFC 7515 §2 has it); `error` says which part was bad.
fn decode(part: &str, error: &'static str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JweError::Malformed(error))
}

fn check_header(json: &[u8]) -> Result<(), JweError> {
    let header: Header = serde_json::from_slice(json)
        .map_err(|_| JweError::Malformed("the header is not a JSON object with alg and enc"))?;
    if header.alg != "RSA-OAEP-256" {
        return Err(JweError::Malformed("alg is not RSA-OAEP-256"));
    }
    if header.enc != "A256GCM" {
        return Err(JweError::Malformed("enc is not A256GCM"));
    }
    if header.zip.is_some() {
        return Err(JweError::Malformed(
            "compressed (zip) tokens are not accepted",
        ));
    }
    if header.crit.is_some() {
        return Err(JweError::Malformed(
            "critical (crit) header parameters are not accepted",
        ));
    }
    // RFC 7515 §4.1.10: "application/" may be left out of a media type.
    if let Some(cty) = &header.cty {
        if !cty.eq_ignore_ascii_case("application/json") && !cty.eq_ignore_ascii_case("json") {
            return Err(JweError::Malformed("cty is not application/json"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "jwe_tests.rs"]
pub(crate) mod tests;
