//! The decrypted payload: WSO2's `Credential` serialized by Gson,
//! `{"type":"PASSWORD","format":"PLAIN_TEXT"|"HASH","value":…,"additionalData":{"algorithm":"SHA256"}}`
//! (`additionalData` only with HASH). `value` is a Java `char[]`, which Gson writes as an array
//! of one-character strings, one per UTF-16 code unit; a plain string is accepted too.
//!
//! The secret is copied only into `Zeroizing` buffers sized up front, so no unwiped copy is
//! left by a reallocation. What serde_json itself holds is not ours to wipe: its scratch buffer
//! keeps the last escaped string it decoded (with Gson, an escaped character such as `=`).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::jwe::JweError;

/// How the password arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialFormat {
    /// The password itself.
    PlainText,
    /// `base64(SHA-256(UTF-8 password))`, standard alphabet, padded, no salt (research §1.3).
    Sha256Hash,
}

/// A password credential out of the encrypted form. `Debug` shows the format only.
pub struct Credential {
    format: CredentialFormat,
    value: Zeroizing<String>,
}

impl Credential {
    /// Parses a decrypted payload (UTF-8 JSON).
    pub fn from_payload(json: &[u8]) -> Result<Self, JweError> {
        let payload: Payload = serde_json::from_slice(json).map_err(|e| {
            JweError::NotCredential(match e.classify() {
                serde_json::error::Category::Data => {
                    "not an object with type, format and a string or character-array value"
                }
                _ => "not JSON",
            })
        })?;
        if payload.kind != "PASSWORD" {
            return Err(JweError::NotCredential("type is not PASSWORD"));
        }
        let algorithm = payload.additional_data.and_then(|data| data.algorithm);
        let format = match (payload.format.as_str(), algorithm.as_deref()) {
            ("PLAIN_TEXT", None) => CredentialFormat::PlainText,
            ("HASH", None | Some("SHA256")) => CredentialFormat::Sha256Hash,
            ("HASH", Some(_)) => return Err(JweError::NotCredential("algorithm is not SHA256")),
            ("PLAIN_TEXT", Some(_)) => {
                return Err(JweError::NotCredential(
                    "a PLAIN_TEXT value names an algorithm",
                ))
            }
            _ => {
                return Err(JweError::NotCredential(
                    "format is neither PLAIN_TEXT nor HASH",
                ))
            }
        };
        let value = match payload.value {
            Secret::Text(text) => text,
            Secret::Units(units) => from_utf16(&units)?,
            Secret::NotOneUnit => {
                return Err(JweError::NotCredential(
                    "an element of the value array is not one UTF-16 code unit",
                ))
            }
        };
        Ok(Self { format, value })
    }

    pub fn format(&self) -> CredentialFormat {
        self.format
    }

    /// The password (PLAIN_TEXT) or its base64 SHA-256 (HASH). Never log it.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    format: String,
    value: Secret,
    #[serde(rename = "additionalData", default)]
    additional_data: Option<AdditionalData>,
}

#[derive(Deserialize)]
struct AdditionalData {
    #[serde(default)]
    algorithm: Option<String>,
}

/// `value` as read: a string, or the code units of a character array (joined and decoded after
/// parsing, so a lone surrogate gets its own error rather than serde's).
enum Secret {
    Text(Zeroizing<String>),
    Units(Zeroizing<Vec<u16>>),
    NotOneUnit,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of one-character strings")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Secret, E> {
        let mut value = Zeroizing::new(String::with_capacity(text.len()));
        value.push_str(text);
        Ok(Secret::Text(value))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Secret, E> {
        Ok(Secret::Text(Zeroizing::new(text)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Secret, A::Error> {
        let mut units = Zeroizing::new(Vec::with_capacity(seq.size_hint().unwrap_or(64)));
        while let Some(unit) = seq.next_element_seed(UnitSeed)? {
            let Some(unit) = unit else {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(Secret::NotOneUnit);
            };
            if units.len() == units.capacity() {
                // Grow into a new buffer so the old one is wiped, not left to the allocator.
                let mut bigger = Zeroizing::new(Vec::with_capacity((units.capacity() * 2).max(64)));
                bigger.extend_from_slice(&units);
                units = bigger;
            }
            units.push(unit);
        }
        Ok(Secret::Units(units))
    }
}

/// One element of the character array, read as bytes: serde_json hands a string's bytes over
/// with `\uD83D`-style escapes of lone surrogates decoded as WTF-8 (a `str` would refuse them).
struct UnitSeed;

impl<'de> DeserializeSeed<'de> for UnitSeed {
    type Value = Option<u16>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<u16>, D::Error> {
        deserializer.deserialize_bytes(UnitVisitor)
    }
}

struct UnitVisitor;

impl Visitor<'_> for UnitVisitor {
    type Value = Option<u16>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a one-character string")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Option<u16>, E> {
        Ok(code_unit(bytes))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Option<u16>, E> {
        Ok(code_unit(text.as_bytes()))
    }
}

/// The single UTF-16 code unit that `bytes` (UTF-8, or WTF-8 for a surrogate) encodes.
fn code_unit(bytes: &[u8]) -> Option<u16> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let mut units = text.encode_utf16();
        return match (units.next(), units.next()) {
            (Some(unit), None) => Some(unit),
            _ => None,
        };
    }
    match *bytes {
        // U+D800..=U+DFFF in WTF-8: ED A0..BF 80..BF.
        [0xED, b1 @ 0xA0..=0xBF, b2 @ 0x80..=0xBF] => {
            Some(0xD000 | (u16::from(b1 & 0x3F) << 6) | u16::from(b2 & 0x3F))
        }
        _ => None,
    }
}

/// Joins code units into text; a surrogate without its other half is an error.
fn from_utf16(units: &[u16]) -> Result<Zeroizing<String>, JweError> {
    // One code unit is at most 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4).
    let mut text = Zeroizing::new(String::with_capacity(units.len() * 3));
    for c in char::decode_utf16(units.iter().copied()) {
        let c = c.map_err(|_| {
            JweError::NotCredential("the value array has a surrogate without its other half")
        })?;
        text.push(c);
    }
    Ok(text)
}

#[cfg(test)]
#[path = "credential_tests.rs"]
mod tests;
