//! The audit chain: a filtered page of it (newest first, by user, claim, decision,
//! organization and time), verifying it, exporting it. Plain reads of the store, here so the
//! CLI and the admin API report their failures alike (a write error of the export is ours or
//! the output's, never the caller's mistake). They walk the chain: admin callers run them off
//! the runtime threads.
//!
//! Also the chain's anchors outside the host (see [`crate::anchor`]): the signed checkpoint of
//! the head, the e-mail footer carrying one, and checking anchors and pasted checkpoints
//! against the chain.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ServiceError, Watched};
use crate::anchor::{self, Anchor, Checkpoint};
use crate::model::{AuditEntry, AuditRecord, VerifyReport};
use crate::store::archive::ArchiveBase;
use crate::store::{parse_time_input, Store};

/// Checks the live hash chain (from the last archived record); a broken chain is a report,
/// not an error.
pub fn verify(store: &Store) -> Result<VerifyReport, ServiceError> {
    Ok(store.verify_audit()?)
}

/// What verifying the chain came to, with archives when given.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Records checked and the first that does not fit.
    pub report: VerifyReport,
    /// The last archived record (the live chain starts after it).
    pub base: Option<ArchiveBase>,
    /// With archives: the files read and the records in them.
    pub archives: Option<(usize, u64)>,
}

/// Verifies the chain, with the archives in `archives` as one chain from the first record
/// when given, and checks each anchor and pasted checkpoint (see [`check_anchors`]); an anchor
/// on an archived record is checked in the archives.
pub fn verify_chain(
    store: &Store,
    archives: Option<&Path>,
    anchors: &[Anchor],
    lines: &[String],
    public_key: Option<&str>,
) -> Result<(Verified, Vec<AnchorCheck>), ServiceError> {
    let checkpoints = parse_checkpoints(lines)?;
    let wanted: HashSet<u64> = anchors
        .iter()
        .map(|a| a.seq)
        .chain(checkpoints.iter().map(|c| c.seq))
        .collect();
    let base = store.archive_base()?;
    let mut archived = HashMap::new();
    let verified = match archives {
        None => Verified {
            report: store.verify_audit()?,
            base: base.clone(),
            archives: None,
        },
        Some(dir) => {
            let r = store.verify_with_archives(dir, |seq, hash| {
                if wanted.contains(&seq) {
                    archived.insert(seq, hash);
                }
            })?;
            Verified {
                report: r.report,
                base: base.clone(),
                archives: Some((r.files, r.archived)),
            }
        }
    };
    let look = Lookup {
        base: base.map_or(0, |b| b.seq),
        archived: archives.map(|d| (d, &archived)),
    };
    let checks = check_parsed(store, anchors, checkpoints, public_key, &look)?;
    Ok((verified, checks))
}

/// Writes every record as one JSON object a line; returns how many.
pub fn export(store: &Store, out: &mut dyn Write) -> Result<u64, ServiceError> {
    let mut watched = Watched::new(out);
    let r = store.export_audit(&mut watched);
    match (r, watched.error) {
        (Ok(n), _) => Ok(n),
        (Err(_), Some(e)) => Err(ServiceError::Unavailable(format!(
            "cannot write the export: {e}"
        ))),
        (Err(e), None) => Err(e.into()),
    }
}

/// A checkpoint with what a verifier needs beside it: the public key, and the line to paste.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// The head's sequence number (0: the empty chain).
    pub seq: u64,
    /// The head record's hash, 64 hex digits.
    pub hash: String,
    /// When it was signed, RFC 3339.
    pub time: String,
    /// Ed25519 signature of the canonical bytes, base64.
    pub signature: String,
    /// The data dir's Ed25519 public key, base64 of 32 bytes.
    pub public_key: String,
    /// The checkpoint as the footer line of the security team's e-mails.
    pub line: String,
}

impl CheckpointInfo {
    fn new(cp: Checkpoint, public_key: String) -> Self {
        let line = cp.footer();
        CheckpointInfo {
            seq: cp.seq,
            hash: cp.hash,
            time: cp.time,
            signature: cp.signature,
            public_key,
            line,
        }
    }
}

/// The latest checkpoint, signing (and keeping) a fresh one when the head moved since it.
/// The periodic task, `audit checkpoint` and the admin API all use this, so the history only
/// grows when the chain did.
pub fn checkpoint(store: &Store) -> Result<CheckpointInfo, ServiceError> {
    let head = store.chain_head();
    let latest = store.latest_checkpoint()?;
    let current = latest.filter(|cp| {
        cp.anchor()
            .is_some_and(|a| a.seq == head.seq && a.hash == head.hash)
    });
    let cp = match current {
        Some(cp) => cp,
        None => {
            let cp = store.sign_head();
            store.save_checkpoint(&cp)?;
            cp
        }
    };
    Ok(CheckpointInfo::new(cp, store.anchor_public_key()))
}

/// Signs a fresh checkpoint when the head moved since the latest; `None` when it did not.
pub fn checkpoint_if_moved(store: &Store) -> Result<Option<CheckpointInfo>, ServiceError> {
    let before = store.latest_checkpoint()?;
    let info = checkpoint(store)?;
    let moved = before.is_none_or(|b| b.seq != info.seq || b.hash != info.hash);
    Ok(moved.then_some(info))
}

/// The footer line of a security-team e-mail: a checkpoint of the head as the body is built,
/// signed for this message (tens of microseconds) and not kept.
pub fn footer(store: &Store) -> String {
    store.sign_head().footer()
}

/// `body` with the checkpoint footer as its last line.
pub fn with_footer(store: &Store, mut body: String) -> String {
    if !body.ends_with('\n') {
        body.push('\n');
    }
    body.push('\n');
    body.push_str(&footer(store));
    body.push('\n');
    body
}

/// What one anchor or checkpoint came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorCheck {
    /// What was checked: `anchor SEQ:HASH`, or `checkpoint seq=… hash=… time=…`.
    pub what: String,
    /// Why it does not hold; `None` when the chain holds it.
    pub problem: Option<String>,
}

/// Where records that left the live chain are looked up.
struct Lookup<'a> {
    /// The last archived record (0: none).
    base: u64,
    /// The archive directory and the wanted records' hashes found in it.
    archived: Option<(&'a Path, &'a HashMap<u64, [u8; 32]>)>,
}

fn parse_checkpoints(lines: &[String]) -> Result<Vec<Checkpoint>, ServiceError> {
    lines
        .iter()
        .map(|l| {
            anchor::parse_footer(l).map_err(|e| ServiceError::invalid("checkpoint", e.to_string()))
        })
        .collect()
}

/// Checks each anchor, then each pasted checkpoint line: its signature under `public_key`
/// (the data dir's own when `None`), then that the chain holds its record with its hash.
/// A line that is not a checkpoint is the caller's mistake; a failing one is a result.
pub fn check_anchors(
    store: &Store,
    anchors: &[Anchor],
    lines: &[String],
    public_key: Option<&str>,
) -> Result<Vec<AnchorCheck>, ServiceError> {
    let look = Lookup {
        base: store.archive_base()?.map_or(0, |b| b.seq),
        archived: None,
    };
    check_parsed(store, anchors, parse_checkpoints(lines)?, public_key, &look)
}

fn check_parsed(
    store: &Store,
    anchors: &[Anchor],
    checkpoints: Vec<Checkpoint>,
    public_key: Option<&str>,
    look: &Lookup<'_>,
) -> Result<Vec<AnchorCheck>, ServiceError> {
    let own_key = store.anchor_public_key();
    let key = public_key.map(str::trim).unwrap_or(&own_key);
    let mut out = Vec::with_capacity(anchors.len() + checkpoints.len());
    for a in anchors {
        out.push(AnchorCheck {
            what: format!("anchor {a}"),
            problem: held(store, a, look)?,
        });
    }
    for cp in checkpoints {
        let what = format!(
            "checkpoint seq={} hash={} time={}",
            cp.seq, cp.hash, cp.time
        );
        let problem = match cp.verify(key) {
            Err(e) => Some(e.to_string()),
            // The line parsed, so its hash is well-formed.
            Ok(()) => match cp.anchor() {
                Some(a) => held(store, &a, look)?,
                None => Some("its hash is not 64 hex digits".into()),
            },
        };
        out.push(AnchorCheck { what, problem });
    }
    Ok(out)
}

/// `None` when the chain (or, for an archived record, the archives) holds record `a.seq` with
/// hash `a.hash`; otherwise why not.
fn held(store: &Store, a: &Anchor, look: &Lookup<'_>) -> Result<Option<String>, ServiceError> {
    let stored = if a.seq > 0 && a.seq <= look.base {
        match look.archived {
            None => {
                return Ok(Some(format!(
                    "record {} was archived (the live chain starts at record {}): check it with --archives DIR",
                    a.seq,
                    look.base + 1
                )))
            }
            Some((dir, hashes)) => match hashes.get(&a.seq) {
                Some(h) => Some(*h),
                None => {
                    return Ok(Some(format!(
                        "record {} was archived, but no archive file in {} holds it",
                        a.seq,
                        dir.display()
                    )))
                }
            },
        }
    } else {
        store.audit_record_hash(a.seq)?
    };
    Ok(match stored {
        None => Some(format!(
            "record {} is not in the chain (it ends at record {}): the chain was cut or replaced",
            a.seq,
            store.chain_head().seq
        )),
        Some(h) if h != a.hash => Some(format!(
            "record {} has hash {}, not {}: the chain was rewritten at or before record {}",
            a.seq,
            hex::encode(h),
            hex::encode(a.hash),
            a.seq
        )),
        Some(_) => None,
    })
}

/// Records examined per page at most, so a filter that matches nothing in a long chain still
/// answers quickly; the answer says where to continue.
const MAX_SCAN: usize = 100_000;

/// The audit page's query, as the admin API receives it.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// Records older than this sequence number (paging backwards).
    pub before: Option<u64>,
    /// Records per page (default 50; kept within 1..=500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// User id (exact).
    pub user: Option<String>,
    /// A claim URI among the changed claims.
    pub claim: Option<String>,
    /// SUCCESS, FAILED, ERROR, or `admin` for administrators' changes.
    pub decision: Option<String>,
    /// Organization id or name (the accessing or the user's organization).
    pub org: Option<String>,
    /// From this time (RFC 3339 or YYYY-MM-DD).
    pub from: Option<String>,
    /// Up to this time (RFC 3339, or YYYY-MM-DD inclusive).
    pub to: Option<String>,
}

/// A parsed filter; `matches` is pure.
#[derive(Debug, Default)]
pub struct Filter {
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

impl Filter {
    /// Reads the query; a bad value names its field.
    pub fn from_query(q: &Query) -> Result<Self, ServiceError> {
        let time = |field: &'static str, v: &Option<String>, end: bool| {
            nonblank(v)
                .map(|s| {
                    parse_time_input(&s, end).ok_or_else(|| {
                        ServiceError::invalid(
                            field,
                            format!("{s:?} is not a time: use 2026-11-26 or 2026-11-26T10:00:00Z"),
                        )
                    })
                })
                .transpose()
        };
        let decision = nonblank(&q.decision).map(|d| d.to_ascii_uppercase());
        if let Some(d) = &decision {
            if !matches!(d.as_str(), "SUCCESS" | "FAILED" | "ERROR" | "ADMIN") {
                return Err(ServiceError::invalid(
                    "decision",
                    format!("{d:?} is not a decision: SUCCESS, FAILED, ERROR or admin"),
                ));
            }
        }
        Ok(Filter {
            user: nonblank(&q.user),
            claim: nonblank(&q.claim),
            decision,
            org: nonblank(&q.org),
            from: time("from", &q.from, false)?,
            to: time("to", &q.to, true)?,
        })
    }

    /// True when the record passes every filter that is set.
    pub fn matches(&self, r: &AuditRecord) -> bool {
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
pub struct Page {
    pub records: Vec<AuditRecord>,
    /// Pass as `before` for the next page; `None` at the start of the chain.
    pub next_before: Option<u64>,
}

/// One page for a query: at most 500 records (50 unless asked), older than `before`.
pub fn list(store: &Store, q: &Query) -> Result<Page, ServiceError> {
    let filter = Filter::from_query(q)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let before = q.before.unwrap_or(u64::MAX);
    Ok(page(store, &filter, before, limit)?)
}

/// Walks the chain backwards from `before`, collecting up to `limit` matches.
fn page(
    store: &Store,
    filter: &Filter,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{ClaimValue, Organization};
    use crate::model::{AdminEntry, DecisionEntry};
    use crate::policy::ClaimChange;
    use crate::service::testing::{run, Full, TestStore};

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

    fn filter(q: Query) -> Filter {
        Filter::from_query(&q).unwrap()
    }

    #[test]
    fn every_filter_narrows() {
        let r = decision();
        assert!(filter(Query::default()).matches(&r));
        let q = |f: fn(&mut Query)| {
            let mut q = Query::default();
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
        assert!(filter(Query::default()).matches(&r));
        let mut q = Query {
            decision: Some("admin".into()),
            ..Default::default()
        };
        assert!(filter(q).matches(&r));
        q = Query {
            user: Some("u1".into()),
            ..Default::default()
        };
        assert!(!filter(q).matches(&r));
    }

    #[test]
    fn bad_values_name_their_field() {
        let e = Filter::from_query(&Query {
            from: Some("yesterday".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            matches!(e, ServiceError::Invalid { field: "from", .. }),
            "{e:?}"
        );
        let e = Filter::from_query(&Query {
            decision: Some("maybe".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            matches!(
                e,
                ServiceError::Invalid {
                    field: "decision",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn pages_newest_first() {
        let t = TestStore::new();
        for n in ["HR", "Ops", "Legal"] {
            run(crate::service::departments::add(t.ctx(), None, &[n.into()])).unwrap();
        }
        let q = Query {
            limit: Some(2),
            decision: Some("admin".into()),
            ..Default::default()
        };
        let p = list(&t.store, &q).unwrap();
        let seqs: Vec<u64> = p.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [3, 2]);
        assert_eq!(p.next_before, Some(2));
        let p = list(
            &t.store,
            &Query {
                before: p.next_before,
                ..q
            },
        )
        .unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.next_before, None);
        let bad = Query {
            to: Some("soon".into()),
            ..Default::default()
        };
        let e = list(&t.store, &bad).err().expect("refused");
        assert!(
            matches!(e, ServiceError::Invalid { field: "to", .. }),
            "{e:?}"
        );
    }

    #[test]
    fn verify_and_export() {
        let t = TestStore::new();
        run(crate::service::departments::add(
            t.ctx(),
            None,
            &["HR".into()],
        ))
        .unwrap();
        let report = verify(&t.store).unwrap();
        assert_eq!((report.records, report.first_bad), (1, None));
        let mut out = Vec::new();
        assert_eq!(export(&t.store, &mut out).unwrap(), 1);
        let line: serde_json::Value = serde_json::from_slice(out.trim_ascii_end()).unwrap();
        assert!(line["hash"].is_string(), "{line}");
        // A failing output is not the caller's mistake.
        let e = export(&t.store, &mut Full).unwrap_err();
        assert!(matches!(e, ServiceError::Unavailable(_)), "{e:?}");
        assert!(e.to_string().contains("disk full"), "{e}");
    }

    #[test]
    fn checkpoints_follow_the_head_and_anchors_are_checked() {
        let t = TestStore::new();
        let add = |n: &str| {
            run(crate::service::departments::add(t.ctx(), None, &[n.into()])).unwrap();
        };
        add("HR");
        let first = checkpoint(&t.store).unwrap();
        assert_eq!(first.seq, 1);
        // The head did not move: the same checkpoint.
        assert_eq!(checkpoint(&t.store).unwrap(), first);
        assert_eq!(checkpoint_if_moved(&t.store).unwrap(), None);
        add("Ops");
        let second = checkpoint_if_moved(&t.store).unwrap().expect("moved");
        assert_eq!(second.seq, 2);
        let good: Anchor = format!("1:{}", first.hash).parse().unwrap();
        let wrong: Anchor = format!("1:{}", "00".repeat(32)).parse().unwrap();
        let missing: Anchor = format!("9:{}", first.hash).parse().unwrap();
        let forged = first.line.replace("seq=1 ", "seq=2 ");
        let checks = check_anchors(
            &t.store,
            &[good, wrong, missing],
            &[second.line.clone(), forged],
            None,
        )
        .unwrap();
        let problems: Vec<Option<&str>> = checks.iter().map(|c| c.problem.as_deref()).collect();
        assert_eq!(problems[0], None);
        assert!(problems[1]
            .unwrap()
            .contains("rewritten at or before record 1"));
        assert!(problems[2].unwrap().contains("not in the chain"));
        assert_eq!(problems[3], None);
        assert!(problems[4].unwrap().contains("signature does not verify"));
        let e = check_anchors(&t.store, &[], &["hello".into()], None).unwrap_err();
        assert!(
            matches!(
                e,
                ServiceError::Invalid {
                    field: "checkpoint",
                    ..
                }
            ),
            "{e:?}"
        );
        // Under another key, the data dir's own checkpoint does not verify.
        let other = crate::anchor::SigningKey::from_pkcs8(
            &crate::anchor::SigningKey::generate_pkcs8().unwrap(),
        )
        .unwrap();
        let checks =
            check_anchors(&t.store, &[], &[second.line], Some(&other.public_key())).unwrap();
        assert!(checks[0].problem.is_some());
    }
}
