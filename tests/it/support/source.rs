//! A source of answers on a local port, HTTP or HTTPS, for the clients that fetch from an
//! administrator's URL (the online breach check, the department sync): it answers what the
//! test set, or 304 to a matching `If-None-Match`, and keeps each request's head.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What the source answers.
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub etag: Option<&'static str>,
    pub delay: Duration,
}

/// A 200 with this body, at once.
pub fn ok(content_type: &'static str, body: &str) -> Answer {
    Answer {
        status: 200,
        content_type,
        body: body.into(),
        etag: None,
        delay: Duration::ZERO,
    }
}

/// A source on a local port (HTTPS when given a certificate and key): it answers the current
/// answer (`{n}` in its body replaced by the request's number, from 1), or 304 when the request's `If-None-Match` is the answer's `ETag`; it keeps each
/// request's head.
pub struct Source {
    pub url: String,
    answer: Arc<Mutex<Answer>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Source {
    /// Serves HTTPS at `path` with a certificate for localhost from a test CA made in `dir`;
    /// returns the source and the CA's PEM (for the client to trust).
    pub async fn start_tls(path: &str, dir: &std::path::Path) -> (Source, String) {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let (cert, key, ca_pem) = crate::support::tls::generate(dir);
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(&key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        (Source::start(path, Some(acceptor)).await, ca_pem)
    }

    /// Serves at `path` on a free port of localhost.
    pub async fn start(path: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Source {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!(
            "{scheme}://localhost:{}{path}",
            listener.local_addr().unwrap().port()
        );
        let answer = Arc::new(Mutex::new(ok("application/json", "[]")));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (a, s) = (answer.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (a, s, tls) = (a.clone(), s.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acc) => {
                            if let Ok(stream) = acc.accept(tcp).await {
                                serve(stream, a, s).await;
                            }
                        }
                        None => serve(tcp, a, s).await,
                    }
                });
            }
        });
        Source { url, answer, seen }
    }

    pub fn set(&self, a: Answer) {
        *self.answer.lock() = a;
    }

    /// Each request's head so far, lower-cased.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().clone()
    }

    pub fn last_head(&self) -> String {
        self.seen.lock().last().cloned().unwrap_or_default()
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    answer: Arc<Mutex<Answer>>,
    seen: Arc<Mutex<Vec<String>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let nth = {
        let mut seen = seen.lock();
        seen.push(head.clone());
        seen.len()
    };
    let a = answer.lock().clone();
    tokio::time::sleep(a.delay).await;
    let not_modified = a
        .etag
        .is_some_and(|e| head.contains(&format!("if-none-match: {}", e.to_ascii_lowercase())));
    let (status, body) = if not_modified {
        (304, String::new())
    } else {
        (a.status, a.body.replace("{n}", &nth.to_string()))
    };
    let etag = a.etag.map_or(String::new(), |e| format!("etag: {e}\r\n"));
    let resp = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {}\r\n{etag}last-modified: Mon, 30 Nov 2026 08:00:00 GMT\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        a.content_type,
        body.len()
    );
    let _ = io.write_all(resp.as_bytes()).await;
    let _ = io.shutdown().await;
}
