//! Inbound action request (CONTRACT.md §2): lenient where the caller varies (optional parts,
//! unknown fields, string-or-array values), strict where a wrong shape would make us guess.

use serde::{Deserialize, Serialize};

/// A claim value as the caller sends it: a string for single-valued claims, an array of
/// strings for multi-valued ones. `""` and `[]` mean the claim is being removed.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ClaimValue {
    Single(String),
    Multi(Vec<String>),
}

/// What a claim value must be; also the whole error for one that is not (serde's own message
/// would quote the value, and claim values are personal data).
const CLAIM_VALUE_SHAPE: &str = "a claim value must be a string or an array of strings";

/// Read directly by shape instead of serde's `untagged`, which buffers every value and tries
/// each variant in turn (a measurable share of parsing a request). A value of the wrong type,
/// at the top or as an array element, gets [`CLAIM_VALUE_SHAPE`]; broken JSON inside it stays
/// a syntax error.
impl<'de> Deserialize<'de> for ClaimValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Shape { element: false })
    }
}

/// Visits a claim value (`element: false`) or one string of a multi-valued one.
struct Shape {
    element: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for Shape {
    type Value = ClaimValue;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<ClaimValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Shape {
    type Value = ClaimValue;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(CLAIM_VALUE_SHAPE)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ClaimValue, E> {
        Ok(ClaimValue::Single(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<ClaimValue, E> {
        Ok(ClaimValue::Single(v))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ClaimValue, A::Error> {
        if self.element {
            return Err(serde::de::Error::custom(CLAIM_VALUE_SHAPE));
        }
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        // An element visit yields a single string or fails (a nested array is refused above).
        while let Some(v) = seq.next_element_seed(Shape { element: true })? {
            match v {
                ClaimValue::Single(s) => values.push(s),
                ClaimValue::Multi(_) => return Err(serde::de::Error::custom(CLAIM_VALUE_SHAPE)),
            }
        }
        Ok(ClaimValue::Multi(values))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<ClaimValue, E> {
        Err(E::custom(CLAIM_VALUE_SHAPE))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<ClaimValue, E> {
        Err(E::custom(CLAIM_VALUE_SHAPE))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<ClaimValue, E> {
        Err(E::custom(CLAIM_VALUE_SHAPE))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<ClaimValue, E> {
        Err(E::custom(CLAIM_VALUE_SHAPE))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<ClaimValue, E> {
        Err(E::custom(CLAIM_VALUE_SHAPE))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<ClaimValue, A::Error> {
        Err(serde::de::Error::custom(CLAIM_VALUE_SHAPE))
    }
}

impl ClaimValue {
    /// True when the caller is removing the claim (`""` or `[]`).
    pub fn is_removal(&self) -> bool {
        match self {
            ClaimValue::Single(s) => s.is_empty(),
            ClaimValue::Multi(v) => v.is_empty(),
        }
    }

    /// The individual values: one for a single-valued claim, each element for a multi-valued one.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        let (single, multi): (Option<&str>, &[String]) = match self {
            ClaimValue::Single(s) => (Some(s.as_str()), &[]),
            ClaimValue::Multi(v) => (None, v.as_slice()),
        };
        single.into_iter().chain(multi.iter().map(String::as_str))
    }
}

/// A claim in `event.request.claims`: the new value being written.
#[derive(Debug, Clone, Deserialize)]
pub struct Claim {
    pub uri: String,
    pub value: ClaimValue,
}

/// A claim in `event.user.claims`: the current value of a shared attribute, and the value it is
/// being changed to when it is also part of the update.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserClaim {
    pub uri: String,
    pub value: ClaimValue,
    #[serde(default)]
    pub updating_value: Option<ClaimValue>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UpdateRequest {
    #[serde(default)]
    pub claims: Option<Vec<Claim>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Tenant {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub claims: Option<Vec<UserClaim>>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    pub organization: Option<Organization>,
    #[serde(default)]
    pub shared_user_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserStore {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default)]
    pub initiator_type: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub request: Option<UpdateRequest>,
    #[serde(default)]
    pub tenant: Option<Tenant>,
    #[serde(default)]
    pub organization: Option<Organization>,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub user_store: Option<UserStore>,
}

/// The whole request body. Unknown fields anywhere are ignored (serde's default), because the
/// caller adds fields between versions.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRequest {
    #[serde(default)]
    pub action_type: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub flow_id: Option<String>,
    #[serde(default)]
    pub event: Option<Event>,
}

impl ActionRequest {
    /// The claims being written (`event.request.claims`), empty when absent.
    pub fn request_claims(&self) -> &[Claim] {
        self.event
            .as_ref()
            .and_then(|e| e.request.as_ref())
            .and_then(|r| r.claims.as_deref())
            .unwrap_or(&[])
    }

    /// The shared attributes' current values (`event.user.claims`), empty when absent.
    pub fn user_claims(&self) -> &[UserClaim] {
        self.event
            .as_ref()
            .and_then(|e| e.user.as_ref())
            .and_then(|u| u.claims.as_deref())
            .unwrap_or(&[])
    }

    /// The accessing organization's id, if the event names one (sub-organization flows).
    pub fn organization_id(&self) -> Option<&str> {
        self.event
            .as_ref()
            .and_then(|e| e.organization.as_ref())
            .and_then(|o| o.id.as_deref())
            .filter(|id| !id.is_empty())
    }
}

/// Why a body could not be read as an action request. The text names the problem and the
/// JSON path, for the caller's logs (it is sanitized before it is sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the request body is not UTF-8")]
    NotUtf8,
    #[error("the request body is empty")]
    Empty,
    #[error("the request body is not JSON: {0}")]
    NotJson(String),
    #[error("the request body is not a JSON object")]
    NotObject,
    #[error("{path}: {message}")]
    Shape { path: String, message: String },
    #[error("actionType is missing")]
    MissingActionType,
    /// A well-formed request for another action at an action's endpoint; answered FAILED
    /// `invalid_input` like a wrong actionType at the profile endpoint, not 400.
    #[error("actionType is not the one this endpoint serves")]
    OtherActionType,
}

impl ParseError {
    /// A description for logs: where the problem is, never the offending value (serde's
    /// messages quote it, and claim values are personal data).
    pub fn log_safe(&self) -> String {
        match self {
            ParseError::Shape { path, .. } => format!("{path}: wrong type or shape"),
            ParseError::NotJson(_) => "the request body is not JSON".into(),
            other => other.to_string(),
        }
    }
}

/// Parses a request body. Decoding is UTF-8 whatever the Content-Type says (CONTRACT.md C8).
pub fn parse_request(body: &[u8]) -> Result<ActionRequest, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    // serde would read a struct from an array too; the caller only ever sends an object.
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => ParseError::NotObject,
            Err(e) => ParseError::NotJson(e.to_string()),
        });
    }
    // The fast path; only a failure is parsed again with path tracking, to name the field.
    let req: ActionRequest = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(_) => return Err(explain(text)),
    };
    if req.action_type.as_deref().is_none_or(str::is_empty) {
        return Err(ParseError::MissingActionType);
    }
    Ok(req)
}

/// Parses again with path tracking to say where and why the body does not fit.
fn explain(text: &str) -> ParseError {
    let mut de = serde_json::Deserializer::from_str(text);
    let res: Result<ActionRequest, _> = serde_path_to_error::deserialize(&mut de);
    let err = match res {
        Ok(_) => match de.end() {
            Ok(()) => return ParseError::NotJson("unreadable".into()),
            Err(e) => return ParseError::NotJson(e.to_string()),
        },
        Err(e) => e,
    };
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => ParseError::Shape {
            path,
            message: describe_serde_error(&inner.to_string()),
        },
        _ => ParseError::NotJson(inner.to_string()),
    }
}

/// A wrong claim value says only what a claim value may be (without serde's position).
fn describe_serde_error(msg: &str) -> String {
    if msg.contains(CLAIM_VALUE_SHAPE) {
        CLAIM_VALUE_SHAPE.into()
    } else {
        msg.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_both_shapes() {
        let v: ClaimValue = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(v.values().collect::<Vec<_>>(), ["a", "b"]);
        let v: ClaimValue = serde_json::from_str(r#""x""#).unwrap();
        assert_eq!(v.values().collect::<Vec<_>>(), ["x"]);
        assert!(ClaimValue::Single(String::new()).is_removal());
        assert!(ClaimValue::Multi(vec![]).is_removal());
    }

    #[test]
    fn a_wrong_claim_value_says_what_it_may_be_and_never_quotes_it() {
        for (value, at) in [
            ("3", "value"),
            ("true", "value"),
            ("null", "value"),
            (r#"{"a":"secret-x"}"#, "value"),
            (r#"["ok",42]"#, "value[1]"),
            (r#"["ok",["secret-x"]]"#, "value[1]"),
        ] {
            let body = format!(
                r#"{{"actionType":"PRE_UPDATE_PROFILE","event":{{"request":{{"claims":[{{"uri":"u","value":{value}}}]}}}}}}"#
            );
            match parse_request(body.as_bytes()).unwrap_err() {
                ParseError::Shape { path, message } => {
                    assert!(path.starts_with("event.request.claims[0]."), "{path}");
                    assert!(path.ends_with(at), "{path}");
                    assert_eq!(message, CLAIM_VALUE_SHAPE, "for {value}");
                }
                other => panic!("{value}: {other:?}"),
            }
        }
        // Broken JSON inside a claim value is still reported as broken JSON.
        for cut in [r#"["a","#, r#"["a" "b"]"#, r#""unterminated"#] {
            let body = format!(
                r#"{{"actionType":"PRE_UPDATE_PROFILE","event":{{"request":{{"claims":[{{"uri":"u","value":{cut}"#
            );
            assert!(
                matches!(parse_request(body.as_bytes()), Err(ParseError::NotJson(_))),
                "{cut}: {:?}",
                parse_request(body.as_bytes())
            );
        }
        // Escaped strings, both shapes, and what the audit log stores reads back the same.
        for v in [
            ClaimValue::Single("a \"quoted\" \\ value \u{e9}".into()),
            ClaimValue::Single(String::new()),
            ClaimValue::Multi(vec!["x".into(), "y\n".into()]),
            ClaimValue::Multi(vec![]),
        ] {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(
                serde_json::from_str::<ClaimValue>(&json).unwrap(),
                v,
                "{json}"
            );
        }
    }

    #[test]
    fn shape_errors_name_the_path() {
        let e = parse_request(
            br#"{"actionType":"PRE_UPDATE_PROFILE","event":{"request":{"claims":[null]}}}"#,
        )
        .unwrap_err();
        match e {
            ParseError::Shape { path, .. } => assert_eq!(path, "event.request.claims[0]"),
            other => panic!("{other:?}"),
        }
        let e = parse_request(
            br#"{"actionType":"PRE_UPDATE_PROFILE","event":{"request":{"claims":{}}}}"#,
        )
        .unwrap_err();
        assert!(matches!(e, ParseError::Shape { ref path, .. } if path == "event.request.claims"));
        let e = parse_request(
            br#"{"actionType":"X","event":{"request":{"claims":[{"uri":"u","value":3}]}}}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("string or an array of strings"),
            "{e}"
        );
        // serde quotes the offending value; the log form must not.
        let e = parse_request(
            br#"{"actionType":"PRE_UPDATE_PROFILE","event":{"tenant":{"id":987654321}}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("987654321"));
        assert!(!e.log_safe().contains("987654321"), "{}", e.log_safe());
        assert_eq!(parse_request(b"[1]").unwrap_err(), ParseError::NotObject);
        assert_eq!(parse_request(b"  ").unwrap_err(), ParseError::Empty);
        assert_eq!(
            parse_request(b"{}").unwrap_err(),
            ParseError::MissingActionType
        );
        assert_eq!(
            parse_request(&[0xff, 0xfe]).unwrap_err(),
            ParseError::NotUtf8
        );
    }
}
