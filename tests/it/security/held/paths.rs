//! Path traversal.

use super::*;

/// Paths that try to leave the UI's folder (or reach a file beside it), sent exactly as
/// written: each is a 404, never a file. (Debug builds, these tests included, read the UI
/// files from static/ on disk; release builds embed them.)
#[tokio::test(flavor = "multi_thread")]
async fn path_traversal_under_admin_finds_nothing() {
    let dir = DataDir::new();
    let srv = Server::start(&dir.path).await;
    let host = host_of(&srv.url);
    // Sanity: a UI file is served this way.
    let ok = raw(
        &host,
        format!("GET /admin/app.js HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&ok), 200, "{ok}");
    let targets = [
        "/admin/../Cargo.toml",
        "/admin/../../../../../../etc/passwd",
        "/admin/..%2fCargo.toml",
        "/admin/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/admin/%2e%2e/Cargo.toml",
        "/admin/%2e%2e%2fCargo.toml",
        "/admin/%2E%2E%2Fsrc%2Flib.rs",
        "/admin/..%5cCargo.toml",
        "/admin/%252e%252e%252fCargo.toml",
        "/admin/..;/Cargo.toml",
        "/admin/.%2e/Cargo.toml",
        "/admin/.%2e%2fCargo.toml",
        "/admin/%c0%ae%c0%ae/Cargo.toml",
        "/admin/%c0%ae%c0%ae%c0%afCargo.toml",
        "/admin/....//Cargo.toml",
        "/admin/....%2f%2fCargo.toml",
        "/admin/..\\Cargo.toml",
        "/admin/..\\..\\..\\..\\etc\\passwd",
        "/admin/x/../../Cargo.toml",
        "/admin/x%2f..%2f..%2fCargo.toml",
        "/admin/app.js%2f..%2f..%2fCargo.toml",
        "/admin/x%5c..%5c..%5cCargo.toml",
        "/admin/%2fetc%2fpasswd",
        "/admin//etc/passwd",
        "//etc/passwd",
        "/admin/%00../Cargo.toml",
        "/admin/.env",
        "/admin/.%2e",
        "/admin/Cargo.toml",
        "/admin/openapi.json/../../Cargo.toml",
    ];
    for t in targets {
        let resp = raw(
            &host,
            format!("GET {t} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        for leak in ["[package]", "root:", "pub mod", "[dependencies]"] {
            assert!(!resp.contains(leak), "{t} served a file:\n{resp}");
        }
        assert_eq!(status_of(&resp), 404, "{t}:\n{resp}");
    }
    srv.stop().await;
}
