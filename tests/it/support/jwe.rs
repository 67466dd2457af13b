//! JWEs made by an independent implementation: node's built-in `crypto`, shaped as WSO2 (Nimbus,
//! Gson) makes them (`tests/vectors/jwe.mjs`).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// Runs the vector script with `certificate` (PEM or base64 of the PEM) and `cases`.
pub fn node(certificate: &str, cases: Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/jwe.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("the JWE vectors need Node.js (18 or later) as `node` on PATH to run {script:?}: {e}")
        });
    let input = json!({ "certificate": certificate, "cases": cases }).to_string();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to node");
    let out = child.wait_with_output().expect("node output");
    assert!(
        out.status.success(),
        "node {script:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("node's JSON")
}
