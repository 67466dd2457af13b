//! The pre-update-password action's administration: its password-sharing keys (`keys.rs`), its
//! policy (`policy.rs`) and the breached-password filter (`breached.rs`). Each operation validates, makes its change durable and audited,
//! and answers one [`ServiceError`](super::ServiceError); the CLI and the admin API render.

mod breached;
mod keys;
mod policy;

pub use breached::{
    breached_path, breached_status, import_breached, load_breached, record_breached,
    reload_breached, BreachedInfo,
};

/// How many keys may be active at once (the one WSO2 has and, during a rotation, the next).
pub use crate::keys::MAX_ACTIVE_KEYS;
pub use keys::{
    export_key, generate_key, key_size, list_keys, newest_active_key, retire_key, KeyExport,
};
pub use policy::{
    bundled_blocklist, check, check_with, clear_policy, rules_error, set_event_mail, set_online,
    set_policy, show_policy, PolicyView, TryContext, MAX_TRY_BYTES,
};

#[cfg(test)]
mod tests;
