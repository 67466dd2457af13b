//! The overview page: the setup checklist, today's decisions by outcome, decisions over time
//! (`service::stats`), the latest decisions, and the health of queued e-mail; and the
//! organizations seen in traffic, which every page's organization field offers.

use std::collections::BTreeMap;
use std::sync::Arc;

use warp::reply::Response;
use warp::{Filter, Rejection};

use super::api::{EmailHealth, Organizations, Overview, TodayCounts};
use super::{api_path, blocking, get_with, ok, store_error, Session};
use crate::app::App;
use crate::model::{AuditEntry, AuditRecord};
use crate::store::{format_time, Store, StoreError};

/// Records counted at most for "today" (a busy day says "at least").
const MAX_COUNT: usize = 200_000;
/// Latest decisions shown.
const LATEST: usize = 10;

struct Today {
    counts: BTreeMap<String, u64>,
    complete: bool,
    latest: Vec<AuditRecord>,
}

fn today(store: &Store) -> Result<Today, StoreError> {
    let midnight = format_time(
        time::OffsetDateTime::now_utc()
            .date()
            .midnight()
            .assume_utc(),
    );
    let mut t = Today {
        counts: ["SUCCESS", "FAILED", "ERROR"]
            .into_iter()
            .map(|k| (k.to_string(), 0))
            .collect(),
        complete: true,
        latest: Vec::new(),
    };
    for (n, rec) in store.audit_iter_rev().enumerate() {
        let rec = rec?;
        let is_today = rec.time >= midnight;
        if !is_today && t.latest.len() == LATEST {
            break;
        }
        if n >= MAX_COUNT {
            t.complete = !is_today;
            break;
        }
        if let AuditEntry::Decision(d) = &rec.entry {
            if is_today {
                *t.counts.entry(d.decision.clone()).or_default() += 1;
            }
            if t.latest.len() < LATEST {
                t.latest.push(rec);
            }
        }
    }
    Ok(t)
}

async fn overview(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let store = app.store.clone();
    let tls = app.tls;
    let stats = app.forward.clone();
    let (checks, today, outbox, syncs, disk, forward, series) =
        blocking("the overview", move || {
            let checks = crate::checklist::checklist(&store, tls);
            // The sync and forwarding state are a convenience here: unreadable, the overview
            // still shows.
            let syncs = crate::service::sync::statuses(&store).unwrap_or_default();
            let disk = crate::service::disk::state(&store).ok();
            let forward = crate::service::forward::status(&store, Some(&stats)).unwrap_or_default();
            let series = crate::service::stats::series(&store, crate::store::now_unix_ms())?;
            today(&store).and_then(|t| {
                Ok((
                    checks,
                    t,
                    store.outbox_summary(0)?,
                    syncs,
                    disk,
                    forward,
                    series,
                ))
            })
        })
        .await?
        .map_err(store_error)?;
    ok(Overview {
        version: env!("CARGO_PKG_VERSION"),
        checklist: checks,
        today: TodayCounts {
            counts: today.counts,
            complete: today.complete,
        },
        latest: today.latest,
        email: EmailHealth {
            configured: app.store.settings().notify.configured().is_some(),
            mode: app.store.settings().notify.mode,
            pending: outbox.pending,
            failed: outbox.failed,
            oldest_pending: outbox.oldest_pending,
        },
        department_sync: syncs,
        disk,
        audit_forward: forward,
        series,
    })
}

/// The organizations seen, for the pages' organization fields.
async fn organizations(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    ok(Organizations {
        organizations: app.store.seen_orgs(),
    })
}

pub(super) fn routes(app: Arc<App>) -> warp::filters::BoxedFilter<(Response,)> {
    let overview = api_path("overview")
        .and(get_with(app.clone()))
        .and_then(overview);
    let organizations = api_path("organizations")
        .and(get_with(app))
        .and_then(organizations);
    overview.or(organizations).unify().boxed()
}
