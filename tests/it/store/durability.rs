//! Nothing acknowledged is lost: restarts keep every record, the chain verifies, tampering
//! is found.

use serde_json::json;

use profilegate::store::audit::{pack_batch_value, unpack_batch_value};

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_records_survive_a_restart() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (url, auth) = (srv.action_url(), auth.clone());
        tasks.push(tokio::spawn(async move {
            let d = if i % 3 == 0 { "Nope" } else { "HR" };
            let r = post(
                &url,
                &auth,
                profile_event(Some(&format!("r-{i}")), dept(json!(d))).to_string(),
            )
            .await;
            (
                format!("r-{i}"),
                r.json["actionStatus"].as_str().unwrap().to_string(),
            )
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    srv.stop().await;

    let o = cli(&dir.path, &["audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    dir.with_store(|s| {
        let d = decisions(s);
        for (rid, status) in &acked {
            let rec = d
                .iter()
                .find(|d| d.request_id.as_deref() == Some(rid))
                .unwrap_or_else(|| panic!("{rid} lost"));
            assert_eq!(&rec.decision, status);
        }
        assert_eq!(d.len(), 200);
    });

    // After the restart a retry still gets the stored decision, with no new record.
    let srv = Server::start(&dir.path).await;
    let r = post(
        &srv.action_url(),
        &auth,
        profile_event(Some("r-0"), dept(json!("HR"))).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "FAILED");
    srv.stop().await;
    dir.with_store(|s| assert_eq!(decisions(s).len(), 200));

    // A data dir without the stored request keys (written by an older version, or restored
    // from a backup) is re-indexed from the audit chain itself.
    {
        let db = open_sled(&dir.path.join("db"));
        let keys = db.open_tree("request_keys").unwrap();
        assert!(!keys.is_empty(), "decisions store their request keys");
        keys.clear().unwrap();
        db.flush().unwrap();
    }
    let srv = Server::start(&dir.path).await;
    for (rid, status) in [("r-3", "FAILED"), ("r-4", "SUCCESS")] {
        let r = post(
            &srv.action_url(),
            &auth,
            profile_event(Some(rid), dept(json!("HR"))).to_string(),
        )
        .await;
        assert_eq!(r.json["actionStatus"], status, "{rid}");
    }
    srv.stop().await;
    dir.with_store(|s| assert_eq!(decisions(s).len(), 200));
}

#[tokio::test(flavor = "multi_thread")]
async fn tampering_is_detected() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    for i in 0..5 {
        post(
            &srv.action_url(),
            &Auth::of(&cred),
            profile_event(Some(&format!("t-{i}")), dept(json!("HR"))).to_string(),
        )
        .await;
    }
    srv.stop().await;
    assert!(cli(&dir.path, &["audit", "verify"]).status.success());

    // Change one byte of record 4's content, as someone with file access might.
    {
        // Sequential requests are committed one per batch, so record 4 starts its own batch.
        let stored = raw_batches(&dir.path)
            .into_iter()
            .find(|(first, _)| *first == 4)
            .expect("record 4 starts a batch")
            .1;
        // Batches are stored compressed: unpack, change, pack again.
        let mut records = unpack_batch_value(&stored).expect("a readable batch");
        let pos = records
            .windows(7)
            .position(|w| w == b"SUCCESS")
            .expect("a SUCCESS decision");
        records[pos..pos + 7].copy_from_slice(b"FAILED!");
        write_raw_batches(&dir.path, vec![(4, Some(pack_batch_value(&records)))]);
    }
    let o = cli(&dir.path, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("BROKEN at record 4"), "{}", stdout(&o));

    // Removing a record is found too.
    write_raw_batches(&dir.path, vec![(4, None)]);
    let o = cli(&dir.path, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("record 4") && stdout(&o).contains("missing"),
        "{}",
        stdout(&o)
    );
}
