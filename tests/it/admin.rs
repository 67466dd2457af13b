//! The admin API over HTTP: login, sessions, CSRF, throttling, validation errors.

use serde_json::{json, Value};

use crate::support::*;

const PASSWORD: &str = "correct horse battery";

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// Logs in; returns the session cookie header value and the CSRF token.
async fn login(url: &str) -> (String, String) {
    let r = client()
        .post(format!("{url}/admin/api/login"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let v: Value = r.json().await.unwrap();
    (
        cookie.split(';').next().unwrap().to_string(),
        v["csrf_token"].as_str().unwrap().to_string(),
    )
}

fn set_password(dir: &DataDir) {
    let o = cli_with_input(
        &dir.path,
        &["admin", "set-password", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

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
    let r = add()
        .header("x-csrf-token", &csrf)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = add()
        .header("x-csrf-token", &csrf)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
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

#[tokio::test(flavor = "multi_thread")]
async fn logins_are_throttled() {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let login_url = format!("{}/admin/api/login", srv.url);
    for _ in 0..5 {
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
    assert_eq!(
        r.status(),
        429,
        "even the right password waits out the throttle"
    );
    srv.stop().await;
}
