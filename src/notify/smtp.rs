//! SMTP connections of our own, opened with `TCP_NODELAY`; lettre still speaks SMTP over them.
//!
//! lettre's transport opens its sockets with Nagle's algorithm on, and it ends a message with
//! a separate small write (`\r\n.\r\n`). Nagle holds that write until the message body is
//! acknowledged, and a receiver that delays its ACKs answers up to 40 ms later: every e-mail
//! paid that stall (a blocking send was capped near 1,400 a second over loopback), and a crash
//! inside it left the final dot in the kernel, which delivered it after the process had died,
//! so the restarted server sent a message again that the mail server had already accepted.
//! Here the socket is ours (`AsyncSmtpConnection::connect_with_transport`), so the dot leaves
//! at once; implicit TLS is done with tokio-rustls over that socket, STARTTLS by lettre.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{classify, error_chain, port_hint, tls_failure, SendError};
use crate::model::{Encryption, SmtpSettings};

/// Connections kept open between sends (as many as lettre's pool kept).
const MAX_PARKED: usize = 8;
/// A parked connection idle this long is closed instead of reused (lettre's default): mail
/// servers drop idle clients after a few minutes, and a NOOP on a dead one costs a timeout.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// How the connection is protected.
enum Security {
    None,
    /// `STARTTLS` after the greeting, done by lettre.
    Starttls(TlsParameters),
    /// TLS from the first byte (port 465), done here.
    Implicit(tokio_rustls::TlsConnector, ServerName<'static>),
}

/// Open connections to one mail server with one set of settings; a message takes a parked
/// connection (checked with NOOP) or opens a new one, and parks it again when the server
/// accepted the message. A connection that failed is never reused.
pub struct Pool {
    settings: SmtpSettings,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    parked: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl Pool {
    /// Checks the TLS settings and prepares the pool; connects nothing yet.
    pub fn new(s: &SmtpSettings) -> Result<Pool, SendError> {
        let ca = || -> Result<Option<Certificate>, SendError> {
            s.tls_ca_pem
                .as_deref()
                .map(|pem| Certificate::from_pem(pem.as_bytes()))
                .transpose()
                .map_err(|e| SendError::Settings(format!("TLS settings: {e}")))
        };
        let security = match s.encryption {
            Encryption::None => Security::None,
            Encryption::Starttls => {
                let mut b = TlsParameters::builder(s.host.clone());
                if let Some(cert) = ca()? {
                    b = b.add_root_certificate(cert);
                }
                Security::Starttls(
                    b.build_rustls()
                        .map_err(|e| SendError::Settings(format!("TLS settings: {e}")))?,
                )
            }
            Encryption::Tls => {
                let name = ServerName::try_from(s.host.clone()).map_err(|e| {
                    SendError::Settings(format!("{:?} is not a TLS server name: {e}", s.host))
                })?;
                Security::Implicit(implicit_tls_connector(s.tls_ca_pem.as_deref())?, name)
            }
        };
        let credentials = match (&s.username, &s.password) {
            (Some(u), Some(p)) => Some(Credentials::new(u.clone(), p.clone())),
            _ => None,
        };
        Ok(Pool {
            settings: s.clone(),
            security,
            credentials,
            hello: ClientId::default(),
            parked: Mutex::new(Vec::new()),
        })
    }

    /// The settings this pool connects with.
    pub fn settings(&self) -> &SmtpSettings {
        &self.settings
    }

    /// Sends one message; the caller bounds the time. Dropping the future drops the
    /// connection with it, so a connection cut off mid-message is never reused.
    pub async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<(), SendError> {
        let mut conn = self.checkout().await?;
        match conn.send(envelope, email).await {
            Ok(_) => {
                self.park(conn);
                Ok(())
            }
            // lettre has already said QUIT and closed a connection that failed a command.
            Err(e) => Err(classify(&self.settings, &e)),
        }
    }

    /// Connects, says hello (and logs in, when set) and asks NOOP: the start-up check.
    pub async fn check(&self) -> Result<bool, SendError> {
        let mut conn = self.connect().await?;
        let ok = conn.test_connected().await;
        let _ = conn.quit().await;
        Ok(ok)
    }

    /// The most recently parked connection that still answers, else a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, SendError> {
        loop {
            let Some((mut conn, since)) = self.parked.lock().pop() else {
                return self.connect().await;
            };
            if since.elapsed() < MAX_IDLE && conn.test_connected().await {
                return Ok(conn);
            }
            // Dropped without QUIT: a server that stopped answering would not answer that.
        }
    }

    fn park(&self, conn: AsyncSmtpConnection) {
        if conn.has_broken() {
            return;
        }
        let mut parked = self.parked.lock();
        // Close what has idled too long while we are here: nothing else looks at them.
        parked.retain(|(_, since)| since.elapsed() < MAX_IDLE);
        if parked.len() < MAX_PARKED {
            parked.push((conn, Instant::now()));
        }
        // Else the connection is dropped, closing it; mail servers expect clients that leave
        // without QUIT.
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let s = &self.settings;
        let tcp = tcp_connect(s).await?;
        // The point of this module: see the module doc.
        tcp.set_nodelay(true)
            .map_err(|e| SendError::Other(format!("could not set TCP_NODELAY: {e}")))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit(connector, name) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| tls_failure(s, &error_chain(&e)))?;
                Box::new(ImplicitTls(tls))
            }
            Security::None | Security::Starttls(_) => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(|e| classify(s, &e))?;
        if let Security::Starttls(params) = &self.security {
            conn.starttls(params.clone(), &self.hello)
                .await
                .map_err(|e| classify(s, &e))?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(|e| classify(s, &e))?;
        }
        Ok(conn)
    }
}

/// Resolves the host and connects to the first address that answers, each within the timeout.
async fn tcp_connect(s: &SmtpSettings) -> Result<TcpStream, SendError> {
    let timeout = Duration::from_millis(s.timeout_ms);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((s.host.as_str(), s.port))
        .await
        .map_err(|e| SendError::Other(format!("cannot resolve {:?}: {e}", s.host)))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => return Ok(tcp),
            Ok(Err(e)) => last = Some(e),
            Err(_) => return Err(SendError::Timeout(s.timeout_ms, port_hint(s))),
        }
    }
    Err(match last {
        Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            SendError::Refused(format!("{}:{}", s.host, s.port))
        }
        Some(e) => SendError::Other(format!("could not connect to {}:{}: {e}", s.host, s.port)),
        None => SendError::Other(format!("{:?} resolves to no address", s.host)),
    })
}

/// The client configuration for implicit TLS: the system's trusted roots, as lettre loads
/// them for STARTTLS, plus the administrator's CA when one is set.
fn implicit_tls_connector(ca_pem: Option<&str>) -> Result<tokio_rustls::TlsConnector, SendError> {
    let settings = |e: String| SendError::Settings(format!("TLS settings: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots
                .add(cert.map_err(|e| settings(e.to_string()))?)
                .map_err(|e| settings(e.to_string()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(rustls::ALL_VERSIONS)
    .map_err(|e| settings(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// A TLS stream lettre can talk over (it asks its streams for the peer's address).
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
