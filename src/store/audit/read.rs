//! Reading the chain back: single records, iteration, the NDJSON export and verification.

use serde::Deserialize;

use super::codec::{damaged, decode_batch, parse_record};
use super::unpack_batch_value;
use crate::model::AuditRecord;
use crate::store::{json_err, Result, Store, StoreError};

impl Store {
    /// Reads one record.
    pub fn audit_record(&self, seq: u64) -> Result<Option<AuditRecord>> {
        let Some((first, v)) = self.audit_batch_holding(seq)? else {
            return Ok(None);
        };
        let raw = unpack_batch_value(&v).ok_or_else(|| damaged(first))?;
        let records = decode_batch(&raw).ok_or_else(|| damaged(first))?;
        match records.get((seq - first) as usize) {
            Some(r) => parse_record(seq, r.body).map(Some),
            None => Ok(None),
        }
    }

    /// Iterates over the records from `from_seq` on, oldest first, as (seq, hash hex, body).
    pub fn audit_raw_iter(
        &self,
        from_seq: u64,
    ) -> impl Iterator<Item = Result<(u64, String, Vec<u8>)>> + '_ {
        // Start at the batch that holds `from_seq` (its key alone: the batch is read below).
        let start = self.audit_batch_start(from_seq).unwrap_or(from_seq);
        self.audit_batches(start..)
            .flat_map(move |item| -> Vec<Result<(u64, String, Vec<u8>)>> {
                match records_of(item) {
                    Ok(records) => records
                        .into_iter()
                        .filter(|(seq, _, _)| *seq >= from_seq)
                        .map(|(seq, hash, body)| Ok((seq, hex::encode(hash), body)))
                        .collect(),
                    Err(e) => vec![Err(e)],
                }
            })
    }

    /// The request keys of the decisions recorded at or after `since` (a stored-format time),
    /// newest first, with their sequence numbers. Reads only the fields it needs and stops at
    /// the first older record, so a restart over a long chain stays quick.
    pub fn recent_decision_keys(&self, since: &str) -> Result<Vec<(String, u64)>> {
        #[derive(Deserialize)]
        struct KeyView<'a> {
            #[serde(borrow)]
            time: std::borrow::Cow<'a, str>,
            #[serde(borrow)]
            kind: std::borrow::Cow<'a, str>,
            #[serde(borrow, default)]
            idempotency_key: Option<std::borrow::Cow<'a, str>>,
        }
        let mut out = Vec::new();
        for item in self.audit_batches(..).rev() {
            let (first, v) = item?;
            let raw = unpack_batch_value(&v).ok_or_else(|| damaged(first))?;
            let batch = decode_batch(&raw).ok_or_else(|| damaged(first))?;
            for (i, r) in batch.iter().enumerate().rev() {
                let seq = first + i as u64;
                let view: KeyView<'_> = serde_json::from_slice(r.body)
                    .map_err(|e| json_err(&format!("audit record {seq}"), e))?;
                if *view.time < *since {
                    return Ok(out);
                }
                if view.kind == "decision" {
                    if let Some(key) = view.idempotency_key {
                        out.push((key.into_owned(), seq));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Iterates newest first.
    pub fn audit_iter_rev(&self) -> impl Iterator<Item = Result<AuditRecord>> + '_ {
        self.audit_batches(..)
            .rev()
            .flat_map(|item| -> Vec<Result<AuditRecord>> {
                match records_of(item) {
                    Ok(records) => records
                        .into_iter()
                        .rev()
                        .map(|(seq, _, body)| parse_record(seq, &body))
                        .collect(),
                    Err(e) => vec![Err(e)],
                }
            })
    }

    /// Writes every record as one JSON object a line (NDJSON), each with its `hash`.
    pub fn export_audit(&self, out: &mut dyn std::io::Write) -> Result<u64> {
        let mut n = 0;
        for item in self.audit_raw_iter(0) {
            let (seq, hash, body) = item?;
            let mut v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&body)
                    .map_err(|e| json_err(&format!("audit record {seq}"), e))?;
            v.insert("hash".into(), serde_json::Value::String(hash));
            let line = serde_json::to_vec(&v).map_err(|e| json_err("audit export", e))?;
            let io = |source| StoreError::Io {
                what: "write the export",
                source,
            };
            out.write_all(&line).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
            n += 1;
        }
        Ok(n)
    }
}

/// One record read out of a batch: sequence number, stored hash, body.
type OwnedRecord = (u64, [u8; 32], Vec<u8>);

/// The records of one stored batch, oldest first.
fn records_of(item: Result<(u64, Vec<u8>)>) -> Result<Vec<OwnedRecord>> {
    let (first, v) = item?;
    let raw = unpack_batch_value(&v).ok_or_else(|| damaged(first))?;
    let records = decode_batch(&raw).ok_or_else(|| damaged(first))?;
    Ok(records
        .into_iter()
        .enumerate()
        .map(|(i, r)| (first + i as u64, r.hash, r.body.to_vec()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::admin_entry;

    #[test]
    fn a_stored_batch_without_the_packed_form_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.append_entries(&[admin_entry(1)]).unwrap(), 1);
        // Records 2 and 3 stored as their framed bytes alone, without the packed form.
        {
            let mut head = store.chain.lock();
            let (raw, new_head) = Store::chain_batch(*head, &[admin_entry(2), admin_entry(3)]);
            let stored = store.stored_batch(2, &raw).unwrap();
            store
                .audit_tree()
                .insert(2u64.to_be_bytes(), stored)
                .unwrap();
            *head = new_head;
        }
        let report = store.verify_audit().unwrap();
        assert_eq!(
            (report.records, report.first_bad),
            (1, Some((2, "the stored batch is damaged".into())))
        );
        assert!(store.audit_record(1).unwrap().is_some());
        assert!(matches!(
            store.audit_record(3),
            Err(StoreError::Corrupt { .. })
        ));
        store.flush().unwrap();
        drop(store);
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }
}
