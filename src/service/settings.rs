//! Policy settings: the failure messages users see and the department match mode, saved
//! together. A message is checked against CONTRACT.md §4.4 when saved, so one the identity
//! server would turn into a 500 is refused here, not discovered on a user's profile update.

use super::{Ctx, ServiceError};
use crate::contract::sanitize::{validate_message, MessageKind};
use crate::policy::{FailureMessage, MatchMode, Messages};

/// Checks every message; the first bad one is named by its form field.
pub fn check_messages(m: &Messages) -> Result<(), ServiceError> {
    let fields: [(&FailureMessage, &'static str, &'static str); 3] = [
        (
            &m.invalid_department,
            "messages.invalid_department.reason",
            "messages.invalid_department.description",
        ),
        (
            &m.invalid_action_type,
            "messages.invalid_action_type.reason",
            "messages.invalid_action_type.description",
        ),
        (
            &m.notification_failed,
            "messages.notification_failed.reason",
            "messages.notification_failed.description",
        ),
    ];
    for (msg, reason_field, description_field) in fields {
        validate_message(&msg.reason, MessageKind::Reason)
            .map_err(|e| ServiceError::invalid(reason_field, format!("the reason {e}")))?;
        validate_message(&msg.description, MessageKind::Description).map_err(|e| {
            ServiceError::invalid(description_field, format!("the description {e}"))
        })?;
    }
    Ok(())
}

/// The policy as an admin saves it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub department_match: MatchMode,
    pub messages: Messages,
}

/// Saves the match mode and the messages in one audited change, or nothing if a message is
/// refused.
pub async fn save_policy(ctx: Ctx<'_>, p: Policy) -> Result<(), ServiceError> {
    check_messages(&p.messages)?;
    ctx.store.update_settings(ctx.actor, "policy", |st| {
        st.policy.department_match = p.department_match;
        st.policy.messages = p.messages.clone();
    })?;
    ctx.durable().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{run, TestStore};

    /// The message rule, tested once here; the admin settings page (POST /admin/api/settings)
    /// goes through `save_policy` and only renders the field and message.
    #[test]
    fn a_bad_message_is_refused_by_field_and_nothing_is_saved() {
        let t = TestStore::new();
        let mut messages = Messages::default();
        messages.invalid_action_type.description = "line\u{0}break".into();
        let e = run(save_policy(
            t.ctx(),
            Policy {
                department_match: MatchMode::CaseInsensitive,
                messages: messages.clone(),
            },
        ))
        .unwrap_err();
        match e {
            ServiceError::Invalid { field, message } => {
                assert_eq!(field, "messages.invalid_action_type.description");
                assert!(message.starts_with("the description "), "{message}");
            }
            other => panic!("{other:?}"),
        }
        messages.invalid_action_type.description = String::new();
        messages.invalid_department.reason = String::new();
        let e = check_messages(&messages).unwrap_err();
        assert!(
            matches!(e, ServiceError::Invalid { field, .. } if field == "messages.invalid_department.reason"),
            "{e:?}"
        );
        let st = t.store.settings();
        assert_eq!(st.policy.department_match, MatchMode::Exact, "unchanged");
        assert_eq!(st.policy.messages, Messages::default(), "unchanged");
    }

    #[test]
    fn saves_both_together() {
        let t = TestStore::new();
        let mut messages = Messages::default();
        messages.invalid_department.reason = "Unknown department".into();
        run(save_policy(
            t.ctx(),
            Policy {
                department_match: MatchMode::CaseInsensitive,
                messages: messages.clone(),
            },
        ))
        .unwrap();
        let st = t.store.settings();
        assert_eq!(st.policy.department_match, MatchMode::CaseInsensitive);
        assert_eq!(st.policy.messages, messages);
    }
}
