//! Replay on open: applying the journal's frames that sled's log does not have.

use super::journal::Frame;
use crate::store::audit::{damaged, decode_batch, unpack_batch_value, ChainHead, Link};
use crate::store::{Result, Store, StoreError};

impl Store {
    /// Applies the journal's frames that continue the chain sled recovered (`head`), then
    /// flushes and empties the journal; returns the new head. Frames the chain already has
    /// are skipped, but their delivery notes applied (sled may have the batch and not the
    /// note that followed it). A frame that would leave a gap, or whose records do not link
    /// to the chain, means records are missing: refused, like a damaged database.
    pub(in crate::store) fn replay_journal(
        &self,
        head: ChainHead,
        frames: Vec<Frame>,
    ) -> Result<ChainHead> {
        let mut head = head;
        let (mut batches, mut records) = (0u64, 0u64);
        let had_frames = !frames.is_empty();
        for frame in frames {
            if frame.first <= head.seq {
                self.remove_delivered(&frame.delivered)?;
                continue;
            }
            let broken = |detail: String| StoreError::Corrupt {
                what: "the commit journal".into(),
                detail,
            };
            if frame.first != head.seq + 1 {
                return Err(broken(format!(
                    "its batch starting at record {} does not follow the chain, which ends at record {}",
                    frame.first, head.seq
                )));
            }
            let raw = unpack_batch_value(&frame.value).ok_or_else(|| damaged(frame.first))?;
            let batch = decode_batch(&raw).ok_or_else(|| damaged(frame.first))?;
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                return Err(damaged(frame.first));
            };
            let link: Link = serde_json::from_slice(first.body)
                .map_err(|e| broken(format!("record {}: {e}", frame.first)))?;
            if link.seq != frame.first || link.prev_hash != hex::encode(head.hash) {
                return Err(broken(format!(
                    "record {} does not link to the chain's last record",
                    frame.first
                )));
            }
            self.insert_frame(&frame)?;
            head = ChainHead {
                seq: frame.first + batch.len() as u64 - 1,
                hash: last.hash,
            };
            batches += 1;
            records += batch.len() as u64;
        }
        if had_frames {
            let mut j = self.journal.lock();
            self.checkpoint_locked(head.seq, &mut j)?;
        } else {
            self.journal.lock().continues = head.seq;
        }
        if batches > 0 {
            tracing::info!(
                batches,
                records,
                "recovered acknowledged records from the commit journal"
            );
        }
        self.note_replay(batches, records)?;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::admin_entry;
    use crate::store::durable::journal::Journal;

    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }

    /// What a crash leaves: sled's log up to its last flush, and journal frames after it.
    /// Built exactly: a copy of a database made right after a checkpoint, then the journal
    /// the same database wrote for the next commits.
    #[test]
    fn journal_frames_sled_never_got_are_applied_on_open() {
        let tmp = tempfile::tempdir().unwrap();
        let (live, crashed, other) = (
            tmp.path().join("live"),
            tmp.path().join("crashed"),
            tmp.path().join("other"),
        );
        let entry = admin_entry;
        let store = Store::open(&live).unwrap();
        // Two queued e-mails the crashed copy holds; their delivery notes are journaled below.
        for id in [50u64, 51] {
            store
                .outbox
                .insert(id.to_be_bytes(), b"{}".as_slice())
                .unwrap();
        }
        assert_eq!(
            store
                .commit_batch(&[entry(1)], &[], &[], &[], true)
                .unwrap(),
            1
        );
        drop(store);
        copy_dir(&live, &crashed);
        copy_dir(&live, &other.join("gap"));
        let store = Store::open(&live).unwrap();
        let mail = br#"{"queued":true}"#.to_vec();
        let keys = [(0, [2u8; 16]), (1, [3u8; 16])];
        assert_eq!(
            store
                .commit_batch(
                    &[entry(2), entry(3)],
                    &keys,
                    &[(1, mail.clone())],
                    &[],
                    false
                )
                .unwrap(),
            2
        );
        // A delivery note alone, then one with the next batch.
        store.commit_batch(&[], &[], &[], &[50], false).unwrap();
        assert_eq!(
            store
                .commit_batch(&[entry(4)], &[], &[], &[51], false)
                .unwrap(),
            4
        );
        let journal = std::fs::read(live.join("journal")).unwrap();
        assert!(!journal.is_empty(), "the commits went to the journal");
        drop(store);

        std::fs::write(crashed.join("journal"), &journal).unwrap();
        let store = Store::open(&crashed).unwrap();
        assert_eq!(store.chain_head().seq, 4);
        let note = store.journal_replay().expect("the replay is noted");
        assert_eq!((note.batches, note.records, note.last_start), (2, 3, true));
        let report = store.verify_audit().unwrap();
        assert_eq!((report.records, report.first_bad), (4, None));
        assert_eq!(
            store.recent_request_keys(0).unwrap(),
            Some(vec![([2; 16], 2), ([3; 16], 3)])
        );
        assert_eq!(
            store.outbox.get(3u64.to_be_bytes()).unwrap().as_deref(),
            Some(mail.as_slice())
        );
        // The delivery notes sled never got: the e-mails are not sent again.
        for id in [50u64, 51] {
            assert_eq!(store.outbox.get(id.to_be_bytes()).unwrap(), None, "{id}");
        }
        assert!(
            store.journal.lock().journal.is_empty(),
            "a checkpoint after the replay empties the journal"
        );
        drop(store);
        // Frames the database already has (left in the file until the next epoch's first
        // frame is written over them) are skipped.
        std::fs::write(crashed.join("journal"), &journal).unwrap();
        let store = Store::open(&crashed).unwrap();
        assert_eq!(store.chain_head().seq, 4);
        assert_eq!(store.verify_audit().unwrap().records, 4);
        // The start after the replay found the note; a clean start clears `last_start`.
        assert!(store.journal_replay().unwrap().last_start);
        drop(store);
        let store = Store::open(&crashed).unwrap();
        assert!(!store.journal_replay().unwrap().last_start);
        drop(store);

        // A frame that leaves a gap, or that links to another chain, is refused.
        let (_, frames) = Journal::open(&live.join("journal")).unwrap();
        assert_eq!(frames.len(), 3);
        let gap = other.join("gap");
        let (mut j, _) = Journal::open(&gap.join("journal")).unwrap();
        j.append(&frames[2]).unwrap();
        drop(j);
        let err = Store::open(&gap).unwrap_err().to_string();
        assert!(err.contains("does not follow the chain"), "{err}");
        let foreign = other.join("foreign");
        let store = Store::open(&foreign).unwrap();
        store
            .commit_batch(&[entry(99)], &[], &[], &[], true)
            .unwrap();
        drop(store);
        std::fs::write(foreign.join("journal"), &journal).unwrap();
        let err = Store::open(&foreign).unwrap_err().to_string();
        assert!(err.contains("does not link"), "{err}");
    }

    /// sled's background flush may write an index entry before its batch's frame reaches the
    /// segment file on disk. A crash then leaves entries pointing past the file's end: open
    /// drops them (with their records' queued e-mails), and the journal brings back the
    /// acknowledged batches; without the journal (never acknowledged) they stay dropped.
    #[test]
    fn index_entries_whose_frames_never_reached_the_disk_come_back_from_the_journal() {
        use crate::store::audit::segments::{segment_name, SEGMENT_DIR};
        let tmp = tempfile::tempdir().unwrap();
        let (live, crashed, unacked) = (
            tmp.path().join("live"),
            tmp.path().join("crashed"),
            tmp.path().join("unacked"),
        );
        let store = Store::open(&live).unwrap();
        store
            .commit_batch(&[admin_entry(1)], &[], &[], &[], true)
            .unwrap();
        let segment = live.join(SEGMENT_DIR).join(segment_name(1));
        let at_checkpoint = std::fs::read(&segment).unwrap();
        store
            .commit_batch(&[admin_entry(2)], &[(0, [2u8; 16])], &[], &[], false)
            .unwrap();
        store
            .commit_batch(&[admin_entry(3)], &[], &[(0, b"{}".to_vec())], &[], false)
            .unwrap();
        // The index entries reach sled's log, as its background flush would write them.
        store.db.flush().unwrap();
        copy_dir(&live, &crashed);
        copy_dir(&live, &unacked);
        drop(store);
        for dir in [&crashed, &unacked] {
            std::fs::write(dir.join(SEGMENT_DIR).join(segment_name(1)), &at_checkpoint).unwrap();
        }
        std::fs::write(unacked.join("journal"), b"").unwrap();

        let store = Store::open(&crashed).unwrap();
        assert_eq!(store.chain_head().seq, 3);
        let report = store.verify_audit().unwrap();
        assert_eq!((report.records, report.first_bad), (3, None));
        assert!(store.outbox.get(3u64.to_be_bytes()).unwrap().is_some());
        assert_eq!(
            store.recent_request_keys(0).unwrap(),
            Some(vec![([2; 16], 2)])
        );
        drop(store);

        let store = Store::open(&unacked).unwrap();
        assert_eq!(store.chain_head().seq, 1);
        let report = store.verify_audit().unwrap();
        assert_eq!((report.records, report.first_bad), (1, None));
        assert!(store.outbox.get(3u64.to_be_bytes()).unwrap().is_none());
        // The chain goes on from record 1.
        assert_eq!(store.append_entries(&[admin_entry(4)]).unwrap(), 2);
        store.flush().unwrap();
        assert_eq!(store.verify_audit().unwrap().records, 2);
    }
}
