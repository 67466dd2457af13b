//! The served OpenAPI description against the server: every operation it lists is called (the
//! list comes from the document, not from this file), and every answer is checked against the
//! schema the document gives for its status code.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::support::admin::{client, PASSWORD};
use crate::support::mail::{seed_failed_mail, MailServer};
use crate::support::*;

const SETUP_TOKEN: &str = "the-openapi-token";
/// A sub-organization with password rules of its own (removed, then set again).
const PW_ORG: &str = "10084a8d-113f-4211-a0d5-efe36b082211";

/// One operation as the document lists it.
struct Op {
    method: String,
    path: String,
    id: String,
    public: bool,
}

/// Every operation in the document, by operationId.
fn operations(doc: &Value) -> BTreeMap<String, Op> {
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if !["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                continue;
            }
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
                .to_string();
            // No requirement, or an empty one: callable without a session.
            let public = op.get("security").is_some_and(|s| {
                s.as_array()
                    .expect("security")
                    .iter()
                    .all(|r| r.as_object().is_some_and(|r| r.is_empty()))
            });
            let prev = ops.insert(
                id.clone(),
                Op {
                    method: method.clone(),
                    path: path.clone(),
                    id,
                    public,
                },
            );
            assert!(prev.is_none(), "operationId used twice: {method} {path}");
        }
    }
    ops
}

/// Checks `body` against the schema `doc` gives for this operation's `status` answer; the
/// document's components go along so that `#/components/schemas/...` resolves.
fn check_answer(doc: &Value, op: &Op, status: u16, content_type: &str, body: &[u8]) {
    let what = format!("{} {} ({}) {status}", op.method, op.path, op.id);
    let resp = &doc["paths"][&op.path][&op.method]["responses"][status.to_string()];
    assert!(resp.is_object(), "{what}: status not described");
    let content = resp["content"].as_object().unwrap_or_else(|| {
        panic!("{what}: the description gives no content, the server sent {content_type:?}")
    });
    let (media, media_obj) = content
        .iter()
        .find(|(m, _)| content_type.starts_with(m.as_str()))
        .unwrap_or_else(|| panic!("{what}: answered {content_type:?}, described {content:?}"));
    if media != "application/json" {
        // CSV and NDJSON files: described as text.
        assert_eq!(media_obj["schema"]["type"], "string", "{what}");
        return;
    }
    let instance: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", String::from_utf8_lossy(body)));
    let schema = json!({
        "components": doc["components"].clone(),
        "allOf": [media_obj["schema"].clone()],
    });
    let validator = jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the answer does not fit its schema:\n{}\n{instance:#}",
        errors.join("\n")
    );
}

/// What each operation is called with: a JSON body (or none), keyed by operationId. Every
/// operation in the document needs an entry, and every entry must be in the document.
fn examples(mail_port: u16, outbox_id: u64) -> BTreeMap<&'static str, Option<Value>> {
    BTreeMap::from([
        (
            "setup",
            Some(json!({"token": SETUP_TOKEN, "password": PASSWORD})),
        ),
        ("login", Some(json!({"password": PASSWORD}))),
        ("session", None),
        ("overview", None),
        ("organizations", None),
        ("list_departments", None),
        ("add_departments", Some(json!({"names": ["Legal"]}))),
        (
            "remove_departments",
            Some(json!({"names": ["Engineering"]})),
        ),
        (
            "import_departments",
            Some(json!({"csv": "department\nSales\nFinance\n", "apply": true})),
        ),
        ("export_departments", None),
        ("list_credentials", None),
        ("create_credential", Some(json!({"type": "basic"}))),
        ("revoke_credential", None),
        ("endpoint", None),
        ("set_endpoint_auth", Some(json!({"auth": "required"}))),
        ("registration", None),
        ("notifications", None),
        (
            "set_smtp",
            Some(
                json!({"host": "127.0.0.1", "port": mail_port, "encryption": "none",
                        "from": "profilegate@example.com", "timeout_ms": 2000}),
            ),
        ),
        (
            "set_recipients",
            Some(json!({"recipients": ["security@example.com"]})),
        ),
        (
            "set_sensitive",
            Some(json!({"claims": ["http://wso2.org/claims/department"]})),
        ),
        ("set_mode", Some(json!({"mode": "queued"}))),
        ("send_test", Some(json!({}))),
        ("outbox", None),
        ("retry_outbox", Some(json!({"id": outbox_id}))),
        ("audit", None),
        ("verify_audit", None),
        ("export_audit", None),
        ("settings", None),
        // Filled in from the settings' own answer below.
        ("save_settings", None),
        ("password_policy", None),
        (
            "save_password_policy",
            Some(json!({"org": PW_ORG, "rules": {"min_length": 16, "extra_words": ["acme"]}})),
        ),
        ("remove_password_policy", Some(json!({"org": PW_ORG}))),
        (
            "set_password_notify",
            Some(json!({"notify": "admin-initiated"})),
        ),
        ("password_breached", None),
        (
            "import_password_breached",
            Some(json!("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:9545824\r\n7C4A8D09CA3762AF61E59520943DC26494F8941B:4527\r\n")),
        ),
        (
            "set_password_online",
            Some(
                json!({"enabled": false, "url": "https://range.example/range/", "timeout_ms": 800}),
            ),
        ),
        (
            "try_password",
            Some(
                json!({"password": "alice-smith-2026", "context": {"username": "alice",
                        "email": "alice@acme.example", "given_name": "Alice", "family_name": "Smith"}}),
            ),
        ),
        ("department_source", None),
        // The source seeded below is removed, set again (with the test source's URL), and
        // synced (ids in order).
        ("remove_department_source", Some(json!({}))),
        ("set_department_source", None),
        ("sync_departments", Some(json!({"mode": "dry_run"}))),
        ("audit_checkpoint", None),
        ("audit_retention", None),
        // After the others (rank): a retention, then a run that moves the old month.
        ("set_audit_retention", Some(json!({"keep_days": 30, "keep_records": null, "archive_dir": null}))),
        ("archive_audit", Some(json!({"dry_run": false}))),
        ("password_keys", None),
        ("generate_password_key", Some(json!({"bits": 2048}))),
        ("export_password_key", None),
        ("retire_password_key", None),
        ("password_registration", None),
        ("openapi", None),
        ("simulate_samples", None),
        (
            "simulate",
            Some(
                json!({"event": "{\"actionType\": \"PRE_UPDATE_PROFILE\", \"event\": {\"request\": {\"claims\": [{\"uri\": \"http://wso2.org/claims/department\", \"value\": \"HR\"}]}}}",
                        "overrides": {"departments": {"names": ["HR"]}, "sensitive": []}}),
            ),
        ),
        (
            "change_password",
            Some(json!({"current": PASSWORD, "new": "another long password"})),
        ),
        ("logout", Some(json!({}))),
    ])
}

/// Operations that must come first (setup makes the password) or last (they end sessions).
fn rank(id: &str) -> u8 {
    match id {
        "setup" => 0,
        "login" => 1,
        "set_audit_retention" => 6,
        "archive_audit" => 7,
        "change_password" => 8,
        "logout" => 9,
        _ => 5,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_described_operation_answers_as_described() {
    let mail = MailServer::start();
    let dir = DataDir::new();
    // Records of a month long ended, first in the chain, for the archive run to move.
    dir.with_store(|s| crate::support::audit::append_days_ago(s, 100, 5));
    let cred = dir.standard();
    // A failed e-mail for outbox/retry; a decision (below) for the overview and the audit.
    // Mail settings stored, so the test message goes out whichever order the calls take.
    dir.with_store(|s| {
        s.update_settings("test", "notify", |st| {
            st.notify.smtp = Some(profilegate::model::SmtpSettings {
                host: "127.0.0.1".into(),
                port: mail.addr.port(),
                encryption: profilegate::model::Encryption::None,
                username: None,
                password: None,
                from: "profilegate@example.com".into(),
                timeout_ms: 2000,
                tls_ca_pem: None,
            });
            st.notify.recipients = vec!["security@example.com".into()];
        })
        .unwrap()
    });
    let outbox_id = dir.with_store(seed_failed_mail);
    // A password-sharing key to export and retire, and an organization's own password rules
    // to remove.
    let key_id = dir.with_store(|s| {
        use profilegate::keys::{KeySize, PasswordKey};
        let key = PasswordKey::generate(KeySize::Rsa2048).unwrap();
        s.update_settings("test", "password.policy", |st| {
            st.password.orgs.insert(PW_ORG.into(), Default::default());
        })
        .unwrap();
        s.add_password_key("test", &key).unwrap().id
    });
    // A department source to show, remove, set again and sync.
    let source = crate::support::source::Source::start("/departments", None).await;
    source.set(crate::support::source::ok(
        "application/json",
        r#"[{"name": "HR"}, {"name": "Engineering"}, {"name": "Finance"}]"#,
    ));
    let source_settings = json!({"source": {"kind": "http", "url": source.url, "field": "name"}});
    dir.with_store(|s| {
        s.update_settings("test", "departments.source", |st| {
            st.department_sync.insert(
                String::new(),
                serde_json::from_value(source_settings.clone()).unwrap(),
            );
        })
        .unwrap()
    });
    let srv = Server::start_with(
        &dir.path,
        profilegate::Options {
            setup_token: Some(SETUP_TOKEN.into()),
            ..Default::default()
        },
    )
    .await;
    let decision = post(
        &srv.action_url(),
        &Auth::of(&cred),
        profile_event(Some("openapi-1"), dept(json!("Nowhere"))).to_string(),
    )
    .await;
    assert_eq!(decision.status, 200, "{decision:?}");

    // The description, without a session.
    let r = client()
        .get(format!("{}/admin/api/openapi.json", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    let ops = operations(&doc);

    let mut table = examples(mail.addr.port(), outbox_id);
    table.insert(
        "set_department_source",
        Some(json!({ "settings": source_settings })),
    );
    let described: BTreeSet<&str> = ops.keys().map(String::as_str).collect();
    let tabled: BTreeSet<&str> = table.keys().copied().collect();
    assert_eq!(
        described, tabled,
        "operations without an example (left only) or examples of no operation (right only)"
    );

    // Without a session every operation but the public ones is refused, as described.
    let public: BTreeSet<&str> = ops
        .values()
        .filter(|o| o.public)
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(
        public,
        BTreeSet::from(["login", "openapi", "setup"]),
        "the operations callable without a session"
    );
    for op in ops.values().filter(|o| !o.public) {
        let url = format!("{}{}", srv.url, op.path.replace("{id}", "some-id"));
        let m: reqwest::Method = op.method.to_uppercase().parse().unwrap();
        let r = client()
            .request(m, &url)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(status, 401, "{} {} without a session", op.method, op.path);
        let ct = content_type(&r);
        let body = r.bytes().await.unwrap();
        check_answer(&doc, op, status, &ct, &body);
    }

    // Then each operation once, with a session from then on.
    let mut order: Vec<&Op> = ops.values().collect();
    order.sort_by_key(|o| (rank(&o.id), o.id.clone()));
    let mut session: Option<(String, String)> = None;
    let mut called = BTreeSet::new();
    for op in order {
        let mut body = table.remove(op.id.as_str()).expect("an example");
        if op.id == "save_settings" {
            let (cookie, _) = session.as_ref().expect("a session");
            let current: Value = client()
                .get(format!("{}/admin/api/settings", srv.url))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body = Some(json!({
                "department_match": "case-insensitive",
                "messages": current["messages"],
            }));
        }
        let id = if op.path.starts_with("/admin/api/password/keys/") {
            &key_id
        } else {
            &cred.record.id
        };
        let path = op.path.replace("{id}", id);
        let m: reqwest::Method = op.method.to_uppercase().parse().unwrap();
        let mut rb = client().request(m.clone(), format!("{}{path}", srv.url));
        if let Some((cookie, csrf)) = &session {
            rb = rb.header("cookie", cookie).header("x-csrf-token", csrf);
        }
        match &body {
            // A text body (the breached-password file).
            Some(Value::String(text)) => {
                rb = rb.header("content-type", "text/plain").body(text.clone());
            }
            Some(b) => rb = rb.json(b),
            None => {}
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let ct = content_type(&r);
        let cookie = r
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
        let bytes = r.bytes().await.unwrap();
        assert_eq!(
            status,
            200,
            "{} {path} ({}): {}",
            op.method,
            op.id,
            String::from_utf8_lossy(&bytes)
        );
        check_answer(&doc, op, status, &ct, &bytes);
        if op.id == "archive_audit" {
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["records"], 10, "the old month moved: {v}");
        }
        if op.id == "login" || op.id == "setup" {
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            session = Some((
                cookie.expect("a session cookie"),
                v["csrf_token"].as_str().unwrap().to_string(),
            ));
        }
        called.insert(op.id.clone());
    }
    assert!(table.is_empty(), "examples never used: {table:?}");
    assert_eq!(called.len(), ops.len());
    assert!(called.len() >= 30, "{called:?}");
    srv.stop().await;
}

fn content_type(r: &reqwest::Response) -> String {
    r.headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}
