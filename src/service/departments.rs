//! The department directory: the root organization's list and each sub-organization's own,
//! add, remove, the CSV import with its preview, and how values are compared. Each rule is
//! here once; the CLI and the admin API only parse and render. Listing and exporting are plain
//! reads of the store.

use std::collections::BTreeSet;

use super::{Ctx, ServiceError};
use crate::policy::{normalize_department, MatchMode};
use crate::store::Store;

pub use crate::store::departments::ImportPlan;

/// Checks an organization id given by an administrator (`None`: the root organization).
pub fn validate_org(org: Option<&str>) -> Result<Option<&str>, ServiceError> {
    match org {
        None => Ok(None),
        Some(o) if o.trim().is_empty() => Err(ServiceError::invalid(
            "org",
            "the organization id must not be empty (leave it out for the root organization)",
        )),
        Some(o) if o.len() > 256 || o.chars().any(char::is_control) => Err(ServiceError::invalid(
            "org",
            "the organization id must be at most 256 characters, without control characters",
        )),
        Some(o) => Ok(Some(o)),
    }
}

/// Normalizes a list of names; the first invalid one fails the whole list, naming it.
fn normalize_all<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeSet<String>, ServiceError> {
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            normalize_department(n)
                .map_err(|e| ServiceError::invalid("names", format!("name {} ({n:?}): {e}", i + 1)))
        })
        .collect()
}

/// Parses a department CSV: one name a line (quoted if it has a comma), an optional header
/// `name` or `department`, blank lines ignored. Any bad line fails the whole file, naming it.
pub fn parse_csv(text: &str) -> Result<BTreeSet<String>, ServiceError> {
    let bad = |m: String| ServiceError::invalid("csv", m);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut names = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| bad(format!("line {}: not valid CSV: {e}", i + 1)))?;
        let line = rec.position().map_or(i as u64 + 1, |p| p.line());
        let fields: Vec<&str> = rec.iter().collect();
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        if fields.len() != 1 {
            return Err(bad(format!(
                "line {line}: {} columns; expected one department name a line (quote names that contain a comma)",
                fields.len()
            )));
        }
        if names.is_empty()
            && i == 0
            && ["name", "department", "departments"]
                .iter()
                .any(|h| fields[0].eq_ignore_ascii_case(h))
        {
            continue;
        }
        names.push((line, fields[0].to_string()));
    }
    if names.is_empty() {
        return Err(bad(
            "the file holds no department names; nothing was changed".into(),
        ));
    }
    let mut set = BTreeSet::new();
    for (line, n) in names {
        let one = normalize_all([n.as_str()])
            .map_err(|e| bad(format!("line {line}: {e}; nothing was changed")))?;
        set.extend(one);
    }
    Ok(set)
}

/// One organization's names, sorted.
pub fn list(store: &Store, org: Option<&str>) -> Result<Vec<String>, ServiceError> {
    Ok(store.list_departments(validate_org(org)?)?)
}

/// Adds names (at least one); returns those that were new, sorted.
pub async fn add(
    ctx: Ctx<'_>,
    org: Option<&str>,
    names: &[String],
) -> Result<Vec<String>, ServiceError> {
    let org = validate_org(org)?;
    let names = normalize_all(names.iter().map(String::as_str))?;
    if names.is_empty() {
        return Err(ServiceError::invalid(
            "names",
            "give at least one department name",
        ));
    }
    let plan = ctx.store.plan_import(org, &names, false)?;
    ctx.store
        .apply_departments(ctx.actor, "departments.add", org, &plan)?;
    ctx.durable().await?;
    Ok(plan.added)
}

/// Removes names; every name must be in the list (a typo must not pass silently), else
/// nothing is removed. Returns how many were removed.
pub async fn remove(
    ctx: Ctx<'_>,
    org: Option<&str>,
    names: &[String],
) -> Result<usize, ServiceError> {
    let org = validate_org(org)?;
    let names = normalize_all(names.iter().map(String::as_str))?;
    let current: BTreeSet<String> = ctx.store.list_departments(org)?.into_iter().collect();
    if let Some(missing) = names.iter().find(|n| !current.contains(*n)) {
        return Err(ServiceError::invalid(
            "names",
            format!(
                "department {missing:?} is not in the {} list; nothing was removed",
                org.map_or("root organization's".to_string(), |o| format!(
                    "organization {o}'s"
                ))
            ),
        ));
    }
    let plan = ImportPlan {
        removed: names.into_iter().collect(),
        ..Default::default()
    };
    ctx.store
        .apply_departments(ctx.actor, "departments.remove", org, &plan)?;
    ctx.durable().await?;
    Ok(plan.removed.len())
}

/// A department CSV to import.
#[derive(Debug, Clone, Copy)]
pub struct Import<'a> {
    pub csv: &'a str,
    pub org: Option<&'a str>,
    /// Make the list exactly the file's names (removing the others).
    pub replace: bool,
    /// `false`: only say what would change (the preview).
    pub apply: bool,
}

/// Plans an import and, if asked, applies it whole (one transaction with its audit record).
/// Returns the plan: the file's names are `added` and `unchanged` together.
pub async fn import(ctx: Ctx<'_>, req: Import<'_>) -> Result<ImportPlan, ServiceError> {
    let org = validate_org(req.org)?;
    let names = parse_csv(req.csv)?;
    let plan = ctx.store.plan_import(org, &names, req.replace)?;
    if req.apply {
        ctx.store
            .apply_departments(ctx.actor, "departments.import", org, &plan)?;
        ctx.durable().await?;
    }
    Ok(plan)
}

/// Sets how department values are compared with the directory.
pub async fn set_match(ctx: Ctx<'_>, mode: MatchMode) -> Result<MatchMode, ServiceError> {
    ctx.store
        .update_settings(ctx.actor, "departments.match", |s| {
            s.policy.department_match = mode
        })?;
    ctx.durable().await?;
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{field, run, TestStore};

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn add_and_remove() {
        let t = TestStore::new();
        let (store, ctx) = (&t.store, t.ctx());
        let added = run(add(ctx, None, &names(&[" HR ", "Sales", "HR"]))).unwrap();
        assert_eq!(added, ["HR", "Sales"], "trimmed, deduplicated");
        assert_eq!(
            run(add(ctx, None, &names(&["HR", "Ops"]))).unwrap(),
            ["Ops"],
            "only the new ones"
        );
        let e = run(add(ctx, None, &[])).unwrap_err();
        assert_eq!(field(&e), Some("names"), "{e:?}");
        let e = run(add(ctx, None, &names(&["Legal", "a\u{7}b"]))).unwrap_err();
        assert_eq!(field(&e), Some("names"), "{e:?}");
        assert!(e.to_string().contains("name 2"), "{e}");
        assert!(!list(store, None).unwrap().contains(&"Legal".to_string()));

        // Sub-organization lists are separate.
        run(add(ctx, Some("org-1"), &names(&["Sales"]))).unwrap();
        assert_eq!(list(store, Some("org-1")).unwrap(), ["Sales"]);

        let e = run(remove(ctx, None, &names(&["HR", "Finanse"]))).unwrap_err();
        assert_eq!(field(&e), Some("names"), "{e:?}");
        assert!(e.to_string().contains("Finanse"), "{e}");
        assert_eq!(list(store, None).unwrap(), ["HR", "Ops", "Sales"]);
        assert_eq!(run(remove(ctx, None, &names(&["HR"]))).unwrap(), 1);
        assert_eq!(list(store, None).unwrap(), ["Ops", "Sales"]);
        assert!(store.directory().contains(None, "Ops", MatchMode::Exact));
    }

    #[test]
    fn org_ids() {
        assert_eq!(validate_org(None).unwrap(), None);
        assert_eq!(validate_org(Some("org-1")).unwrap(), Some("org-1"));
        for bad in [" ", "a\0b", &"x".repeat(257)] {
            let e = validate_org(Some(bad)).unwrap_err();
            assert_eq!(field(&e), Some("org"), "{bad:?}");
        }
        let t = TestStore::new();
        let (store, ctx) = (&t.store, t.ctx());
        let e = run(add(ctx, Some(""), &names(&["HR"]))).unwrap_err();
        assert_eq!(field(&e), Some("org"), "{e:?}");
        assert_eq!(field(&list(store, Some("")).unwrap_err()), Some("org"));
    }

    #[test]
    fn import_previews_then_applies_whole() {
        let t = TestStore::new();
        let (store, ctx) = (&t.store, t.ctx());
        run(add(ctx, None, &names(&["HR", "Engineering"]))).unwrap();
        let req = Import {
            csv: "name\nHR\n\n\"R&D, Europe\"\n",
            org: None,
            replace: true,
            apply: false,
        };
        let plan = run(import(ctx, req)).unwrap();
        assert_eq!(plan.added, ["R&D, Europe"]);
        assert_eq!(plan.removed, ["Engineering"]);
        assert_eq!(plan.unchanged, 1);
        assert_eq!(list(store, None).unwrap(), ["Engineering", "HR"], "preview");

        let e = run(import(
            ctx,
            Import {
                csv: "Legal\nMarketing,Extra\n",
                apply: true,
                ..req
            },
        ))
        .unwrap_err();
        assert_eq!(field(&e), Some("csv"), "{e:?}");
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = run(import(
            ctx,
            Import {
                csv: "name\n\n",
                apply: true,
                ..req
            },
        ))
        .unwrap_err();
        assert_eq!(field(&e), Some("csv"), "{e:?}");
        assert_eq!(
            list(store, None).unwrap(),
            ["Engineering", "HR"],
            "unchanged"
        );

        let plan = run(import(ctx, Import { apply: true, ..req })).unwrap();
        assert_eq!(plan.removed, ["Engineering"]);
        assert_eq!(list(store, None).unwrap(), ["HR", "R&D, Europe"]);
        // Without `replace`, names not in the file stay.
        let plan = run(import(
            ctx,
            Import {
                csv: "Ops\n",
                replace: false,
                apply: true,
                ..req
            },
        ))
        .unwrap();
        assert!(plan.removed.is_empty());
        assert_eq!(list(store, None).unwrap(), ["HR", "Ops", "R&D, Europe"]);
    }

    #[test]
    fn match_mode() {
        let t = TestStore::new();
        let (store, ctx) = (&t.store, t.ctx());
        run(set_match(ctx, MatchMode::CaseInsensitive)).unwrap();
        assert_eq!(
            store.settings().policy.department_match,
            MatchMode::CaseInsensitive
        );
    }
}
