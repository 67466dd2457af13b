//! Policy settings: the failure messages users see (validated against CONTRACT.md §4.4 when
//! saved, so a message the identity server would turn into a 500 is refused here) and the
//! department match mode.

use std::sync::Arc;

use serde::Deserialize;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::api::{PolicyInfo, Saved};
use super::{actor, api_path, bad, durable, get_with, ok, post_json, store_error, Session};
use crate::app::App;
use crate::contract::sanitize::{validate_message, MessageKind};
use crate::policy::{FailureMessage, MatchMode, Messages};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyForm {
    department_match: MatchMode,
    messages: Messages,
}

/// Checks every message; the first bad one is named by its form field.
fn check_messages(m: &Messages) -> Result<(), Rejection> {
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
            .map_err(|e| bad(reason_field, format!("the reason {e}")))?;
        validate_message(&msg.description, MessageKind::Description)
            .map_err(|e| bad(description_field, format!("the description {e}")))?;
    }
    Ok(())
}

async fn show(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let st = app.store.settings();
    ok(PolicyInfo {
        department_match: st.policy.department_match,
        messages: st.policy.messages.clone(),
        defaults: Messages::default(),
    })
}

async fn save(s: Session, f: PolicyForm, app: Arc<App>) -> Result<Response, Rejection> {
    check_messages(&f.messages)?;
    app.store
        .update_settings(&actor(&s), "policy", |st| {
            st.policy.department_match = f.department_match;
            st.policy.messages = f.messages.clone();
        })
        .map_err(store_error)?;
    durable(&app).await?;
    ok(Saved { saved: true })
}

pub(super) fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let show = api_path("settings")
        .and(get_with(app.clone()))
        .and_then(show);
    let save = api_path("settings")
        .and(post_json::<PolicyForm>(app))
        .and_then(save);
    show.or(save).unify().boxed()
}
