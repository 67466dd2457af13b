//! Security-team e-mail over SMTP (lettre, rustls). The content rules live in `message`;
//! this module builds the transport from the settings, sends, and turns failures into words
//! a person can act on.

pub mod message;
pub mod smtp;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::client::Certificate;
use lettre::Message;
use parking_lot::Mutex;

pub use crate::metrics::SendStats;
use crate::model::{Encryption, SmtpSettings};

/// Why an e-mail was not sent, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("invalid e-mail settings: {0}")]
    Settings(String),
    #[error("connection refused by {0}: nothing listens there; check the host and port")]
    Refused(String),
    #[error("timed out after {0} ms talking to the mail server{1}")]
    Timeout(u64, String),
    #[error("TLS failed with the mail server{0}")]
    Tls(String),
    #[error("the mail server rejected the login (check the username and password): {0}")]
    AuthRejected(String),
    #[error("the mail server refused a recipient: {0}")]
    RecipientRefused(String),
    #[error("sending failed: {0}")]
    Other(String),
}

/// Checks a CA certificate given by an administrator.
pub fn parse_ca(pem: &str) -> Result<(), SendError> {
    // lettre accepts text without any PEM block (and then trusts nothing extra), so a pasted
    // key or a wrong file would pass silently: ask for a certificate block explicitly.
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(SendError::Settings(
            "not a PEM certificate: expected a -----BEGIN CERTIFICATE----- block".into(),
        ));
    }
    Certificate::from_pem(pem.as_bytes())
        .map(|_| ())
        .map_err(|e| SendError::Settings(format!("not a PEM certificate: {e}")))
}

/// Checks an address given by an administrator.
pub fn parse_mailbox(addr: &str) -> Result<Mailbox, SendError> {
    addr.parse::<Mailbox>()
        .map_err(|e| SendError::Settings(format!("{addr:?} is not an e-mail address: {e}")))
}

/// A settings value an administrator gave that cannot be used, and the form field it belongs
/// to (the CLI prints the message; the admin UI shows it next to the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// Checks SMTP settings before they are stored, so a typo is refused when it is made rather
/// than found when the first sensitive change cannot be reported. The CLI and the admin API
/// both call this.
pub fn check_smtp(s: &SmtpSettings) -> Result<(), Invalid> {
    if s.host.trim().is_empty() || s.host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("host", format!("{:?} is not a host name", s.host)));
    }
    if s.port == 0 {
        return Err(invalid("port", "the port must be between 1 and 65535"));
    }
    parse_mailbox(&s.from).map_err(|e| invalid("from", e.to_string()))?;
    if !(100..=4000).contains(&s.timeout_ms) {
        return Err(invalid(
            "timeout_ms",
            "the timeout must be between 100 and 4000 ms: a blocking send must finish before the identity server's 5 s read timeout",
        ));
    }
    if let Some(u) = &s.username {
        if u.is_empty() || u.chars().any(char::is_control) {
            return Err(invalid(
                "username",
                "the username must not be empty or contain control characters",
            ));
        }
    }
    if s.password.as_deref().is_some_and(str::is_empty) {
        return Err(invalid("password", "the password must not be empty"));
    }
    if s.password.is_some() && s.encryption == Encryption::None && !is_loopback_host(&s.host) {
        return Err(invalid(
            "encryption",
            "with encryption none the password would cross the network readable by anyone on the path: choose starttls (usually port 587) or tls (usually port 465); none with a password is only for a relay on this host (localhost)",
        ));
    }
    if let Some(pem) = &s.tls_ca_pem {
        parse_ca(pem).map_err(|e| invalid("tls_ca_pem", e.to_string()))?;
    }
    if s.password.is_some() && s.username.is_none() {
        return Err(invalid("username", "a password needs a username"));
    }
    // A username alone would silently send no login at all.
    if s.username.is_some() && s.password.is_none() {
        return Err(invalid(
            "password",
            "a username needs a password (leave both empty for a relay that needs no login)",
        ));
    }
    Ok(())
}

/// Whether a mail server's host name stays on this machine.
fn is_loopback_host(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a security-team recipient address.
pub fn check_recipient(addr: &str) -> Result<(), String> {
    parse_mailbox(addr).map(|_| ()).map_err(|e| e.to_string())
}

/// Checks a claim URI for the sensitive-claim list.
pub fn check_claim_uri(u: &str) -> Result<(), String> {
    if u.contains("://") && !u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(())
    } else {
        Err(format!(
            "{u:?} is not a claim URI (e.g. http://wso2.org/claims/mobile)"
        ))
    }
}

/// The body of the test message (CLI and admin UI).
pub fn test_message_body(how: &str) -> String {
    format!(
        "This is a test message from profilegate {}, sent with {how}.\n\
         If you can read it, the security team's e-mail settings work.\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The subject of the test message.
pub const TEST_SUBJECT: &str = "[profilegate] Test message";

/// A hint for the usual port/encryption mix-ups.
fn port_hint(s: &SmtpSettings) -> String {
    match (s.encryption, s.port) {
        (Encryption::Tls, 465) => String::new(),
        (Encryption::Tls, _) => format!(
            " (with --encryption tls the server must speak TLS from the first byte, usually on port 465; port {} probably expects --encryption starttls)",
            s.port
        ),
        (Encryption::Starttls | Encryption::None, 465) => {
            " (port 465 expects TLS from the first byte: try --encryption tls)".into()
        }
        _ => String::new(),
    }
}

/// Sends e-mail, reusing pooled connections while the settings stay the same.
#[derive(Default)]
pub struct Notifier {
    cached: Mutex<Option<Arc<smtp::Pool>>>,
    /// What was sent and how long it took, for the metrics.
    pub stats: SendStats,
}

impl Notifier {
    /// The pool for these settings; changed settings start a new one (the old one's
    /// connections close when its last send is done).
    fn pool(&self, s: &SmtpSettings) -> Result<Arc<smtp::Pool>, SendError> {
        let mut cached = self.cached.lock();
        if let Some(pool) = cached.as_ref() {
            if pool.settings() == s {
                return Ok(pool.clone());
            }
        }
        let pool = Arc::new(smtp::Pool::new(s)?);
        *cached = Some(pool.clone());
        Ok(pool)
    }

    /// Connects to the mail server and says hello (and logs in, when set), without sending:
    /// the start-up check.
    pub async fn check(&self, s: &SmtpSettings) -> Result<(), SendError> {
        // The pool the first send will use: its TLS set-up (the system's roots) is done once.
        let pool = self.pool(s)?;
        match tokio::time::timeout(Duration::from_millis(s.timeout_ms), pool.check()).await {
            Err(_) => Err(SendError::Timeout(s.timeout_ms, port_hint(s))),
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(SendError::Other("the server did not answer NOOP".into())),
            Ok(Err(e)) => Err(e),
        }
    }

    /// Sends one plain-text message to `to`, within the settings' timeout.
    pub async fn send(
        &self,
        s: &SmtpSettings,
        to: &[String],
        subject: &str,
        body: String,
    ) -> Result<(), SendError> {
        self.send_with_id(s, to, subject, body, None).await
    }

    /// Like [`Notifier::send`], with a fixed `Message-ID` (`<…@…>`): a queued e-mail sent
    /// again after a crash (the mail server had accepted it, but the process died before the
    /// outbox noted that) carries the same id, so mail systems and readers can tell it is one
    /// notification, not two.
    pub async fn send_with_id(
        &self,
        s: &SmtpSettings,
        to: &[String],
        subject: &str,
        body: String,
        message_id: Option<String>,
    ) -> Result<(), SendError> {
        let mut builder = Message::builder()
            .from(parse_mailbox(&s.from)?)
            .subject(subject);
        if message_id.is_some() {
            builder = builder.message_id(message_id);
        }
        for r in to {
            builder = builder.to(parse_mailbox(r)?);
        }
        let msg = builder
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| SendError::Settings(e.to_string()))?;
        let pool = self.pool(s)?;
        let (envelope, email) = (msg.envelope().clone(), msg.formatted());
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(
            Duration::from_millis(s.timeout_ms),
            pool.send(&envelope, &email),
        )
        .await
        {
            Err(_) => Err(SendError::Timeout(s.timeout_ms, port_hint(s))),
            Ok(result) => result,
        };
        self.stats.latency.observe(started.elapsed());
        let counter = if result.is_ok() {
            &self.stats.sent
        } else {
            &self.stats.failed
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        result
    }
}

/// A failed TLS handshake, with the remedy for the usual cause (a relay whose certificate
/// was issued by a private CA) or for a port that does not speak TLS the way it was set.
fn tls_failure(s: &SmtpSettings, text: &str) -> SendError {
    if text.contains("invalid peer certificate") {
        return SendError::Tls(format!(
            ": the server's certificate is not trusted ({}); if the relay uses a private or self-signed CA, give it with --tls-ca FILE",
            text.rsplit(": ").next().unwrap_or(text)
        ));
    }
    SendError::Tls(format!("{}: {text}", port_hint(s)))
}

/// An error and its sources, joined, as the operator will read them.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(e), |err| err.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// Turns lettre's error into one of ours, looking through the source chain for the cause.
fn classify(s: &SmtpSettings, e: &lettre::transport::smtp::Error) -> SendError {
    let sources = std::iter::successors(Some(e as &(dyn std::error::Error + 'static)), |err| {
        err.source()
    });
    for err in sources {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return SendError::Refused(format!("{}:{}", s.host, s.port));
                }
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    return SendError::Timeout(s.timeout_ms, port_hint(s));
                }
                _ => {}
            }
        }
    }
    let text = error_chain(e);
    if e.is_timeout() {
        return SendError::Timeout(s.timeout_ms, port_hint(s));
    }
    if text.contains("invalid peer certificate") || e.is_tls() {
        return tls_failure(s, &text);
    }
    if let Some(code) = e.status() {
        let c = code.to_string();
        if c.starts_with("535") || c.starts_with("534") || c.starts_with("530") {
            return SendError::AuthRejected(text);
        }
        if c.starts_with("55") || c.starts_with("45") {
            return SendError::RecipientRefused(text);
        }
    }
    if text.contains("No compatible authentication mechanism") {
        return SendError::AuthRejected(format!(
            "the server offers no login method profilegate can use on this connection{}; servers usually offer login only over STARTTLS or TLS, or leave the username empty for a relay that needs none",
            match s.encryption {
                Encryption::None => " (encryption is none)",
                _ => "",
            }
        ));
    }
    if text.contains("InvalidContentType")
        || text.contains("corrupt message")
        || text.contains("received corrupt")
    {
        return SendError::Tls(format!("{}: {text}", port_hint(s)));
    }
    SendError::Other(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(host: &str, encryption: Encryption, password: Option<&str>) -> SmtpSettings {
        SmtpSettings {
            host: host.into(),
            port: 25,
            encryption,
            username: password.map(|_| "mailer".into()),
            password: password.map(str::to_string),
            from: "profilegate@example.com".into(),
            timeout_ms: 2000,
            tls_ca_pem: None,
        }
    }

    /// The one rule the CLI, the admin API and the UI all meet: a password never goes out in
    /// clear, except to a relay on this host.
    #[test]
    fn a_password_needs_encryption_unless_the_relay_is_local() {
        let e =
            check_smtp(&smtp("mail.example.com", Encryption::None, Some("s3cret"))).unwrap_err();
        assert_eq!(e.field, "encryption");
        assert!(
            e.message.contains("starttls") && e.message.contains("tls"),
            "{e}"
        );
        for local in ["localhost", "127.0.0.1", "::1", "[::1]", "127.1.2.3"] {
            check_smtp(&smtp(local, Encryption::None, Some("s3cret"))).expect(local);
        }
        check_smtp(&smtp("mail.example.com", Encryption::None, None)).expect("no password");
        check_smtp(&smtp(
            "mail.example.com",
            Encryption::Starttls,
            Some("s3cret"),
        ))
        .expect("starttls");
        check_smtp(&smtp("mail.example.com", Encryption::Tls, Some("s3cret"))).expect("tls");
    }
}
