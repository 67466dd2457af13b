//! Policy settings: the failure messages users see and the department match mode; the rules
//! are in `service::settings`.

use std::sync::Arc;

use serde::Deserialize;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::api::{PolicyInfo, Saved};
use super::{actor, api_path, ctx, get_with, ok, post_json, service_error, Session};
use crate::app::App;
use crate::policy::{MatchMode, Messages};
use crate::service::settings;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyForm {
    department_match: MatchMode,
    messages: Messages,
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
    let who = actor(&s);
    let policy = settings::Policy {
        department_match: f.department_match,
        messages: f.messages,
    };
    settings::save_policy(ctx(&app, &who), policy)
        .await
        .map_err(service_error)?;
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
