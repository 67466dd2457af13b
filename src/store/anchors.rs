//! The `anchors` tree: the data dir's checkpoint signing key and the signed checkpoints.
//!
//! Keys: `signing_key` -> the Ed25519 key pair as PKCS#8 (generated at the first open, never
//! printed; the data dir and backups are private to their owner); `cp` || seq (u64 BE) -> a
//! [`Checkpoint`] as JSON, the last [`MAX_CHECKPOINTS`] kept. In backups, so a restored data
//! dir signs with the same key and old checkpoints still verify under its public key.

use zeroize::Zeroizing;

use super::{json_err, now_rfc3339, Result, Store, StoreError};
use crate::anchor::{Checkpoint, SigningKey};

const KEY: &[u8] = b"signing_key";
const CP_PREFIX: &[u8] = b"cp";
/// Checkpoints kept; older ones are dropped (their holders keep their own copies).
pub const MAX_CHECKPOINTS: usize = 1000;

fn cp_key(seq: u64) -> Vec<u8> {
    let mut k = CP_PREFIX.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The sequence number of a checkpoint's key; `None` for the signing key.
pub(super) fn checkpoint_seq(k: &[u8]) -> Option<u64> {
    let seq: [u8; 8] = k.strip_prefix(CP_PREFIX)?.try_into().ok()?;
    Some(u64::from_be_bytes(seq))
}

fn key_err(e: crate::anchor::AnchorError) -> StoreError {
    StoreError::Corrupt {
        what: "audit signing key".into(),
        detail: e.to_string(),
    }
}

/// Loads the key pair from `tree`, generating and storing one the first time.
pub(super) fn load_or_generate(tree: &sled::Tree) -> Result<SigningKey> {
    if let Some(v) = tree.get(KEY)? {
        return SigningKey::from_pkcs8(&v).map_err(key_err);
    }
    let pkcs8: Zeroizing<Vec<u8>> = SigningKey::generate_pkcs8().map_err(key_err)?;
    // Two processes cannot hold the data dir, but keep the first key if one appeared.
    match tree.compare_and_swap(KEY, None as Option<&[u8]>, Some(pkcs8.as_slice()))? {
        Ok(()) => SigningKey::from_pkcs8(&pkcs8).map_err(key_err),
        Err(cas) => {
            let v = cas.current.ok_or_else(|| StoreError::Corrupt {
                what: "audit signing key".into(),
                detail: "it vanished while being created".into(),
            })?;
            SigningKey::from_pkcs8(&v).map_err(key_err)
        }
    }
}

impl Store {
    /// The public key checkpoints verify under (base64).
    pub fn anchor_public_key(&self) -> String {
        self.anchor_key.public_key()
    }

    /// Signs the chain's current head now. Not stored: see [`Store::save_checkpoint`].
    pub fn sign_head(&self) -> Checkpoint {
        let head = self.chain_head();
        self.anchor_key.sign(head.seq, &head.hash, &now_rfc3339())
    }

    /// Keeps `cp` as the latest checkpoint, dropping the oldest beyond [`MAX_CHECKPOINTS`].
    pub fn save_checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        let bytes = serde_json::to_vec(cp).map_err(|e| json_err("checkpoint", e))?;
        self.anchors.insert(cp_key(cp.seq), bytes)?;
        let n = self.anchors.scan_prefix(CP_PREFIX).count();
        for item in self
            .anchors
            .scan_prefix(CP_PREFIX)
            .take(n.saturating_sub(MAX_CHECKPOINTS))
        {
            let (k, _) = item?;
            self.anchors.remove(k)?;
        }
        Ok(())
    }

    /// The latest stored checkpoint (the highest sequence number), if any.
    pub fn latest_checkpoint(&self) -> Result<Option<Checkpoint>> {
        match self.anchors.scan_prefix(CP_PREFIX).next_back() {
            None => Ok(None),
            Some(item) => {
                let (_, v) = item?;
                serde_json::from_slice(&v)
                    .map(Some)
                    .map_err(|e| json_err("checkpoint", e))
            }
        }
    }

    /// The stored checkpoints, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        self.anchors
            .scan_prefix(CP_PREFIX)
            .map(|item| {
                let (_, v) = item?;
                serde_json::from_slice(&v).map_err(|e| json_err("checkpoint", e))
            })
            .collect()
    }

    /// The stored hash of record `seq`, as the chain holds it (`None` past the head).
    pub fn audit_record_hash(&self, seq: u64) -> Result<Option<[u8; 32]>> {
        if seq == 0 {
            return Ok(Some(super::audit::GENESIS_HASH));
        }
        match self.audit_raw_iter(seq).next() {
            None => Ok(None),
            Some(item) => {
                let (s, hash, _) = item?;
                if s != seq {
                    return Ok(None);
                }
                let mut out = [0u8; 32];
                hex::decode_to_slice(&hash, &mut out).map_err(|e| StoreError::Corrupt {
                    what: format!("audit record {seq}"),
                    detail: e.to_string(),
                })?;
                Ok(Some(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::admin_entry;

    #[test]
    fn the_key_is_made_once_and_checkpoints_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let store = Store::open(&path).unwrap();
        let pk = store.anchor_public_key();
        store.append_entries(&[admin_entry(1)]).unwrap();
        let cp = store.sign_head();
        assert_eq!(cp.seq, 1);
        cp.verify(&pk).unwrap();
        assert_eq!(
            store.audit_record_hash(1).unwrap(),
            cp.anchor().map(|a| a.hash)
        );
        assert_eq!(store.audit_record_hash(2).unwrap(), None);
        for seq in 0..(MAX_CHECKPOINTS as u64 + 5) {
            store
                .save_checkpoint(&Checkpoint { seq, ..cp.clone() })
                .unwrap();
        }
        let all = store.checkpoints().unwrap();
        assert_eq!(all.len(), MAX_CHECKPOINTS);
        assert_eq!(all[0].seq, 5);
        assert_eq!(
            store.latest_checkpoint().unwrap().map(|c| c.seq),
            Some(MAX_CHECKPOINTS as u64 + 4)
        );
        store.flush().unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.anchor_public_key(), pk);
    }
}
