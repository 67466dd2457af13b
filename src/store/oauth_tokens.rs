//! The access tokens profilegate issued at its token endpoint: token id -> the credential it
//! was issued to, the SHA-256 digest of the whole token, and when it expires. Tokens are 256
//! random bits, so a fast digest is the right store (argon2 is for guessable secrets), and
//! checking one costs a lookup and a hash, never argon2. Not in backups: a restored data dir
//! answers 401 and the identity server fetches a new token.

use serde::{Deserialize, Serialize};

use super::{json_err, Result, Store};

/// One issued token as stored (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    /// The client-credential credential it was issued to.
    pub credential: String,
    /// Hex SHA-256 of the whole token.
    pub digest: String,
    /// Unix second after which it is refused.
    pub expires: u64,
}

impl Store {
    /// Stores an issued token under its id.
    pub fn add_token(&self, id: &str, token: &IssuedToken) -> Result<()> {
        let bytes = serde_json::to_vec(token).map_err(|e| json_err("token", e))?;
        self.oauth_tokens.insert(id.as_bytes(), bytes)?;
        Ok(())
    }

    /// The token stored under `id`, if any.
    pub fn token(&self, id: &str) -> Result<Option<IssuedToken>> {
        match self.oauth_tokens.get(id.as_bytes())? {
            Some(v) => Ok(Some(
                serde_json::from_slice(&v).map_err(|e| json_err("token", e))?,
            )),
            None => Ok(None),
        }
    }

    /// Removes the tokens that expired before `now` (unix seconds), and every token of
    /// `credential` when given (the credential was revoked). Returns how many went.
    pub fn remove_tokens(&self, now: u64, credential: Option<&str>) -> Result<usize> {
        let mut gone = 0;
        for item in self.oauth_tokens.iter() {
            let (k, v) = item?;
            // A record that does not parse is of no use to anyone: it goes too.
            let drop = serde_json::from_slice::<IssuedToken>(&v)
                .map(|t| t.expires < now || credential == Some(t.credential.as_str()))
                .unwrap_or(true);
            if drop {
                self.oauth_tokens.remove(k)?;
                gone += 1;
            }
        }
        Ok(gone)
    }
}
