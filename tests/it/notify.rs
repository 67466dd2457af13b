//! Security-team e-mail against a real SMTP server, in blocking mode.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::mail::{closed_port, silent_listener, silent_server, MailServer};
use crate::support::*;
use profilegate::model::{Encryption, SmtpSettings};

pub(crate) fn configure(dir: &DataDir, addr: SocketAddr, timeout_ms: u64) {
    dir.with_store(|s| {
        s.update_settings("test", "notify", |st| {
            st.notify.smtp = Some(SmtpSettings {
                host: addr.ip().to_string(),
                port: addr.port(),
                encryption: Encryption::None,
                username: None,
                password: None,
                from: "profilegate@example.com".into(),
                timeout_ms,
                tls_ca_pem: None,
            });
            st.notify.recipients = vec!["security@example.com".into(), "soc@example.com".into()];
        })
        .unwrap()
    });
}

/// `profilegate notify smtp ARGS...` on the data dir.
fn set_smtp(p: &std::path::Path, args: &[&str]) -> std::process::Output {
    set_smtp_with_input(p, args, None)
}

/// The same, with standard input (for `--password-stdin`).
fn set_smtp_with_input(
    p: &std::path::Path,
    args: &[&str],
    input: Option<&str>,
) -> std::process::Output {
    let mut all = vec!["notify", "smtp"];
    all.extend_from_slice(args);
    cli_with_input(p, &all, input)
}

fn seed() -> String {
    std::fs::read_to_string(fixtures_dir().join("seed-usecase-profile.json")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sensitive_change_is_mailed_once() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let cred = dir.standard();
    configure(&dir, mail.addr, 3000);
    let srv = Server::start(&dir.path).await;
    let auth = Auth::of(&cred);

    let mut body: serde_json::Value = serde_json::from_str(&seed()).unwrap();
    body["requestId"] = json!("mail-1");
    let r = post(&srv.action_url(), &auth, body.to_string()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    // The caller retries: same answer, no second e-mail.
    let r = post(&srv.action_url(), &auth, body.to_string()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");

    let mails = mail.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let m = &mails[0];
    assert_eq!(m.from, "profilegate@example.com");
    assert_eq!(m.to, ["security@example.com", "soc@example.com"]);
    let text = m.text();
    for want in [
        "Subject: [profilegate] Sensitive profile attribute change",
        "57b22cbf-4688-476c-a607-c0c9d089d25d",
        "Username:       testuser@wso2.com",
        "testwso2 (2210)",
        "Initiator:      ADMIN",
        "Request id:     mail-1",
        "http://wso2.org/claims/department",
        "(not shared with the action) -> HR",
        "(not shared with the action) -> +94771223448",
        "add those claims to the pre-update profile action's attributes",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }

    // Not sensitive: no e-mail.
    let other = profile_event(
        Some("mail-2"),
        json!([{"uri": "http://wso2.org/claims/nickname", "value": "x"}]),
    );
    post(&srv.action_url(), &auth, other.to_string()).await;
    // Invalid department: rejected, no e-mail.
    let bad = profile_event(Some("mail-3"), dept(json!("Nope")));
    assert_eq!(
        post(&srv.action_url(), &auth, bad.to_string()).await.json["actionStatus"],
        "FAILED"
    );
    assert_eq!(mail.mails().len(), 1);
    srv.stop().await;

    dir.with_store(|s| {
        let d = decisions(s);
        assert_eq!(d[0].notification.as_deref(), Some("sent to 2 recipient(s)"));
        assert_eq!(d[1].notification, None);
        // The SMTP settings' password never reaches the chain (none set here; see cli test).
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_valued_removal_and_hostile_values() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let cred = dir.standard();
    configure(&dir, mail.addr, 3000);
    let srv = Server::start(&dir.path).await;
    let mut ev = profile_event(
        Some("mv-1"),
        json!([
            {"uri": "http://wso2.org/claims/emailAddresses", "value": ["a@x.com", "b@x.com"]},
            {"uri": "http://wso2.org/claims/mobile", "value": ""},
            {"uri": "http://wso2.org/claims/emailaddress", "value": "evil@x.com\r\nBcc: attacker@evil.com\r\n\r\nforged"}
        ]),
    );
    ev["event"]["user"]["claims"] = json!([
        {"uri": "http://wso2.org/claims/emailAddresses", "value": ["a@x.com"], "updatingValue": ["a@x.com", "b@x.com"]},
        {"uri": "http://wso2.org/claims/mobile", "value": "+1555"}
    ]);
    let r = post(&srv.action_url(), &Auth::of(&cred), ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    srv.stop().await;
    let mails = mail.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    let text = m.text();
    assert!(text.contains("[a@x.com] -> [a@x.com, b@x.com]"), "{text}");
    assert!(text.contains("+1555 -> (removed)"), "{text}");
    // The CR/LF became spaces: no header, no extra recipient, no forged line.
    assert_eq!(m.to, ["security@example.com", "soc@example.com"]);
    assert!(
        !text.contains("\nBcc:") && !text.contains("\r\nforged"),
        "{text}"
    );
    assert!(
        text.contains("evil@x.com  Bcc: attacker@evil.com    forged"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_mail_server_fails_the_update_within_budget() {
    for (name, addr) in [("refused", closed_port()), ("silent", silent_server())] {
        let dir = DataDir::new();
        let cred = dir.standard();
        configure(&dir, addr, 1500);
        let srv = Server::start(&dir.path).await;
        let t = Instant::now();
        let r = post(&srv.action_url(), &Auth::of(&cred), seed()).await;
        let took = t.elapsed();
        assert_eq!(r.json["actionStatus"], "FAILED", "{name}");
        assert_eq!(r.json["failureReason"], "email_error", "{name}");
        assert_eq!(
            r.json["failureDescription"],
            "Failed to notify security team about sensitive data update."
        );
        assert!(
            took < Duration::from_millis(4500),
            "{name}: answered after {took:?}"
        );
        srv.stop().await;
        dir.with_store(|s| {
            let d = decisions(s);
            let n = d[0].notification.clone().unwrap_or_default();
            let want = if name == "refused" {
                "connection refused"
            } else {
                "timed out"
            };
            assert!(n.starts_with("failed:") && n.contains(want), "{name}: {n}");
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn not_configured_is_recorded_and_allowed() {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let r = post(&srv.action_url(), &Auth::of(&cred), seed()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    srv.stop().await;
    dir.with_store(|s| {
        let n = decisions(s)[0].notification.clone().unwrap_or_default();
        assert!(n.starts_with("not configured"), "{n}");
    });
}

#[test]
fn cli_settings_and_test_email() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let p = &dir.path;
    let port = mail.addr.port().to_string();
    let o = set_smtp_with_input(
        p,
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--encryption",
            "none",
            "--username",
            "pg",
            "--password-stdin",
            "--from",
            "pg@example.com",
        ],
        Some("hunter2-secret\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("hunter2"));
    assert!(cli(p, &["notify", "recipients", "add", "sec@example.com"])
        .status
        .success());
    let o = cli(p, &["notify", "recipients", "add", "not an address"]);
    assert!(!o.status.success());
    let o = cli(p, &["notify", "sensitive", "list"]);
    assert!(stdout(&o).contains("http://wso2.org/claims/mobileNumbers"));
    assert!(cli(
        p,
        &[
            "notify",
            "sensitive",
            "add",
            "http://wso2.org/claims/country"
        ]
    )
    .status
    .success());
    let o = cli(
        p,
        &[
            "notify",
            "sensitive",
            "remove",
            "http://wso2.org/claims/nothere",
        ],
    );
    assert!(!o.status.success());
    // The password is in the data dir but never in the audit chain.
    assert!(!stdout(&cli(p, &["audit", "export"])).contains("hunter2"));

    // mailin offers no AUTH here, so drop the login for the test message.
    let o = set_smtp(
        p,
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--encryption",
            "none",
            "--from",
            "pg@example.com",
        ],
    );
    assert!(o.status.success());
    let o = cli(p, &["send-test-email"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(mail
        .mails()
        .iter()
        .any(|m| m.to == ["sec@example.com"] && m.text().contains("test message")));

    // Failures are explained.
    let closed = closed_port().port().to_string();
    set_smtp(
        p,
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &closed,
            "--encryption",
            "none",
            "--from",
            "pg@example.com",
        ],
    );
    let o = cli(p, &["send-test-email", "--to", "x@example.com"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("connection refused"), "{}", stdout(&o));
    let silent = silent_server().port().to_string();
    set_smtp(
        p,
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &silent,
            "--encryption",
            "none",
            "--from",
            "pg@example.com",
            "--timeout-ms",
            "500",
        ],
    );
    let o = cli(p, &["send-test-email", "--to", "x@example.com"]);
    assert!(stdout(&o).contains("timed out"), "{}", stdout(&o));
    let o = set_smtp(
        p,
        &[
            "--host",
            "h",
            "--port",
            "25",
            "--encryption",
            "none",
            "--from",
            "pg@example.com",
            "--timeout-ms",
            "9000",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("5 s read timeout"), "{}", stderr(&o));
}

pub(crate) fn set_queued(dir: &DataDir) {
    dir.with_store(|s| {
        s.update_settings("test", "notify", |st| {
            st.notify.mode = profilegate::model::DeliveryMode::Queued;
            st.notify.retry_base_ms = 200;
        })
        .unwrap()
    });
}

pub(crate) async fn wait_for_mails(mail: &MailServer, n: usize) -> Vec<crate::support::mail::Mail> {
    for _ in 0..100 {
        let m = mail.mails();
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    mail.mails()
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_mail_is_delivered_once() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let cred = dir.standard();
    configure(&dir, mail.addr, 3000);
    set_queued(&dir);
    let srv = Server::start(&dir.path).await;
    let mut body: serde_json::Value = serde_json::from_str(&seed()).unwrap();
    body["requestId"] = json!("q-1");
    for _ in 0..3 {
        let r = post(&srv.action_url(), &Auth::of(&cred), body.to_string()).await;
        assert_eq!(r.json["actionStatus"], "SUCCESS");
    }
    let mails = wait_for_mails(&mail, 1).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].text().contains("Request id:     q-1"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(mail.mails().len(), 1, "one e-mail per requestId");
    srv.stop().await;
    dir.with_store(|s| {
        assert!(
            s.outbox_items().unwrap().is_empty(),
            "delivered items leave the outbox"
        )
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_mail_waits_for_the_server_and_survives_a_restart() {
    let addr = closed_port();
    let dir = DataDir::new();
    let cred = dir.standard();
    configure(&dir, addr, 1000);
    set_queued(&dir);
    // The mail server is down: the update is still answered at once, and the e-mail waits.
    let srv = Server::start(&dir.path).await;
    let t = Instant::now();
    let r = post(&srv.action_url(), &Auth::of(&cred), seed()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    assert!(t.elapsed() < Duration::from_millis(1000));
    tokio::time::sleep(Duration::from_millis(600)).await;
    srv.stop().await;
    let pending = dir.with_store(|s| s.outbox_items().unwrap());
    assert_eq!(pending.len(), 1);
    assert!(pending[0].1.attempts >= 1, "{pending:?}");
    assert!(pending[0]
        .1
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("connection refused"));
    let listed = stdout(&cli(&dir.path, &["notify", "outbox", "list"]));
    assert!(
        listed.contains("Pending") && listed.contains("connection refused"),
        "{listed}"
    );

    // The mail server comes back; profilegate restarts and delivers what it had queued.
    let mail = MailServer::start_on(addr);
    let srv = Server::start(&dir.path).await;
    let mails = wait_for_mails(&mail, 1).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].text().contains("-> HR"));
    srv.stop().await;
    dir.with_store(|s| assert!(s.outbox_items().unwrap().is_empty()));
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_mail_outlasts_a_server_that_never_greets() {
    let silent = silent_listener();
    let addr = silent.local_addr().unwrap();
    let dir = DataDir::new();
    let cred = dir.standard();
    configure(&dir, addr, 300);
    set_queued(&dir);
    let srv = Server::start(&dir.path).await;
    let r = post(&srv.action_url(), &Auth::of(&cred), seed()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Now a real mail server takes the port over; the next retry delivers.
    drop(silent);
    let mail = MailServer::start_on(addr);
    let mails = wait_for_mails(&mail, 1).await;
    assert_eq!(mails.len(), 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_with_a_generated_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (mail, cert_pem) = MailServer::start_tls(tmp.path());
    let dir = DataDir::new();
    let cred = dir.standard();
    let smtp = |encryption, ca: Option<String>| SmtpSettings {
        host: "localhost".into(),
        port: mail.addr.port(),
        encryption,
        username: None,
        password: None,
        from: "profilegate@example.com".into(),
        timeout_ms: 2000,
        tls_ca_pem: ca,
    };
    dir.with_store(|s| {
        s.update_settings("test", "notify", |st| {
            st.notify.smtp = Some(smtp(Encryption::Starttls, Some(cert_pem.clone())));
            st.notify.recipients = vec!["security@example.com".into()];
        })
        .unwrap()
    });
    let srv = Server::start(&dir.path).await;
    let mut body: serde_json::Value = serde_json::from_str(&seed()).unwrap();
    body["requestId"] = json!("tls-1");
    let r = post(&srv.action_url(), &Auth::of(&cred), body.to_string()).await;
    srv.stop().await;
    let note = dir.with_store(|s| decisions(s).last().unwrap().notification.clone());
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{note:?}");
    assert_eq!(mail.mails().len(), 1);

    // Without trusting the certificate, the TLS failure is reported as such.
    dir.with_store(|s| {
        s.update_settings("test", "notify", |st| {
            st.notify.smtp = Some(smtp(Encryption::Starttls, None))
        })
        .unwrap()
    });
    let srv = Server::start(&dir.path).await;
    body["requestId"] = json!("tls-2");
    let r = post(&srv.action_url(), &Auth::of(&cred), body.to_string()).await;
    assert_eq!(r.json["failureReason"], "email_error");
    srv.stop().await;
    dir.with_store(|s| {
        let n = decisions(s)
            .last()
            .unwrap()
            .notification
            .clone()
            .unwrap_or_default();
        assert!(n.contains("TLS") && n.contains("--tls-ca"), "{n}");
    });

    // The same from the command line: --tls-ca FILE, then a test message over STARTTLS.
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &cert_pem).unwrap();
    let (p, port, ca) = (
        dir.path.clone(),
        mail.addr.port().to_string(),
        ca_file.to_string_lossy().into_owned(),
    );
    let o = tokio::task::spawn_blocking(move || {
        let set = set_smtp(
            &p,
            &[
                "--host",
                "localhost",
                "--port",
                &port,
                "--encryption",
                "starttls",
                "--from",
                "pg@example.com",
                "--tls-ca",
                &ca,
            ],
        );
        assert!(set.status.success(), "{}", stderr(&set));
        cli(&p, &["send-test-email", "--to", "sec@example.com"])
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(mail.mails().len(), 2);
}

/// TLS from the first byte (port 465) over our own connection, and the connection pool: a
/// second message reuses the first one's session, and after the server side dropped it the
/// next message still goes out, on a new session.
#[tokio::test(flavor = "multi_thread")]
async fn implicit_tls_and_pooled_connections() {
    use profilegate::notify::{Notifier, SendError};
    let tmp = tempfile::tempdir().unwrap();
    let (mail, front, ca_pem) = MailServer::start_implicit_tls(tmp.path());
    let smtp = |ca: Option<String>| SmtpSettings {
        host: "localhost".into(),
        port: front.addr.port(),
        encryption: Encryption::Tls,
        username: None,
        password: None,
        from: "profilegate@example.com".into(),
        timeout_ms: 2000,
        tls_ca_pem: ca,
    };
    let to = vec!["sec@example.com".to_string()];
    let notifier = Notifier::default();
    let trusted = smtp(Some(ca_pem));
    for n in 0..2 {
        notifier
            .send(&trusted, &to, "implicit TLS", format!("message {n}\n"))
            .await
            .unwrap();
    }
    let m = mail.mails();
    assert_eq!(m.len(), 2);
    assert!(m[1].text().contains("message 1"), "{:?}", m[1].data);
    assert_eq!(
        m[1].session,
        (m[0].session.0, 1),
        "the second message reused the session"
    );

    front.cut();
    notifier
        .send(&trusted, &to, "implicit TLS", "after the cut\n".into())
        .await
        .unwrap();
    let m = mail.mails();
    assert_eq!(m.len(), 3);
    assert_ne!(
        m[2].session.0, m[0].session.0,
        "a new session after the cut"
    );

    // Without the CA the handshake fails, and says what to do.
    let e = notifier
        .send(&smtp(None), &to, "implicit TLS", "untrusted\n".into())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SendError::Tls(t) if t.contains("--tls-ca")),
        "{e}"
    );
    assert_eq!(mail.mails().len(), 3);
    // The start-up check speaks TLS too.
    notifier.check(&trusted).await.unwrap();
}

#[test]
fn test_email_reports_a_refused_recipient() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let port = mail.addr.port().to_string();
    let p = &dir.path;
    assert!(set_smtp(
        p,
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--encryption",
            "none",
            "--from",
            "pg@example.com"
        ]
    )
    .status
    .success());
    let o = cli(p, &["send-test-email", "--to", "nobody@example.com"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("refused a recipient"), "{}", stdout(&o));
    // TLS on a plain server: the mismatch is named, with the likely fix.
    assert!(set_smtp(
        p,
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--encryption",
            "tls",
            "--from",
            "pg@example.com",
            "--timeout-ms",
            "1000"
        ]
    )
    .status
    .success());
    let o = cli(p, &["send-test-email", "--to", "x@example.com"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("expects --encryption starttls"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_mail_is_marked_failed_after_max_attempts_and_can_be_retried() {
    use profilegate::notify::worker::deliver_due;
    use profilegate::store::outbox::{OutboxItem, OutboxStatus, MAX_ATTEMPTS};
    let dir = DataDir::new();
    dir.standard();
    configure(&dir, closed_port(), 500);
    let store = std::sync::Arc::new(profilegate::store::Store::open(&dir.path).unwrap());
    let item = OutboxItem {
        created: "2026-01-01T00:00:00.000Z".into(),
        request_id: Some("f-1".into()),
        subject: "s".into(),
        body: "b".into(),
        status: OutboxStatus::Pending,
        attempts: 0,
        next_attempt_ms: 0,
        last_error: None,
    };
    let entry = br#"{"kind":"admin","actor":"test","action":"outbox.seed"}"#.to_vec();
    let id = store
        .append_entries_with_outbox(&[entry], &[(0, serde_json::to_vec(&item).unwrap())])
        .unwrap();
    let notifier = profilegate::notify::Notifier::default();
    for attempt in 1..=MAX_ATTEMPTS {
        assert_eq!(deliver_due(&store, &notifier, None).await.unwrap(), 0);
        let (_, it) = store.outbox_items().unwrap().remove(0);
        assert_eq!(it.attempts, attempt);
        if attempt < MAX_ATTEMPTS {
            assert_eq!(it.status, OutboxStatus::Pending);
            // Skip the back-off wait.
            store
                .outbox_put(
                    id,
                    &OutboxItem {
                        next_attempt_ms: 0,
                        ..it
                    },
                )
                .unwrap();
        } else {
            assert_eq!(
                it.status,
                OutboxStatus::Failed,
                "failed after {MAX_ATTEMPTS} attempts"
            );
        }
    }
    // Failed items are not attempted again until an operator retries them.
    assert_eq!(store.outbox_due(u64::MAX, 10).unwrap().len(), 0);
    drop(notifier);
    drop(store);
    let listed = stdout(&cli(&dir.path, &["notify", "outbox", "list"]));
    assert!(
        listed.contains("Failed") && listed.contains("f-1"),
        "{listed}"
    );
    let o = cli(&dir.path, &["notify", "outbox", "retry"]);
    assert!(
        stdout(&o).contains("1 e-mail(s) queued again"),
        "{}",
        stdout(&o)
    );
    dir.with_store(|s| {
        let (_, it) = s.outbox_items().unwrap().remove(0);
        assert_eq!((it.status, it.attempts), (OutboxStatus::Pending, 0));
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn test_email_reports_a_rejected_login() {
    let tmp = tempfile::tempdir().unwrap();
    let (mail, ca_pem) = MailServer::start_tls_auth(tmp.path(), true);
    let dir = DataDir::new();
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let (p, port, ca) = (
        dir.path.clone(),
        mail.addr.port().to_string(),
        ca_file.to_string_lossy().into_owned(),
    );
    let o = tokio::task::spawn_blocking(move || {
        let set = set_smtp_with_input(
            &p,
            &[
                "--host",
                "localhost",
                "--port",
                &port,
                "--encryption",
                "starttls",
                "--username",
                "pg",
                "--password-stdin",
                "--from",
                "pg@example.com",
                "--tls-ca",
                &ca,
            ],
            Some("wrong-password\n"),
        );
        assert!(set.status.success(), "{}", stderr(&set));
        cli(&p, &["send-test-email", "--to", "sec@example.com"])
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("rejected the login"), "{}", stdout(&o));
    assert!(mail.mails().is_empty());
}
