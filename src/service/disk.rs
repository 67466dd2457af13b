//! The data dir's volume: how much room is left, when that is too little to go on deciding
//! safely, and what the security team is told when it fills up and when it has room again.
//! A full volume never costs a record: a commit that cannot be written is answered ERROR (see
//! `action`); this is the warning around it (`/readyz`, the overview, one e-mail each way).

use serde::Serialize;

use super::ServiceError;
use crate::store::Store;

/// Below this much free space the service reports itself unready: the journal and sled need
/// room for their next checkpoint, and an operator needs the warning before calls fail.
pub const MIN_FREE_BYTES: u64 = 16 << 20;

/// The volume's room, as `/readyz`, the overview and the e-mail show it.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskState {
    pub free_bytes: u64,
    /// Less than [`MIN_FREE_BYTES`] left.
    pub low: bool,
}

impl DiskState {
    pub fn of(free_bytes: u64) -> DiskState {
        DiskState {
            free_bytes,
            low: free_bytes < MIN_FREE_BYTES,
        }
    }

    /// `/readyz`'s reason when the volume is (nearly) full.
    pub fn unready_reason(&self) -> Option<String> {
        self.low.then(|| {
            format!(
                "the data dir's disk is full: {} KiB free (profilegate needs {} MiB to keep recording decisions)",
                self.free_bytes / 1024,
                MIN_FREE_BYTES >> 20
            )
        })
    }

    /// The security team's message when the volume fills up (`low`) or has room again.
    pub fn message(&self, dir: &std::path::Path) -> (String, String) {
        if self.low {
            (
                "[profilegate] The data dir's disk is full".into(),
                format!(
                    "The volume holding profilegate's data dir ({}) has {} KiB free, less than \
                     the {} MiB it needs. Profile and password changes are answered ERROR \
                     (and so refused by the identity server) whenever their audit record cannot \
                     be written; /readyz answers 503. Free space on the volume: profilegate \
                     recovers by itself, without a restart. You will get one more message when \
                     it has room again.\n",
                    dir.display(),
                    self.free_bytes / 1024,
                    MIN_FREE_BYTES >> 20
                ),
            )
        } else {
            (
                "[profilegate] The data dir's disk has room again".into(),
                format!(
                    "The volume holding profilegate's data dir ({}) has {} MiB free again; \
                     decisions are recorded as usual.\n",
                    dir.display(),
                    self.free_bytes >> 20
                ),
            )
        }
    }
}

/// The data dir's volume now.
pub fn state(store: &Store) -> Result<DiskState, ServiceError> {
    Ok(DiskState::of(store.free_bytes()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_below_the_floor_with_a_reason_and_a_message() {
        let full = DiskState::of(4096);
        assert!(full.low);
        let why = full.unready_reason().unwrap();
        assert!(
            why.contains("disk is full") && why.contains("4 KiB free"),
            "{why}"
        );
        let (subject, body) = full.message(std::path::Path::new("/var/lib/profilegate"));
        assert!(subject.contains("full") && body.contains("/var/lib/profilegate"));
        let fine = DiskState::of(MIN_FREE_BYTES);
        assert!(!fine.low && fine.unready_reason().is_none());
        assert!(fine
            .message(std::path::Path::new("/d"))
            .0
            .contains("room again"));
    }

    #[test]
    fn a_real_volume_has_a_size() {
        let t = crate::service::testing::TestStore::new();
        assert!(state(&t.store).unwrap().free_bytes > 0);
    }
}
