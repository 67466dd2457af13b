//! Defences an attacker's review found holding, pinned here so they keep holding: security
//! headers, CSRF on every mutating admin route, the setup link, session fixation, throttling
//! keyed by the socket address, path traversal under /admin/, oversized headers, idle
//! keep-alive connections, hostile values near e-mail headers, STARTTLS downgrade, TLS
//! versions, and secrets kept out of logs, metrics and the audit chain. Each test asserts the
//! refusal and that nothing changed; where a request is sent raw over TCP it is because an
//! HTTP client would normalise it.

mod csrf;
mod headers;
mod limits;
mod mail;
mod paths;
mod secrets;
mod sessions;
mod setup;
mod throttling;
mod tls;

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::admin::{client, set_password, Admin, PASSWORD};
use crate::support::mail::{seed_failed_mail, MailServer};
use crate::support::*;
use profilegate::model::{Encryption, SmtpSettings};

/// `host:port` of a server started over plain HTTP.
fn host_of(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

/// Sends `request` byte for byte on a new connection and returns what the server answered
/// before it closed the connection (or 5 s passed). A reset after the answer is ignored.
async fn raw(host: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(host).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 answer (0 when there is none).
fn status_of(resp: &str) -> u16 {
    resp.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The SMTP settings of a plain mail server on `port` without a login.
fn plain_smtp(port: u16, encryption: Encryption) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        encryption,
        username: None,
        password: None,
        from: "profilegate@example.com".into(),
        timeout_ms: 2000,
        tls_ca_pem: None,
    }
}

/// Stores SMTP settings and one recipient (blocking mode, the default).
fn configure_mail(dir: &DataDir, smtp: SmtpSettings) {
    dir.with_store(|s| {
        s.update_settings("test", "notify", |st| {
            st.notify.smtp = Some(smtp);
            st.notify.recipients = vec!["security@example.com".into()];
        })
        .unwrap()
    });
}

/// Starts `profilegate serve` on 127.0.0.1:0 with all logging on; returns the child, its
/// start-up banner (through the setup link's lines when `setup_link`, else through the admin
/// UI line), and a thread that collects its stderr (the log) until it exits.
fn serve_logging(
    dir: &std::path::Path,
    setup_link: bool,
) -> (std::process::Child, String, std::thread::JoinHandle<String>) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_profilegate"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("PROFILEGATE_LISTEN")
        .env("PROFILEGATE_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run profilegate serve");
    let mut stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut rd = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut out = String::new();
    loop {
        let mut l = String::new();
        if rd.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        out.push_str(&l);
        let last = if setup_link {
            l.contains("set-password")
        } else {
            l.starts_with("Admin UI:")
        };
        if last {
            break;
        }
    }
    (child, out, logs)
}
