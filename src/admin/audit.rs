//! The audit log page: newest first, filtered by user, claim, decision, organization and
//! time; chain verification; the signed checkpoint; NDJSON export; the retention and its
//! archive files. Adapters over `service::audit` and `service::retention`.

use std::sync::Arc;

use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::api::{AuditPage, FirstBad, Verification};
use super::{
    actor, api_path, api_path2, bad, blocking, ctx, get_with, ok, post_json, service_error, Session,
};
use crate::app::App;
use crate::chunks::ChunkWriter;
use crate::model::RetentionSettings;
use crate::service::{audit, retention, Durability};

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
    let (tx, mut rx) = tokio::sync::mpsc::channel(EXPORT_CHUNKS_AHEAD);
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter::new(tx, |chunk| Ok(chunk.into()));
        let r = audit::export(&store, &mut out).and_then(|_| {
            std::io::Write::flush(&mut out).map_err(|e| {
                crate::service::ServiceError::Unavailable(format!("cannot write the export: {e}"))
            })
        });
        match r {
            // Failed before a byte went out: the answer can still say so.
            Err(e) if !out.sent() => Err(e),
            // Failed after: the body ends with an error, so the download is cut off visibly
            // rather than ending as if it were whole.
            Err(e) => {
                out.send_last(Err(e.to_string()));
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    });
    let first = rx.recv().await;
    if first.is_none() {
        writer
            .await
            .map_err(|e| super::internal("exporting the audit log", e))?
            .map_err(service_error)?;
    }
    let body = Chunks { first, rx };
    let mut r = warp::reply::stream(body).into_response();
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

/// How many 64-KiB chunks of the export may wait for a slow client: a chain of millions of
/// records never sits in the server's memory whole.
const EXPORT_CHUNKS_AHEAD: usize = 4;

type Chunk = Result<bytes::Bytes, String>;

/// The response body: the chunk already received, then the rest as the writer sends them.
struct Chunks {
    first: Option<Chunk>,
    rx: tokio::sync::mpsc::Receiver<Chunk>,
}

impl futures_util::Stream for Chunks {
    type Item = Chunk;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Chunk>> {
        if let Some(first) = self.first.take() {
            return std::task::Poll::Ready(Some(first));
        }
        self.rx.poll_recv(cx)
    }
}

/// The retention as the Audit page sets it: limits and directory, or `{"off": true}`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RetentionForm {
    /// Archive a month once it ended more than this many days ago; null: no age limit.
    #[serde(default)]
    keep_days: Option<i64>,
    /// Archive the oldest records while more than this many are live; null: no count limit.
    #[serde(default)]
    keep_records: Option<i64>,
    /// Absolute directory for the archive files; null keeps the one set before (at first
    /// `<data-dir>/archive`).
    #[serde(default)]
    archive_dir: Option<String>,
    /// `true`: switch retention off (archives already written stay); nothing else may be given.
    #[serde(default)]
    off: bool,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ArchiveReq {
    /// Only say which files and records would go.
    #[serde(default)]
    dry_run: bool,
}

/// Where the trail stands: settings, live records, the archived base and files.
async fn retention_status(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let store = app.store.clone();
    let status = blocking("reading the audit retention", move || {
        retention::status(&store)
    })
    .await?
    .map_err(service_error)?;
    ok(status)
}

/// Sets or switches off the retention; the limits' rules are the service's (out-of-range
/// numbers are passed on saturated, so its refusal names the field).
async fn set_retention(s: Session, f: RetentionForm, app: Arc<App>) -> Result<Response, Rejection> {
    let req = if f.off {
        if f.keep_days.is_some() || f.keep_records.is_some() || f.archive_dir.is_some() {
            return Err(bad(
                "off",
                "switch retention off, or set its limits, not both",
            ));
        }
        retention::Request::Off
    } else {
        retention::Request::Set(RetentionSettings {
            keep_days: f
                .keep_days
                .map(|d| u32::try_from(d.max(0)).unwrap_or(u32::MAX)),
            keep_records: f.keep_records.map(|n| u64::try_from(n).unwrap_or(0)),
            dir: f.archive_dir,
        })
    };
    let who = actor(&s);
    let status = retention::apply(ctx(&app, &who), req)
        .await
        .map_err(service_error)?;
    ok(status)
}

/// Runs the retention now (or dry), off the runtime's threads.
async fn archive(s: Session, req: ArchiveReq, app: Arc<App>) -> Result<Response, Rejection> {
    let who = actor(&s);
    let outcome = retention::archive_shared(
        &app.store,
        Durability::Commit(&app.commit),
        &who,
        crate::store::now_unix_ms(),
        req.dry_run,
    )
    .await
    .map_err(service_error)?;
    ok(outcome)
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
        .and(get_with(app.clone()))
        .and_then(export);
    let get_retention = api_path2("audit", "retention")
        .and(get_with(app.clone()))
        .and_then(retention_status);
    let set_retention = api_path2("audit", "retention")
        .and(post_json::<RetentionForm>(app.clone()))
        .and_then(set_retention);
    let archive = api_path2("audit", "archive")
        .and(post_json::<ArchiveReq>(app))
        .and_then(archive);
    let retention_routes = get_retention.or(set_retention).unify().or(archive).unify();
    list.or(verify)
        .unify()
        .or(checkpoint)
        .unify()
        .or(export)
        .unify()
        .or(retention_routes)
        .unify()
        .boxed()
}
