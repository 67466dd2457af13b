//! Endpoint secrets: generated here, shown once, stored as argon2id hashes.
//!
//! A secret reads `pg_<credential id>_<43 characters>`: the id tells which stored hash to
//! check, so a wrong secret costs one argon2 run, not one per credential, and a secret
//! without a known id costs none.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;

/// Errors making or checking secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the system random generator failed: {0}")]
    Random(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// Fills `buf` from the operating system's generator.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), SecretError> {
    getrandom::fill(buf).map_err(|e| SecretError::Random(e.to_string()))
}

/// A new credential id: 12 hex characters.
pub fn new_id() -> Result<String, SecretError> {
    let mut b = [0u8; 6];
    random_bytes(&mut b)?;
    Ok(hex::encode(b))
}

/// A new secret for credential `id`: 32 random bytes, base64url.
pub fn new_secret(id: &str) -> Result<String, SecretError> {
    let mut b = [0u8; 32];
    random_bytes(&mut b)?;
    Ok(format!(
        "pg_{id}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    ))
}

/// The credential id a secret names, if it has our shape.
pub fn id_of(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix("pg_")?;
    let (id, tail) = rest.split_once('_')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !tail.is_empty()).then_some(id)
}

/// argon2id hash (PHC string) with the crate's default cost.
pub fn hash(secret: &str) -> Result<String, SecretError> {
    let mut salt = [0u8; 16];
    random_bytes(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| SecretError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SecretError::Hash(e.to_string()))
}

/// Checks a secret against a stored hash (argon2 compares in constant time).
pub fn verify(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = new_id().unwrap();
        let s = new_secret(&id).unwrap();
        assert_eq!(id_of(&s), Some(id.as_str()));
        let h = hash(&s).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(&s, &h));
        assert!(!verify(&format!("{s}x"), &h));
        assert_eq!(id_of("pg_zz_x"), None);
        assert_eq!(id_of("secret"), None);
    }
}
