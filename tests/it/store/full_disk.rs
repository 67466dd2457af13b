//! A full disk, for real: the data dir on a small tmpfs filled up under load. Every answer is
//! contract-valid (ERROR when the record cannot be written, never SUCCESS without it), `/readyz`
//! turns 503 naming the disk, the security team hears once each way, and once space returns
//! the service recovers by itself; every acknowledged decision is kept and the chain verifies.
//!
//! Mounting needs root (CI runs as root); elsewhere the test says it is skipped, unless
//! `PG_REQUIRE_TMPFS=1` makes that a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use profilegate::model::{Encryption, SmtpSettings};
use profilegate::service::credentials::{create_now, NewCredential};
use profilegate::store::Store;
use serde_json::{json, Value};

use crate::support::mail::MailServer;
use crate::support::*;

/// A tmpfs of a few MiB, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("mount point");
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            assert!(
                std::env::var("PG_REQUIRE_TMPFS").as_deref() != Ok("1"),
                "PG_REQUIRE_TMPFS=1 but a tmpfs cannot be mounted here (root needed)"
            );
            eprintln!("SKIPPED: cannot mount a tmpfs here (root needed)");
            return None;
        }
        Some(Tmpfs {
            path: dir.path().to_path_buf(),
            _dir: dir,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
    }
}

/// Fills the volume: a file grown until the disk refuses more.
fn fill(path: &Path) -> std::fs::File {
    let mut f = std::fs::File::create(path).expect("fill file");
    let chunk = vec![0u8; 64 << 10];
    while f.write_all(&chunk).is_ok() {}
    let small = vec![0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
    f
}

async fn readyz(base: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut f: impl FnMut() -> F,
) {
    let t = Instant::now();
    while !f().await {
        assert!(t.elapsed() < within, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_answers_error_loses_nothing_and_recovers() {
    let Some(vol) = Tmpfs::mount(48) else { return };
    let data = vol.path.join("data");
    let mail = MailServer::start();
    let cred = {
        let s = Store::open(&data).unwrap();
        s.add_departments("test", None, &["HR", "Engineering"])
            .unwrap();
        s.update_settings("test", "notify", |st| {
            st.notify.smtp = Some(SmtpSettings {
                host: "127.0.0.1".into(),
                port: mail.addr.port(),
                encryption: Encryption::None,
                username: None,
                password: None,
                from: "profilegate@example.com".into(),
                timeout_ms: 3000,
                tls_ca_pem: None,
            });
            st.notify.recipients = vec!["security@example.com".into()];
        })
        .unwrap();
        let c = create_now(
            &s,
            "test",
            &NewCredential::Basic {
                username: "wso2".into(),
            },
        )
        .unwrap();
        s.flush().unwrap();
        c
    };
    let auth = Auth::of(&cred);
    let server = Server::start(&data).await;
    let url = server.action_url();
    let call = move |id: String| {
        let (url, auth) = (url.clone(), auth.clone());
        async move {
            let r = post(
                &url,
                &auth,
                // A claim that is not sensitive: no e-mail of its own.
                profile_event(
                    Some(&id),
                    json!([{"uri": "http://wso2.org/claims/givenname", "value": "Alice"}]),
                )
                .to_string(),
            )
            .await;
            assert_contract_valid(&r);
            (id, r)
        }
    };
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let (id, r) = call(format!("before-{i}")).await;
        assert_eq!(r.json["actionStatus"], "SUCCESS", "{:?}", r.json);
        acknowledged.push(id);
    }
    assert_eq!(readyz(&server.url).await.0, 200);

    // The disk fills up: /readyz names it, the security team hears once.
    let filler = vol.path.join("filler");
    let f = fill(&filler);
    let base = server.url.clone();
    wait_until("/readyz to turn 503", Duration::from_secs(10), || {
        let base = base.clone();
        async move {
            let (status, body) = readyz(&base).await;
            status == 503
                && body["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("disk is full"))
        }
    })
    .await;
    wait_until("the disk-full e-mail", Duration::from_secs(15), || {
        let n = mail.mails().len();
        async move { n >= 1 }
    })
    .await;
    assert!(
        mail.mails()[0].text().contains("less than"),
        "{}",
        mail.mails()[0].text()
    );

    // Under load on a full disk: every answer is valid; SUCCESS only with its record.
    let (mut ok, mut errors) = (0, 0);
    let mut tasks = Vec::new();
    for t in 0..4 {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..40 {
                out.push(call(format!("full-{t}-{i}")).await);
            }
            out
        }));
    }
    for task in tasks {
        for (id, r) in task.await.unwrap() {
            match r.json["actionStatus"].as_str() {
                Some("SUCCESS") => {
                    ok += 1;
                    acknowledged.push(id);
                }
                Some("ERROR") => {
                    errors += 1;
                    assert_eq!(r.status, 500, "{:?}", r.json);
                }
                other => panic!("{other:?}: {:?}", r.json),
            }
        }
    }
    eprintln!("on a full disk: {ok} SUCCESS, {errors} ERROR");

    // Space returns: ready again without a restart, one more e-mail, decisions recorded.
    drop(f);
    std::fs::remove_file(&filler).unwrap();
    wait_until("/readyz to turn 200", Duration::from_secs(10), || {
        let base = base.clone();
        async move { readyz(&base).await.0 == 200 }
    })
    .await;
    wait_until("the room-again e-mail", Duration::from_secs(15), || {
        let n = mail.mails().len();
        async move { n >= 2 }
    })
    .await;
    assert!(
        mail.mails()[1].text().contains("free again"),
        "{}",
        mail.mails()[1].text()
    );
    for i in 0..10 {
        let (id, r) = call(format!("after-{i}")).await;
        assert_eq!(r.json["actionStatus"], "SUCCESS", "{:?}", r.json);
        acknowledged.push(id);
    }
    server.stop().await;

    // Every acknowledged decision is on disk, and the chain verifies.
    let store = Store::open(&data).unwrap();
    let report = profilegate::service::audit::verify(&store).unwrap();
    assert!(report.first_bad.is_none(), "{report:?}");
    let kept: std::collections::BTreeSet<String> = decisions(&store)
        .into_iter()
        .filter_map(|d| d.request_id)
        .collect();
    for id in &acknowledged {
        assert!(
            kept.contains(id),
            "{id} was answered SUCCESS but is not in the audit log"
        );
    }
}
