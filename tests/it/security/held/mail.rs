//! E-mail: hostile values, STARTTLS.

use super::*;

/// The body of a received message, undoing its transfer encoding.
fn decoded_body(data: &str) -> String {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    let head = head.to_ascii_lowercase();
    if head.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            joined.trim_end_matches("."),
        )
        .unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    } else if head.contains("content-transfer-encoding: quoted-printable") {
        let soft = body.replace("=\r\n", "");
        let b = soft.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'=' && i + 2 < b.len() {
                if let Ok(x) = u8::from_str_radix(&soft[i + 1..i + 3], 16) {
                    out.push(x);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    } else {
        body.to_string()
    }
}

/// CR/LF and the Unicode line breaks (U+2028, U+2029, U+0085) in every request value the
/// security e-mail shows reach neither its headers nor the start of a line of its body.
#[tokio::test(flavor = "multi_thread")]
async fn line_breaks_in_request_values_never_reach_an_e_mail_header() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    let cred = dir.standard();
    configure_mail(&dir, plain_smtp(mail.addr.port(), Encryption::None));
    let srv = Server::start(&dir.path).await;
    let breaks = ["\r\n", "\n", "\r", "\u{2028}", "\u{2029}", "\u{85}"];
    let hostile = |tag: &str| {
        breaks
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{tag}{b}Bcc: {tag}{i}@evil.example{b}{b}X-Injected-{tag}: {i}"))
            .collect::<String>()
    };
    let mut ev = profile_event(
        Some(&format!("rid{}", "\u{2028}X-Injected-rid: 1")),
        json!([
            {"uri": "http://wso2.org/claims/emailaddress", "value": hostile("mailvalue")},
            {"uri": "http://wso2.org/claims/mobile", "value": [hostile("multi"), "+1555"]},
        ]),
    );
    ev["event"]["user"]["id"] = json!(hostile("userid"));
    ev["event"]["user"]["claims"] = json!([
        {"uri": "http://wso2.org/claims/username", "value": hostile("username")},
        {"uri": "http://wso2.org/claims/emailaddress", "value": hostile("oldvalue")},
    ]);
    ev["event"]["tenant"]["name"] = json!(hostile("tenant"));
    ev["event"]["organization"] = json!({"id": "o1", "name": hostile("org")});
    ev["event"]["initiatorType"] = json!(hostile("initiator"));
    let r = post(&srv.action_url(), &Auth::of(&cred), ev.to_string()).await;
    assert_eq!(r.json["actionStatus"], "SUCCESS", "{:?}", r.json);
    srv.stop().await;
    let mails = mail.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.to, ["security@example.com"], "an extra recipient");
    let (head, _) = m.data.split_once("\r\n\r\n").unwrap();
    for bad in ["Bcc", "X-Injected", "evil.example"] {
        assert!(!head.contains(bad), "{bad} in the headers:\n{head}");
    }
    assert!(
        head.contains(&format!(
            "Subject: {}",
            profilegate::notify::message::SUBJECT
        )),
        "{head}"
    );
    let body = decoded_body(&m.data);
    for c in ['\u{2028}', '\u{2029}', '\u{85}'] {
        assert!(!body.contains(c), "{c:?} in the body:\n{body}");
    }
    for (i, line) in body.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        assert!(!line.contains('\r'), "a bare CR in line {i}: {line:?}");
        let start = line.trim_start();
        assert!(
            !start.starts_with("Bcc") && !start.starts_with("X-Injected"),
            "a value started line {i}: {line:?}"
        );
    }
    // The values did reach the message (so the checks above looked at them).
    for tag in [
        "mailvalue",
        "multi",
        "userid",
        "username",
        "oldvalue",
        "tenant",
        "org",
    ] {
        assert!(
            body.contains(&format!("Bcc: {tag}0@evil.example")),
            "{tag} is not in the body:\n{body}"
        );
    }
}

/// The addresses an admin types (sender, recipients, test recipient) are where e-mail
/// headers come from. One with CR or LF is refused, and so is any address with a Unicode
/// line break outside a quoted display name; nothing is stored or sent. A quoted display name
/// with U+2028/U+2029/U+0085 is accepted, but it reaches the message's headers only encoded
/// (no raw line break there, no extra recipient).
#[tokio::test(flavor = "multi_thread")]
async fn line_breaks_in_admin_addresses_never_reach_an_e_mail_header() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    set_password(&dir);
    configure_mail(&dir, plain_smtp(mail.addr.port(), Encryption::None));
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let smtp_from = |from: &str| {
        json!({"host": "127.0.0.1", "port": mail.addr.port(), "encryption": "none",
               "from": from, "timeout_ms": 2000})
    };
    let mut named_ok = Vec::new();
    for b in ["\r\n", "\n", "\r", "\u{2028}", "\u{2029}", "\u{85}"] {
        let bare = format!("soc@example.com{b}Bcc: x@evil.example");
        let named = format!("\"Soc{b}Bcc: x@evil.example\" <soc@example.com>");
        for addr in [&bare, &named] {
            let must_refuse = b.contains(['\r', '\n']) || addr == &bare;
            let (_, before) = a.get("/admin/api/notifications").await;
            let answers = [
                (
                    "recipients",
                    a.post(
                        "/admin/api/notifications/recipients",
                        json!({ "recipients": [addr] }),
                    )
                    .await,
                ),
                (
                    "from",
                    a.post("/admin/api/notifications/smtp", smtp_from(addr))
                        .await,
                ),
            ];
            for (field, (st, v)) in answers {
                if must_refuse {
                    assert_eq!(
                        (st, v["field"].as_str()),
                        (400, Some(field)),
                        "{addr:?}: {v}"
                    );
                } else {
                    assert!(st == 200 || st == 400, "{field} {addr:?}: {st} {v}");
                    if st == 200 {
                        named_ok.push((field, addr.clone()));
                    }
                }
            }
            if must_refuse {
                assert_eq!(
                    a.get("/admin/api/notifications").await.1,
                    before,
                    "{addr:?}"
                );
                let (st, v) = a
                    .post("/admin/api/notifications/test", json!({ "to": addr }))
                    .await;
                assert_eq!(st, 400, "test to {addr:?}: {v}");
                assert!(mail.mails().is_empty(), "{:?}", mail.mails());
            }
        }
    }
    // What was accepted: sender and recipients with such display names at once, and a test
    // message to each.
    let recipients: Vec<&String> = named_ok
        .iter()
        .filter(|(f, _)| *f == "recipients")
        .map(|(_, a)| a)
        .collect();
    if let Some((_, from)) = named_ok.iter().find(|(f, _)| *f == "from") {
        assert_eq!(
            a.post("/admin/api/notifications/smtp", smtp_from(from))
                .await
                .0,
            200
        );
    }
    if !recipients.is_empty() {
        let (st, v) = a
            .post(
                "/admin/api/notifications/recipients",
                json!({ "recipients": recipients }),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
    let (st, v) = a.post("/admin/api/notifications/test", json!({})).await;
    assert_eq!(st, 200, "{v}");
    for to in &recipients {
        let (st, v) = a
            .post("/admin/api/notifications/test", json!({ "to": to }))
            .await;
        assert_eq!(st, 200, "{v}");
    }
    let mails = mail.mails();
    assert_eq!(mails.len(), 1 + recipients.len());
    for m in &mails {
        assert!(
            m.to.iter()
                .all(|t| t == "soc@example.com" || t == "security@example.com"),
            "{:?}",
            m.to
        );
        let (head, _) = m.data.split_once("\r\n\r\n").unwrap();
        for c in ['\u{2028}', '\u{2029}', '\u{85}', '\u{fffd}'] {
            assert!(!head.contains(c), "{c:?} in the headers:\n{head}");
        }
        for line in head.split("\r\n") {
            assert!(!line.contains(['\r', '\n']), "{line:?}");
            assert!(!line.trim_start().starts_with("Bcc"), "{head}");
        }
    }
    srv.stop().await;
}

/// With `starttls` configured, a mail server that does not offer STARTTLS (or a man in the
/// middle who removed it from the EHLO answer) gets no message: nothing goes out in clear.
#[tokio::test(flavor = "multi_thread")]
async fn starttls_is_not_downgraded_to_plain_text() {
    let mail = MailServer::start(); // plain: its EHLO offers no STARTTLS
    let dir = DataDir::new();
    let cred = dir.standard();
    let mut smtp = plain_smtp(mail.addr.port(), Encryption::Starttls);
    smtp.host = "localhost".into();
    configure_mail(&dir, smtp);
    let srv = Server::start(&dir.path).await;
    let mut body: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("seed-usecase-profile.json")).unwrap(),
    )
    .unwrap();
    body["requestId"] = json!("downgrade-1");
    let r = post(&srv.action_url(), &Auth::of(&cred), body.to_string()).await;
    assert_eq!(r.json["actionStatus"], "FAILED", "{:?}", r.json);
    assert_eq!(r.json["failureReason"], "email_error");
    srv.stop().await;
    assert!(mail.mails().is_empty(), "sent in clear: {:?}", mail.mails());
    let note = dir.with_store(|s| decisions(s).last().unwrap().notification.clone());
    assert!(
        note.as_deref().unwrap_or_default().contains("STARTTLS"),
        "{note:?}"
    );
    // The same through the notifier directly (the test message and the outbox use it).
    let mut smtp = plain_smtp(mail.addr.port(), Encryption::Starttls);
    smtp.host = "localhost".into();
    let e = profilegate::notify::Notifier::default()
        .send(
            &smtp,
            &["sec@example.com".to_string()],
            "downgrade",
            "must not be sent in clear\n".into(),
        )
        .await;
    let e = e.expect_err("sent without STARTTLS");
    assert!(e.to_string().contains("STARTTLS"), "{e}");
    assert!(mail.mails().is_empty(), "sent in clear: {:?}", mail.mails());
}
