//! The three answers the caller accepts (CONTRACT.md §4, §9): exact keys, exact status codes,
//! every text sanitized. Constructors are the only way to build one, so an invalid response
//! cannot be expressed.

use serde::Serialize;

use super::sanitize::{sanitize, MessageKind};

/// HTTP statuses on which the caller parses an ERROR body (CONTRACT.md §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStatus {
    /// 400: the request was wrong; the caller does not retry.
    BadRequest,
    /// 401: missing or wrong credentials; the caller does not retry.
    Unauthorized,
    /// 500: our fault; the caller does not retry a valid ERROR body.
    Internal,
}

impl ErrorStatus {
    pub const fn code(self) -> u16 {
        match self {
            ErrorStatus::BadRequest => 400,
            ErrorStatus::Unauthorized => 401,
            ErrorStatus::Internal => 500,
        }
    }
}

/// One answer to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionResponse {
    Success,
    Failed {
        reason: String,
        description: String,
    },
    Error {
        status: ErrorStatus,
        message: String,
        description: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FailedBody<'a> {
    action_status: &'static str,
    failure_reason: &'a str,
    failure_description: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    action_status: &'static str,
    error_message: &'a str,
    error_description: &'a str,
}

impl ActionResponse {
    /// A FAILED answer; the user sees `description`. Both texts are sanitized.
    pub fn failed(reason: &str, description: &str) -> Self {
        ActionResponse::Failed {
            reason: sanitize(reason, MessageKind::Reason),
            description: sanitize(description, MessageKind::Description),
        }
    }

    /// An ERROR answer; both texts are sanitized.
    pub fn error(status: ErrorStatus, message: &str, description: &str) -> Self {
        ActionResponse::Error {
            status,
            message: sanitize(message, MessageKind::Reason),
            description: sanitize(description, MessageKind::Description),
        }
    }

    /// The outcome's name as the caller spells it.
    pub fn status_name(&self) -> &'static str {
        match self {
            ActionResponse::Success => "SUCCESS",
            ActionResponse::Failed { .. } => "FAILED",
            ActionResponse::Error { .. } => "ERROR",
        }
    }

    /// HTTP status: 200 for SUCCESS and FAILED, 400/401/500 for ERROR.
    pub fn http_status(&self) -> u16 {
        match self {
            ActionResponse::Success | ActionResponse::Failed { .. } => 200,
            ActionResponse::Error { status, .. } => status.code(),
        }
    }

    /// The reason (FAILED) or message (ERROR), if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ActionResponse::Success => None,
            ActionResponse::Failed { reason, .. } => Some(reason),
            ActionResponse::Error { message, .. } => Some(message),
        }
    }

    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        match self {
            ActionResponse::Success => None,
            ActionResponse::Failed { description, .. }
            | ActionResponse::Error { description, .. } => Some(description),
        }
    }

    /// The strict JSON body: only the documented keys, no trailing commas.
    pub fn to_json(&self) -> Vec<u8> {
        let body = match self {
            ActionResponse::Success => return br#"{"actionStatus":"SUCCESS"}"#.to_vec(),
            ActionResponse::Failed {
                reason,
                description,
            } => serde_json::to_vec(&FailedBody {
                action_status: "FAILED",
                failure_reason: reason,
                failure_description: description,
            }),
            ActionResponse::Error {
                message,
                description,
                ..
            } => serde_json::to_vec(&ErrorBody {
                action_status: "ERROR",
                error_message: message,
                error_description: description,
            }),
        };
        // Serializing two &str fields cannot fail; keep a valid body if it ever did.
        body.unwrap_or_else(|_| {
            br#"{"actionStatus":"ERROR","errorMessage":"internal error","errorDescription":""}"#
                .to_vec()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bodies() {
        assert_eq!(
            ActionResponse::Success.to_json(),
            br#"{"actionStatus":"SUCCESS"}"#
        );
        let f = ActionResponse::failed("invalid_input", "Invalid actionType provided.");
        assert_eq!(
            String::from_utf8(f.to_json()).unwrap(),
            r#"{"actionStatus":"FAILED","failureReason":"invalid_input","failureDescription":"Invalid actionType provided."}"#
        );
        let e = ActionResponse::error(ErrorStatus::Unauthorized, "unauthorized, sorry", "x/y");
        assert_eq!(e.http_status(), 401);
        assert_eq!(
            String::from_utf8(e.to_json()).unwrap(),
            r#"{"actionStatus":"ERROR","errorMessage":"unauthorized sorry","errorDescription":"x y"}"#
        );
    }
}
