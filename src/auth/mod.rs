//! Endpoint authentication: who may call the action endpoint.
//!
//! argon2 is deliberately slow (~25 ms), so it must not run per request. A secret verified
//! once is remembered under HMAC(process key, credential id, secret); later calls cost one
//! HMAC. Concurrent first calls with the same secret share one verification, at most two
//! verifications run at a time, and an address that keeps failing is refused before argon2
//! runs at all.
//!
//! Only attempts that cost argon2 count towards throttling, and each is counted before it
//! runs (concurrent attempts cannot all slip past the gate). A request without credentials
//! or with an unknown credential id costs nothing and counts for nothing: a stranger sharing
//! the identity server's address cannot lock it out that way.

mod addrs;
pub mod gate;
pub mod secret;
pub mod session;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use warp::http::HeaderMap;

use crate::model::{CredentialKind, CredentialRecord, EndpointAuth};
use crate::singleflight::SingleFlight;
use crate::store::{now_rfc3339, Store, StoreError};
use addrs::AddrTable;
pub use secret::SecretError;

/// Failures within this window count towards throttling.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Failures per address and window before further attempts are refused unchecked.
const MAX_FAILURES: u32 = 10;
/// argon2 verifications running at once (the machine has few cores; requests must not starve).
const ARGON2_PERMITS: usize = 2;

/// Why a caller was refused. The text goes into the 401 body, so it says what is wrong
/// without revealing anything about the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no endpoint credential is configured on profilegate")]
    NotConfigured,
    #[error("credentials are missing")]
    Missing,
    #[error("credentials are not valid")]
    Invalid,
    #[error("too many failed attempts from this address; try again later")]
    Throttled,
    #[error("credential check failed internally")]
    Internal,
}

/// Who called: the credential id, or `None` when authentication is switched off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub credential_id: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    since: Instant,
    count: u32,
}

/// Verifies callers against the stored credentials.
pub struct Authenticator {
    store: Arc<Store>,
    process_key: [u8; 32],
    /// HMAC of (id, secret) -> credential id, for secrets verified by argon2 before.
    verified: Mutex<HashMap<[u8; 32], String>>,
    failures: Mutex<AddrTable<Failures>>,
    /// Owned permits: a permit moves into the blocking task that runs argon2, so a caller that
    /// hangs up mid-check does not free it before the check is over.
    argon2: Arc<Semaphore>,
    inflight: SingleFlight<[u8; 32], Verification>,
    /// Credential id -> unix second of last use, written to the store in the background.
    last_used: Mutex<HashMap<String, u64>>,
}

/// The outcome of one argon2 verification, shared by concurrent calls with the same secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verification {
    Valid,
    Invalid,
    /// The address had used up its attempts; argon2 did not run.
    Throttled,
}

/// What the caller presented for one credential: the credential and the secret to check.
struct Presented<'a> {
    cred: &'a CredentialRecord,
    secret: String,
}

impl AuthError {
    /// A short label for metrics and log-line limits.
    pub fn label(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Invalid => "invalid",
            AuthError::Throttled => "throttled",
            AuthError::NotConfigured => "not_configured",
            AuthError::Internal => "internal",
        }
    }
}

impl Authenticator {
    pub fn new(store: Arc<Store>) -> Result<Self, SecretError> {
        let mut process_key = [0u8; 32];
        secret::random_bytes(&mut process_key)?;
        Ok(Authenticator {
            store,
            process_key,
            verified: Mutex::new(HashMap::new()),
            failures: Mutex::new(AddrTable::default()),
            argon2: Arc::new(Semaphore::new(ARGON2_PERMITS)),
            inflight: SingleFlight::default(),
            last_used: Mutex::new(HashMap::new()),
        })
    }

    /// Checks a request's headers against `settings` (the request's snapshot of them). Runs
    /// before the body is read.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
        settings: &crate::model::Settings,
    ) -> Result<Caller, AuthError> {
        if settings.endpoint_auth == EndpointAuth::None {
            return Ok(Caller {
                credential_id: None,
            });
        }
        let creds = self.store.credentials();
        if creds.is_empty() {
            return Err(AuthError::NotConfigured);
        }
        let result = self.check(headers, &creds, peer).await;
        if let Ok(Caller {
            credential_id: Some(id),
        }) = &result
        {
            self.note_use(id);
        }
        result
    }

    async fn check(
        &self,
        headers: &HeaderMap,
        creds: &[CredentialRecord],
        peer: Option<IpAddr>,
    ) -> Result<Caller, AuthError> {
        let presented = presented(headers, creds);
        if presented.is_empty() {
            return Err(AuthError::Missing);
        }
        // Only a secret that names the credential it is checked against can be right.
        let Some(p) = presented
            .into_iter()
            .find(|p| secret::id_of(&p.secret) == Some(p.cred.id.as_str()))
        else {
            return Err(AuthError::Invalid);
        };
        let tag = self.tag(&p.cred.id, &p.secret);
        if self
            .verified
            .lock()
            .get(&tag)
            .is_some_and(|id| *id == p.cred.id)
        {
            return Ok(Caller {
                credential_id: Some(p.cred.id.clone()),
            });
        }
        // Throttle only what would cost argon2: a caller whose secret is already verified is
        // never locked out by someone failing from the same address (a shared NAT, say).
        let verdict = self
            .inflight
            .run(tag, || async {
                // Counted before argon2 runs, forgiven if the secret verifies; an address
                // with no attempts left is refused here, before argon2.
                if let Some(ip) = peer {
                    if !self.reserve_attempt(ip) {
                        return Verification::Throttled;
                    }
                }
                let Ok(permit) = self.argon2.clone().acquire_owned().await else {
                    return Verification::Invalid;
                };
                let (s, h) = (p.secret.clone(), p.cred.hash.clone());
                let ok = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    secret::verify(&s, &h)
                })
                .await
                .unwrap_or(false);
                if !ok {
                    return Verification::Invalid;
                }
                if let Some(ip) = peer {
                    self.forgive_attempt(ip);
                }
                Verification::Valid
            })
            .await;
        match verdict {
            Verification::Valid => {}
            Verification::Invalid => return Err(AuthError::Invalid),
            Verification::Throttled => return Err(AuthError::Throttled),
        }
        let mut cache = self.verified.lock();
        // Only valid secrets of at most two credentials land here; the bound is a backstop.
        if cache.len() >= 64 {
            cache.clear();
        }
        cache.insert(tag, p.cred.id.clone());
        Ok(Caller {
            credential_id: Some(p.cred.id.clone()),
        })
    }

    fn tag(&self, id: &str, secret: &str) -> [u8; 32] {
        // HMAC accepts any key length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.process_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(id.as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Counts an attempt that is about to cost argon2; false when the address has none left.
    fn reserve_attempt(&self, ip: IpAddr) -> bool {
        let mut map = self.failures.lock();
        let f = map.entry(
            ip,
            |f| f.since.elapsed() >= FAILURE_WINDOW,
            || Failures {
                since: Instant::now(),
                count: 0,
            },
        );
        if f.since.elapsed() >= FAILURE_WINDOW {
            *f = Failures {
                since: Instant::now(),
                count: 0,
            };
        }
        if f.count >= MAX_FAILURES {
            return false;
        }
        f.count += 1;
        true
    }

    /// Takes back the count of an attempt whose secret verified.
    fn forgive_attempt(&self, ip: IpAddr) {
        if let Some(f) = self.failures.lock().get_mut(&ip) {
            f.count = f.count.saturating_sub(1);
        }
    }

    fn note_use(&self, id: &str) {
        let now = crate::store::now_unix_ms() / 1000;
        let mut map = self.last_used.lock();
        match map.get_mut(id) {
            Some(t) if *t == now => {}
            Some(t) => *t = now,
            None => {
                map.insert(id.to_string(), now);
            }
        }
    }

    /// Writes "last used" times to the store (called periodically and at shutdown).
    pub fn persist_last_used(&self) -> Result<(), StoreError> {
        let used: Vec<(String, String)> = self
            .last_used
            .lock()
            .drain()
            .map(|(id, secs)| {
                let t = time::OffsetDateTime::from_unix_timestamp(secs as i64)
                    .map(crate::store::format_time)
                    .unwrap_or_else(|_| now_rfc3339());
                (id, t)
            })
            .collect();
        if used.is_empty() {
            return Ok(());
        }
        self.store.touch_credentials(&used)
    }
}

/// Collects what the request presents for each configured credential.
fn presented<'a>(headers: &HeaderMap, creds: &'a [CredentialRecord]) -> Vec<Presented<'a>> {
    let mut out = Vec::new();
    let authz = headers
        .get(warp::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let (scheme, param) = match authz.and_then(|a| a.split_once(' ')) {
        Some((s, p)) => (s, p.trim()),
        None => ("", ""),
    };
    for cred in creds {
        match &cred.kind {
            CredentialKind::Basic { username } if scheme.eq_ignore_ascii_case("basic") => {
                let Some((user, pass)) = base64::engine::general_purpose::STANDARD
                    .decode(param)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| {
                        s.split_once(':')
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    })
                else {
                    continue;
                };
                if bool::from(user.as_bytes().ct_eq(username.as_bytes())) {
                    out.push(Presented { cred, secret: pass });
                }
            }
            CredentialKind::Bearer if scheme.eq_ignore_ascii_case("bearer") => {
                out.push(Presented {
                    cred,
                    secret: param.to_string(),
                });
            }
            CredentialKind::ApiKey { header } => {
                // HeaderMap lookups are case-insensitive by name.
                if let Some(v) = headers.get(header.as_str()).and_then(|v| v.to_str().ok()) {
                    out.push(Presented {
                        cred,
                        secret: v.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewCredential {
    Basic { username: String },
    Bearer,
    ApiKey { header: String },
}

/// A created credential with its secret, which exists only here and is shown once.
#[derive(Debug, Clone)]
pub struct Created {
    pub record: CredentialRecord,
    pub secret: String,
}

impl Created {
    /// The authentication properties as the WSO2 console and Action Management API name them
    /// (CONTRACT.md §8).
    pub fn wso2_properties(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        match &self.record.kind {
            CredentialKind::Basic { username } => {
                m.insert("username".into(), username.clone().into());
                m.insert("password".into(), self.secret.clone().into());
            }
            CredentialKind::Bearer => {
                m.insert("accessToken".into(), self.secret.clone().into());
            }
            CredentialKind::ApiKey { header } => {
                m.insert("header".into(), header.clone().into());
                m.insert("value".into(), self.secret.clone().into());
            }
        }
        m
    }
}
