//! The department directory: the root organization's list and each sub-organization's own.
//! Stored as keys `org_id \0 name` (the root organization's id is empty), so one organization's
//! names are one contiguous, sorted range.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::audit::{AdminEntry, AuditEntry};
use super::{Result, Store, StoreError};
use crate::policy::{normalize_department, Directory};

/// What an import changes (also the preview shown before applying it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportPlan {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
}

fn org_prefix(org: Option<&str>) -> Vec<u8> {
    let mut p = org.unwrap_or("").as_bytes().to_vec();
    p.push(0);
    p
}

fn key(org: Option<&str>, name: &str) -> Vec<u8> {
    let mut k = org_prefix(org);
    k.extend_from_slice(name.as_bytes());
    k
}

/// Checks an organization id given by an administrator.
pub fn validate_org(org: Option<&str>) -> Result<Option<&str>> {
    match org {
        None => Ok(None),
        Some(o) if o.trim().is_empty() => Err(StoreError::Invalid(
            "the organization id must not be empty (leave it out for the root organization)".into(),
        )),
        Some(o) if o.len() > 256 || o.chars().any(char::is_control) => Err(StoreError::Invalid(
            "the organization id must be at most 256 characters, without control characters".into(),
        )),
        Some(o) => Ok(Some(o)),
    }
}

/// Normalizes a list of names; the first invalid one fails the whole list, naming it.
pub fn normalize_all<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<BTreeSet<String>> {
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            normalize_department(n)
                .map_err(|e| StoreError::Invalid(format!("name {} ({n:?}): {e}", i + 1)))
        })
        .collect()
}

fn org_label(org: Option<&str>) -> serde_json::Value {
    org.map_or(serde_json::Value::Null, |o| o.into())
}

/// Parses a department CSV: one name a line (quoted if it has a comma), an optional header
/// `name` or `department`, blank lines ignored. Any bad line fails the whole file, naming it.
pub fn parse_department_csv(text: &str) -> Result<BTreeSet<String>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut names = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec =
            rec.map_err(|e| StoreError::Invalid(format!("line {}: not valid CSV: {e}", i + 1)))?;
        let line = rec.position().map_or(i as u64 + 1, |p| p.line());
        let fields: Vec<&str> = rec.iter().collect();
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        if fields.len() != 1 {
            return Err(StoreError::Invalid(format!(
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
        return Err(StoreError::Invalid(
            "the file holds no department names; nothing was changed".into(),
        ));
    }
    let mut set = BTreeSet::new();
    for (line, n) in names {
        let one = normalize_all([n.as_str()])
            .map_err(|e| StoreError::Invalid(format!("line {line}: {e}; nothing was changed")))?;
        set.extend(one);
    }
    Ok(set)
}

impl Store {
    /// Rebuilds the directory snapshot from the tree.
    pub(super) fn reload_directory(&self) -> Result<()> {
        let mut dir = Directory::default();
        for item in self.departments.iter() {
            let (k, _) = item?;
            let Some(pos) = k.iter().position(|b| *b == 0) else {
                continue;
            };
            let (org, name) = (&k[..pos], &k[pos + 1..]);
            let org = std::str::from_utf8(org).ok().filter(|o| !o.is_empty());
            if let Ok(name) = std::str::from_utf8(name) {
                dir.insert(org, name);
            }
        }
        *self.directory.write() = Arc::new(dir);
        Ok(())
    }

    /// The directory snapshot the policy reads.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.read().clone()
    }

    /// The names in one organization's list (`None`: the root list), sorted.
    pub fn list_departments(&self, org: Option<&str>) -> Result<Vec<String>> {
        let prefix = org_prefix(org);
        self.departments
            .scan_prefix(&prefix)
            .map(|item| {
                let (k, _) = item?;
                Ok(String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
            })
            .collect()
    }

    /// The organizations that have their own list.
    pub fn department_orgs(&self) -> Result<Vec<String>> {
        let mut orgs = BTreeSet::new();
        for item in self.departments.iter() {
            let (k, _) = item?;
            if let Some(pos) = k.iter().position(|b| *b == 0) {
                if pos > 0 {
                    orgs.insert(String::from_utf8_lossy(&k[..pos]).into_owned());
                }
            }
        }
        Ok(orgs.into_iter().collect())
    }

    /// What importing `names` would change.
    pub fn plan_import(
        &self,
        org: Option<&str>,
        names: &BTreeSet<String>,
        replace: bool,
    ) -> Result<ImportPlan> {
        let current: BTreeSet<String> = self.list_departments(org)?.into_iter().collect();
        Ok(ImportPlan {
            added: names.difference(&current).cloned().collect(),
            removed: if replace {
                current.difference(names).cloned().collect()
            } else {
                Vec::new()
            },
            unchanged: names.intersection(&current).count(),
        })
    }

    /// Applies an import plan and its audit record in one transaction: all or nothing.
    pub fn apply_departments(
        &self,
        actor: &str,
        action: &str,
        org: Option<&str>,
        plan: &ImportPlan,
    ) -> Result<()> {
        let org = validate_org(org)?;
        if plan.added.is_empty() && plan.removed.is_empty() {
            return Ok(());
        }
        let entry = AuditEntry::Admin(AdminEntry {
            actor: actor.into(),
            action: action.into(),
            before: Some(
                serde_json::json!({ "organization": org_label(org), "removed": plan.removed }),
            ),
            after: Some(serde_json::json!({ "organization": org_label(org), "added": plan.added })),
        });
        self.transact_with_audit(&self.departments, &entry, |t| {
            for name in &plan.removed {
                t.remove(key(org, name))?;
            }
            for name in &plan.added {
                t.insert(key(org, name), &[][..])?;
            }
            Ok(())
        })?;
        self.reload_directory()
    }

    /// Adds names; returns how many were new.
    pub fn add_departments(&self, actor: &str, org: Option<&str>, names: &[&str]) -> Result<usize> {
        let names = normalize_all(names.iter().copied())?;
        let plan = self.plan_import(org, &names, false)?;
        self.apply_departments(actor, "departments.add", org, &plan)?;
        Ok(plan.added.len())
    }

    /// Removes names; every name must exist (a typo must not pass silently).
    pub fn remove_departments(
        &self,
        actor: &str,
        org: Option<&str>,
        names: &[&str],
    ) -> Result<usize> {
        let names = normalize_all(names.iter().copied())?;
        let current: BTreeSet<String> = self.list_departments(org)?.into_iter().collect();
        if let Some(missing) = names.iter().find(|n| !current.contains(*n)) {
            return Err(StoreError::NotFound(format!(
                "department {missing:?} is not in the {} list; nothing was removed",
                org.map_or("root organization's".to_string(), |o| format!(
                    "organization {o}'s"
                ))
            )));
        }
        let plan = ImportPlan {
            removed: names.into_iter().collect(),
            ..Default::default()
        };
        self.apply_departments(actor, "departments.remove", org, &plan)?;
        Ok(plan.removed.len())
    }
}
