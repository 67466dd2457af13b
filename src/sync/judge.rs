//! Whether a sync's changes are applied: the safety limit. Pure.

use serde::{Deserialize, Serialize};

/// The default share of a list one sync may remove without an administrator's approval.
pub const DEFAULT_MAX_REMOVAL_PERCENT: u8 = 20;

/// Why a sync is held for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "hold", rename_all = "snake_case")]
pub enum Hold {
    /// The source's list is empty and the stored one is not.
    #[error("the source lists no department; applying it would empty the list of {current}")]
    WouldEmpty { current: usize },
    /// More than the allowed share would go.
    #[error("{removed} of {current} departments would be removed, more than the {limit_percent}% allowed without approval")]
    TooManyRemoved {
        removed: usize,
        current: usize,
        limit_percent: u8,
    },
}

/// What to do with a sync's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "judgement", rename_all = "snake_case")]
pub enum Judgement {
    /// The source's list is the stored one.
    Unchanged,
    Apply,
    Held(Hold),
}

/// Judges a plan that adds `added` and removes `removed` of `current` stored names (an empty
/// stored list can always be filled). `limit_percent` 100 turns the share check off; the
/// empty-list check stays.
pub fn judge(current: usize, added: usize, removed: usize, limit_percent: u8) -> Judgement {
    if added == 0 && removed == 0 {
        return Judgement::Unchanged;
    }
    if current > 0 && removed == current && added == 0 {
        return Judgement::Held(Hold::WouldEmpty { current });
    }
    // removed / current > limit / 100, in integers.
    let limit = u128::from(limit_percent.min(100));
    if current > 0 && (removed as u128) * 100 > (current as u128) * limit {
        return Judgement::Held(Hold::TooManyRemoved {
            removed,
            current,
            limit_percent,
        });
    }
    Judgement::Apply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_changes_apply_and_large_removals_wait() {
        assert_eq!(judge(10, 0, 0, 20), Judgement::Unchanged);
        assert_eq!(judge(0, 5, 0, 20), Judgement::Apply);
        assert_eq!(judge(10, 3, 2, 20), Judgement::Apply, "exactly 20% goes");
        assert_eq!(
            judge(10, 0, 3, 20),
            Judgement::Held(Hold::TooManyRemoved {
                removed: 3,
                current: 10,
                limit_percent: 20
            })
        );
        assert_eq!(
            judge(10, 0, 10, 100),
            Judgement::Held(Hold::WouldEmpty { current: 10 })
        );
        // A rename of everything is not an emptying, but it is a large removal.
        assert!(matches!(
            judge(10, 10, 10, 20),
            Judgement::Held(Hold::TooManyRemoved { .. })
        ));
        assert_eq!(judge(10, 10, 10, 100), Judgement::Apply);
        assert_eq!(judge(0, 0, 0, 0), Judgement::Unchanged);
    }

    #[test]
    fn a_hold_says_why_in_words() {
        let h = Hold::TooManyRemoved {
            removed: 3,
            current: 10,
            limit_percent: 20,
        };
        assert_eq!(
            h.to_string(),
            "3 of 10 departments would be removed, more than the 20% allowed without approval"
        );
    }
}
