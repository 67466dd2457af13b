//! The audit log page: newest first, filtered by user, claim, decision, organization and
//! time; chain verification; NDJSON export.

use std::sync::Arc;

use serde::Deserialize;
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::api::{AuditPage, FirstBad, Verification};
use super::{api_path, api_path2, bad, blocking, get_with, ok, store_error, Session};
use crate::app::App;
use crate::store::{parse_time_input, AuditEntry, AuditRecord};

/// Records examined per page at most, so a filter that matches nothing in a long chain still
/// answers quickly; the answer says where to continue.
const MAX_SCAN: usize = 100_000;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Records older than this sequence number (paging backwards).
    before: Option<u64>,
    /// Records per page (default 50; kept within 1..=500).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// User id (exact).
    user: Option<String>,
    /// A claim URI among the changed claims.
    claim: Option<String>,
    /// SUCCESS, FAILED, ERROR, or `admin` for administrators' changes.
    decision: Option<String>,
    /// Organization id or name (the accessing or the user's organization).
    org: Option<String>,
    /// From this time (RFC 3339 or YYYY-MM-DD).
    from: Option<String>,
    /// Up to this time (RFC 3339, or YYYY-MM-DD inclusive).
    to: Option<String>,
}

/// A parsed filter; `matches` is pure.
#[derive(Debug, Default)]
pub(super) struct AuditFilter {
    user: Option<String>,
    claim: Option<String>,
    decision: Option<String>,
    org: Option<String>,
    /// Stored-format bounds: `from <= time < to`.
    from: Option<String>,
    to: Option<String>,
}

fn nonblank(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl AuditFilter {
    /// Reads the query; a bad value names its field.
    pub(super) fn from_query(q: &AuditQuery) -> Result<Self, (&'static str, String)> {
        let time = |field: &'static str, v: &Option<String>, end: bool| {
            nonblank(v)
                .map(|s| {
                    parse_time_input(&s, end).ok_or((
                        field,
                        format!("{s:?} is not a time: use 2026-11-26 or 2026-11-26T10:00:00Z"),
                    ))
                })
                .transpose()
        };
        let decision = nonblank(&q.decision).map(|d| d.to_ascii_uppercase());
        if let Some(d) = &decision {
            if !matches!(d.as_str(), "SUCCESS" | "FAILED" | "ERROR" | "ADMIN") {
                return Err((
                    "decision",
                    format!("{d:?} is not a decision: SUCCESS, FAILED, ERROR or admin"),
                ));
            }
        }
        Ok(AuditFilter {
            user: nonblank(&q.user),
            claim: nonblank(&q.claim),
            decision,
            org: nonblank(&q.org),
            from: time("from", &q.from, false)?,
            to: time("to", &q.to, true)?,
        })
    }

    /// True when the record passes every filter that is set.
    pub(super) fn matches(&self, r: &AuditRecord) -> bool {
        if self.from.as_ref().is_some_and(|f| r.time < *f)
            || self.to.as_ref().is_some_and(|t| r.time >= *t)
        {
            return false;
        }
        match &r.entry {
            AuditEntry::Admin(_) => {
                self.decision.as_deref().is_none_or(|d| d == "ADMIN")
                    && self.user.is_none()
                    && self.claim.is_none()
                    && self.org.is_none()
            }
            AuditEntry::Decision(d) => {
                let org_ok = self.org.as_ref().is_none_or(|want| {
                    [&d.organization, &d.user_organization]
                        .into_iter()
                        .flatten()
                        .any(|o| {
                            o.id.as_deref() == Some(want.as_str())
                                || o.name.as_deref() == Some(want.as_str())
                        })
                });
                self.decision
                    .as_ref()
                    .is_none_or(|want| d.decision == *want)
                    && self
                        .user
                        .as_ref()
                        .is_none_or(|u| d.user_id.as_deref() == Some(u.as_str()))
                    && self
                        .claim
                        .as_ref()
                        .is_none_or(|c| d.claims.iter().any(|ch| ch.uri == *c))
                    && org_ok
            }
        }
    }

    /// Records older than every match can be skipped once the walk is past `from`.
    fn past_start(&self, r: &AuditRecord) -> bool {
        self.from.as_ref().is_some_and(|f| r.time < *f)
    }
}

/// One page of matching records, newest first, and where the walk stopped.
pub(super) struct Page {
    pub records: Vec<AuditRecord>,
    /// Pass as `before` for the next page; `None` at the start of the chain.
    pub next_before: Option<u64>,
}

/// Walks the chain backwards from `before`, collecting up to `limit` matches.
pub(super) fn page(
    store: &crate::store::Store,
    filter: &AuditFilter,
    before: u64,
    limit: usize,
) -> Result<Page, crate::store::StoreError> {
    let mut records = Vec::with_capacity(limit);
    let mut scanned = 0usize;
    let mut last_seq = None;
    for rec in store.audit_iter_rev() {
        let rec = rec?;
        if rec.seq >= before {
            continue;
        }
        if filter.past_start(&rec) {
            return Ok(Page {
                records,
                next_before: None,
            });
        }
        scanned += 1;
        last_seq = Some(rec.seq);
        if filter.matches(&rec) {
            records.push(rec);
            if records.len() == limit {
                break;
            }
        }
        if scanned >= MAX_SCAN {
            break;
        }
    }
    let next_before = last_seq.filter(|s| *s > 1);
    let next_before = if records.len() == limit || scanned >= MAX_SCAN {
        next_before
    } else {
        None
    };
    Ok(Page {
        records,
        next_before,
    })
}

async fn list(_s: Session, app: Arc<App>, q: AuditQuery) -> Result<Response, Rejection> {
    let filter = AuditFilter::from_query(&q).map_err(|(f, m)| bad(f, m))?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let before = q.before.unwrap_or(u64::MAX);
    let store = app.store.clone();
    let page = blocking("reading the audit log", move || {
        page(&store, &filter, before, limit)
    })
    .await?
    .map_err(store_error)?;
    ok(AuditPage {
        records: page.records,
        next_before: page.next_before,
    })
}

async fn verify(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let store = app.store.clone();
    let report = blocking("verifying the audit chain", move || store.verify_audit())
        .await?
        .map_err(store_error)?;
    ok(Verification {
        ok: report.first_bad.is_none(),
        records: report.records,
        first_bad: report
            .first_bad
            .map(|(seq, problem)| FirstBad { seq, problem }),
    })
}

async fn export(_s: Session, app: Arc<App>) -> Result<Response, Rejection> {
    let store = app.store.clone();
    let bytes = blocking("exporting the audit log", move || {
        let mut out = Vec::new();
        store.export_audit(&mut out).map(|_| out)
    })
    .await?
    .map_err(store_error)?;
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
        .and(warp::query::<AuditQuery>())
        .and_then(list);
    let verify = api_path2("audit", "verify")
        .and(get_with(app.clone()))
        .and_then(verify);
    let export = api_path2("audit", "export")
        .and(get_with(app))
        .and_then(export);
    list.or(verify).unify().or(export).unify().boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{ClaimValue, Organization};
    use crate::policy::ClaimChange;
    use crate::store::{AdminEntry, DecisionEntry};

    fn rec(time: &str, entry: AuditEntry) -> AuditRecord {
        AuditRecord {
            seq: 1,
            time: time.into(),
            prev_hash: String::new(),
            entry,
        }
    }

    fn decision() -> AuditRecord {
        rec(
            "2026-11-26T10:00:00.000Z",
            AuditEntry::Decision(Box::new(DecisionEntry {
                user_id: Some("u1".into()),
                decision: "FAILED".into(),
                organization: Some(Organization {
                    id: Some("o1".into()),
                    name: Some("Org One".into()),
                    ..Default::default()
                }),
                claims: vec![ClaimChange {
                    uri: "http://wso2.org/claims/department".into(),
                    old: None,
                    new: ClaimValue::Single("HR".into()),
                }],
                ..Default::default()
            })),
        )
    }

    fn filter(q: AuditQuery) -> AuditFilter {
        AuditFilter::from_query(&q).unwrap()
    }

    #[test]
    fn every_filter_narrows() {
        let r = decision();
        assert!(filter(AuditQuery::default()).matches(&r));
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            filter(q).matches(&r)
        };
        assert!(q(|q| q.user = Some("u1".into())));
        assert!(!q(|q| q.user = Some("u2".into())));
        assert!(q(|q| q.decision = Some("failed".into())));
        assert!(!q(|q| q.decision = Some("SUCCESS".into())));
        assert!(!q(|q| q.decision = Some("admin".into())));
        assert!(q(
            |q| q.claim = Some("http://wso2.org/claims/department".into())
        ));
        assert!(!q(
            |q| q.claim = Some("http://wso2.org/claims/mobile".into())
        ));
        assert!(q(|q| q.org = Some("o1".into())));
        assert!(q(|q| q.org = Some("Org One".into())));
        assert!(!q(|q| q.org = Some("o2".into())));
        assert!(q(|q| q.from = Some("2026-11-26".into())));
        assert!(q(|q| q.to = Some("2026-11-26".into())));
        assert!(!q(|q| q.to = Some("2026-11-25".into())));
        assert!(!q(|q| q.from = Some("2026-11-26T10:00:01Z".into())));
    }

    #[test]
    fn admin_records_match_only_admin_or_no_decision_filter() {
        let r = rec(
            "2026-11-26T10:00:00.000Z",
            AuditEntry::Admin(AdminEntry {
                actor: "cli".into(),
                action: "departments.add".into(),
                before: None,
                after: None,
            }),
        );
        assert!(filter(AuditQuery::default()).matches(&r));
        let mut q = AuditQuery {
            decision: Some("admin".into()),
            ..Default::default()
        };
        assert!(filter(q).matches(&r));
        q = AuditQuery {
            user: Some("u1".into()),
            ..Default::default()
        };
        assert!(!filter(q).matches(&r));
    }

    #[test]
    fn bad_values_name_their_field() {
        let e = AuditFilter::from_query(&AuditQuery {
            from: Some("yesterday".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.0, "from");
        let e = AuditFilter::from_query(&AuditQuery {
            decision: Some("maybe".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.0, "decision");
    }
}
