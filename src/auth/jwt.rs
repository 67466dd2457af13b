//! JWT access tokens from another identity provider (WSO2 IS itself, say): the signature is
//! checked against the provider's JSON Web Key Set, then `iss`, `aud`, `exp`/`nbf` (with a
//! small clock skew) and the scope.
//!
//! Only asymmetric algorithms are accepted, and only the one the key is for: `none` does not
//! parse, and HS256 "signed" with the public key is refused before any key is looked at.
//!
//! The key set is fetched over HTTPS (2 s timeout, 64 KiB), kept for [`KEYS_TTL`], and fetched
//! again for an unknown `kid` at most once per [`REFRESH_MIN`]: tokens with random kids cost a
//! stranger one fetch per interval, not one per call, and a call waits for at most one fetch,
//! well inside the identity server's 5 s. A token already verified is remembered by its digest
//! until it expires, so the identity server's repeated calls with one token cost a hash.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use parking_lot::Mutex;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::TokenReason;
use crate::model::credentials::JwtIssuer;
use crate::singleflight::SingleFlight;

/// How long a fetched key set is used before it is fetched again.
pub const KEYS_TTL: Duration = Duration::from_secs(600);
/// The least time between two fetches of one key set (for an unknown `kid` or after a failure).
pub const REFRESH_MIN: Duration = Duration::from_secs(5);
/// A key-set fetch's whole budget.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest key set read.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Keys kept from one set.
const MAX_KEYS: usize = 64;
/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;
/// The longest token looked at.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Verified tokens remembered at once (the identity server reuses one until it expires).
const MAX_VERIFIED: usize = 1024;

/// The algorithms accepted: asymmetric only.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// One usable key of a set.
struct Key {
    kid: Option<String>,
    /// The algorithm the set names for it, if it names one.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

/// A fetched key set.
struct KeySet {
    fetched: Instant,
    keys: Vec<Key>,
}

/// Why a fetch gave no keys: too soon after the last one, or it failed.
#[derive(Debug, Clone)]
enum FetchFail {
    TooSoon,
    Failed,
}

/// Checks provider JWTs; holds the key sets and the verified tokens (one node's, in memory).
#[derive(Default)]
pub struct JwtVerifier {
    sets: Mutex<HashMap<String, Arc<KeySet>>>,
    /// When each credential's key set was last fetched or tried.
    attempts: Mutex<HashMap<String, Instant>>,
    fetching: SingleFlight<String, Result<Arc<KeySet>, FetchFail>>,
    connectors: Mutex<HashMap<String, tokio_rustls::TlsConnector>>,
    /// SHA-256 of a verified token -> (credential id, `exp`).
    verified: Mutex<HashMap<[u8; 32], (String, u64)>>,
}

#[derive(Deserialize)]
struct Unverified {
    #[serde(default)]
    iss: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeClaim {
    Text(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    exp: u64,
    #[serde(default)]
    scope: Option<ScopeClaim>,
    #[serde(default)]
    scp: Option<ScopeClaim>,
}

impl ScopeClaim {
    fn has(&self, want: &str) -> bool {
        match self {
            ScopeClaim::Text(s) => s.split(' ').any(|s| s == want),
            ScopeClaim::List(l) => l.iter().any(|s| s == want),
        }
    }
}

/// Whether a bearer token has a JWT's shape (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// The issuer a token claims, unverified: only to pick the credential to check it against.
fn claimed_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<Unverified>(&bytes).ok()?.iss
}

/// The header's algorithm, if it is one of ours.
fn allowed_header(token: &str) -> Result<Header, TokenReason> {
    // `none`, HS* and anything unknown: refused by name. `decode_header` cannot parse `none`.
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenReason::Algorithm)?;
    if !ALLOWED.contains(&header.alg) {
        return Err(TokenReason::Algorithm);
    }
    Ok(header)
}

impl KeySet {
    /// The key for a header: by `kid`, or the only one that fits when there is no `kid`.
    fn select(&self, header: &Header) -> Result<&Key, TokenReason> {
        let fits = |k: &&Key| {
            k.alg.is_none_or(|a| a == header.alg)
                && k.key.family().algorithms().contains(&header.alg)
        };
        match &header.kid {
            Some(kid) => {
                let key = self
                    .keys
                    .iter()
                    .find(|k| k.kid.as_deref() == Some(kid.as_str()))
                    .ok_or(TokenReason::UnknownKey)?;
                if fits(&key) {
                    Ok(key)
                } else {
                    Err(TokenReason::Algorithm)
                }
            }
            None => {
                let mut it = self.keys.iter().filter(fits);
                match (it.next(), it.next()) {
                    (Some(k), None) => Ok(k),
                    _ => Err(TokenReason::UnknownKey),
                }
            }
        }
    }
}

/// Reads a key set: the keys for signing that parse, symmetric ones left out.
fn parse_jwks(body: &[u8]) -> Result<Vec<Key>, String> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set =
        serde_json::from_slice(body).map_err(|_| "not a JSON Web Key Set".to_string())?;
    let mut keys = Vec::new();
    for v in set.keys.into_iter() {
        let Ok(jwk) = serde_json::from_value::<Jwk>(v) else {
            continue;
        };
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
            || matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature)
        {
            continue;
        }
        let alg = match jwk.common.key_algorithm {
            Some(a) => match Algorithm::from_str(&a.to_string()) {
                Ok(a) if ALLOWED.contains(&a) => Some(a),
                _ => continue,
            },
            None => None,
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
        if keys.len() == MAX_KEYS {
            break;
        }
    }
    if keys.is_empty() {
        return Err("the key set holds no usable signing key".into());
    }
    Ok(keys)
}

/// The claims checks after the signature: what `jsonwebtoken` checks, set up for `cfg`.
fn validation(cfg: &JwtIssuer, alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.leeway = LEEWAY_SECS;
    v.validate_nbf = true;
    v.set_issuer(&[cfg.issuer.as_str()]);
    v.set_audience(&[cfg.audience.as_str()]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    v
}

/// Maps the library's refusal to ours.
fn reason(e: &jsonwebtoken::errors::Error) -> TokenReason {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => TokenReason::Expired,
        K::ImmatureSignature => TokenReason::NotYetValid,
        K::InvalidIssuer => TokenReason::Issuer,
        K::InvalidAudience => TokenReason::Audience,
        K::InvalidSignature => TokenReason::Signature,
        K::InvalidAlgorithm | K::MissingAlgorithm => TokenReason::Algorithm,
        K::MissingRequiredClaim(_) => TokenReason::MissingClaim,
        _ => TokenReason::Malformed,
    }
}

/// Checks a token's signature with `key` and its claims against `cfg`; returns its `exp`.
fn verify_with(
    token: &str,
    header: &Header,
    key: &Key,
    cfg: &JwtIssuer,
) -> Result<u64, TokenReason> {
    let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation(cfg, header.alg))
        .map_err(|e| reason(&e))?;
    if let Some(want) = &cfg.scope {
        let has = [&data.claims.scope, &data.claims.scp]
            .into_iter()
            .flatten()
            .any(|s| s.has(want));
        if !has {
            return Err(TokenReason::Scope);
        }
    }
    Ok(data.claims.exp)
}

impl JwtVerifier {
    /// Checks `token` against the JWT credentials `creds` (id, issuer) at unix second `now`;
    /// gives the credential id it passed for.
    pub async fn verify(
        &self,
        token: &str,
        creds: &[(&str, &JwtIssuer)],
        now: u64,
    ) -> Result<String, TokenReason> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenReason::Malformed);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((id, exp)) = self.verified.lock().get(&digest).cloned() {
            if now <= exp + LEEWAY_SECS && creds.iter().any(|(c, _)| *c == id) {
                return Ok(id);
            }
        }
        let header = allowed_header(token)?;
        let iss = claimed_issuer(token).ok_or(TokenReason::Malformed)?;
        let Some((id, cfg)) = creds.iter().find(|(_, c)| c.issuer == iss) else {
            return Err(TokenReason::Issuer);
        };
        let set = self.keys(id, cfg).await?;
        let exp = match set.select(&header) {
            Ok(key) => verify_with(token, &header, key, cfg)?,
            Err(TokenReason::UnknownKey) => {
                // The provider may have rotated its keys: fetch again, if not too soon.
                let set = match self.fetch(id, cfg).await {
                    Ok(s) => s,
                    Err(_) => return Err(TokenReason::UnknownKey),
                };
                verify_with(token, &header, set.select(&header)?, cfg)?
            }
            Err(e) => return Err(e),
        };
        let mut verified = self.verified.lock();
        if verified.len() >= MAX_VERIFIED {
            verified.clear();
        }
        verified.insert(digest, (id.to_string(), exp));
        Ok(id.to_string())
    }

    /// The credential's key set: the cached one while fresh; else fetched, falling back to the
    /// stale one when the fetch fails.
    async fn keys(&self, id: &str, cfg: &JwtIssuer) -> Result<Arc<KeySet>, TokenReason> {
        let cached = self.sets.lock().get(id).cloned();
        match cached {
            Some(set) if set.fetched.elapsed() < KEYS_TTL => Ok(set),
            Some(set) => Ok(self.fetch(id, cfg).await.unwrap_or(set)),
            None => self
                .fetch(id, cfg)
                .await
                .map_err(|_| TokenReason::KeysUnavailable),
        }
    }

    /// Fetches the key set unless it was fetched or tried within [`REFRESH_MIN`]; concurrent
    /// callers share one fetch.
    async fn fetch(&self, id: &str, cfg: &JwtIssuer) -> Result<Arc<KeySet>, FetchFail> {
        self.fetching
            .run(id.to_string(), || async {
                {
                    let mut attempts = self.attempts.lock();
                    if attempts.get(id).is_some_and(|t| t.elapsed() < REFRESH_MIN) {
                        return Err(FetchFail::TooSoon);
                    }
                    attempts.insert(id.to_string(), Instant::now());
                }
                // One bound for the whole fetch, the trust store's loading included.
                let got = tokio::time::timeout(FETCH_TIMEOUT, self.download(id, cfg))
                    .await
                    .unwrap_or_else(|_| Err(format!("no key set within {FETCH_TIMEOUT:?}")));
                match got {
                    Ok(keys) => {
                        let set = Arc::new(KeySet {
                            fetched: Instant::now(),
                            keys,
                        });
                        self.sets.lock().insert(id.to_string(), set.clone());
                        // A key dropped from the set no longer vouches for its tokens.
                        self.verified.lock().retain(|_, (cred, _)| cred != id);
                        Ok(set)
                    }
                    Err(e) => {
                        tracing::warn!(credential = id, url = %cfg.jwks_url, error = %e, "could not fetch the JSON Web Key Set");
                        Err(FetchFail::Failed)
                    }
                }
            })
            .await
    }

    async fn download(&self, id: &str, cfg: &JwtIssuer) -> Result<Vec<Key>, String> {
        let cached = self.connectors.lock().get(id).cloned();
        let tls = match cached {
            Some(c) => c,
            None => {
                // Loading the system's roots reads files: off the runtime threads.
                let ca = cfg.tls_ca_pem.clone();
                let c = tokio::task::spawn_blocking(move || {
                    crate::outbound::tls_connector(ca.as_deref())
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
                self.connectors.lock().insert(id.to_string(), c.clone());
                c
            }
        };
        let got = crate::outbound::get(
            &tls,
            &crate::outbound::Get {
                url: &cfg.jwks_url,
                headers: &[("accept", "application/json")],
                timeout: FETCH_TIMEOUT,
                max_body: MAX_JWKS_BYTES,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        if got.status != 200 {
            return Err(crate::outbound::FetchError::Status(got.status).to_string());
        }
        parse_jwks(&got.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header as JwtHeader};

    fn es256() -> (EncodingKey, Jwk) {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        let enc = EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut jwk = Jwk::from_encoding_key(&enc, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some("k1".into());
        (enc, jwk)
    }

    fn cfg(scope: Option<&str>) -> JwtIssuer {
        JwtIssuer {
            issuer: "https://is.example/oauth2/token".into(),
            audience: "client-1".into(),
            scope: scope.map(str::to_owned),
            jwks_url: "https://is.example/oauth2/jwks".into(),
            tls_ca_pem: None,
        }
    }

    fn now() -> u64 {
        crate::store::now_unix_ms() / 1000
    }

    fn sign(enc: &EncodingKey, kid: Option<&str>, claims: serde_json::Value) -> String {
        let mut h = JwtHeader::new(Algorithm::ES256);
        h.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&h, &claims, enc).unwrap()
    }

    fn set_of(jwk: &Jwk) -> KeySet {
        let body = serde_json::json!({ "keys": [jwk] }).to_string();
        KeySet {
            fetched: Instant::now(),
            keys: parse_jwks(body.as_bytes()).unwrap(),
        }
    }

    fn check(token: &str, set: &KeySet, cfg: &JwtIssuer) -> Result<u64, TokenReason> {
        let header = allowed_header(token)?;
        verify_with(token, &header, set.select(&header)?, cfg)
    }

    #[test]
    fn claims_are_checked() {
        let (enc, jwk) = es256();
        let set = set_of(&jwk);
        let c = cfg(Some("profilegate"));
        // One clock reading: a second boundary between two readings made this flaky.
        let exp = now() + 60;
        let good = serde_json::json!({
            "iss": c.issuer, "aud": ["other", "client-1"], "exp": exp,
            "scope": "openid profilegate",
        });
        let t = sign(&enc, Some("k1"), good.clone());
        assert_eq!(check(&t, &set, &c), Ok(exp));
        assert_eq!(claimed_issuer(&t).as_deref(), Some(c.issuer.as_str()));

        let with = |k: &str, v: serde_json::Value| {
            let mut claims = good.clone();
            claims[k] = v;
            sign(&enc, Some("k1"), claims)
        };
        let cases = [
            (with("iss", "https://evil".into()), TokenReason::Issuer),
            (with("aud", "someone-else".into()), TokenReason::Audience),
            (with("scope", "openid".into()), TokenReason::Scope),
            (
                with("exp", (now() - LEEWAY_SECS - 5).into()),
                TokenReason::Expired,
            ),
            (
                with("nbf", (now() + LEEWAY_SECS + 60).into()),
                TokenReason::NotYetValid,
            ),
        ];
        for (token, want) in cases {
            assert_eq!(check(&token, &set, &c), Err(want));
        }
        // Within the skew, an expired token still passes.
        assert!(check(&with("exp", (now() - 5).into()), &set, &c).is_ok());
        // A list of scopes (`scp`) counts too; no scope required, none needed.
        let mut claims = good.clone();
        claims.as_object_mut().unwrap().remove("scope");
        claims["scp"] = serde_json::json!(["profilegate"]);
        assert!(check(&sign(&enc, Some("k1"), claims.clone()), &set, &c).is_ok());
        claims.as_object_mut().unwrap().remove("scp");
        let t = sign(&enc, Some("k1"), claims);
        assert_eq!(check(&t, &set, &c), Err(TokenReason::Scope));
        assert!(check(&t, &set, &cfg(None)).is_ok());
        // Unknown kid; no kid with a single key is that key.
        let t = sign(&enc, Some("k2"), good.clone());
        assert_eq!(check(&t, &set, &c), Err(TokenReason::UnknownKey));
        assert!(check(&sign(&enc, None, good.clone()), &set, &c).is_ok());
        // Another key under the same kid: a bad signature.
        let (other, _) = es256();
        let t = sign(&other, Some("k1"), good);
        assert_eq!(check(&t, &set, &c), Err(TokenReason::Signature));
    }

    #[test]
    fn none_and_symmetric_algorithms_are_refused() {
        use base64::Engine;
        let (_, jwk) = es256();
        let set = set_of(&jwk);
        let c = cfg(None);
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let claims =
            b64(serde_json::json!({"iss": c.issuer, "aud": c.audience, "exp": now() + 60}));
        let none = format!(
            "{}.{claims}.",
            b64(serde_json::json!({"alg": "none", "kid": "k1"}))
        );
        assert_eq!(check(&none, &set, &c), Err(TokenReason::Algorithm));
        // HS256 keyed with the public key's JSON: refused by name, never tried.
        let hs = jsonwebtoken::encode(
            &JwtHeader::new(Algorithm::HS256),
            &serde_json::json!({"iss": c.issuer, "aud": c.audience, "exp": now() + 60}),
            &EncodingKey::from_secret(serde_json::to_string(&jwk).unwrap().as_bytes()),
        )
        .unwrap();
        assert_eq!(check(&hs, &set, &c), Err(TokenReason::Algorithm));
        // A key set of only a symmetric key is no key set.
        let oct = serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]});
        assert!(parse_jwks(oct.to_string().as_bytes()).is_err());
        assert!(parse_jwks(b"[]").is_err());
    }
}
