//! Admin sessions, kept in memory: a restart logs everyone out, which is the safe direction.
//! The cookie holds a random id; the map is keyed by its SHA-256, so a memory dump does not
//! hand out live cookies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::auth::secret::{random_bytes, SecretError};

/// The session cookie's name.
pub const COOKIE: &str = "pg_session";
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// And after this long whatever happens.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);

/// A logged-in admin.
#[derive(Debug, Clone)]
pub struct Session {
    /// The cookie value (kept to log out).
    pub id: String,
    /// Sent back in `X-CSRF-Token` on every mutating call.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

impl Session {
    /// A short, non-secret label for the audit chain.
    pub fn short_id(&self) -> String {
        let d = Sha256::digest(self.id.as_bytes());
        hex::encode(&d[..4])
    }
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// A random URL-safe token of 32 bytes (session ids, CSRF tokens, the setup link).
pub fn new_token() -> Result<String, SecretError> {
    let mut b = [0u8; 32];
    random_bytes(&mut b)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// All sessions.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// Starts a session; returns the cookie value and the session.
    pub fn create(&self) -> Result<(String, Session), SecretError> {
        let id = new_token()?;
        let now = Instant::now();
        let s = Session {
            id: id.clone(),
            csrf: new_token()?,
            created: now,
            last_seen: now,
        };
        let mut map = self.map.lock();
        map.retain(|_, s| s.last_seen.elapsed() < IDLE && s.created.elapsed() < ABSOLUTE);
        map.insert(key(&id), s.clone());
        Ok((id, s))
    }

    /// The live session for a cookie value, refreshed.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.map.lock();
        let k = key(id);
        let s = map.get_mut(&k)?;
        if s.last_seen.elapsed() >= IDLE || s.created.elapsed() >= ABSOLUTE {
            map.remove(&k);
            return None;
        }
        s.last_seen = Instant::now();
        Some(s.clone())
    }

    /// Ends every session but this one (after a password change).
    pub fn retain_only(&self, id: &str) {
        let k = key(id);
        self.map.lock().retain(|key, _| *key == k);
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.map.lock().remove(&key(id));
    }
}
