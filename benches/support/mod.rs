//! What the benchmarks share: starting the release binary as its own process.

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
