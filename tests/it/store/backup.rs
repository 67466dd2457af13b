//! Backup and restore: offline and through a running server, restored into an empty data
//! dir with the audit chain verified; damaged files and non-empty targets are refused.

use serde_json::json;

use crate::support::*;

/// Some history: departments, a credential, decisions.
async fn history(dir: &DataDir) -> profilegate::auth::Created {
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    for i in 0..20 {
        let d = if i % 3 == 0 { "Nowhere" } else { "HR" };
        let ev = profile_event(Some(&format!("b-{i}")), dept(json!(d)));
        post(&srv.action_url(), &Auth::of(&cred), ev.to_string()).await;
    }
    srv.stop().await;
    cred
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_backup_restores_into_an_empty_dir() {
    let dir = DataDir::new();
    let cred = history(&dir).await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("pg.backup");
    let o = cli(&dir.path, &["backup", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Backup written"), "{}", stdout(&o));

    let restored = tmp.path().join("restored");
    let o = cli(&restored, &["restore", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("audit chain verifies"),
        "{}",
        stdout(&o)
    );
    let o = cli(&restored, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert_eq!(
        stdout(&cli(&restored, &["departments", "list"])),
        stdout(&cli(&dir.path, &["departments", "list"]))
    );
    assert_eq!(
        stdout(&cli(&restored, &["audit", "export"])),
        stdout(&cli(&dir.path, &["audit", "export"]))
    );
    // The restored appliance works with the same credential and remembers old request ids.
    let srv = Server::start(&restored).await;
    let r = post(
        &srv.action_url(),
        &Auth::of(&cred),
        profile_event(Some("after-restore"), dept(json!("HR"))).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    srv.stop().await;
    assert!(cli(&restored, &["audit", "verify"]).status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_through_a_running_server() {
    let dir = DataDir::new();
    let cred = history(&dir).await;
    let srv = Server::start(&dir.path).await;
    let url = srv.action_url();
    let auth = Auth::of(&cred);
    // Traffic while the backup is taken.
    let traffic = tokio::spawn(async move {
        for i in 0..200 {
            let ev = profile_event(Some(&format!("live-{i}")), dept(json!("HR")));
            post(&url, &auth, ev.to_string()).await;
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("live.backup");
    let path = dir.path.clone();
    let f = file.clone();
    let o = tokio::task::spawn_blocking(move || cli(&path, &["backup", f.to_str().unwrap()]))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("through the running server"),
        "{}",
        stdout(&o)
    );
    traffic.await.unwrap();
    srv.stop().await;
    let restored = tmp.path().join("restored");
    let o = cli(&restored, &["restore", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli(&restored, &["audit", "verify"]);
    assert!(o.status.success(), "{}", stdout(&o));
    let records = stdout(&cli(&restored, &["audit", "export"]))
        .lines()
        .count();
    assert!(records >= 20, "{records}");
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_backups_and_used_dirs_are_refused() {
    let dir = DataDir::new();
    history(&dir).await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("pg.backup");
    assert!(cli(&dir.path, &["backup", file.to_str().unwrap()])
        .status
        .success());
    let good = std::fs::read(&file).unwrap();

    // Into a data dir that already has a database.
    let o = cli(&dir.path, &["restore", file.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("already holds a database"),
        "{}",
        stderr(&o)
    );

    for (name, bytes, want) in [
        (
            "flipped",
            {
                let mut b = good.clone();
                let mid = b.len() / 2;
                b[mid] ^= 1;
                b
            },
            "checksum does not match",
        ),
        ("cut", good[..good.len() - 40].to_vec(), "cut off"),
        (
            "other",
            b"hello".to_vec(),
            "does not start with the backup header",
        ),
    ] {
        let bad = tmp.path().join(name);
        std::fs::write(&bad, bytes).unwrap();
        let target = tmp.path().join(format!("target-{name}"));
        let o = cli(&target, &["restore", bad.to_str().unwrap()]);
        assert!(!o.status.success(), "{name}");
        assert!(stderr(&o).contains(want), "{name}: {}", stderr(&o));
        assert!(!target.join("db").exists(), "{name}: nothing half-restored");
    }
}
