//! The audit log page: newest first, filtered by user, claim, decision, organization and
//! time; chain verification; the signed checkpoint; NDJSON export. Adapters over `service::audit`.

use std::sync::Arc;

use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::api::{AuditPage, FirstBad, Verification};
use super::{api_path, api_path2, blocking, get_with, ok, service_error, Session};
use crate::app::App;
use crate::service::audit;

async fn list(_s: Session, app: Arc<App>, q: audit::Query) -> Result<Response, Rejection> {
    let store = app.store.clone();
    let page = blocking("reading the audit log", move || audit::list(&store, &q))
        .await?
        .map_err(service_error)?;
    ok(AuditPage {
        records: page.records,
        next_before: page.next_before,
    })
}

async fn verify(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let store = app.store.clone();
    let report = blocking("verifying the audit chain", move || audit::verify(&store))
        .await?
        .map_err(service_error)?;
    ok(Verification {
        ok: report.first_bad.is_none(),
        records: report.records,
        first_bad: report
            .first_bad
            .map(|(seq, problem)| FirstBad { seq, problem }),
    })
}

/// The latest signed checkpoint and the public key (a fresh checkpoint if the head moved).
async fn checkpoint(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let store = app.store.clone();
    let info = blocking("signing an audit checkpoint", move || {
        audit::checkpoint(&store)
    })
    .await?
    .map_err(service_error)?;
    ok(info)
}

async fn export(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let store = app.store.clone();
    let bytes = blocking("exporting the audit log", move || {
        let mut out = Vec::new();
        audit::export(&store, &mut out).map(|_| out)
    })
    .await?
    .map_err(service_error)?;
    let mut r = warp::http::Response::new(bytes).into_response();
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-ndjson"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"profilegate-audit.ndjson\""),
    );
    Ok(r)
}

pub(super) fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let list = api_path("audit")
        .and(get_with(app.clone()))
        .and(warp::query::<audit::Query>())
        .and_then(list);
    let verify = api_path2("audit", "verify")
        .and(get_with(app.clone()))
        .and_then(verify);
    let checkpoint = api_path2("audit", "checkpoint")
        .and(get_with(app.clone()))
        .and_then(checkpoint);
    let export = api_path2("audit", "export")
        .and(get_with(app))
        .and_then(export);
    list.or(verify)
        .unify()
        .or(checkpoint)
        .unify()
        .or(export)
        .unify()
        .boxed()
}
