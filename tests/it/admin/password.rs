//! The password action's admin API: the policy (root and per organization, the e-mail choice),
//! trying a password (nothing stored, audited or logged), the keys (generate, export, retire,
//! a third refused) and the registration values with `passwordSharing`.

use serde_json::{json, Value};

use crate::support::admin::{client, login, set_password, Admin};
use crate::support::*;

const ORG: &str = "10084a8d-113f-4211-a0d5-efe36b082211";

/// Records in the audit chain (every kind).
async fn audit_len(a: &Admin) -> u64 {
    let (st, v) = a.get("/admin/api/audit/verify").await;
    assert_eq!(st, 200, "{v}");
    v["records"].as_u64().unwrap()
}

async fn started() -> (DataDir, Server, Admin) {
    let dir = DataDir::new();
    dir.standard();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    (dir, srv, a)
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_root_org_override_and_mail_choice() {
    let (dir, srv, a) = started().await;
    let (st, v) = a.get("/admin/api/password/policy").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["root"]["min_length"], 15);
    assert_eq!(v["orgs"], json!({}));
    assert_eq!(v["notify"], "none");
    assert_eq!(v["defaults"], v["root"]);

    // The root's rules.
    let mut rules = v["root"].clone();
    rules["min_length"] = json!(18);
    rules["extra_words"] = json!(["acme"]);
    let (st, v) = a
        .post("/admin/api/password/policy", json!({ "rules": rules }))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["org"], Value::Null);
    assert_eq!(v["rules"]["min_length"], 18);

    // An organization's own, then removed.
    let (st, v) = a
        .post(
            "/admin/api/password/policy",
            json!({"org": ORG, "rules": {"min_length": 20}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["org"], ORG);
    let (_, v) = a.get("/admin/api/password/policy").await;
    assert_eq!(v["root"]["min_length"], 18);
    assert_eq!(v["orgs"][ORG]["min_length"], 20);
    let (st, v) = a
        .post("/admin/api/password/policy/remove", json!({ "org": ORG }))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["removed"], ORG);
    let (_, v) = a.get("/admin/api/password/policy").await;
    assert_eq!(v["orgs"], json!({}));
    // Removing again: nothing to remove.
    let (st, _) = a
        .post("/admin/api/password/policy/remove", json!({ "org": ORG }))
        .await;
    assert_eq!(st, 404);
    let (st, v) = a
        .post("/admin/api/password/policy/remove", json!({ "org": " " }))
        .await;
    assert_eq!((st, v["field"].clone()), (400, json!("org")), "{v}");

    // Refusals name their field, and nothing is saved.
    for (rules, field) in [
        (json!({"min_length": 10}), "min_length"),
        (json!({"factor_mode": "mfa", "min_length": 7}), "min_length"),
        (json!({"max_length": 32}), "max_length"),
        (
            json!({"extra_words": (0..51).map(|i| format!("w{i}")).collect::<Vec<_>>()}),
            "extra_words",
        ),
        (
            json!({"messages": {"common": {"reason": "common", "description": "No \"quotes\" here"}}}),
            "messages.common.description",
        ),
        (
            json!({"messages": {"too_short": {"reason": "short, really", "description": "Longer please"}}}),
            "messages.too_short.reason",
        ),
    ] {
        let (st, v) = a
            .post("/admin/api/password/policy", json!({ "rules": rules }))
            .await;
        assert_eq!(st, 400, "{rules}: {v}");
        assert_eq!(v["field"], field, "{rules}: {v}");
        assert!(!v["error"].as_str().unwrap().is_empty());
    }
    let (st, v) = a
        .post(
            "/admin/api/password/policy",
            json!({"org": "bad\norg", "rules": {}}),
        )
        .await;
    assert_eq!((st, v["field"].clone()), (400, json!("org")), "{v}");
    let (st, v) = a
        .post(
            "/admin/api/password/policy",
            json!({"rules": {"nope": 1}, "x": 1}),
        )
        .await;
    assert_eq!((st, v["field"].clone()), (400, json!("body")), "{v}");
    let (_, v) = a.get("/admin/api/password/policy").await;
    assert_eq!(v["root"]["min_length"], 18);

    // The e-mail choice.
    let (st, v) = a
        .post("/admin/api/password/notify", json!({"notify": "all"}))
        .await;
    assert_eq!((st, v["notify"].clone()), (200, json!("all")), "{v}");
    let (st, v) = a
        .post("/admin/api/password/notify", json!({"notify": "sometimes"}))
        .await;
    assert_eq!((st, v["field"].clone()), (400, json!("body")), "{v}");
    let (_, v) = a.get("/admin/api/password/policy").await;
    assert_eq!(v["notify"], "all");
    srv.stop().await;

    // Each change is in the audit chain, by the admin session.
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(
        export
            .lines()
            .any(|l| l.contains("password.policy") && l.contains("admin session")),
        "{export}"
    );
    assert!(export.contains("password.notify"), "{export}");
}

#[tokio::test(flavor = "multi_thread")]
async fn session_and_csrf_are_required() {
    let (_dir, srv, a) = started().await;
    for (method, path) in [
        ("GET", "/admin/api/password/policy"),
        ("POST", "/admin/api/password/policy"),
        ("POST", "/admin/api/password/policy/remove"),
        ("POST", "/admin/api/password/notify"),
        ("POST", "/admin/api/password/try"),
        ("GET", "/admin/api/password/keys"),
        ("POST", "/admin/api/password/keys"),
        ("GET", "/admin/api/password/keys/abc"),
        ("POST", "/admin/api/password/keys/abc/retire"),
        ("GET", "/admin/api/password/registration"),
    ] {
        let m: reqwest::Method = method.parse().unwrap();
        let r = client()
            .request(m.clone(), format!("{}{path}", srv.url))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path} without a session");
        if method == "POST" {
            // A session without the CSRF token.
            let r = client()
                .request(m, format!("{}{path}", srv.url))
                .header("cookie", &a.cookie)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{method} {path} without the CSRF token");
        }
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn trying_a_password_says_which_rule_and_stores_nothing() {
    let (_dir, srv, a) = started().await;
    let before = audit_len(&a).await;
    let policy_before = a.get("/admin/api/password/policy").await.1;

    let (st, v) = a
        .post("/admin/api/password/try", json!({"password": "short"}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["accepted"], false);
    assert_eq!(v["rule"], "min_length");
    assert_eq!(v["reason"], "password_too_short");
    assert!(
        v["description"].as_str().unwrap().contains("at least 15"),
        "{v}"
    );
    assert_eq!(v["applied"], json!(["min_length"]));
    assert!(
        !v.to_string().contains("\"short\""),
        "the password is echoed: {v}"
    );

    let (_, v) = a
        .post(
            "/admin/api/password/try",
            json!({"password": "momsanaladventure"}),
        )
        .await;
    assert_eq!(v["rule"], "common", "{v}");
    let (_, v) = a
        .post(
            "/admin/api/password/try",
            json!({"password": "aaaaaaaaaaaaaaaaaa"}),
        )
        .await;
    assert_eq!(v["rule"], "repetitive", "{v}");

    // A context word only counts with the context.
    let pw = "alicewonderland2";
    let (_, v) = a
        .post("/admin/api/password/try", json!({"password": pw}))
        .await;
    assert_eq!(v["accepted"], true, "{v}");
    assert!(v["rule"].is_null());
    let (_, v) = a
        .post(
            "/admin/api/password/try",
            json!({"password": "alicewonderland", "context": {"username": "alicewonderland"}}),
        )
        .await;
    assert_eq!(v["rule"], "context_word", "{v}");
    assert!(v["description"].as_str().unwrap().contains("user name"));

    // An organization's own rules apply to it; the root's to the others.
    a.post(
        "/admin/api/password/policy",
        json!({"org": ORG, "rules": {"min_length": 20}}),
    )
    .await;
    let policy_before = {
        let mut p = policy_before;
        p["orgs"] = a.get("/admin/api/password/policy").await.1["orgs"].clone();
        p
    };
    let before = before + 1;
    let (_, v) = a
        .post(
            "/admin/api/password/try",
            json!({"password": pw, "org": ORG}),
        )
        .await;
    assert_eq!(
        (v["rule"].clone(), v["own"].clone()),
        (json!("min_length"), json!(true)),
        "{v}"
    );
    let (_, v) = a
        .post(
            "/admin/api/password/try",
            json!({"password": pw, "org": "another-org"}),
        )
        .await;
    assert_eq!(
        (v["accepted"].clone(), v["own"].clone()),
        (json!(true), json!(false)),
        "{v}"
    );

    // Refusals name their field.
    let (st, v) = a
        .post(
            "/admin/api/password/try",
            json!({"password": "x".repeat(16 * 1024 + 1)}),
        )
        .await;
    assert_eq!((st, v["field"].clone()), (400, json!("password")), "{v}");
    let (st, v) = a
        .post(
            "/admin/api/password/try",
            json!({"password": pw, "org": "a\u{7}b"}),
        )
        .await;
    assert_eq!((st, v["field"].clone()), (400, json!("org")), "{v}");
    let (st, v) = a.post("/admin/api/password/try", json!({})).await;
    assert_eq!((st, v["field"].clone()), (400, json!("body")), "{v}");
    // The admin body limit holds.
    let (st, _) = a
        .post(
            "/admin/api/password/try",
            json!({"password": "x".repeat(1024 * 1024 + 1)}),
        )
        .await;
    assert_eq!(st, 413);

    // Nothing was stored or audited by the tries.
    assert_eq!(audit_len(&a).await, before);
    assert_eq!(a.get("/admin/api/password/policy").await.1, policy_before);
    srv.stop().await;
}

/// The password tried reaches no log line and no record, even at debug level and in a
/// malformed body.
#[test]
fn a_tried_password_reaches_no_log() {
    const SECRET: &str = "ocelot-marmalade-9931";
    let dir = DataDir::new();
    dir.standard();
    set_password(&dir);
    let (mut child, out, _err) = spawn_serve(
        &dir.path,
        &[],
        &["--listen", "127.0.0.1:0"],
        &[("PROFILEGATE_LOG", "debug")],
    );
    assert!(out.contains("serving on"), "{out}");
    let errs = {
        let mut r = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut r, &mut s);
            s
        })
    };
    let url = format!("http://{}", banner_addr(&out));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (cookie, csrf) = login(&url).await;
        let send = |body: String| {
            client()
                .post(format!("{url}/admin/api/password/try"))
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let r = send(json!({"password": SECRET}).to_string()).await.unwrap();
        assert_eq!(r.status(), 200);
        let r = send(json!({"password": SECRET, "org": 7}).to_string())
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let text = r.text().await.unwrap();
        assert!(!text.contains(SECRET), "{text}");
        let r = send(format!("{{\"password\":\"{SECRET}\"")).await.unwrap();
        assert_eq!(r.status(), 400);
        let text = r.text().await.unwrap();
        assert!(!text.contains(SECRET), "{text}");
    });
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let logs = format!("{out}{}", errs.join().unwrap());
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    for (what, text) in [("log", &logs), ("audit export", &export)] {
        assert!(
            !text.contains(SECRET),
            "the {what} holds the password:\n{text}"
        );
        assert!(
            !text.contains(&SECRET[..10]),
            "the {what} holds the password"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_generate_export_retire_and_a_third_refused() {
    let (_dir, srv, a) = started().await;
    let (st, v) = a.get("/admin/api/password/keys").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["keys"], json!([]));
    assert_eq!(v["max_active"], 2);

    for (body, field) in [
        (json!({"bits": 1024}), "bits"),
        (json!({"bits": 4096}), "bits"),
        (json!({"bits": "many"}), "body"),
    ] {
        let (st, v) = a.post("/admin/api/password/keys", body.clone()).await;
        assert_eq!((st, v["field"].clone()), (400, json!(field)), "{body}: {v}");
    }

    let (st, first) = a
        .post("/admin/api/password/keys", json!({"bits": 2048}))
        .await;
    assert_eq!(st, 200, "{first}");
    assert_eq!(first["key"]["bits"], 2048);
    let pem = first["export"]["certificate_pem"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let b64 = first["export"]["certificate_base64"].as_str().unwrap();
    assert!(b64.starts_with("LS0tLS1CRUdJTi"), "{b64}");
    assert!(!first.to_string().contains("PRIVATE"), "{first}");
    let id1 = first["key"]["id"].as_str().unwrap().to_string();

    let (st, second) = a
        .post("/admin/api/password/keys", json!({"bits": 3072}))
        .await;
    assert_eq!(st, 200, "{second}");
    assert_eq!(second["key"]["bits"], 3072);
    let id2 = second["key"]["id"].as_str().unwrap().to_string();

    // A third active key is refused before any work, next to the size chooser.
    let (st, v) = a
        .post("/admin/api/password/keys", json!({"bits": 2048}))
        .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["field"], "bits");
    assert!(v["error"].as_str().unwrap().contains(&id1), "{v}");

    let (_, v) = a.get("/admin/api/password/keys").await;
    let ids: Vec<&str> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id2.as_str(), id1.as_str()], "newest first");

    // Export: PEM and base64 of the PEM, the same as at generation.
    let (st, v) = a.get(&format!("/admin/api/password/keys/{id1}")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v, first["export"]);
    let (st, _) = a.get("/admin/api/password/keys/nosuchkey").await;
    assert_eq!(st, 404);

    // Retire the first: it is listed retired, cannot be exported, and room is made.
    let (st, v) = a
        .send(
            reqwest::Method::POST,
            &format!("/admin/api/password/keys/{id1}/retire"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["retired"]["id"], id1.as_str());
    assert!(v["retired"]["retired"].is_string(), "{v}");
    let (st, _) = a.get(&format!("/admin/api/password/keys/{id1}")).await;
    assert_eq!(st, 404);
    let (st, _) = a
        .send(
            reqwest::Method::POST,
            &format!("/admin/api/password/keys/{id1}/retire"),
            None,
        )
        .await;
    assert!(st == 404 || st == 409, "retiring twice: {st}");
    let (st, _) = a
        .send(
            reqwest::Method::POST,
            "/admin/api/password/keys/nosuchkey/retire",
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (st, v) = a
        .post("/admin/api/password/keys", json!({"bits": 2048}))
        .await;
    assert_eq!(st, 200, "{v}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_values_carry_the_newest_certificate() {
    let (_dir, srv, a) = started().await;
    // Without a key: the format, no certificate, and a note saying so.
    let (st, v) = a.get("/admin/api/password/registration").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["endpoint_url"],
        format!("{}/actions/pre-update-password", srv.url)
    );
    assert_eq!(v["name"], "profilegate-password");
    assert_eq!(v["authentication_type"], "BASIC");
    assert_eq!(v["properties"]["username"], "wso2");
    assert_eq!(v["passwordSharing"], json!({"format": "PLAIN_TEXT"}));
    assert_eq!(
        v["rest_body"]["passwordSharing"],
        json!({"format": "PLAIN_TEXT"})
    );
    assert!(
        v["notes"].to_string().contains("Generate a key"),
        "{}",
        v["notes"]
    );

    let (_, old) = a
        .post("/admin/api/password/keys", json!({"bits": 2048}))
        .await;
    let (_, new) = a
        .post("/admin/api/password/keys", json!({"bits": 2048}))
        .await;
    let (st, v) = a.get("/admin/api/password/registration").await;
    assert_eq!(st, 200, "{v}");
    let newest = new["export"]["certificate_base64"].as_str().unwrap();
    assert_ne!(newest, old["export"]["certificate_base64"]);
    assert_eq!(v["passwordSharing"]["certificate"], newest);
    assert_eq!(v["certificate_key_id"], new["key"]["id"]);
    let body = &v["rest_body"];
    assert_eq!(body["passwordSharing"]["format"], "PLAIN_TEXT");
    assert_eq!(body["passwordSharing"]["certificate"], newest);
    assert_eq!(
        body["endpoint"]["uri"],
        format!("{}/actions/pre-update-password", srv.url)
    );
    assert_eq!(body["endpoint"]["authentication"]["type"], "BASIC");
    assert_eq!(
        body["endpoint"]["authentication"]["properties"]["username"],
        "wso2"
    );
    assert!(v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| !n.as_str().unwrap().contains("Generate a key")));

    // The HASH format, a chosen name and URL.
    let (st, v) = a
        .get("/admin/api/password/registration?format=SHA256_HASHED&name=pw%20check&url=https%3A%2F%2Fpg.example%2Factions%2Fpre-update-password")
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rest_body"]["passwordSharing"]["format"], "SHA256_HASHED");
    assert_eq!(v["rest_body"]["name"], "pw check");
    assert_eq!(
        v["rest_body"]["endpoint"]["uri"],
        "https://pg.example/actions/pre-update-password"
    );
    assert!(
        v["notes"].to_string().contains("exact-match"),
        "{}",
        v["notes"]
    );

    // Refusals name their field.
    for (query, field) in [
        ("name=x", "name"),
        ("url=ftp%3A%2F%2Fx", "url"),
        ("credential=nosuch", "credential"),
        ("format=HASH", "format"),
    ] {
        let (st, v) = a
            .get(&format!("/admin/api/password/registration?{query}"))
            .await;
        assert_eq!(
            (st, v["field"].clone()),
            (400, json!(field)),
            "{query}: {v}"
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_online_check_is_set_with_its_fields_checked() {
    let (dir, srv, a) = started().await;
    let (_, v) = a.get("/admin/api/password/policy").await;
    assert_eq!(v["online"]["enabled"], false);
    assert_eq!(v["online"]["timeout_ms"], 800);
    for (body, field) in [
        (
            json!({"enabled": true, "url": "", "timeout_ms": 800}),
            "url",
        ),
        (
            json!({"enabled": true, "url": "ftp://r.example/", "timeout_ms": 800}),
            "url",
        ),
        (
            json!({"enabled": true, "url": "https://r.example/range/", "timeout_ms": 5000}),
            "timeout_ms",
        ),
    ] {
        let (st, v) = a.post("/admin/api/password/online", body).await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["field"], field, "{v}");
    }
    let on = json!({"enabled": true, "url": "https://r.example/range/", "timeout_ms": 500, "fail_closed": true});
    let before = audit_len(&a).await;
    let (st, v) = a.post("/admin/api/password/online", on.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v, on);
    assert_eq!(audit_len(&a).await, before + 1);
    let (_, v) = a.get("/admin/api/password/policy").await;
    assert_eq!(v["online"], on);
    srv.stop().await;
    let stored = dir.with_store(|s| s.settings().password.online.clone());
    assert!(stored.enabled && stored.fail_closed && stored.timeout_ms == 500);
}

/// `SHA1HEX:COUNT` lines: the given passwords' hashes and `filler` random-looking ones.
fn pwned_lines(passwords: &[&str], filler: u32) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for p in passwords {
        let _ = writeln!(
            out,
            "{}:12",
            profilegate::online_breach::sha1_hex(p).as_str()
        );
    }
    for i in 0..filler {
        let h = profilegate::online_breach::sha1_hex(&format!("filler-{i}"));
        let _ = write!(out, "{}:{}\r\n", h.as_str(), i % 50 + 1);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uploaded_list_is_imported_whole_and_used_at_once() {
    let (dir, srv, a) = started().await;
    let (st, v) = a.get("/admin/api/password/breached").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v,
        json!({"imported": null, "loaded": null, "importing": false})
    );
    let pw = "violet hammock sunrise bell";
    let try_it = || a.post("/admin/api/password/try", json!({ "password": pw }));
    let (_, v) = try_it().await;
    assert_eq!(v["accepted"], true, "{v}");
    assert_eq!(v["unchecked"], json!(["breached"]));

    let before = audit_len(&a).await;
    let (st, v) = a
        .post_text(
            "/admin/api/password/breached?min_count=1&name=..%2Ftop%20hashes.txt",
            pwned_lines(&[pw], 20_000),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["imported"]["entries"], 20_001);
    assert_eq!(v["imported"]["source_name"], "top_hashes.txt");
    assert_eq!(v["in_use"], true);
    assert_eq!(audit_len(&a).await, before + 1);
    let (_, v) = try_it().await;
    assert_eq!(v["rule"], "breached", "{v}");
    let (_, v) = a.get("/admin/api/password/breached").await;
    assert_eq!(v["loaded"]["entries"], 20_001);
    assert_eq!(v["imported"], v["loaded"]);

    // Refused whole, the list in use stays: a damaged line (named), bare hashes above 1.
    let mut damaged = pwned_lines(&[], 100);
    damaged.push_str("not a hash\n");
    let (st, v) = a.post_text("/admin/api/password/breached", damaged).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["field"], "file");
    assert!(v["error"].as_str().unwrap().contains("line 101"), "{v}");
    let bare = format!(
        "{}\n",
        profilegate::online_breach::sha1_hex("other").as_str()
    );
    let (st, v) = a
        .post_text("/admin/api/password/breached?min_count=5", bare)
        .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["field"], "min_count", "{v}");
    let (_, v) = a.get("/admin/api/password/breached").await;
    assert_eq!(v["loaded"]["entries"], 20_001);
    let (_, v) = try_it().await;
    assert_eq!(v["rule"], "breached", "{v}");
    assert_eq!(audit_len(&a).await, before + 1);
    srv.stop().await;
    let left: Vec<String> = std::fs::read_dir(&dir.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("breached"))
        .collect();
    assert_eq!(left, vec!["breached.filter".to_string()]);
}
