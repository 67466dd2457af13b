//! The PRE_UPDATE_PASSWORD request (CONTRACT.md §6, research/password-action.md §2): every
//! shape the caller sends (v1.0, v1.1 with organization/claims/groups, v2.0 with REGISTER and no
//! `user.id`) and the credential in its three forms. The secret is held in [`Secret`], which is
//! wiped on drop and never printed, and no error message here ever quotes it.

use serde::de::{self, Deserializer};
use serde::Deserialize;

pub use super::credential::{
    Credential, PasswordDigest, Secret, UpdatingCredential, MAX_JWE_BYTES, MAX_PLAINTEXT_BYTES,
};
use super::request::{Organization, ParseError, Tenant, UserClaim, UserStore};

/// `actionType` of the pre-update password action.
pub const PRE_UPDATE_PASSWORD: &str = "PRE_UPDATE_PASSWORD";

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
