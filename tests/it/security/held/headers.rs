//! Security headers.

use super::*;

/// What every page of the admin UI, and every admin API answer, must carry.
fn assert_security_headers(what: &str, h: &reqwest::header::HeaderMap) {
    let get = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let csp = get("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{what}: content-security-policy {csp:?}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp:?}"
    );
    assert_eq!(get("x-frame-options"), "DENY", "{what}: x-frame-options");
    assert_eq!(
        get("x-content-type-options"),
        "nosniff",
        "{what}: x-content-type-options"
    );
    let referrer = get("referrer-policy");
    assert!(
        ["no-referrer", "same-origin", "strict-origin"].contains(&referrer.as_str()),
        "{what}: referrer-policy {referrer:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_pages_carry_the_security_headers() {
    let dir = DataDir::new();
    let srv = Server::start(&dir.path).await;
    for path in [
        "/admin/",
        "/admin/index.html",
        "/admin/app.js",
        "/admin/app.css",
        "/admin/api/openapi.json",
    ] {
        let r = client()
            .get(format!("{}{path}", srv.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_security_headers(path, r.headers());
        // The script is the page's only code: CSP allows no inline script, so none is there.
        if path == "/admin/" {
            let page = r.text().await.unwrap();
            assert!(!page.contains("<script>"), "inline script in {path}");
        }
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread")]

async fn admin_api_answers_carry_the_security_headers() {
    let dir = DataDir::new();
    dir.standard();
    set_password(&dir);
    let srv = Server::start(&dir.path).await;
    let a = Admin::new(&srv.url).await;
    let url = &srv.url;
    let c = client();
    let answers = [
        (
            "GET session",
            c.get(format!("{url}/admin/api/session"))
                .header("cookie", &a.cookie),
        ),
        (
            "GET departments/export",
            c.get(format!("{url}/admin/api/departments/export"))
                .header("cookie", &a.cookie),
        ),
        (
            "GET overview, no session",
            c.get(format!("{url}/admin/api/overview")),
        ),
        (
            "POST departments, no CSRF token",
            c.post(format!("{url}/admin/api/departments"))
                .header("cookie", &a.cookie)
                .json(&json!({"names": ["Legal"]})),
        ),
        (
            "POST login, wrong password",
            c.post(format!("{url}/admin/api/login"))
                .json(&json!({"password": "not the password"})),
        ),
        (
            "GET a missing UI file",
            c.get(format!("{url}/admin/nope.js")),
        ),
    ];
    // Every answer checked, then all that lack something reported at once.
    let mut lacking = Vec::new();
    for (what, rb) in answers {
        let r = rb.send().await.unwrap();
        let what = format!("{what} ({})", r.status());
        let h = r.headers().clone();
        if std::panic::catch_unwind(|| assert_security_headers(&what, &h)).is_err() {
            lacking.push(what);
        }
    }
    srv.stop().await;
    assert!(
        lacking.is_empty(),
        "without the security headers: {lacking:?}"
    );
}
