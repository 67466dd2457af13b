//! Throttling by socket address.

use super::*;

/// Headers a client might send to pretend it is someone else.
fn spoofed(rb: reqwest::RequestBuilder, i: usize) -> reqwest::RequestBuilder {
    let ip = format!("198.51.100.{}", i + 1);
    rb.header("x-forwarded-for", &ip)
        .header("forwarded", format!("for={ip}"))
        .header("x-real-ip", &ip)
}

/// A fresh server's answers to 16 wrong secrets for the real credential id (each costs
/// argon2 until the address is throttled), then one more without any forwarding header.
async fn endpoint_failures(spoof: bool) -> Vec<(u16, String)> {
    let dir = DataDir::new();
    let cred = dir.standard();
    let srv = Server::start(&dir.path).await;
    let Auth::Basic(user, secret) = Auth::of(&cred) else {
        panic!("basic")
    };
    let id = secret.split('_').nth(1).unwrap().to_string();
    let mut seen = Vec::new();
    for i in 0..17 {
        let mut rb = client()
            .post(srv.action_url())
            .basic_auth(&user, Some(format!("pg_{id}_wrong{i}")))
            .header("content-type", "application/json")
            .body(profile_event(None, dept(json!("HR"))).to_string());
        if spoof && i < 16 {
            rb = spoofed(rb, i);
        }
        let r = rb.send().await.unwrap();
        seen.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    srv.stop().await;
    seen
}

/// Wrong endpoint secrets are counted per socket address: each carrying a different
/// X-Forwarded-For / Forwarded / X-Real-IP is answered exactly as the same attempts without
/// them, so the spoofed headers neither reset nor escape the accounting.
#[tokio::test(flavor = "multi_thread")]
async fn forwarding_headers_do_not_escape_endpoint_throttling() {
    let plain = endpoint_failures(false).await;
    assert!(
        plain.iter().any(|a| a != &plain[0]),
        "16 wrong secrets were not throttled at all: {plain:?}"
    );
    let spoofing = endpoint_failures(true).await;
    assert_eq!(spoofing, plain);
}

/// A fresh server's answers to 8 wrong admin passwords, then the right one (status codes).
async fn admin_login_failures(spoof: bool) -> Vec<u16> {
    let dir = DataDir::new();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let mut seen = Vec::new();
    for i in 0..9 {
        let password = if i < 8 { "wrong password!!" } else { PASSWORD };
        let mut rb = client()
            .post(format!("{}/admin/api/login", srv.url))
            .json(&json!({ "password": password }));
        if spoof {
            rb = spoofed(rb, i);
        }
        seen.push(rb.send().await.unwrap().status().as_u16());
    }
    srv.stop().await;
    seen
}

/// The same for admin logins.
#[tokio::test(flavor = "multi_thread")]
async fn forwarding_headers_do_not_escape_admin_login_throttling() {
    let plain = admin_login_failures(false).await;
    assert!(
        plain.contains(&429),
        "8 wrong passwords were not throttled: {plain:?}"
    );
    assert_eq!(plain.last(), Some(&429), "{plain:?}");
    let spoofing = admin_login_failures(true).await;
    assert_eq!(spoofing, plain);
}
