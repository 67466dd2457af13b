//! The password credential (`event.user.updatingCredential` and the decrypted JWE payload):
//! its three forms, read without copying the secret into anything that is not wiped on drop,
//! and with error texts that never quote it.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use zeroize::Zeroizing;

/// Longest plaintext we carry, in UTF-8 bytes: room for the policy's largest maximum (1024 code
/// points) in any script, while a body of junk is refused here before any rule looks at it.
pub const MAX_PLAINTEXT_BYTES: usize = 16 * 1024;

/// Longest compact JWE we carry. An RSA-3072 token whose payload is a 1024-character password
/// written as Gson's array of one-character strings stays far below this.
pub const MAX_JWE_BYTES: usize = 32 * 1024;

/// A secret string (a password or a JWE): wiped from memory on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret itself, for the policy and the decryptor only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A SHA-256 digest of the password (the HASH form): as sensitive as the password for a weak
/// one, so wiped and redacted like it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordDigest(Zeroizing<[u8; 32]>);

impl PasswordDigest {
    pub fn new(bytes: [u8; 32]) -> Self {
        PasswordDigest(Zeroizing::new(bytes))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordDigest([redacted])")
    }
}

/// The un-encrypted credential, in the form the admin chose in `passwordSharing.format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `format: PLAIN_TEXT`.
    Plain(Secret),
    /// `format: HASH`: `base64std(SHA-256(utf8(password)))`, no salt (research §1.3).
    Sha256(PasswordDigest),
}

/// `event.user.updatingCredential`: the credential object, or a compact JWE (when the admin
/// uploaded a certificate) whose payload is that object; [`super::parse_credential`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdatingCredential {
    Clear(Credential),
    Encrypted(Secret),
}

impl UpdatingCredential {
    /// The form's name for audit records: `PLAIN_TEXT`, `HASH` or `JWE`.
    pub fn form(&self) -> &'static str {
        match self {
            UpdatingCredential::Clear(Credential::Plain(_)) => "PLAIN_TEXT",
            UpdatingCredential::Clear(Credential::Sha256(_)) => "HASH",
            UpdatingCredential::Encrypted(_) => "JWE",
        }
    }
}

#[derive(Deserialize)]
enum CredentialType {
    #[serde(rename = "PASSWORD")]
    Password,
}

#[derive(Deserialize)]
enum Format {
    #[serde(rename = "PLAIN_TEXT")]
    PlainText,
    #[serde(rename = "HASH")]
    Hash,
}

#[derive(Deserialize)]
enum Algorithm {
    #[serde(rename = "SHA256")]
    Sha256,
}

#[derive(Deserialize)]
struct AdditionalData {
    #[serde(default)]
    #[allow(dead_code)] // read to refuse an algorithm other than SHA256
    algorithm: Option<Algorithm>,
}

#[derive(Deserialize)]
struct RawCredential {
    #[allow(dead_code)] // read to refuse a type other than PASSWORD
    #[serde(rename = "type")]
    kind: CredentialType,
    format: Format,
    value: RawValue,
    #[serde(default, rename = "additionalData")]
    #[allow(dead_code)]
    additional_data: Option<AdditionalData>,
}

/// What a credential value must be; also the whole error for one that is not, so the value
/// is never quoted.
const VALUE_SHAPE: &str = "must be a string or an array of one-character strings";
pub(crate) const HASH_SHAPE: &str = "must be the standard base64 of a 32-byte SHA-256 digest";

/// The credential's `value`: a string (Jackson, the un-encrypted object) or an array of
/// one-character strings (Gson's `char[]`, inside the JWE payload), joined here.
struct RawValue(Zeroizing<String>);

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = RawValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(VALUE_SHAPE)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
        if v.len() > MAX_PLAINTEXT_BYTES {
            return Err(E::custom("is too long"));
        }
        Ok(RawValue(Zeroizing::new(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawValue, E> {
        let v = Zeroizing::new(v);
        self.visit_str(&v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut out = Zeroizing::new(String::new());
        while let Some(piece) = seq.next_element::<OneChar>()? {
            if out.len() + 4 > MAX_PLAINTEXT_BYTES {
                return Err(de::Error::custom("is too long"));
            }
            out.push(piece.0);
        }
        Ok(RawValue(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<RawValue, A::Error> {
        Err(de::Error::custom(VALUE_SHAPE))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawValue, E> {
        Err(E::custom(VALUE_SHAPE))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawValue, E> {
        Err(E::custom(VALUE_SHAPE))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawValue, E> {
        Err(E::custom(VALUE_SHAPE))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawValue, E> {
        Err(E::custom(VALUE_SHAPE))
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawValue, E> {
        Err(E::custom(VALUE_SHAPE))
    }
}

/// One element of Gson's char array. A character outside the BMP arrives as two elements, one
/// per UTF-16 surrogate; a JSON parser cannot hold a lone surrogate in a string, so such a
/// value is refused here (the decryptor joins code units itself before calling us).
struct OneChar(char);

impl<'de> Deserialize<'de> for OneChar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = OneChar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(VALUE_SHAPE)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneChar, E> {
                let mut it = v.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => Ok(OneChar(c)),
                    _ => Err(E::custom(VALUE_SHAPE)),
                }
            }
        }
        d.deserialize_str(V)
    }
}

impl TryFrom<RawCredential> for Credential {
    type Error = &'static str;
    fn try_from(raw: RawCredential) -> Result<Self, &'static str> {
        match raw.format {
            Format::PlainText => Ok(Credential::Plain(Secret(raw.value.0))),
            Format::Hash => {
                let mut digest = Zeroizing::new([0u8; 32]);
                let text = raw.value.0.trim();
                match base64::engine::general_purpose::STANDARD.decode_slice(text, &mut *digest) {
                    Ok(32) => Ok(Credential::Sha256(PasswordDigest(digest))),
                    _ => Err(HASH_SHAPE),
                }
            }
        }
    }
}

impl<'de> Deserialize<'de> for Credential {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawCredential::deserialize(d)?;
        Credential::try_from(raw).map_err(de::Error::custom)
    }
}

/// The object form, or a string: the compact JWE, carried opaque for the decryptor.
impl<'de> Deserialize<'de> for UpdatingCredential {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UpdatingCredential;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a credential object or a compact JWE string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UpdatingCredential, E> {
                if v.len() > MAX_JWE_BYTES {
                    return Err(E::custom("the encrypted credential is too long"));
                }
                Ok(UpdatingCredential::Encrypted(Secret::new(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<UpdatingCredential, E> {
                let v = Zeroizing::new(v);
                self.visit_str(&v)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<UpdatingCredential, A::Error> {
                Credential::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(UpdatingCredential::Clear)
            }
        }
        d.deserialize_any(V)
    }
}
