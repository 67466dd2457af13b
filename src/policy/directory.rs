//! The department directory as the policy sees it: an in-memory snapshot of the stored lists,
//! the root organization's and each sub-organization's own.

use std::collections::{HashMap, HashSet};

use super::MatchMode;

/// Why a department name cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("a department name must not be empty")]
    Empty,
    #[error("a department name is at most 256 characters ({0} given)")]
    TooLong(usize),
    #[error("a department name must not contain control characters")]
    Control,
}

/// Trims a name and checks it can be stored. Names are compared exactly afterwards, so the
/// same normalization runs on every way in (CLI, import, API).
pub fn normalize_department(name: &str) -> Result<String, DirectoryError> {
    let t = name.trim();
    if t.is_empty() {
        return Err(DirectoryError::Empty);
    }
    let n = t.chars().count();
    if n > 256 {
        return Err(DirectoryError::TooLong(n));
    }
    if t.chars().any(char::is_control) {
        return Err(DirectoryError::Control);
    }
    Ok(t.to_string())
}

#[derive(Debug, Clone, Default)]
struct List {
    exact: HashSet<String>,
    folded: HashSet<String>,
}

/// Department lists keyed by organization id; `None` is the root organization.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    root: List,
    orgs: HashMap<String, List>,
}

impl Directory {
    /// Adds a name to the root list (`org = None`) or to an organization's own list.
    pub fn insert(&mut self, org: Option<&str>, name: &str) {
        let list = match org {
            None => &mut self.root,
            Some(o) => self.orgs.entry(o.to_string()).or_default(),
        };
        list.exact.insert(name.to_string());
        list.folded.insert(name.to_lowercase());
    }

    /// Makes one list exactly `names` (for a dry run with a list not saved yet); an empty list
    /// of a sub-organization is none, so the root's applies, as in the store.
    pub fn replace_list(&mut self, org: Option<&str>, names: impl IntoIterator<Item = String>) {
        match org {
            None => self.root = List::default(),
            Some(o) => {
                self.orgs.remove(o);
            }
        }
        for n in names {
            self.insert(org, &n);
        }
    }

    /// True when the organization has its own (non-empty) list.
    pub fn has_own_list(&self, org: Option<&str>) -> bool {
        org.is_some_and(|o| self.orgs.contains_key(o))
    }

    /// The list that applies to `org`: its own where it has one, else the root list.
    fn list_for(&self, org: Option<&str>) -> &List {
        org.and_then(|o| self.orgs.get(o)).unwrap_or(&self.root)
    }

    /// Whether `name` is a valid department for `org`.
    pub fn contains(&self, org: Option<&str>, name: &str, mode: MatchMode) -> bool {
        let list = self.list_for(org);
        match mode {
            MatchMode::Exact => list.exact.contains(name),
            MatchMode::CaseInsensitive => list.folded.contains(&name.to_lowercase()),
        }
    }

    /// Number of names in the root list and in all organization lists together.
    pub fn len(&self) -> usize {
        self.root.exact.len() + self.orgs.values().map(|l| l.exact.len()).sum::<usize>()
    }

    /// True when no list has any name.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization() {
        assert_eq!(
            normalize_department("  R&D, Europe ").unwrap(),
            "R&D, Europe"
        );
        assert_eq!(normalize_department(" "), Err(DirectoryError::Empty));
        assert_eq!(
            normalize_department("a\u{7}b"),
            Err(DirectoryError::Control)
        );
        assert!(matches!(
            normalize_department(&"x".repeat(257)),
            Err(DirectoryError::TooLong(257))
        ));
    }
}
