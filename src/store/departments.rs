//! The department directory: the root organization's list and each sub-organization's own.
//! Stored as keys `org_id \0 name` (the root organization's id is empty), so one organization's
//! names are one contiguous, sorted range.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Result, Store, StoreError};
use crate::model::{AdminEntry, AuditEntry};
use crate::policy::{normalize_department, Directory};

/// What an import changes (also the preview shown before applying it).
#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
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

fn org_label(org: Option<&str>) -> serde_json::Value {
    org.map_or(serde_json::Value::Null, |o| o.into())
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
        self.apply_departments_from(actor, action, org, plan, None)
    }

    /// [`Store::apply_departments`], naming in the audit record where the names came from
    /// (a sync's source).
    pub fn apply_departments_from(
        &self,
        actor: &str,
        action: &str,
        org: Option<&str>,
        plan: &ImportPlan,
        source: Option<&str>,
    ) -> Result<()> {
        // An empty id would land in the root list and a NUL would split the key: the service
        // refuses both before this; here they are a fault, not input.
        if org.is_some_and(|o| o.is_empty() || o.contains('\0')) {
            return Err(StoreError::Precondition(format!(
                "organization id {org:?} cannot be a key"
            )));
        }
        if plan.added.is_empty() && plan.removed.is_empty() {
            return Ok(());
        }
        let entry = AuditEntry::Admin(AdminEntry {
            actor: actor.into(),
            action: action.into(),
            before: Some(
                serde_json::json!({ "organization": org_label(org), "removed": plan.removed }),
            ),
            after: Some(match source {
                None => serde_json::json!({ "organization": org_label(org), "added": plan.added }),
                Some(src) => serde_json::json!({
                    "organization": org_label(org), "added": plan.added, "source": src
                }),
            }),
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

    /// Adds names; returns how many were new. For seeding a data dir (tests, benchmarks);
    /// administrators' changes go through `service::departments`, which checks them first.
    pub fn add_departments(&self, actor: &str, org: Option<&str>, names: &[&str]) -> Result<usize> {
        let names = names
            .iter()
            .map(|n| {
                normalize_department(n).map_err(|e| StoreError::Invalid(format!("{n:?}: {e}")))
            })
            .collect::<Result<BTreeSet<String>>>()?;
        let plan = self.plan_import(org, &names, false)?;
        self.apply_departments(actor, "departments.add", org, &plan)?;
        Ok(plan.added.len())
    }
}
