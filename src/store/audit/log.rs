//! Where the chain's batches are stored: in segment files with the `audit_index` tree as their
//! index (see `segments`), or, in a data dir of format 2 not migrated yet, as values of the
//! `audit` tree. Everything that reads or writes a batch goes through here, so the two layouts
//! differ in these few functions only; the migration (format 2 to 3) moves the batches.

use std::ops::{Bound, RangeBounds};
use std::sync::atomic::Ordering;

use super::codec::key_seq;
use super::segments::Loc;
use crate::store::{Result, Store, StoreError};

/// The settings tree's entry that says up to which record the segments were last synced.
const SYNCED_KEY: &[u8] = b"audit_synced";

fn bound(b: Bound<&u64>) -> Bound<[u8; 8]> {
    match b {
        Bound::Included(s) => Bound::Included(s.to_be_bytes()),
        Bound::Excluded(s) => Bound::Excluded(s.to_be_bytes()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn unreadable(first: u64, e: std::io::Error) -> StoreError {
    StoreError::Corrupt {
        what: format!("audit batch starting at record {first}"),
        detail: e.to_string(),
    }
}

impl Store {
    /// A format-2 data dir whose batches are still values of the `audit` tree.
    fn audit_legacy(&self) -> Option<&sled::Tree> {
        self.audit_legacy
            .as_ref()
            .filter(|_| self.legacy.load(Ordering::Acquire))
    }

    /// The tree the batches are keyed in (by first sequence number, big-endian).
    pub(in crate::store) fn audit_tree(&self) -> &sled::Tree {
        self.audit_legacy().unwrap_or(&self.audit_index)
    }

    /// What goes into [`Store::audit_tree`] for a packed batch: its place after appending it to
    /// the last segment (not synced: see `segments`), or the batch itself in a legacy dir.
    pub(in crate::store) fn stored_batch(&self, first: u64, packed: &[u8]) -> Result<Vec<u8>> {
        if self.audit_legacy().is_some() {
            return Ok(packed.to_vec());
        }
        let loc = self
            .segments
            .append(first, packed)
            .map_err(|e| self.dir_error(e))?;
        Ok(loc.encode().to_vec())
    }

    /// The packed batch an index entry points at, read from its segment.
    fn indexed_batch(&self, first: u64, stored: &[u8]) -> Result<Vec<u8>> {
        let loc = Loc::decode(stored).ok_or_else(|| StoreError::Corrupt {
            what: format!("audit index entry of record {first}"),
            detail: format!("{} bytes, expected 20", stored.len()),
        })?;
        self.segments
            .read(first, loc)
            .map_err(|e| unreadable(first, e))
    }

    /// The batches whose first sequence number is in `range`, in order, as (first sequence
    /// number, packed batch). Reads one batch at a time. In a format-2 dir whose move to
    /// segments a crash cut short, the index holds the moved batches and the `audit` tree the
    /// rest (never the same batch: see `drop_unsynced_tail`); both are read, in that order.
    pub(in crate::store) fn audit_batches(
        &self,
        range: impl RangeBounds<u64>,
    ) -> impl DoubleEndedIterator<Item = Result<(u64, Vec<u8>)>> + '_ {
        let range = (bound(range.start_bound()), bound(range.end_bound()));
        let moved = self.audit_index.range(range).map(move |item| {
            let (k, v) = item?;
            let first = key_seq(&k)?;
            Ok((first, self.indexed_batch(first, &v)?))
        });
        let legacy = self.audit_legacy().map(|t| {
            t.range(range).map(|item| {
                let (k, v) = item?;
                Ok((key_seq(&k)?, v.to_vec()))
            })
        });
        moved.chain(legacy.into_iter().flatten())
    }

    /// The first sequence number of the batch holding record `seq` (the last batch starting at
    /// or before it), from the keys alone.
    pub(in crate::store) fn audit_batch_start(&self, seq: u64) -> Option<u64> {
        let last_key = |t: &sled::Tree| {
            t.range(..=seq.to_be_bytes())
                .keys()
                .next_back()
                .and_then(|r| r.ok())
                .and_then(|k| key_seq(&k).ok())
        };
        let moved = last_key(&self.audit_index);
        let legacy = self.audit_legacy().and_then(last_key);
        moved.max(legacy)
    }

    /// The batch holding record `seq` (the last one starting at or before it).
    pub(in crate::store) fn audit_batch_holding(&self, seq: u64) -> Result<Option<(u64, Vec<u8>)>> {
        self.audit_batches(..=seq).next_back().transpose()
    }

    /// The trees batches are keyed in: the index, and a format-2 dir's `audit` tree.
    pub(in crate::store) fn audit_trees(&self) -> impl Iterator<Item = &sled::Tree> {
        std::iter::once(&self.audit_index).chain(self.audit_legacy())
    }

    /// Syncs the segments, then notes (for the next open) that every batch up to `seq` is on
    /// disk; the note itself goes to disk with the sled flush that follows.
    pub(in crate::store) fn sync_segments(&self, seq: u64) -> Result<()> {
        if self.audit_legacy().is_some() {
            return Ok(());
        }
        self.segments.sync().map_err(|e| self.dir_error(e))?;
        self.settings_tree
            .insert(SYNCED_KEY, seq.to_be_bytes().as_slice())?;
        Ok(())
    }

    /// On open, before the chain's tip is read: an index entry sled wrote after the last
    /// segment sync may point at a frame that never reached the disk. Every entry after the
    /// synced mark is read back; from the first that does not read whole, the entries are
    /// dropped with the request keys and queued e-mails of their records (the journal's replay
    /// brings back whatever was acknowledged). Returns how many batches were dropped.
    pub(in crate::store) fn drop_unsynced_tail(&self) -> Result<u64> {
        if let Some(legacy) = self.audit_legacy() {
            // A move to segments cut short between a pass's index entries and the removal of
            // its batches from the `audit` tree: the tree's copies stay, the index's go.
            if let Some((k, _)) = legacy.first()? {
                let twice: Vec<sled::IVec> = self
                    .audit_index
                    .range(k.as_ref()..)
                    .keys()
                    .collect::<sled::Result<_>>()?;
                let mut batch = sled::Batch::default();
                twice.into_iter().for_each(|k| batch.remove(k));
                self.audit_index.apply_batch(batch)?;
            }
            return Ok(0);
        }
        let synced = self
            .settings_tree
            .get(SYNCED_KEY)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        let mut bad = None;
        for item in self.audit_index.range((synced + 1).to_be_bytes()..) {
            let (k, v) = item?;
            let first = key_seq(&k)?;
            if self.indexed_batch(first, &v).is_err() {
                bad = Some(first);
                break;
            }
        }
        let Some(from) = bad else {
            return Ok(0);
        };
        let remove_from = |tree: &sled::Tree| -> Result<u64> {
            let keys: Vec<sled::IVec> = tree
                .range(from.to_be_bytes()..)
                .keys()
                .collect::<sled::Result<_>>()?;
            let n = keys.len() as u64;
            let mut batch = sled::Batch::default();
            keys.into_iter().for_each(|k| batch.remove(k));
            tree.apply_batch(batch)?;
            Ok(n)
        };
        let dropped = remove_from(&self.audit_index)?;
        remove_from(&self.request_keys)?;
        remove_from(&self.outbox)?;
        tracing::warn!(
            from,
            batches = dropped,
            "audit batches written after the last sync were not on disk; the commit journal brings back the acknowledged ones"
        );
        Ok(dropped)
    }

    /// After an archive cut is on disk: removes the segment files whose batches are all
    /// archived.
    pub(in crate::store) fn remove_archived_segments(&self) -> Result<()> {
        if self.audit_legacy().is_some() {
            return Ok(());
        }
        let live_first = match self.audit_index.first()? {
            Some((k, _)) => Some(key_seq(&k)?),
            None => None,
        };
        let (files, bytes) = self
            .segments
            .remove_below(live_first)
            .map_err(|e| self.dir_error(e))?;
        if files > 0 {
            tracing::info!(files, bytes, "removed archived audit segment files");
        }
        Ok(())
    }

    /// Bytes the audit's segment files take.
    pub(in crate::store) fn segment_bytes(&self) -> u64 {
        self.segments.bytes()
    }

    /// The migration from format 2: moves the batches from the `audit` tree into segment
    /// files and the index, in passes of [`MOVE_PASS`] batches: each pass is written, synced
    /// and flushed, then removed from the tree (removal is what lets sled drop most of the
    /// pages it read). The emptied tree is dropped. A crash between passes
    /// leaves the moved batches in the index and the rest in the tree, which read as one
    /// chain; the next open goes on from there.
    pub(in crate::store) fn move_batches_to_segments(&self) -> Result<serde_json::Value> {
        let Some(legacy) = self.audit_legacy() else {
            return Ok(serde_json::json!({ "audit_batches": 0 }));
        };
        let io = |e| self.dir_error(e);
        let mut moved = 0u64;
        loop {
            let pass: Vec<(sled::IVec, sled::IVec)> =
                legacy.iter().take(MOVE_PASS).collect::<sled::Result<_>>()?;
            if pass.is_empty() {
                break;
            }
            let (mut index, mut gone) = (sled::Batch::default(), sled::Batch::default());
            for (k, v) in &pass {
                let loc = self.segments.append(key_seq(k)?, v).map_err(io)?;
                index.insert(k.clone(), loc.encode().as_slice());
                gone.remove(k.clone());
            }
            self.audit_index.apply_batch(index)?;
            self.segments.sync().map_err(io)?;
            self.db.flush()?;
            legacy.apply_batch(gone)?;
            moved += pass.len() as u64;
        }
        // From here on the segments are the chain; dropping the tree is one step for sled.
        self.legacy.store(false, Ordering::Release);
        self.db.drop_tree(super::LEGACY_TREE)?;
        self.sync_segments(self.chain_head().seq)?;
        self.db.flush()?;
        Ok(serde_json::json!({ "audit_batches": moved }))
    }
}

/// Batches moved per pass of the format-2 migration: sled keeps much of what a pass read
/// until its batches are removed (docs/benchmarks.md, "Migrating a format-2 dir").
const MOVE_PASS: usize = 512;
