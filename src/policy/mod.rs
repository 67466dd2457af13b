//! The decision engine: a pure function of (request, directory, settings). No I/O, no clock,
//! so every rule is tested without a server and the same input always gives the same answer.

pub mod directory;
pub mod password;

use serde::{Deserialize, Serialize};

use crate::contract::{ActionRequest, ActionResponse, ClaimValue, PRE_UPDATE_PROFILE};
pub use directory::{normalize_department, Directory, DirectoryError};

/// The department claim the seed validates.
pub const DEPARTMENT_CLAIM: &str = "http://wso2.org/claims/department";

/// How a department value is compared with the directory.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchMode {
    /// Byte-for-byte, as the seed does.
    #[default]
    Exact,
    /// Unicode lower-case comparison.
    CaseInsensitive,
}

/// A failure the user sees: reason code and description. Admin-editable later; the defaults
/// are the seed's words.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureMessage {
    pub reason: String,
    pub description: String,
}

/// The failure texts, one per rule.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Messages {
    pub invalid_action_type: FailureMessage,
    pub invalid_department: FailureMessage,
    pub notification_failed: FailureMessage,
}

impl Default for Messages {
    fn default() -> Self {
        Messages {
            invalid_action_type: FailureMessage {
                reason: "invalid_input".into(),
                description: "Invalid actionType provided.".into(),
            },
            invalid_department: FailureMessage {
                reason: "invalid_department_input".into(),
                description: "Provided user department value is invalid.".into(),
            },
            notification_failed: FailureMessage {
                reason: "email_error".into(),
                description: "Failed to notify security team about sensitive data update.".into(),
            },
        }
    }
}

/// The policy's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicySettings {
    pub department_match: MatchMode,
    pub messages: Messages,
}

/// Which rule decided, for the audit record and metrics.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Nothing objected.
    Allowed,
    /// `actionType` was not PRE_UPDATE_PROFILE.
    InvalidActionType,
    /// A department value is not in the directory that applies.
    InvalidDepartment,
    /// The update was allowed, but the security team could not be notified (blocking mode).
    NotificationFailed,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub rule: Rule,
    pub response: ActionResponse,
    /// Human-readable detail for the audit record (never sent to the caller).
    pub detail: Option<String>,
}

/// One claim touched by the update: its new value and, when the admin shared the attribute
/// with the action, its current value.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimChange {
    pub uri: String,
    /// Current value; `None` when the attribute was not shared with the action.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub old: Option<ClaimValue>,
    pub new: ClaimValue,
}

/// Decides one request.
pub fn decide(req: &ActionRequest, dir: &Directory, settings: &PolicySettings) -> Verdict {
    if req.action_type.as_deref() != Some(PRE_UPDATE_PROFILE) {
        let m = &settings.messages.invalid_action_type;
        return Verdict {
            rule: Rule::InvalidActionType,
            response: ActionResponse::failed(&m.reason, &m.description),
            detail: Some("actionType is not PRE_UPDATE_PROFILE".into()),
        };
    }
    let org = req.organization_id();
    for claim in req.request_claims() {
        if claim.uri != DEPARTMENT_CLAIM || claim.value.is_removal() {
            continue;
        }
        for value in claim.value.values() {
            if !dir.contains(org, value, settings.department_match) {
                let m = &settings.messages.invalid_department;
                return Verdict {
                    rule: Rule::InvalidDepartment,
                    response: ActionResponse::failed(&m.reason, &m.description),
                    detail: Some(format!(
                        "department not in the {} directory",
                        if dir.has_own_list(org) {
                            "organization's"
                        } else {
                            "root"
                        }
                    )),
                };
            }
        }
    }
    Verdict {
        rule: Rule::Allowed,
        response: ActionResponse::Success,
        detail: None,
    }
}

/// Turns an allowed verdict into the e-mail failure (the seed answers FAILED `email_error`
/// when the security team cannot be told).
pub fn notification_failed(settings: &PolicySettings, detail: String) -> Verdict {
    let m = &settings.messages.notification_failed;
    Verdict {
        rule: Rule::NotificationFailed,
        response: ActionResponse::failed(&m.reason, &m.description),
        detail: Some(detail),
    }
}

/// Every claim in `event.request.claims`, with its old value where the caller shared it.
/// Takes the claims out of the request (they move into the audit record instead of being
/// copied); everything else in it stays.
pub fn take_claim_changes(req: &mut ActionRequest) -> Vec<ClaimChange> {
    let claims = req
        .event
        .as_mut()
        .and_then(|e| e.request.as_mut())
        .and_then(|r| r.claims.take())
        .unwrap_or_default();
    let user_claims = req.user_claims();
    claims
        .into_iter()
        .map(|c| ClaimChange {
            old: user_claims
                .iter()
                .find(|u| u.uri == c.uri)
                .map(|u| u.value.clone()),
            uri: c.uri,
            new: c.value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::parse_request;

    fn req(action: &str, org: Option<&str>, depts: &[serde_json::Value]) -> ActionRequest {
        let claims: Vec<_> = depts
            .iter()
            .map(|v| serde_json::json!({"uri": DEPARTMENT_CLAIM, "value": v}))
            .collect();
        let mut event = serde_json::json!({
            "request": {"claims": claims},
            "tenant": {"id": "-1234", "name": "carbon.super"},
            "user": {"id": "u1"},
            "userStore": {"id": "UFJJTUFSWQ==", "name": "PRIMARY"},
            "initiatorType": "ADMIN", "action": "UPDATE"
        });
        if let Some(o) = org {
            event["organization"] = serde_json::json!({"id": o, "name": "Sub", "depth": 1});
        }
        let body = serde_json::json!({"actionType": action, "event": event});
        parse_request(body.to_string().as_bytes()).unwrap()
    }

    fn dir() -> Directory {
        let mut d = Directory::default();
        d.insert(None, "HR");
        d.insert(None, "Engineering");
        d.insert(Some("org-a"), "Sales");
        d
    }

    #[test]
    fn wrong_action_type_fails_with_seed_words() {
        let v = decide(
            &req("PRE_UPDATE_PASSWORD", None, &[]),
            &dir(),
            &Default::default(),
        );
        assert_eq!(v.rule, Rule::InvalidActionType);
        assert_eq!(
            v.response,
            ActionResponse::failed("invalid_input", "Invalid actionType provided.")
        );
    }

    #[test]
    fn department_rules() {
        let s = PolicySettings::default();
        let d = dir();
        let ok = |r: &ActionRequest| decide(r, &d, &s).rule;
        assert_eq!(
            ok(&req(PRE_UPDATE_PROFILE, None, &["HR".into()])),
            Rule::Allowed
        );
        assert_eq!(
            ok(&req(PRE_UPDATE_PROFILE, None, &["hr".into()])),
            Rule::InvalidDepartment
        );
        assert_eq!(
            ok(&req(PRE_UPDATE_PROFILE, None, &["".into()])),
            Rule::Allowed
        );
        assert_eq!(
            ok(&req(PRE_UPDATE_PROFILE, None, &[serde_json::json!([])])),
            Rule::Allowed
        );
        // Every department value counts, not only the first.
        assert_eq!(
            ok(&req(
                PRE_UPDATE_PROFILE,
                None,
                &["HR".into(), "Nope".into()]
            )),
            Rule::InvalidDepartment
        );
        assert_eq!(
            ok(&req(
                PRE_UPDATE_PROFILE,
                None,
                &[serde_json::json!(["HR", "Nope"])]
            )),
            Rule::InvalidDepartment
        );
        // An organization with its own list uses only that list.
        assert_eq!(
            ok(&req(PRE_UPDATE_PROFILE, Some("org-a"), &["Sales".into()])),
            Rule::Allowed
        );
        assert_eq!(
            ok(&req(PRE_UPDATE_PROFILE, Some("org-a"), &["HR".into()])),
            Rule::InvalidDepartment
        );
        // One without falls back to the root list.
        assert_eq!(
            ok(&req(PRE_UPDATE_PROFILE, Some("org-b"), &["HR".into()])),
            Rule::Allowed
        );
        assert_eq!(
            ok(&req(PRE_UPDATE_PROFILE, Some("org-b"), &["Sales".into()])),
            Rule::InvalidDepartment
        );
    }

    #[test]
    fn case_insensitive_mode() {
        let s = PolicySettings {
            department_match: MatchMode::CaseInsensitive,
            ..Default::default()
        };
        let v = decide(&req(PRE_UPDATE_PROFILE, None, &["hR".into()]), &dir(), &s);
        assert_eq!(v.rule, Rule::Allowed);
    }

    #[test]
    fn no_department_claim_is_allowed() {
        let v = decide(
            &req(PRE_UPDATE_PROFILE, None, &[]),
            &Directory::default(),
            &Default::default(),
        );
        assert_eq!(v.response, ActionResponse::Success);
    }
}
