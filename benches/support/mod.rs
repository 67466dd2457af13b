//! What the benchmarks share: starting the release binary as its own process, and the
//! decision record a large audit log is made of.

// Each benchmark uses part of this.
#![allow(dead_code)]

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;

/// Starts `profilegate serve` (the binary cargo built with the bench's settings) on `dir` and a
/// free port; the child and the address its banner names.
pub fn spawn_server(dir: &Path) -> (std::process::Child, SocketAddr) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_profilegate"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PROFILEGATE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn profilegate");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while out.read_line(&mut line).unwrap_or(0) > 0 {
        if let Some(rest) = line.split("serving on http://").nth(1) {
            if let Some(addr) = rest
                .split_whitespace()
                .next()
                .and_then(|a| a.parse::<SocketAddr>().ok())
            {
                return (child, addr);
            }
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server printed no address");
}

/// Stops a server [`spawn_server`] started (SIGTERM, as systemd would) and waits for it.
pub fn stop_server(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// A decision record as the seed payload produces it (about 800 bytes of JSON), the `i`-th,
/// answered for credential `credential`.
pub fn decision_record(i: u64, credential: &str) -> Vec<u8> {
    format!(
        r#"{{"kind":"decision","request_id":"bench-{i}","idempotency_key":"{:032x}","action_type":"PRE_UPDATE_PROFILE","tenant_id":"-1234","tenant_name":"carbon.super","user_id":"5f3c1a2e-0000-4000-8000-{i:012}","initiator":"ADMIN","claims":[{{"uri":"http://wso2.org/claims/emailaddress","old":"old{i}@example.com","new":"new{i}@example.com"}},{{"uri":"http://wso2.org/claims/mobile","new":"+94771234567"}},{{"uri":"http://wso2.org/claims/department","old":"HR","new":"Engineering"}}],"decision":"SUCCESS","http_status":200,"rule":"allowed","notification":"queued","credential":"{credential}","latency_us":812}}"#,
        bench_key(i),
    )
    .into_bytes()
}

/// A request key for record `i`: spread like the SHA-256 prefix a real key is (the retry index
/// keeps the first 8 bytes of each key, so sequential numbers would all look alike there).
pub fn bench_key(i: u64) -> u128 {
    u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) | 1
}

/// Bytes under a directory.
pub fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
