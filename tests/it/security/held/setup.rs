//! Setup link.

use super::*;

/// The setup link carries its token in the URL fragment (never sent to a server, never in a
/// proxy's or the server's access log), works once, and the token never reaches the log,
/// even at the most verbose level.
#[test]
fn setup_token_is_in_the_fragment_single_use_and_never_logged() {
    let dir = DataDir::new();
    let (child, banner, logs) = serve_logging(&dir.path, true);
    let link = banner
        .lines()
        .map(str::trim)
        .find(|l| l.contains("/admin/") && l.contains("setup="))
        .unwrap_or_else(|| panic!("no setup link in {banner}"))
        .to_string();
    assert!(
        link.contains("/admin/#setup=") && !link.contains('?'),
        "the token must be in the fragment: {link}"
    );
    let token = link.split("#setup=").nth(1).unwrap().to_string();
    assert!(token.len() >= 32, "{token}");
    let host = banner_addr(&banner);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let setup = format!("http://{host}/admin/api/setup");
        let r = client()
            .post(&setup)
            .json(&json!({"token": "not-the-token", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = client()
            .post(&setup)
            .json(&json!({"token": token, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Spent: refused, and the password set with it stays.
        let r = client()
            .post(&setup)
            .json(&json!({"token": token, "password": "another long password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        let r = client()
            .post(format!("http://{host}/admin/api/login"))
            .json(&json!({"password": "another long password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        Admin::new(&format!("http://{host}")).await;
    });
    stop_child(child);
    let logs = logs.join().unwrap();
    assert!(
        logs.lines().count() >= 3,
        "the log was expected to say something at trace level: {logs}"
    );
    assert!(
        !logs.contains(&token),
        "the setup token was logged:\n{logs}"
    );
    assert!(!logs.contains(PASSWORD), "the admin password was logged");
    let export = stdout(&cli(&dir.path, &["audit", "export"]));
    assert!(export.contains("setup link"), "{export}");
    assert!(
        !export.contains(&token),
        "the setup token is in the audit chain"
    );
}
