//! Properties: every sanitized message passes the identity server's checks (CONTRACT.md
//! §4.4), and any change to a stored audit record breaks `audit verify`.

use proptest::prelude::*;

use profilegate::contract::sanitize::{sanitize, MessageKind};
use profilegate::model::{AdminEntry, AuditEntry};
use profilegate::store::audit::{pack_batch_value, unpack_batch_value};
use profilegate::store::{Store, StoreError};

use crate::support::{raw_batches, re, write_raw_batches};

/// Opens the store after a change beneath it: `None` when it refuses to open because the
/// chain's end is damaged (that counts as noticed); any other failure fails the test, so a
/// lock still held cannot pass for a detected change.
fn open_after_change(dir: &std::path::Path) -> Option<Store> {
    match Store::open(dir) {
        Ok(store) => Some(store),
        Err(e @ StoreError::Locked { .. }) => panic!("{e}"),
        Err(_) => None,
    }
}

/// Replaces one stored batch value (picked by `pick`) with `change(value)`, beneath the store.
fn rewrite_one_batch(
    dir: &std::path::Path,
    pick: prop::sample::Index,
    change: impl FnOnce(&[u8]) -> Vec<u8>,
) {
    let batches = raw_batches(dir);
    let (first, stored) = &batches[pick.index(batches.len())];
    write_raw_batches(dir, vec![(*first, Some(change(stored)))]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sanitized_messages_always_pass_the_callers_regex(input in any::<String>(), long in any::<bool>()) {
        // Long inputs too: the cut must land inside the limit.
        let input = if long { input.repeat(40) } else { input };
        for (kind, max) in [(MessageKind::Reason, 100), (MessageKind::Description, 300)] {
            let out = sanitize(&input, kind);
            prop_assert!(re(max).is_match(&out), "{:?} -> {:?}", input, out);
            prop_assert!(out.chars().count() <= max);
        }
    }
}

/// A chain of `n` records in batches of the given sizes, written through the store; returns
/// the data dir.
fn chain(batches: &[usize]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("d")).unwrap();
    let mut i = 0;
    for &n in batches {
        let entries: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                i += 1;
                serde_json::to_vec(&AuditEntry::Admin(AdminEntry {
                    actor: "prop".into(),
                    action: format!("change {i}"),
                    before: None,
                    after: Some(serde_json::json!({ "i": i })),
                }))
                .unwrap()
            })
            .collect();
        store.append_entries(&entries).unwrap();
    }
    store.flush().unwrap();
    tmp
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_changed_byte_of_a_record_breaks_verification(
        batches in proptest::collection::vec(1usize..5, 1..6),
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let tmp = chain(&batches);
        let dir = tmp.path().join("d");
        {
            let store = Store::open(&dir).unwrap();
            prop_assert!(store.verify_audit().unwrap().first_bad.is_none());
        }
        // Change one byte of one stored batch's records (framing, hash or content), beneath
        // the store, and store it back in the stored form, as someone with file access might.
        rewrite_one_batch(&dir, pick, |stored| {
            let mut raw = unpack_batch_value(stored).expect("a readable batch");
            let i = at.index(raw.len());
            raw[i] ^= mask;
            pack_batch_value(&raw)
        });
        // Opening may already refuse (a damaged last batch); if it opens, verify must fail.
        if let Some(store) = open_after_change(&dir) {
            let report = store.verify_audit();
            prop_assert!(
                report.map_or(true, |r| r.first_bad.is_some()),
                "a changed byte went unnoticed"
            );
        }
    }

    #[test]
    fn a_changed_byte_of_the_stored_form_is_noticed_unless_the_records_read_the_same(
        batches in proptest::collection::vec(1usize..5, 1..6),
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        // Batches are stored compressed: a flipped bit may leave the decompressed records
        // exactly as they were (say, a back-reference moved to an identical earlier run).
        // Then nothing recorded changed; in every other case verify must fail.
        let tmp = chain(&batches);
        let dir = tmp.path().join("d");
        let (mut before, mut after) = (None, None);
        rewrite_one_batch(&dir, pick, |stored| {
            let mut value = stored.to_vec();
            before = unpack_batch_value(&value);
            let i = at.index(value.len());
            value[i] ^= mask;
            after = unpack_batch_value(&value);
            value
        });
        prop_assert!(before.is_some());
        if let Some(store) = open_after_change(&dir) {
            let noticed = store.verify_audit().map_or(true, |r| r.first_bad.is_some());
            prop_assert!(noticed || after == before, "a changed record went unnoticed");
        }
    }

    #[test]
    fn removing_or_reordering_batches_breaks_verification(
        batches in proptest::collection::vec(1usize..4, 2..6),
        pick in any::<prop::sample::Index>(),
        swap in any::<bool>(),
    ) {
        let tmp = chain(&batches);
        let dir = tmp.path().join("d");
        {
            let batches = raw_batches(&dir);
            // Not the last batch: dropping the tail is a truncation, which the chain alone
            // cannot tell from a shorter history (the durable-head note catches that).
            let i = pick.index(batches.len() - 1);
            let ((a_key, a), (b_key, b)) = (batches[i].clone(), batches[i + 1].clone());
            if swap {
                write_raw_batches(&dir, vec![(a_key, Some(b)), (b_key, Some(a))]);
            } else {
                write_raw_batches(&dir, vec![(a_key, None)]);
            }
        }
        if let Some(store) = open_after_change(&dir) {
            let report = store.verify_audit();
            prop_assert!(report.map_or(true, |r| r.first_bad.is_some()));
        }
    }
}
