//! The PRE_UPDATE_PASSWORD request (CONTRACT.md §6, research/password-action.md §2): every
//! shape the caller sends (v1.0, v1.1 with organization/claims/groups, v2.0 with REGISTER and no
//! `user.id`) and the credential in its three forms. The secret is held in [`Secret`], which is
//! wiped on drop and never printed, and no error message here ever quotes it.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::request::{Organization, ParseError, Tenant, UserClaim, UserStore};

/// `actionType` of the pre-update password action.
pub const PRE_UPDATE_PASSWORD: &str = "PRE_UPDATE_PASSWORD";

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

/// Who started the change (`event.initiatorType`). Values of a later contract are carried,
/// not refused: refusing would block the user's password change over a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitiatorType {
    User,
    Admin,
    Application,
    Other(String),
}

/// The flow (`event.action`); `Register` exists from contract v2.0 on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordAction {
    Update,
    Reset,
    Invite,
    Register,
    Other(String),
}

/// Longest unknown `initiatorType`/`action` label we keep (it goes to the audit record).
const MAX_LABEL: usize = 64;

fn bounded_label(s: String) -> String {
    s.chars().take(MAX_LABEL).collect()
}

impl<'de> Deserialize<'de> for InitiatorType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "USER" => InitiatorType::User,
            "ADMIN" => InitiatorType::Admin,
            "APPLICATION" => InitiatorType::Application,
            _ => InitiatorType::Other(bounded_label(s)),
        })
    }
}

impl<'de> Deserialize<'de> for PasswordAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "UPDATE" => PasswordAction::Update,
            "RESET" => PasswordAction::Reset,
            "INVITE" => PasswordAction::Invite,
            "REGISTER" => PasswordAction::Register,
            _ => PasswordAction::Other(bounded_label(s)),
        })
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
/// uploaded a certificate) whose payload is that object; [`parse_credential`] reads it.
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

/// `event.user`; `id` is absent on REGISTER (the user does not exist yet).
#[derive(Debug, Clone, Default)]
pub struct PasswordUser {
    pub id: Option<String>,
    pub claims: Vec<UserClaim>,
    pub groups: Vec<String>,
    pub organization: Option<Organization>,
}

/// A PRE_UPDATE_PASSWORD request, with what every version must carry made non-optional.
#[derive(Debug, Clone)]
pub struct PasswordRequest {
    pub request_id: Option<String>,
    pub flow_id: Option<String>,
    pub initiator: InitiatorType,
    pub action: PasswordAction,
    pub tenant: Option<Tenant>,
    /// The accessing organization (v1.1 and later; absent or null otherwise).
    pub organization: Option<Organization>,
    pub user: PasswordUser,
    pub user_store: Option<UserStore>,
    pub credential: UpdatingCredential,
}

impl PasswordRequest {
    /// The value of a claim of the user (`event.user.claims`), all values of a multi-valued one.
    pub fn claim_values<'a>(&'a self, uri: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.user
            .claims
            .iter()
            .filter(move |c| c.uri == uri)
            .flat_map(|c| c.value.values())
    }
}

// ---- the wire shapes; unknown fields anywhere are ignored (serde's default) ----

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    #[serde(default)]
    action_type: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    flow_id: Option<String>,
    #[serde(default)]
    event: Option<RawEvent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    #[serde(default)]
    initiator_type: Option<InitiatorType>,
    #[serde(default)]
    action: Option<PasswordAction>,
    #[serde(default)]
    tenant: Option<Tenant>,
    #[serde(default)]
    organization: Option<Organization>,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    user_store: Option<UserStore>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUser {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    claims: Option<Vec<UserClaim>>,
    #[serde(default)]
    groups: Option<Vec<String>>,
    #[serde(default)]
    organization: Option<Organization>,
    #[serde(default)]
    updating_credential: Option<UpdatingCredential>,
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
const HASH_SHAPE: &str = "must be the standard base64 of a 32-byte SHA-256 digest";

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

/// Parses a PRE_UPDATE_PASSWORD body. Decoding is UTF-8 whatever the Content-Type says. A
/// well-formed body of another action is [`ParseError::OtherActionType`] (answered FAILED).
pub fn parse_password_request(body: &[u8]) -> Result<PasswordRequest, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    let raw: RawRequest = parse_object(text)?;
    match raw.action_type.as_deref() {
        None | Some("") => return Err(ParseError::MissingActionType),
        Some(PRE_UPDATE_PASSWORD) => {}
        Some(_) => return Err(ParseError::OtherActionType),
    }
    let missing = |path: &str| ParseError::Shape {
        path: path.into(),
        message: "is missing".into(),
    };
    let event = raw.event.ok_or_else(|| missing("event"))?;
    let user = event.user.ok_or_else(|| missing("event.user"))?;
    Ok(PasswordRequest {
        request_id: raw.request_id,
        flow_id: raw.flow_id,
        initiator: event
            .initiator_type
            .ok_or_else(|| missing("event.initiatorType"))?,
        action: event.action.ok_or_else(|| missing("event.action"))?,
        tenant: event.tenant,
        organization: event.organization,
        credential: user
            .updating_credential
            .ok_or_else(|| missing("event.user.updatingCredential"))?,
        user: PasswordUser {
            id: user.id,
            claims: user.claims.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
            organization: user.organization,
        },
        user_store: event.user_store,
    })
}

/// Parses the decrypted JWE payload: the credential object, `value` a string or Gson's array
/// of one-character strings. Error paths are relative to the payload.
pub fn parse_credential(payload: &[u8]) -> Result<Credential, ParseError> {
    let text = std::str::from_utf8(payload).map_err(|_| ParseError::NotUtf8)?;
    parse_object(text)
}

/// Reads a JSON object into `T`, naming the path of the first field that does not fit. The
/// serde message is kept only for data errors raised by our own types or by serde on
/// non-secret fields; a syntax error says where, never what.
fn parse_object<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<de::IgnoredAny>(text) {
            Ok(_) => ParseError::NotObject,
            Err(e) => ParseError::NotJson(position(&e)),
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => ParseError::Shape {
                    path,
                    message: strip_position(&inner.to_string()),
                },
                _ => ParseError::NotJson(position(&inner)),
            });
        }
    };
    de.end().map_err(|e| ParseError::NotJson(position(&e)))?;
    Ok(value)
}

/// A syntax error's position only: serde_json's text can quote part of the input.
fn position(e: &serde_json::Error) -> String {
    format!("syntax error at line {} column {}", e.line(), e.column())
}

/// serde_json appends " at line L column C" to data errors; the path says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
#[path = "password_tests.rs"]
mod tests;
