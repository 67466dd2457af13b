//! The password-sharing keys: generated (RSA 2048 or 3072 and a self-signed certificate, off
//! the runtime threads), listed, exported (the certificate only) and retired. At most two are
//! active: the one the identity server has and, during a rotation, the next one.

use serde::Serialize;

use super::super::{blocking, Ctx, ServiceError};
use crate::keys::{KeySize, PasswordKey, MAX_ACTIVE_KEYS};
use crate::model::PasswordKeyInfo;
use crate::store::password_keys::no_room;
use crate::store::Store;

/// What the identity server is given for a key: its certificate, as PEM and as the base64 of
/// the PEM (`passwordSharing.certificate` in the Action Management REST API). Never the
/// private key.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyExport {
    pub id: String,
    pub bits: u32,
    pub fingerprint: String,
    pub certificate_pem: String,
    pub certificate_base64: String,
}

impl KeyExport {
    fn of(key: &PasswordKey) -> Self {
        KeyExport {
            id: key.id().to_owned(),
            bits: key.size().bits(),
            fingerprint: key.fingerprint_sha256().to_owned(),
            certificate_pem: key.certificate_pem().to_owned(),
            certificate_base64: key.certificate_base64(),
        }
    }
}

/// The key sizes offered, as the CLI and the admin API take them.
pub fn key_size(bits: u32) -> Result<KeySize, ServiceError> {
    KeySize::from_bits(bits).map_err(|e| ServiceError::invalid("bits", e.to_string()))
}

/// Refuses a third active key before spending a second of CPU on it.
fn check_room(store: &Store) -> Result<(), ServiceError> {
    let active: Vec<PasswordKeyInfo> = store
        .password_keys()?
        .into_iter()
        .filter(PasswordKeyInfo::is_active)
        .collect();
    if active.len() >= MAX_ACTIVE_KEYS {
        return Err(ServiceError::Conflict(no_room(&active)));
    }
    Ok(())
}

/// Generates a key pair and its certificate, stores it (audited: id, bits, fingerprint) and
/// returns what the identity server is given.
pub async fn generate_key(
    ctx: Ctx<'_>,
    bits: u32,
) -> Result<(PasswordKeyInfo, KeyExport), ServiceError> {
    let size = key_size(bits)?;
    check_room(ctx.store)?;
    // 3072-bit generation can take a second or more: never on a runtime thread.
    let key = blocking("generating a password-sharing key", move || {
        PasswordKey::generate(size)
    })
    .await?
    .map_err(|e| ServiceError::fault("generating a password-sharing key", e))?;
    let info = ctx.store.add_password_key(ctx.actor, &key)?;
    ctx.durable().await?;
    Ok((info, KeyExport::of(&key)))
}

/// Every key, active and retired, newest first.
pub fn list_keys(store: &Store) -> Result<Vec<PasswordKeyInfo>, ServiceError> {
    Ok(store.password_keys()?)
}

/// An active key's certificate (PEM, base64 of the PEM, fingerprint).
pub fn export_key(store: &Store, id: &str) -> Result<KeyExport, ServiceError> {
    let ring = store.password_keyring();
    ring.keys()
        .iter()
        .find(|k| k.id() == id)
        .map(KeyExport::of)
        .ok_or_else(|| {
            ServiceError::NotFound(format!("no active password-sharing key with id {id}"))
        })
}

/// The newest active key's certificate: the one to give the identity server (a rotation's new
/// key once generated). `None` without an active key.
pub fn newest_active_key(store: &Store) -> Option<KeyExport> {
    store.password_keyring().keys().first().map(KeyExport::of)
}

/// Retires an active key: encrypted credentials made with its certificate no longer open.
pub async fn retire_key(ctx: Ctx<'_>, id: &str) -> Result<PasswordKeyInfo, ServiceError> {
    let info = ctx.store.retire_password_key(ctx.actor, id)?;
    ctx.durable().await?;
    Ok(info)
}
