//! The pre-update-password action's settings and key records, as plain data: the policy per
//! organization (falling back to the root's, like department lists), the security-team e-mail
//! choice, and what is shown of a password-sharing key (never its private half).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::policy::password::PasswordRules;

/// Which password events are mailed to the security team.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordEventMail {
    /// No e-mail (the default).
    #[default]
    None,
    /// Only changes an administrator or an application made (`initiatorType` ADMIN or
    /// APPLICATION): a user changing their own password is routine.
    AdminInitiated,
    /// Every password event.
    All,
}

impl PasswordEventMail {
    /// Whether an accepted change by this initiator is mailed.
    pub fn wants(self, initiator: &crate::contract::InitiatorType) -> bool {
        use crate::contract::InitiatorType;
        match self {
            PasswordEventMail::None => false,
            PasswordEventMail::AdminInitiated => {
                matches!(initiator, InitiatorType::Admin | InitiatorType::Application)
            }
            PasswordEventMail::All => true,
        }
    }
}

/// The password policy: the root organization's rules and each sub-organization's own.
#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    /// The root organization's rules; also every organization's without its own.
    pub root: PasswordRules,
    /// Sub-organizations (by id) with rules of their own.
    pub orgs: BTreeMap<String, PasswordRules>,
    /// Which password events are mailed to the security team.
    pub notify: PasswordEventMail,
    /// The optional online breach check (a k-anonymity range API); off by default.
    pub online: OnlineBreachCheck,
}

/// Shortest and longest timeout of the online breach check, in milliseconds: the lookup
/// runs inside the identity server's 5 s, after the local rules.
pub const MIN_ONLINE_TIMEOUT_MS: u32 = 50;
pub const MAX_ONLINE_TIMEOUT_MS: u32 = 1000;

/// The online breach check: a range API in the Pwned Passwords shape at an admin-set URL,
/// asked only when every local rule passed, with the first 5 hex digits of the SHA-1.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OnlineBreachCheck {
    pub enabled: bool,
    /// The range URL; the 5-digit prefix is appended (`https://host/range/` asks
    /// `https://host/range/5BAA6`).
    pub url: String,
    /// The whole lookup's limit (connect, TLS, answer), 50 to 1000 ms.
    pub timeout_ms: u32,
    /// Refuse the password when the source does not answer in time. The default (false)
    /// accepts it and notes the missed check in the audit record.
    pub fail_closed: bool,
}

impl Default for OnlineBreachCheck {
    fn default() -> Self {
        OnlineBreachCheck {
            enabled: false,
            url: String::new(),
            timeout_ms: 800,
            fail_closed: false,
        }
    }
}

impl PasswordPolicy {
    /// The rules in force for an organization (`None`: the root): its own, or the root's.
    pub fn rules_for(&self, org_id: Option<&str>) -> &PasswordRules {
        org_id.and_then(|o| self.orgs.get(o)).unwrap_or(&self.root)
    }

    /// Whether the organization has rules of its own (the root always has).
    pub fn has_own(&self, org_id: Option<&str>) -> bool {
        org_id.is_none_or(|o| self.orgs.contains_key(o))
    }
}

/// A password-sharing key as the store lists it: identifiers and dates, never key bytes.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordKeyInfo {
    /// First 16 hex digits of the SHA-256 of the public key.
    pub id: String,
    pub bits: u32,
    /// SHA-256 of the certificate (DER), colon-separated upper-case hex.
    pub fingerprint: String,
    pub created: String,
    /// When it was retired (its private key erased); `None` while active.
    pub retired: Option<String>,
}

impl PasswordKeyInfo {
    pub fn is_active(&self) -> bool {
        self.retired.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_without_rules_falls_back_to_the_root() {
        let mut p = PasswordPolicy::default();
        p.root.min_length = 20;
        let own = PasswordRules {
            min_length: 16,
            ..PasswordRules::default()
        };
        p.orgs.insert("org-1".into(), own);
        assert_eq!(p.rules_for(None).min_length, 20);
        assert_eq!(p.rules_for(Some("org-1")).min_length, 16);
        assert_eq!(p.rules_for(Some("org-2")).min_length, 20);
        assert!(p.has_own(None) && p.has_own(Some("org-1")) && !p.has_own(Some("org-2")));
    }

    #[test]
    fn event_mail_defaults_to_none_and_reads_its_names() {
        assert_eq!(PasswordPolicy::default().notify, PasswordEventMail::None);
        let p: PasswordPolicy = serde_json::from_str(r#"{"notify":"admin-initiated"}"#).unwrap();
        assert_eq!(p.notify, PasswordEventMail::AdminInitiated);
        assert_eq!(p.root, PasswordRules::default());
    }
}
