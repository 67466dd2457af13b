//! Outbound HTTP(S) GETs to sources an administrator named: the online breach check's range
//! API, a department directory's HTTP source; and POSTs to a SIEM collector (audit
//! forwarding). One request over a fresh HTTP/1.1 connection (hyper's client; rustls with the
//! system's roots, plus an administrator's CA when given), the whole exchange under one timeout
//! and the body under a size limit, so a slow or hostile
//! source costs a bounded time and memory. Redirects are not followed: a source that moved is
//! an error the administrator sees, not a silent hop elsewhere.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Uri;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Why a GET gave no usable answer. Texts name the problem, never a header's value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FetchError {
    #[error("timed out after {0} ms")]
    Timeout(u64),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the answer broke off: {0}")]
    Body(String),
    #[error("the URL is not usable: {0}")]
    Url(String),
    #[error("the TLS settings are not usable: {0}")]
    Tls(String),
}

/// An answer: its status, the headers a caller may want, and the body.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// One GET: where, with which headers, within what.
pub struct Get<'a> {
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub timeout: Duration,
    pub max_body: usize,
}

/// Checks a URL an administrator gives: absolute `http` or `https` with a host, no fragment,
/// at most `max_len` bytes.
pub fn check_url(url: &str, max_len: usize) -> Result<Uri, String> {
    if url.trim().is_empty() {
        return Err("give the URL (like https://host.example/path)".into());
    }
    if url.len() > max_len {
        return Err(format!("a URL has at most {max_len} characters"));
    }
    let uri: Uri = url
        .parse()
        .map_err(|_| "not a URL (like https://host.example/path)".to_string())?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("the URL must start with https:// (or http:// for a local server)".into()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if url.contains('#') {
        return Err("the URL takes no fragment".into());
    }
    Ok(uri)
}

/// A client certificate and its private key (PEM), for a source that wants mutual TLS.
#[derive(Clone, Copy)]
pub struct Identity<'a> {
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
}

/// A TLS client configuration: the system's roots and, when given, an administrator's CA;
/// a client certificate when the source asks for one. Shared by every outbound TLS client
/// (HTTP sources, LDAP) so that they trust the same roots the same way.
pub fn client_config(
    ca_pem: Option<&str>,
    identity: Option<Identity<'_>>,
) -> Result<Arc<rustls::ClientConfig>, FetchError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(pem) = ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| FetchError::Tls(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| FetchError::Tls(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(FetchError::Tls("the CA holds no PEM certificate".into()));
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(rustls::ALL_VERSIONS)
    .map_err(|e| FetchError::Tls(e.to_string()))?
    .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let chain = CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| FetchError::Tls(format!("the client certificate: {e}")))?;
            if chain.is_empty() {
                return Err(FetchError::Tls(
                    "the client certificate holds no PEM certificate".into(),
                ));
            }
            let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes())
                .map_err(|_| FetchError::Tls("the client key is not a PEM private key".into()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| FetchError::Tls(format!("the client certificate: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

/// [`client_config`] as a connector, without a client certificate.
pub fn tls_connector(ca_pem: Option<&str>) -> Result<tokio_rustls::TlsConnector, FetchError> {
    Ok(tokio_rustls::TlsConnector::from(client_config(
        ca_pem, None,
    )?))
}

/// Sends one GET and reads the answer, all within `req.timeout`. Any status is returned (the
/// caller decides what 304 or 404 mean); only the body's size is checked here.
pub async fn get(tls: &tokio_rustls::TlsConnector, req: &Get<'_>) -> Result<Fetched, FetchError> {
    let ms = u64::try_from(req.timeout.as_millis()).unwrap_or(u64::MAX);
    let call = Call {
        url: req.url,
        method: hyper::Method::GET,
        headers: req.headers,
        max_body: req.max_body,
    };
    match tokio::time::timeout(req.timeout, exchange(tls, &call, Empty::<Bytes>::new())).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout(ms)),
    }
}

/// One POST: where, with which headers and body, within what.
pub struct Post<'a> {
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Bytes,
    pub timeout: Duration,
}

/// Most bytes of a POST's answer read (a collector's acknowledgement is short).
const POST_ANSWER_MAX: usize = 64 * 1024;

/// Sends one POST over a fresh connection and returns the answer's status (its body is read,
/// up to 64 KiB, and dropped), all within `req.timeout`.
pub async fn post(tls: &tokio_rustls::TlsConnector, req: &Post<'_>) -> Result<u16, FetchError> {
    let ms = u64::try_from(req.timeout.as_millis()).unwrap_or(u64::MAX);
    let call = Call {
        url: req.url,
        method: hyper::Method::POST,
        headers: req.headers,
        max_body: POST_ANSWER_MAX,
    };
    let body = http_body_util::Full::new(req.body.clone());
    match tokio::time::timeout(req.timeout, exchange(tls, &call, body)).await {
        Ok(r) => r.map(|f| f.status),
        Err(_) => Err(FetchError::Timeout(ms)),
    }
}

/// What `exchange` sends, whatever the method.
struct Call<'a> {
    url: &'a str,
    method: hyper::Method,
    headers: &'a [(&'a str, &'a str)],
    max_body: usize,
}

async fn exchange<B>(
    tls: &tokio_rustls::TlsConnector,
    req: &Call<'_>,
    body: B,
) -> Result<Fetched, FetchError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let uri: Uri = req
        .url
        .parse()
        .map_err(|_| FetchError::Url("not a URL".into()))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(FetchError::Url("not http or https".into())),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| FetchError::Url("no host".into()))?
        .to_string();
    let bare_host = host.trim_matches(['[', ']']).to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri
        .authority()
        .map_or_else(|| host.clone(), |a| a.as_str().to_string());
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let tcp = TcpStream::connect((bare_host.as_str(), port))
        .await
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    if https {
        let name = rustls::pki_types::ServerName::try_from(bare_host)
            .map_err(|e| FetchError::Url(e.to_string()))?;
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| FetchError::Connect(format!("TLS: {e}")))?;
        send(stream, &authority, &path, req, body).await
    } else {
        send(tcp, &authority, &path, req, body).await
    }
}

async fn send<S, B>(
    io: S,
    authority: &str,
    path: &str,
    req: &Call<'_>,
    body: B,
) -> Result<Fetched, FetchError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let driver = tokio::spawn(conn);
    let mut builder = hyper::Request::builder()
        .method(req.method.clone())
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, "profilegate");
    for (k, v) in req.headers {
        builder = builder.header(*k, *v);
    }
    let result = async {
        let request = builder
            .body(body)
            .map_err(|e| FetchError::Url(e.to_string()))?;
        let resp = sender
            .send_request(request)
            .await
            .map_err(|e| FetchError::Connect(e.to_string()))?;
        let header = |name: hyper::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(hyper::header::ETAG);
        let last_modified = header(hyper::header::LAST_MODIFIED);
        let content_type = header(hyper::header::CONTENT_TYPE);
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), req.max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    FetchError::TooLarge(req.max_body)
                } else {
                    FetchError::Body(e.to_string())
                }
            })?
            .to_bytes();
        Ok(Fetched {
            status,
            etag,
            last_modified,
            content_type,
            body,
        })
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://hr.example/api/departments?active=1", 512).is_ok());
        assert!(check_url("http://127.0.0.1:8080/range/", 512).is_ok());
        for bad in [
            "",
            "hr.example/x",
            "ftp://hr.example/",
            "https://h.example/#x",
            "file:///etc/passwd",
        ] {
            assert!(check_url(bad, 512).is_err(), "{bad:?}");
        }
        assert!(check_url(&format!("https://a.example/{}", "x".repeat(600)), 512).is_err());
    }

    #[test]
    fn a_ca_without_a_certificate_is_refused() {
        assert!(matches!(
            tls_connector(Some("not a pem")),
            Err(FetchError::Tls(_))
        ));
        assert!(tls_connector(None).is_ok());
    }
}
