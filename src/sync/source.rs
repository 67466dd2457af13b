//! What an administrator sets for one organization's sync (the source, how often, the safety
//! limit, when the copy counts as stale) and what a sync leaves behind for the next one and
//! for the status pages (its state). Plain data; the use cases are `service::sync`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::http::{self, Fetch, HttpAuth, HttpSource, SourceError, Validators};
use super::judge::{Hold, DEFAULT_MAX_REMOVAL_PERCENT};
use super::ldap::{self, LdapSource};

/// Shown instead of a secret.
pub const MASK: &str = "********";

/// Default time between syncs, and how old the last good copy may get before the security
/// team hears of it (four missed syncs).
pub const DEFAULT_EVERY_SECS: u64 = 15 * 60;
pub const DEFAULT_STALE_AFTER_SECS: u64 = 60 * 60;

/// Where one organization's list comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    Http(HttpSource),
    Ldap(LdapSource),
}

impl Source {
    /// The source as the audit chain and the pages show it: every secret masked.
    pub fn redacted(&self) -> Source {
        let mut s = self.clone();
        match &mut s {
            Source::Http(h) => {
                match &mut h.auth {
                    HttpAuth::None => {}
                    HttpAuth::Bearer { token } => *token = MASK.into(),
                    HttpAuth::Basic { password, .. } => *password = MASK.into(),
                }
                if h.client_key_pem.is_some() {
                    h.client_key_pem = Some(MASK.into());
                }
            }
            Source::Ldap(l) => l.password = MASK.into(),
        }
        s
    }

    /// One line naming the source, for audit records and e-mail: never a secret.
    pub fn describe(&self) -> String {
        match self {
            Source::Http(h) => h.url.clone(),
            Source::Ldap(l) => format!(
                "{} ({} under {}, {})",
                l.url, l.attribute, l.base_dn, l.filter
            ),
        }
    }

    /// Fetches the list (`previous`: the validators of the last applied answer).
    pub async fn fetch(&self, previous: &Validators) -> Result<Fetch, SourceError> {
        match self {
            Source::Http(h) => http::fetch(h, previous).await,
            // LDAP has no validators: every sync reads the whole list.
            Source::Ldap(l) => Ok(Fetch::Names {
                names: ldap::fetch(l).await?,
                validators: Validators::default(),
            }),
        }
    }
}

/// One organization's sync settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSettings {
    pub source: Source,
    #[serde(default = "default_every")]
    pub every_secs: u64,
    #[serde(default = "default_stale_after")]
    pub stale_after_secs: u64,
    #[serde(default = "default_limit")]
    pub max_removal_percent: u8,
}

fn default_every() -> u64 {
    DEFAULT_EVERY_SECS
}
fn default_stale_after() -> u64 {
    DEFAULT_STALE_AFTER_SECS
}
fn default_limit() -> u8 {
    DEFAULT_MAX_REMOVAL_PERCENT
}

impl SyncSettings {
    pub fn redacted(&self) -> SyncSettings {
        SyncSettings {
            source: self.source.redacted(),
            ..self.clone()
        }
    }
}

/// A sync held for approval: what it would do, and the list it would make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub at_ms: u64,
    pub hold: Hold,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
    /// The source's whole list, applied as it is when approved.
    pub names: BTreeSet<String>,
}

/// What the last syncs of one organization left: for the next sync (validators), the status
/// pages and metrics (times, error, hold) and the stale/recovered e-mail (`stale_notified`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncState {
    /// When the source was set (the age of a list never synced counts from here).
    pub since_ms: u64,
    pub last_attempt_ms: Option<u64>,
    /// The last time the source answered with a list (applied, unchanged, held) or a 304.
    pub last_success_ms: Option<u64>,
    /// The last time a sync changed the list, and how.
    pub last_change_ms: Option<u64>,
    pub last_added: usize,
    pub last_removed: usize,
    /// Why the last attempt failed (cleared by a success).
    pub last_error: Option<String>,
    /// Attempts failed in a row.
    pub failures: u32,
    pub validators: Validators,
    pub held: Option<Held>,
    /// The stale e-mail went out and the recovered one has not yet.
    pub stale_notified: bool,
}

impl SyncState {
    /// How old the copy is: since the last success, or since the source was set (0 for a
    /// state that knows neither: one lost with a restore, before its first attempt).
    pub fn age_ms(&self, now_ms: u64) -> u64 {
        match (self.last_success_ms, self.since_ms) {
            (Some(t), _) => now_ms.saturating_sub(t),
            (None, 0) => 0,
            (None, since) => now_ms.saturating_sub(since),
        }
    }

    /// When the next scheduled attempt is due: `every` after the last one; after a failure
    /// sooner (a minute, doubling with each failure in a row, never later than `every`).
    pub fn next_due_ms(&self, every_secs: u64) -> u64 {
        let Some(last) = self.last_attempt_ms else {
            return 0;
        };
        let every = every_secs.saturating_mul(1000);
        let wait = if self.failures == 0 {
            every
        } else {
            60_000u64
                .saturating_mul(1 << self.failures.saturating_sub(1).min(20))
                .min(every)
        };
        last.saturating_add(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        let s = Source::Http(HttpSource {
            url: "https://hr.example/d".into(),
            format: Default::default(),
            field: None,
            auth: HttpAuth::Basic {
                username: "svc".into(),
                password: "pw-secret".into(),
            },
            tls_ca_pem: None,
            client_cert_pem: Some("CERT".into()),
            client_key_pem: Some("KEY-secret".into()),
            timeout_ms: 1000,
            max_bytes: 1000,
        });
        let text = serde_json::to_string(&s.redacted()).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("svc") && text.contains("CERT"), "{text}");
        assert_eq!(s.describe(), "https://hr.example/d");
        let l = Source::Ldap(LdapSource {
            url: "ldaps://dc1.corp.example".into(),
            bind_dn: "cn=reader,dc=corp".into(),
            password: "bind-secret".into(),
            base_dn: "ou=departments,dc=corp".into(),
            filter: "(objectClass=organizationalUnit)".into(),
            attribute: "ou".into(),
            starttls: false,
            tls_ca_pem: None,
            timeout_ms: 1000,
            page_size: 500,
        });
        let text = serde_json::to_string(&l.redacted()).unwrap();
        assert!(
            !text.contains("secret") && text.contains("********"),
            "{text}"
        );
        assert_eq!(
            l.describe(),
            "ldaps://dc1.corp.example (ou under ou=departments,dc=corp, (objectClass=organizationalUnit))"
        );
    }

    #[test]
    fn retries_come_sooner_after_a_failure() {
        let mut st = SyncState::default();
        assert_eq!(st.next_due_ms(900), 0, "never tried: due now");
        st.last_attempt_ms = Some(1_000_000);
        assert_eq!(st.next_due_ms(900), 1_900_000);
        st.failures = 1;
        assert_eq!(st.next_due_ms(900), 1_060_000);
        st.failures = 3;
        assert_eq!(st.next_due_ms(900), 1_240_000);
        st.failures = 60;
        assert_eq!(
            st.next_due_ms(900),
            1_900_000,
            "never later than the interval"
        );
        assert_eq!(st.age_ms(1500), 0, "nothing known: not stale");
        st.since_ms = 500;
        assert_eq!(st.age_ms(1500), 1000);
        st.last_success_ms = Some(1200);
        assert_eq!(st.age_ms(1500), 300);
    }
}
