//! Stub until h-pwstore merges: the store's password-sharing keys (none yet).

use std::sync::Arc;

use crate::keys::KeyRing;

impl super::Store {
    /// The active password-sharing keys, newest first. Stub: always empty.
    pub fn password_keyring(&self) -> Arc<KeyRing> {
        Arc::new(KeyRing::default())
    }
}
