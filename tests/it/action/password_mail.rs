//! The security-team e-mail for password events against a real SMTP server: off by default,
//! admin-initiated or all, blocking or queued, and never the password.

use std::time::Duration;

use super::password::{password_decisions, password_url, plain, request};
use crate::notify::{configure, set_queued, wait_for_mails};
use crate::support::mail::{closed_port, MailServer};
use crate::support::*;

const GOOD: &str = "amber kettle across the meadow";

fn notify(dir: &DataDir, mode: &str) {
    let o = cli(&dir.path, &["password", "policy", "notify", mode]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The v1.1 sample with its initiator set.
fn by(initiator: &str, password: &str, rid: &str) -> String {
    let mut v = request(plain(password), Some(rid));
    v["event"]["initiatorType"] = initiator.into();
    v.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn password_events_are_mailed_as_chosen_and_never_carry_the_password() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let cred = dir.standard();
    configure(&dir, mail.addr, 3000);
    let auth = Auth::of(&cred);

    // The default: none.
    let srv = Server::start(&dir.path).await;
    let r = post(&password_url(&srv), &auth, by("ADMIN", GOOD, "m-0")).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{}", r.json);
    srv.stop().await;
    assert!(mail.mails().is_empty());

    // Admin-initiated: the user's own change is routine; an admin's is mailed (before the
    // answer, in blocking mode); a refused password is not an event.
    notify(&dir, "admin-initiated");
    let srv = Server::start(&dir.path).await;
    let url = password_url(&srv);
    let r = post(&url, &auth, by("USER", GOOD, "m-1")).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    assert!(mail.mails().is_empty());
    let r = post(&url, &auth, by("ADMIN", GOOD, "m-2")).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    let r = post(&url, &auth, by("ADMIN", "password1", "m-3")).await;
    assert_eq!(r.json["actionStatus"], "FAILED");
    let mails = mail.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let m = &mails[0].data;
    assert!(
        m.contains("Subject: [profilegate] Password change allowed"),
        "{m}"
    );
    for line in [
        "User id:        8eebb941-51e1-4d13-9d5a-81da190383ae",
        "Action:         RESET",
        "Initiator:      ADMIN",
        "Credential:     PLAIN_TEXT",
        "Request id:     m-2",
    ] {
        assert!(m.contains(line), "{line} in {m}");
    }
    assert!(!m.contains(GOOD) && !m.contains("kettle"), "{m}");
    srv.stop().await;

    // All, queued: delivered by the outbox after the answer.
    notify(&dir, "all");
    set_queued(&dir);
    let srv = Server::start(&dir.path).await;
    let r = post(&password_url(&srv), &auth, by("USER", GOOD, "m-4")).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    let mails = wait_for_mails(&mail, 2).await;
    assert_eq!(mails.len(), 2);
    assert!(mails[1].data.contains("Request id:     m-4"));
    srv.stop().await;
    // Blocking or queued, each ends with a signed checkpoint of the audit chain that verifies.
    for m in &mails {
        let line = crate::audit_anchor::footer_of(&m.text());
        let o = cli(&dir.path, &["audit", "verify", "--checkpoint", &line]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
    let notes: Vec<Option<String>> = password_decisions(&dir)
        .into_iter()
        .map(|d| d.notification)
        .collect();
    assert_eq!(notes.len(), 5);
    assert!(notes[1].is_none(), "{notes:?}");
    assert!(
        notes[2]
            .as_deref()
            .is_some_and(|n| n.starts_with("sent to 2")),
        "{notes:?}"
    );
    assert!(
        notes[4].as_deref().is_some_and(|n| n.starts_with("queued")),
        "{notes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_blocking_mode_a_mail_that_cannot_go_refuses_the_change() {
    let dir = DataDir::new();
    let cred = dir.standard();
    configure(&dir, closed_port(), 1000);
    notify(&dir, "all");
    let srv = Server::start(&dir.path).await;
    let r = tokio::time::timeout(
        Duration::from_secs(4),
        post(
            &password_url(&srv),
            &Auth::of(&cred),
            by("USER", GOOD, "b-1"),
        ),
    )
    .await
    .expect("answered in time");
    assert_contract_valid(&r);
    assert_eq!(r.json["actionStatus"], "FAILED", "{}", r.json);
    assert_eq!(r.json["failureReason"], "email_error", "{}", r.json);
    srv.stop().await;
    let d = password_decisions(&dir).pop().unwrap();
    assert!(d.notification.unwrap().starts_with("failed:"));
    assert!(d.detail.is_some());
}
