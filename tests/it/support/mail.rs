//! A real SMTP server for the tests (mailin-embedded on port 0), and servers that misbehave.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server, SslConfig};

/// One received message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// When the server accepted it (the end of its data).
    pub received: std::time::Instant,
    /// Which SMTP session carried it (a number per EHLO) and its place in that session.
    pub session: (u64, u64),
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            from: String::new(),
            to: Vec::new(),
            data: String::new(),
            received: std::time::Instant::now(),
            session: (0, 0),
        }
    }
}

impl Mail {
    /// The body with quoted-printable soft line breaks and escapes undone (enough for ASCII and
    /// the checks here).
    pub fn text(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }
}

#[derive(Clone)]
struct Collect {
    mails: Arc<Mutex<Vec<Mail>>>,
    current: Mail,
    /// This connection's session number and how many messages it carried so far.
    session: u64,
    nth: u64,
    sessions: Arc<std::sync::atomic::AtomicU64>,
}

impl Handler for Collect {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Mail {
            from: from.to_string(),
            to: to.to_vec(),
            data: String::new(),
            received: std::time::Instant::now(),
            session: (self.session, self.nth),
        };
        self.nth += 1;
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.current.received = std::time::Instant::now();
        self.mails
            .lock()
            .unwrap()
            .push(std::mem::take(&mut self.current));
        response::OK
    }

    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        self.session = self
            .sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.nth = 0;
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        // One address the server refuses, to test how a refusal is reported.
        if to.starts_with("nobody@") {
            response::NO_MAILBOX
        } else {
            response::OK
        }
    }
}

/// A mail server that accepts everything and keeps it.
pub struct MailServer {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl MailServer {
    pub fn start() -> MailServer {
        Self::start_on("127.0.0.1:0".parse().unwrap())
    }

    /// On a given address (to bring a mail server "back" on the port profilegate knows).
    pub fn start_on(addr: SocketAddr) -> MailServer {
        Self::start_with(addr, SslConfig::None, false)
    }

    /// Offering STARTTLS with a certificate for `localhost` issued by a freshly generated CA;
    /// returns the server and the CA certificate's PEM (to trust it). The two need distinct
    /// names: a leaf whose issuer equals its subject reads as self-signed and fails to verify.
    pub fn start_tls(dir: &std::path::Path) -> (MailServer, String) {
        Self::start_tls_auth(dir, false)
    }

    /// As [`MailServer::start_tls`]; with `auth`, the server also demands AUTH PLAIN after
    /// STARTTLS and rejects every login.
    pub fn start_tls_auth(dir: &std::path::Path, auth: bool) -> (MailServer, String) {
        let certs = TestCerts::generate(dir);
        let ssl = SslConfig::SelfSigned {
            cert_path: certs.cert_path.to_string_lossy().into_owned(),
            key_path: certs.key_path.to_string_lossy().into_owned(),
        };
        (
            Self::start_with("127.0.0.1:0".parse().unwrap(), ssl, auth),
            certs.ca_pem,
        )
    }

    /// Speaking TLS from the first byte (as on port 465): mailin offers only STARTTLS, so a
    /// TLS terminator in front of a plain mailin. Returns the server (`addr` is mailin's),
    /// the TLS port, and the CA certificate's PEM.
    pub fn start_implicit_tls(dir: &std::path::Path) -> (MailServer, TlsFront, String) {
        let certs = TestCerts::generate(dir);
        let mail = Self::start();
        let front = TlsFront::start(&certs, mail.addr);
        (mail, front, certs.ca_pem)
    }

    fn start_with(addr: SocketAddr, ssl: SslConfig, auth: bool) -> MailServer {
        // mailin builds its TLS config with rustls' process-wide provider; the test binary
        // links two (mailin's default features pull aws-lc-rs), so pick ring explicitly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind(addr).expect("bind smtp");
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let handler = Collect {
            mails: mails.clone(),
            current: Mail::default(),
            session: 0,
            nth: 0,
            sessions: Arc::default(),
        };
        let mut server = Server::new(handler);
        server
            .with_name("mail.test")
            // One connection per thread: profilegate sends up to 16 at once and keeps a pool.
            .with_num_threads(64)
            .with_ssl(ssl)
            .expect("ssl config")
            .with_tcp_listener(listener);
        if auth {
            // mailin's default handler answers 535 to every login.
            server.with_auth(mailin_embedded::AuthMechanism::Plain);
        }
        // Runs until the test process ends.
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        MailServer { addr, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

/// A certificate for `localhost` issued by a freshly generated CA. The two need distinct
/// names: a leaf whose issuer equals its subject reads as self-signed and fails to verify.
struct TestCerts {
    cert_path: std::path::PathBuf,
    key_path: std::path::PathBuf,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    ca_pem: String,
}

impl TestCerts {
    fn generate(dir: &std::path::Path) -> TestCerts {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name = rcgen::DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "profilegate test CA");
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf_params.distinguished_name = rcgen::DistinguishedName::new();
        leaf_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let cert_path = dir.join("smtp-cert.pem");
        let key_path = dir.join("smtp-key.pem");
        std::fs::write(&cert_path, leaf.pem()).unwrap();
        std::fs::write(&key_path, leaf_key.serialize_pem()).unwrap();
        TestCerts {
            cert_path,
            key_path,
            cert_der: leaf.der().to_vec(),
            key_der: leaf_key.serialize_der(),
            ca_pem: ca.pem(),
        }
    }
}

/// A TLS terminator on its own port that forwards each connection, decrypted, to a plain
/// mail server; `cut` closes every connection it carries (a mail server dropping idle
/// clients), new ones are still accepted.
pub struct TlsFront {
    pub addr: SocketAddr,
    cut: Arc<tokio::sync::Notify>,
    /// Connections being carried now.
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl TlsFront {
    fn start(certs: &TestCerts, backend: SocketAddr) -> TlsFront {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(certs.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certs.key_der.clone())),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind tls front");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(tokio::sync::Notify::new());
        let cut2 = cut.clone();
        let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let open2 = open.clone();
        // Its own runtime on its own thread: it outlives any one test's runtime.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((tcp, _)) = listener.accept().await {
                    let (acceptor, cut, open) = (acceptor.clone(), cut2.clone(), open2.clone());
                    open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::spawn(async move {
                        carry(acceptor, tcp, backend, &cut).await;
                        open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    });
                }
            });
        });
        TlsFront { addr, cut, open }
    }

    /// Closes every connection open now, and returns when they are closed.
    pub fn cut(&self) {
        self.cut.notify_waiters();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.open.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "connections not closed"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// One connection through the TLS front, until either side closes or `cut` is notified.
async fn carry(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    backend: SocketAddr,
    cut: &tokio::sync::Notify,
) {
    let cut = cut.notified();
    let Ok(mut tls) = acceptor.accept(tcp).await else {
        return;
    };
    let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut tls, &mut plain) => {}
        () = cut => {}
    }
}

/// A server that completes TCP connections (the kernel's backlog does) and never says a
/// word. Dropping the listener frees the port.
pub fn silent_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind")
}

/// A silent server for the rest of the test.
pub fn silent_server() -> SocketAddr {
    let l = silent_listener();
    let addr = l.local_addr().unwrap();
    std::mem::forget(l);
    addr
}

/// A port where nothing listens.
pub fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap()
}

/// Puts one e-mail that failed for good (8 attempts) into the outbox, with its audit record;
/// returns its outbox id, for the outbox and retry routes.
pub fn seed_failed_mail(s: &profilegate::store::Store) -> u64 {
    use profilegate::store::outbox::{OutboxItem, OutboxStatus};
    let item = OutboxItem {
        created: "2026-01-01T00:00:00.000Z".into(),
        request_id: Some("stuck-1".into()),
        subject: "stuck".into(),
        body: "a stuck message".into(),
        status: OutboxStatus::Failed,
        attempts: 8,
        next_attempt_ms: 0,
        last_error: Some("connection refused".into()),
    };
    let entry = br#"{"kind":"admin","actor":"test","action":"outbox.seed"}"#.to_vec();
    s.append_entries_with_outbox(&[entry], &[(0, serde_json::to_vec(&item).unwrap())])
        .unwrap()
}
