//! The password-sharing keys tree: id -> the key's record (its private key as PKCS#8 DER, its
//! certificate, size, dates), each change written with its audit record, and the snapshot the
//! password action decrypts with ([`Store::password_keyring`]), rebuilt at open and on every
//! change. Private keys live only here (the data dir is private to its owner, 0700/0600) and
//! in backups (written 0600); a retired key's private half is erased from its record, its
//! certificate kept for the history (sled may keep the old value in its log files until it
//! reclaims that segment; they are as private as the rest). The audit chain sees ids, sizes
//! and fingerprints, never key bytes.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{json_err, now_rfc3339, Result, Store, StoreError};
use crate::keys::{KeyRing, PasswordKey, MAX_ACTIVE_KEYS};
use crate::model::{AdminEntry, AuditEntry, PasswordKeyInfo};

/// One stored key. `Debug` is not derived: the record holds the private key.
#[derive(Serialize, Deserialize)]
pub(super) struct KeyRecord {
    id: String,
    bits: u32,
    /// Base64 of the PKCS#8 DER; `None` once retired (erased).
    pkcs8_der: Option<String>,
    certificate_pem: String,
    fingerprint: String,
    created: String,
    #[serde(default)]
    retired: Option<String>,
}

impl KeyRecord {
    fn info(&self) -> PasswordKeyInfo {
        PasswordKeyInfo {
            id: self.id.clone(),
            bits: self.bits,
            fingerprint: self.fingerprint.clone(),
            created: self.created.clone(),
            retired: self.retired.clone(),
        }
    }

    fn bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        serde_json::to_vec(self)
            .map(Zeroizing::new)
            .map_err(|e| json_err("password key", e))
    }
}

impl Drop for KeyRecord {
    fn drop(&mut self) {
        if let Some(der) = self.pkcs8_der.take() {
            drop(Zeroizing::new(der));
        }
    }
}

/// What the audit chain says about a key: everything but the key bytes and the certificate.
fn public_view(k: &PasswordKeyInfo) -> serde_json::Value {
    serde_json::json!({
        "id": k.id, "bits": k.bits, "fingerprint": k.fingerprint,
        "created": k.created, "retired": k.retired,
    })
}

/// The message when there is no room for another active key: names the keys to retire.
pub fn no_room(active: &[PasswordKeyInfo]) -> String {
    let names: Vec<String> = active
        .iter()
        .map(|k| format!("{} (created {})", k.id, k.created))
        .collect();
    format!(
        "{MAX_ACTIVE_KEYS} password-sharing keys are active already: {}. Retire the one the identity server no longer uses first (`profilegate password keys retire ID`)",
        names.join(" and ")
    )
}

impl Store {
    /// Every record, newest first (ties, which a clock step could cause, by id).
    fn key_records(&self) -> Result<Vec<KeyRecord>> {
        let mut list = Vec::new();
        for item in self.password_keys.iter() {
            let (_, v) = item?;
            let rec: KeyRecord =
                serde_json::from_slice(&v).map_err(|e| json_err("password key", e))?;
            list.push(rec);
        }
        list.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(list)
    }

    /// Rebuilds the key ring from the tree: the active keys, newest first.
    pub(super) fn reload_password_keys(&self) -> Result<()> {
        let mut keys = Vec::new();
        for rec in self.key_records()? {
            let Some(b64) = rec.pkcs8_der.as_deref() else {
                continue;
            };
            let corrupt = |detail: String| StoreError::Corrupt {
                what: format!("password key {}", rec.id),
                detail,
            };
            let der = Zeroizing::new(STANDARD.decode(b64).map_err(|e| corrupt(e.to_string()))?);
            let key = PasswordKey::load(&der, &rec.certificate_pem)
                .map_err(|e| corrupt(e.to_string()))?;
            keys.push(key);
        }
        let ring = KeyRing::new(keys).map_err(|e| StoreError::Corrupt {
            what: "password keys".into(),
            detail: e.to_string(),
        })?;
        *self.password_ring.write() = Arc::new(ring);
        Ok(())
    }

    /// The active password-sharing keys, as the password action tries them on an encrypted
    /// credential. Newest first: the token carries no key id, so each key is tried in turn,
    /// and after a rotation the identity server holds the newest certificate, so trying it
    /// first spends one RSA operation on nearly every token (the older key, kept until the
    /// identity server has the new certificate, costs a second one only for its own tokens).
    /// A snapshot, cheap to call on every request.
    pub fn password_keyring(&self) -> Arc<KeyRing> {
        self.password_ring.read().clone()
    }

    /// Every key, active and retired, newest first (never key bytes).
    pub fn password_keys(&self) -> Result<Vec<PasswordKeyInfo>> {
        Ok(self.key_records()?.iter().map(KeyRecord::info).collect())
    }

    /// Stores a new key with its audit record, if fewer than [`MAX_ACTIVE_KEYS`] are active;
    /// otherwise `Conflict` naming the active keys.
    pub fn add_password_key(&self, actor: &str, key: &PasswordKey) -> Result<PasswordKeyInfo> {
        let _one_at_a_time = self.password_keys_lock.lock();
        let active: Vec<PasswordKeyInfo> = self
            .password_keys()?
            .into_iter()
            .filter(PasswordKeyInfo::is_active)
            .collect();
        if active.len() >= MAX_ACTIVE_KEYS {
            return Err(StoreError::Conflict(no_room(&active)));
        }
        if self.password_keys.contains_key(key.id().as_bytes())? {
            return Err(StoreError::Conflict(format!(
                "a password-sharing key with id {} is stored already",
                key.id()
            )));
        }
        let rec = KeyRecord {
            id: key.id().to_owned(),
            bits: key.size().bits(),
            pkcs8_der: Some(STANDARD.encode(key.pkcs8_der())),
            certificate_pem: key.certificate_pem().to_owned(),
            fingerprint: key.fingerprint_sha256().to_owned(),
            created: now_rfc3339(),
            retired: None,
        };
        let info = rec.info();
        let bytes = rec.bytes()?;
        let entry = AuditEntry::Admin(AdminEntry {
            actor: actor.into(),
            action: "password.keys.generate".into(),
            before: None,
            after: Some(public_view(&info)),
        });
        self.transact_with_audit(&self.password_keys, &entry, |t| {
            t.insert(rec.id.as_bytes(), bytes.as_slice())?;
            Ok(())
        })?;
        self.reload_password_keys()?;
        Ok(info)
    }

    /// Retires an active key: its private key is erased, so tokens made for it no longer
    /// open; the record (certificate, dates) stays for the history.
    pub fn retire_password_key(&self, actor: &str, id: &str) -> Result<PasswordKeyInfo> {
        let _one_at_a_time = self.password_keys_lock.lock();
        let mut rec = self
            .key_records()?
            .into_iter()
            .find(|k| k.id == id && k.retired.is_none())
            .ok_or_else(|| {
                StoreError::NotFound(format!("no active password-sharing key with id {id}"))
            })?;
        let before = rec.info();
        rec.retired = Some(now_rfc3339());
        if let Some(der) = rec.pkcs8_der.take() {
            drop(Zeroizing::new(der));
        }
        let after = rec.info();
        let bytes = rec.bytes()?;
        let entry = AuditEntry::Admin(AdminEntry {
            actor: actor.into(),
            action: "password.keys.retire".into(),
            before: Some(public_view(&before)),
            after: Some(public_view(&after)),
        });
        self.transact_with_audit(&self.password_keys, &entry, |t| {
            t.insert(id.as_bytes(), bytes.as_slice())?;
            Ok(())
        })?;
        self.reload_password_keys()?;
        Ok(after)
    }
}
