//! Sessions.

use super::*;

/// The session id in a `Set-Cookie` answer.
fn session_id(r: &reqwest::Response) -> String {
    let c = r.headers()["set-cookie"].to_str().unwrap();
    c.split(';')
        .next()
        .unwrap()
        .strip_prefix("pg_session=")
        .unwrap_or_else(|| panic!("{c}"))
        .to_string()
}

async fn session_status(url: &str, id: &str) -> u16 {
    client()
        .get(format!("{url}/admin/api/session"))
        .header("cookie", format!("pg_session={id}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A session id the client makes up is never adopted; each login issues a fresh id, also
/// when the client already holds a live one; logout ends the session on the server, so the
/// old cookie replayed is refused.
#[tokio::test(flavor = "multi_thread")]
async fn no_session_fixation_and_logout_ends_the_session_on_the_server() {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let url = &srv.url;
    let login = |cookie: Option<String>| {
        let mut rb = client()
            .post(format!("{url}/admin/api/login"))
            .json(&json!({"password": PASSWORD}));
        if let Some(c) = cookie {
            rb = rb.header("cookie", c);
        }
        rb.send()
    };
    let invented = "attacker-chosen-session-id-0123456789abcdefghij";
    assert_eq!(session_status(url, invented).await, 401);
    let r = login(Some(format!("pg_session={invented}"))).await.unwrap();
    assert_eq!(r.status(), 200);
    let first = session_id(&r);
    assert_ne!(first, invented, "the invented id was adopted");
    assert!(first.len() >= 32, "{first}");
    assert_eq!(
        session_status(url, invented).await,
        401,
        "after the login too"
    );
    assert_eq!(session_status(url, &first).await, 200);

    // A second login with the live session's cookie: a new id.
    let r = login(Some(format!("pg_session={first}"))).await.unwrap();
    assert_eq!(r.status(), 200);
    let second = session_id(&r);
    assert_ne!(second, first);
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Logout: the cookie, replayed as an attacker who copied it would, no longer works.
    let r = client()
        .post(format!("{url}/admin/api/logout"))
        .header("cookie", format!("pg_session={second}"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(session_status(url, &second).await, 401);
    let r = client()
        .post(format!("{url}/admin/api/departments"))
        .header("cookie", format!("pg_session={second}"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"names": ["Legal"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a mutation with the ended session");
    srv.stop().await;
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(!export.contains("departments.add"), "{export}");
}
