//! The admin API over HTTP: login, sessions, CSRF, throttling, validation errors.

mod api;
mod browser;
mod openapi;
mod password;

use serde_json::{json, Value};

use crate::support::admin::{client, login, set_password, Admin, PASSWORD};
use crate::support::*;

#[test]
fn short_passwords_are_refused() {
    let dir = DataDir::new();
    let o = cli_with_input(
        &dir.path,
        &["admin", "set-password", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("at least 12"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn session_and_csrf_are_required() {
    let dir = DataDir::new();
    dir.standard();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let url = srv.url.clone();
    let api = format!("{url}/admin/api/departments");

    // No session: 401 with a JSON reason.
    let r = client().get(&api).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("log in"));

    // Wrong password: 401 naming the field.
    let r = client()
        .post(format!("{url}/admin/api/login"))
        .json(&json!({"password": "nope nope nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["field"], "password");

    let (cookie, csrf) = login(&url).await;
    let r = client()
        .get(&api)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["names"], json!(["Engineering", "HR", "R&D, Europe"]));

    // Mutations need the CSRF token, and a same-origin request.
    let add = || {
        client()
            .post(&api)
            .header("cookie", &cookie)
            .json(&json!({"names": ["Legal"]}))
    };
    assert_eq!(add().send().await.unwrap().status(), 403);
    assert_eq!(
        add()
            .header("x-csrf-token", "wrong")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // With the token, but marked cross-site or from another origin.
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://evil.example"),
    ] {
        let r = add()
            .header("x-csrf-token", &csrf)
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
    }
    let r = add()
        .header("x-csrf-token", &csrf)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["added"], json!(["Legal"]));

    // Validation errors name the field; nothing is half-applied.
    let r = client()
        .post(&api)
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"names": ["Ok name", " "]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["field"], "names");
    let names: Value = client()
        .get(&api)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!names["names"]
        .as_array()
        .unwrap()
        .contains(&json!("Ok name")));

    // Logout ends the session.
    let r = client()
        .post(format!("{url}/admin/api/logout"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        client()
            .get(&api)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    srv.stop().await;

    // The change is in the audit chain, by the admin session.
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(
        export.lines().any(|l| l.contains("departments.add")
            && l.contains("admin session")
            && l.contains("Legal")),
        "{export}"
    );
    assert!(!export.contains("argon2"), "no password hash in the chain");
}

/// Password checks are throttled per address, login and password change alike (one gate,
/// `src/admin/gate.rs`): after two failed logins even the right password waits, told how long
/// by `Retry-After`, and so does a logged-in admin's password change from that address. (The
/// growing delays are pinned in `hardening::access`.)
#[tokio::test(flavor = "multi_thread")]
async fn logins_are_throttled() {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let admin = Admin::new(&srv.url).await;
    let login_url = format!("{}/admin/api/login", srv.url);
    for _ in 0..2 {
        let r = client()
            .post(&login_url)
            .json(&json!({"password": "wrong password!"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = client()
        .post(&login_url)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "the right password waits out the delay");
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "password");
    let r = client()
        .post(format!("{}/admin/api/password", srv.url))
        .header("cookie", &admin.cookie)
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({"current": PASSWORD, "new": "a much longer password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "the password change passes the same gate");
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.json::<Value>().await.unwrap()["field"], "current");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn departments_import_preview_and_remove() {
    let dir = DataDir::new();
    let cred = dir.standard();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let post_m = reqwest::Method::POST;

    // Preview: nothing changes.
    let (st, v) = a
        .send(
            post_m.clone(),
            "/admin/api/departments/import",
            Some(json!({"csv": "name\nHR\nSales\n", "replace": true})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["applied"], false);
    assert_eq!(v["plan"]["added"], json!(["Sales"]));
    assert_eq!(v["plan"]["removed"], json!(["Engineering", "R&D, Europe"]));
    assert_eq!(
        a.get("/admin/api/departments").await.1["names"],
        json!(["Engineering", "HR", "R&D, Europe"])
    );
    // A bad line: 400 on the csv field, nothing applied.
    let (st, v) = a
        .send(
            post_m.clone(),
            "/admin/api/departments/import",
            Some(json!({"csv": "A\nB,C\n", "apply": true})),
        )
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("csv")), "{v}");
    // Apply.
    let (st, _) = a
        .send(
            post_m.clone(),
            "/admin/api/departments/import",
            Some(json!({"csv": "HR\nSales\n", "replace": true, "apply": true})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        a.get("/admin/api/departments").await.1["names"],
        json!(["HR", "Sales"])
    );
    // The running server decides with the new directory at once.
    let r = post(
        &srv.action_url(),
        &Auth::of(&cred),
        profile_event(Some("imp-1"), dept(json!("Sales"))).to_string(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    // Removing an unknown name changes nothing and says which.
    let (st, v) = a
        .send(
            post_m.clone(),
            "/admin/api/departments/remove",
            Some(json!({"names": ["HR", "Nope"]})),
        )
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("names")));
    assert!(v["error"].as_str().unwrap().contains("Nope"));
    let (st, v) = a
        .send(
            post_m,
            "/admin/api/departments/remove",
            Some(json!({"names": ["HR"]})),
        )
        .await;
    assert_eq!((st, v["removed"].as_u64()), (200, Some(1)));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_over_the_api_and_the_audit_log() {
    let dir = DataDir::new();
    dir.with_store(|s| s.add_departments("test", None, &["HR"]).unwrap());
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;

    let (st, v) = a
        .send(
            reqwest::Method::POST,
            "/admin/api/credentials",
            Some(json!({"type": "api-key", "header": "bad_header"})),
        )
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("header")), "{v}");
    let (st, created) = a
        .send(
            reqwest::Method::POST,
            "/admin/api/credentials",
            Some(json!({"type": "basic", "username": "wso2"})),
        )
        .await;
    assert_eq!(st, 200, "{created}");
    assert_eq!(created["type"], "BASIC");
    let (user, pass) = (
        created["username"].as_str().unwrap().to_string(),
        created["password"].as_str().unwrap().to_string(),
    );

    // The running server accepts the new credential at once; the list never shows the secret.
    let body = profile_event(Some("api-1"), dept(json!("HR"))).to_string();
    let r = post(
        &format!("{}/actions/pre-update-profile", srv.url),
        &Auth::Basic(user.clone(), pass.clone()),
        body.clone(),
    )
    .await;
    assert_eq!(r.json["actionStatus"], "SUCCESS");
    let (_, list) = a.get("/admin/api/credentials").await;
    assert_eq!(list["credentials"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&pass));

    // Revoked: refused at once.
    let id = created["id"].as_str().unwrap();
    let (st, _) = a
        .send(
            reqwest::Method::DELETE,
            &format!("/admin/api/credentials/{id}"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let r = post(
        &format!("{}/actions/pre-update-profile", srv.url),
        &Auth::Basic(user, pass),
        profile_event(Some("api-2"), dept(json!("HR"))).to_string(),
    )
    .await;
    assert_eq!(r.status, 401);

    // The audit log, newest first, paged.
    let (st, v) = a.get("/admin/api/audit?limit=2").await;
    assert_eq!(st, 200);
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["action"], "credentials.revoke");
    assert_eq!(recs[1]["kind"], "decision");
    let older = recs[1]["seq"].as_u64().unwrap();
    let (_, v) = a
        .get(&format!("/admin/api/audit?before={older}&limit=1"))
        .await;
    assert_eq!(v["records"][0]["action"], "credentials.create");
    srv.stop().await;
}

/// The served OpenAPI description lists every route, and every described operation but login,
/// setup and the description itself (the only ones it marks as needing no session) refuses a caller without a session; every mutating one also
/// refuses a session without the CSRF token.
#[tokio::test(flavor = "multi_thread")]
async fn openapi_describes_every_route_and_each_needs_a_session() {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let r = client()
        .get(format!("{}/admin/api/openapi.json", srv.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("application/json"));
    let doc: Value = r.json().await.unwrap();
    // Generated by utoipa, which writes OpenAPI 3.1 (the hand-written file was 3.0.3).
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/admin/api/login",
        "/admin/api/setup",
        "/admin/api/logout",
        "/admin/api/session",
        "/admin/api/password",
        "/admin/api/overview",
        "/admin/api/departments",
        "/admin/api/departments/remove",
        "/admin/api/departments/import",
        "/admin/api/departments/export",
        "/admin/api/credentials",
        "/admin/api/credentials/{id}",
        "/admin/api/endpoint",
        "/admin/api/endpoint/auth",
        "/admin/api/endpoint/registration",
        "/admin/api/notifications",
        "/admin/api/notifications/smtp",
        "/admin/api/notifications/recipients",
        "/admin/api/notifications/sensitive",
        "/admin/api/notifications/mode",
        "/admin/api/notifications/test",
        "/admin/api/outbox",
        "/admin/api/outbox/retry",
        "/admin/api/audit",
        "/admin/api/audit/verify",
        "/admin/api/audit/export",
        "/admin/api/settings",
        "/admin/api/openapi.json",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not described");
    }
    let admin = Admin::new(&srv.url).await;
    let mut checked = 0;
    let mut public = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let url = format!("{}{}", srv.url, path.replace("{id}", "some-id"));
        for (method, op) in ops.as_object().unwrap() {
            // An operation whose requirements are none, or one empty one, needs no session.
            if op.get("security").is_some_and(|s| {
                s.as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r.as_object().is_some_and(|r| r.is_empty()))
            }) {
                public.push(format!("{method} {path}"));
                continue;
            }
            let m: reqwest::Method = method.to_uppercase().parse().unwrap();
            let r = client()
                .request(m.clone(), &url)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{method} {path} without a session");
            let v: Value = r.json().await.unwrap();
            assert!(v["error"].is_string(), "{method} {path}: {v}");
            if m != reqwest::Method::GET {
                let r = client()
                    .request(m, &url)
                    .header("cookie", &admin.cookie)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 403, "{method} {path} without the CSRF token");
            }
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} operations checked");
    public.sort();
    assert_eq!(
        public,
        [
            "get /admin/api/openapi.json",
            "post /admin/api/login",
            "post /admin/api/setup"
        ],
        "the operations described as callable without a session"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn password_change() {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let other = Admin::new(&srv.url).await;
    let m = reqwest::Method::POST;
    let (st, v) = a
        .send(
            m.clone(),
            "/admin/api/password",
            Some(json!({"current": PASSWORD, "new": "short"})),
        )
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("new")));
    let (st, v) = a
        .send(
            m.clone(),
            "/admin/api/password",
            Some(json!({"current": "not it at all", "new": "a much longer password"})),
        )
        .await;
    assert_eq!((st, v["field"].as_str()), (400, Some("current")));
    let (st, _) = a
        .send(
            m,
            "/admin/api/password",
            Some(json!({"current": PASSWORD, "new": "a much longer password"})),
        )
        .await;
    assert_eq!(st, 200);
    // This session goes on; the other one has to log in again, and only the new password works.
    assert_eq!(a.get("/admin/api/session").await.0, 200);
    assert_eq!(other.get("/admin/api/session").await.0, 401);
    let login_url = format!("{}/admin/api/login", srv.url);
    let r = client()
        .post(&login_url)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .post(&login_url)
        .json(&json!({"password": "a much longer password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    srv.stop().await;
}
