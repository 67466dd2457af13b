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
//!
//! OAuth client credentials add bearer access tokens: ours (issued at `/oauth2/token` after
//! the same secret check, see `token`) cost a lookup and a SHA-256, a provider's JWT a
//! signature check once (see `jwt`); neither runs argon2 per call.

mod addrs;
pub mod gate;
pub mod jwt;
pub mod oauth;
pub mod secret;
pub mod session;
pub mod token;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use warp::http::HeaderMap;

use crate::model::credentials::JwtIssuer;
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
    #[error("the access token was refused: {0}")]
    Token(TokenReason),
}

/// Why a bearer access token (issued here, or a provider's JWT) was refused. Said in the 401
/// and the log; never the token itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenReason {
    #[error("it has expired; fetch a new one")]
    Expired,
    #[error("it is not valid yet")]
    NotYetValid,
    #[error("it is not known (revoked, expired and removed, or never issued here)")]
    Unknown,
    #[error("its issuer is not the configured one")]
    Issuer,
    #[error("its audience does not hold the configured one")]
    Audience,
    #[error("it lacks the required scope")]
    Scope,
    #[error("its algorithm is not accepted (asymmetric only, the one its key is for)")]
    Algorithm,
    #[error("its key id is not in the issuer's key set")]
    UnknownKey,
    #[error("its signature does not verify")]
    Signature,
    #[error("it lacks exp, iss or aud")]
    MissingClaim,
    #[error("it is not a well-formed JWT")]
    Malformed,
    #[error("the issuer's signing keys could not be fetched")]
    KeysUnavailable,
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
    /// Provider JWTs: key sets and verified tokens.
    jwt: jwt::JwtVerifier,
    /// Tokens issued since start; every [`SWEEP_EVERY`]th issue removes the expired ones.
    issued: AtomicU64,
}

/// Expired issued tokens are removed every this many issues (and at the first).
const SWEEP_EVERY: u64 = 64;

/// A token issued at the token endpoint.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
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
            AuthError::Internal | AuthError::Token(TokenReason::KeysUnavailable) => "internal",
            AuthError::Token(_) => "invalid",
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
            jwt: jwt::JwtVerifier::default(),
            issued: AtomicU64::new(0),
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
        if let Some(token) = bearer(headers) {
            if let Some(caller) = self.check_token(token, creds).await {
                return caller;
            }
        }
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
        self.verify_secret(p.cred, &p.secret, peer).await?;
        Ok(Caller {
            credential_id: Some(p.cred.id.clone()),
        })
    }

    /// An access token: one issued here (`pgat_…`) when a client credential is active, or a
    /// JWT when a JWT credential is. `None`: not a token for any active credential; the
    /// static credentials are checked next.
    async fn check_token(
        &self,
        token: &str,
        creds: &[CredentialRecord],
    ) -> Option<Result<Caller, AuthError>> {
        let now = crate::store::now_unix_ms() / 1000;
        let caller = |id: String| Caller {
            credential_id: Some(id),
        };
        if let Some(id) = token::id_of(token) {
            let stored = match self.store.token(id) {
                Ok(Some(t)) => t,
                Ok(None) => return Some(Err(AuthError::Token(TokenReason::Unknown))),
                Err(e) => {
                    tracing::error!(error = %e, "reading an access token failed");
                    return Some(Err(AuthError::Internal));
                }
            };
            if let Err(r) = token::check(token, &stored, now) {
                return Some(Err(AuthError::Token(r)));
            }
            // A revoked client's tokens die with it, even before they are removed.
            let active = creds.iter().any(|c| {
                c.id == stored.credential
                    && matches!(c.kind, CredentialKind::ClientCredential { .. })
            });
            return Some(if active {
                Ok(caller(stored.credential))
            } else {
                Err(AuthError::Token(TokenReason::Unknown))
            });
        }
        if !jwt::looks_like_jwt(token) {
            return None;
        }
        let issuers: Vec<(&str, &JwtIssuer)> = creds
            .iter()
            .filter_map(|c| match &c.kind {
                CredentialKind::Jwt(cfg) => Some((c.id.as_str(), cfg)),
                _ => None,
            })
            .collect();
        if issuers.is_empty() {
            return None;
        }
        Some(
            self.jwt
                .verify(token, &issuers, now)
                .await
                .map(caller)
                .map_err(AuthError::Token),
        )
    }

    /// Checks a secret against a credential's argon2 hash, within the bounds of the module
    /// doc: a secret verified before costs an HMAC; otherwise the address's attempts are
    /// counted and argon2 runs at most two at a time.
    async fn verify_secret(
        &self,
        cred: &CredentialRecord,
        secret: &str,
        peer: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let p = Presented {
            cred,
            secret: secret.to_string(),
        };
        let tag = self.tag(&p.cred.id, &p.secret);
        if self
            .verified
            .lock()
            .get(&tag)
            .is_some_and(|id| *id == p.cred.id)
        {
            return Ok(());
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
        Ok(())
    }

    /// The token endpoint's check and issue: `client_id` must name an active client
    /// credential and `client_secret` verify against it (the same argon2 bounds and throttle
    /// as the action endpoint); the token is stored as its digest and lives `lifetime` s.
    pub async fn issue_token(
        &self,
        client_id: &str,
        client_secret: &str,
        peer: Option<IpAddr>,
        lifetime: u64,
    ) -> Result<Issued, AuthError> {
        let creds = self.store.credentials();
        // An unknown client costs nothing and counts for nothing (see the module doc).
        let Some(cred) = creds.iter().find(|c| {
            matches!(&c.kind, CredentialKind::ClientCredential { client_id: id }
                if bool::from(id.as_bytes().ct_eq(client_id.as_bytes())))
        }) else {
            return Err(AuthError::Invalid);
        };
        if secret::id_of(client_secret) != Some(cred.id.as_str()) {
            return Err(AuthError::Invalid);
        }
        self.verify_secret(cred, client_secret, peer).await?;
        self.note_use(&cred.id);
        let now = crate::store::now_unix_ms() / 1000;
        if self.issued.fetch_add(1, Relaxed) % SWEEP_EVERY == 0 {
            let store = self.store.clone();
            // Housekeeping: a failure leaves expired records for the next sweep.
            let _ = tokio::task::spawn_blocking(move || store.remove_tokens(now, None)).await;
        }
        let made = token::new_token().map_err(|_| AuthError::Internal)?;
        let stored = crate::store::oauth_tokens::IssuedToken {
            credential: cred.id.clone(),
            digest: made.digest,
            expires: now + lifetime,
        };
        self.store.add_token(&made.id, &stored).map_err(|e| {
            tracing::error!(error = %e, "storing an access token failed");
            AuthError::Internal
        })?;
        Ok(Issued {
            access_token: made.token,
            expires_in: lifetime,
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

/// The `Authorization: Bearer` parameter, if that is the scheme.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let authz = headers
        .get(warp::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, param) = authz.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(param.trim())
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
    Basic {
        username: String,
    },
    Bearer,
    ApiKey {
        header: String,
    },
    /// A client id and secret for profilegate's own token endpoint.
    ClientCredential,
    /// Another identity provider's JWTs.
    Jwt(JwtIssuer),
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
            CredentialKind::ClientCredential { client_id } => {
                m.insert("clientId".into(), client_id.clone().into());
                m.insert("clientSecret".into(), self.secret.clone().into());
                m.insert("scopes".into(), "".into());
            }
            CredentialKind::Jwt(cfg) => {
                m.extend(jwt_properties(cfg));
            }
        }
        m
    }
}

/// What the console takes for a JWT credential: the provider's values, which profilegate
/// never sees. WSO2 IS's issuer is its token endpoint, so that one is filled in when it looks so.
pub fn jwt_properties(cfg: &JwtIssuer) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert(
        "clientId".into(),
        "<the client id of the application registered in your identity provider>".into(),
    );
    m.insert(
        "clientSecret".into(),
        "<that application's client secret>".into(),
    );
    let endpoint = if cfg.issuer.ends_with("/oauth2/token") {
        cfg.issuer.clone()
    } else {
        "<your identity provider's token endpoint>".into()
    };
    m.insert("tokenEndpoint".into(), endpoint.into());
    m.insert(
        "scopes".into(),
        cfg.scope.clone().unwrap_or_default().into(),
    );
    m
}
