//! The department directory: the root list and per-organization lists, add, remove, a CSV
//! import with a preview (applied whole or not at all), and a CSV export.

use std::sync::Arc;

use serde::Deserialize;
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::api::{DepartmentList, DepartmentsAdded, DepartmentsRemoved, ImportResult};
use super::{actor, api_path, api_path2, ctx, get_with, ok, post_json, service_error, Session};
use crate::app::App;
use crate::service::departments::{self, validate_org};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DepartmentsChange {
    names: Vec<String>,
    /// Sub-organization id; absent for the root organization.
    #[serde(default)]
    org: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct OrgQuery {
    /// Sub-organization id; absent for the root list.
    org: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Import {
    /// CSV text: one name a line, header optional.
    csv: String,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    replace: bool,
    /// `false`: only say what would change (the preview); `true`: apply it.
    #[serde(default)]
    apply: bool,
}

async fn list(_s: Session, app: Arc<App>, q: OrgQuery) -> Result<Response, Rejection> {
    let org = validate_org(q.org.as_deref()).map_err(service_error)?;
    let names = departments::list(&app.store, org).map_err(service_error)?;
    let orgs = app
        .store
        .department_orgs()
        .map_err(|e| service_error(e.into()))?;
    ok(DepartmentList {
        org: org.map(str::to_string),
        names,
        orgs,
    })
}

async fn add(s: Session, req: DepartmentsChange, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let added = departments::add(ctx(&app, &actor), req.org.as_deref(), &req.names)
        .await
        .map_err(service_error)?;
    ok(DepartmentsAdded { added })
}

async fn remove(s: Session, req: DepartmentsChange, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let n = departments::remove(ctx(&app, &actor), req.org.as_deref(), &req.names)
        .await
        .map_err(service_error)?;
    ok(DepartmentsRemoved { removed: n })
}

async fn import(s: Session, req: Import, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let plan = departments::import(
        ctx(&app, &actor),
        departments::Import {
            csv: &req.csv,
            org: req.org.as_deref(),
            replace: req.replace,
            apply: req.apply,
        },
    )
    .await
    .map_err(service_error)?;
    ok(ImportResult {
        applied: req.apply,
        plan,
    })
}

/// The list as CSV with a header line, which `import` reads back unchanged.
async fn export(_s: Session, app: Arc<App>, q: OrgQuery) -> Result<Response, Rejection> {
    let org = validate_org(q.org.as_deref()).map_err(service_error)?;
    let names = departments::list(&app.store, org).map_err(service_error)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut rows = std::iter::once("department".to_string()).chain(names);
    let written: Result<(), csv::Error> = rows.try_for_each(|n| w.write_record([n]));
    let bytes = written
        .map_err(|e| super::internal("CSV export", e))
        .and_then(|()| w.into_inner().map_err(|e| super::internal("CSV export", e)))?;
    let file = match org {
        Some(o) => format!(
            "departments-{}.csv",
            o.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
        ),
        None => "departments.csv".into(),
    };
    let mut r = warp::http::Response::new(bytes).into_response();
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

pub(super) fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let list = api_path("departments")
        .and(get_with(app.clone()))
        .and(warp::query::<OrgQuery>())
        .and_then(list);
    let add = api_path("departments")
        .and(post_json::<DepartmentsChange>(app.clone()))
        .and_then(add);
    let remove = api_path2("departments", "remove")
        .and(post_json::<DepartmentsChange>(app.clone()))
        .and_then(remove);
    let import = api_path2("departments", "import")
        .and(post_json::<Import>(app.clone()))
        .and_then(import);
    let export = api_path2("departments", "export")
        .and(get_with(app))
        .and(warp::query::<OrgQuery>())
        .and_then(export);
    list.or(add)
        .unify()
        .or(remove)
        .unify()
        .or(import)
        .unify()
        .or(export)
        .unify()
        .boxed()
}
