//! Access tokens issued at `/oauth2/token`: `pgat_<16 hex id>_<43 base64url characters>`. The
//! id names the stored record, so a check is one lookup and one SHA-256 compared in constant
//! time; the 256 random bits after it are what makes the token unguessable. Pure, apart from
//! drawing random bytes.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::secret::{random_bytes, SecretError};
use super::TokenReason;
use crate::store::oauth_tokens::IssuedToken;

const PREFIX: &str = "pgat_";
/// Hex characters of a token id.
const ID_LEN: usize = 16;

/// A token just made: its id, the token (given to the client once) and its digest (stored).
pub struct NewToken {
    pub id: String,
    pub token: String,
    pub digest: String,
}

/// A new token: 8 random bytes of id, 32 of secret.
pub fn new_token() -> Result<NewToken, SecretError> {
    let mut id = [0u8; ID_LEN / 2];
    random_bytes(&mut id)?;
    let mut secret = [0u8; 32];
    random_bytes(&mut secret)?;
    let id = hex::encode(id);
    let token = format!(
        "{PREFIX}{id}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let digest = hex::encode(digest(&token));
    Ok(NewToken { id, token, digest })
}

/// The id a token names, if it has our shape.
pub fn id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(PREFIX)?;
    let id = rest.get(..ID_LEN)?;
    let tail = rest.get(ID_LEN..)?.strip_prefix('_')?;
    (id.bytes().all(|b| b.is_ascii_hexdigit()) && !tail.is_empty()).then_some(id)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Checks a presented token against the record stored under its id, at unix second `now`.
pub fn check(token: &str, stored: &IssuedToken, now: u64) -> Result<(), TokenReason> {
    let mut want = [0u8; 32];
    if hex::decode_to_slice(&stored.digest, &mut want).is_err() {
        return Err(TokenReason::Unknown);
    }
    if !bool::from(digest(token).ct_eq(&want)) {
        return Err(TokenReason::Unknown);
    }
    if now > stored.expires {
        return Err(TokenReason::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_digest_and_expiry() {
        let t = new_token().unwrap();
        assert_eq!(id_of(&t.token), Some(t.id.as_str()));
        assert!(t.token.len() >= 5 + 16 + 1 + 43);
        let stored = IssuedToken {
            credential: "c".into(),
            digest: t.digest.clone(),
            expires: 100,
        };
        assert_eq!(check(&t.token, &stored, 100), Ok(()));
        assert_eq!(check(&t.token, &stored, 101), Err(TokenReason::Expired));
        // Same id, other secret: unknown, whatever the time.
        let forged = format!("{}x", &t.token[..t.token.len() - 1]);
        assert_eq!(id_of(&forged), Some(t.id.as_str()));
        assert_eq!(check(&forged, &stored, 1), Err(TokenReason::Unknown));
        for bad in [
            "pgat_",
            "pgat_0123456789abcdef",
            "pgat_0123456789abcdeg_x",
            "pg_x_y",
        ] {
            assert_eq!(id_of(bad), None, "{bad}");
        }
    }
}
