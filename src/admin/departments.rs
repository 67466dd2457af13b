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
use crate::service::sync;

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

/// An organization's sync source as set from the Departments page.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SourceSet {
    #[serde(default)]
    org: Option<String>,
    /// `{"source": {"kind": "http", "url": …, "format": "json"|"csv", "field": …, "auth":
    /// {"type": "none"|"bearer"|"basic", …}, "tls_ca_pem": …, "client_cert_pem": …,
    /// "client_key_pem": …} | {"kind": "ldap", "url": …, "bind_dn": …, "password": …,
    /// "base_dn": …, "filter": …, "attribute": …, "starttls": …, "tls_ca_pem": …},
    /// "every_secs": 900, "stale_after_secs": 3600, "max_removal_percent": 20}`. A secret
    /// sent back as `********` keeps the stored one.
    #[schema(value_type = Object)]
    settings: crate::sync::SyncSettings,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OrgOnly {
    #[serde(default)]
    org: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(super) enum SyncMode {
    Sync,
    DryRun,
    Approve,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SyncReq {
    #[serde(default)]
    org: Option<String>,
    /// `sync` (default): fetch and apply unless held; `dry_run`: only the diff; `approve`:
    /// apply the held sync exactly as shown.
    #[serde(default = "default_mode")]
    mode: SyncMode,
}

fn default_mode() -> SyncMode {
    SyncMode::Sync
}

/// An organization's source and its last syncs (`status` null: the list is kept by hand).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct SourceInfo {
    status: Option<sync::SourceStatus>,
}

async fn source(_s: Session, app: Arc<App>, q: OrgQuery) -> Result<Response, Rejection> {
    let status = sync::status(&app.store, q.org.as_deref()).map_err(service_error)?;
    ok(SourceInfo { status })
}

async fn set_source(s: Session, req: SourceSet, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    sync::set_source(ctx(&app, &actor), req.org.as_deref(), req.settings)
        .await
        .map_err(service_error)?;
    let status = sync::status(&app.store, req.org.as_deref()).map_err(service_error)?;
    ok(SourceInfo { status })
}

async fn remove_source(s: Session, req: OrgOnly, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    sync::remove_source(ctx(&app, &actor), req.org.as_deref())
        .await
        .map_err(service_error)?;
    ok(SourceInfo { status: None })
}

async fn run_sync(s: Session, req: SyncReq, app: Arc<App>) -> Result<Response, Rejection> {
    let actor = actor(&s);
    let mode = match req.mode {
        SyncMode::Sync => sync::Mode::Sync,
        SyncMode::DryRun => sync::Mode::DryRun,
        SyncMode::Approve => sync::Mode::Approve,
    };
    let report = sync::sync(ctx(&app, &actor), req.org.as_deref(), mode)
        .await
        .map_err(service_error)?;
    ok(report)
}

pub(super) fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let get_source = api_path2("departments", "source")
        .and(get_with(app.clone()))
        .and(warp::query::<OrgQuery>())
        .and_then(source);
    let set_source = api_path2("departments", "source")
        .and(post_json::<SourceSet>(app.clone()))
        .and_then(set_source);
    let remove_source = api_path2("departments", "source-remove")
        .and(post_json::<OrgOnly>(app.clone()))
        .and_then(remove_source);
    let run_sync = api_path2("departments", "sync")
        .and(post_json::<SyncReq>(app.clone()))
        .and_then(run_sync);
    let sync_routes = get_source
        .or(set_source)
        .unify()
        .or(remove_source)
        .unify()
        .or(run_sync)
        .unify();
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
        .or(sync_routes)
        .unify()
        .or(remove)
        .unify()
        .or(import)
        .unify()
        .or(export)
        .unify()
        .boxed()
}
