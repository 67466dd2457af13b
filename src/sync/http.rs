//! The HTTP(S) source: a GET of the administrator's URL with the source's authentication,
//! `If-None-Match` / `If-Modified-Since` from the last good answer, a size and a time limit,
//! and TLS that also trusts the administrator's CA. Only a 200 with a list, or a 304, counts.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::parse::{parse, ParseError, SourceFormat};
use crate::outbound::{self, FetchError, Get};

/// Default and largest answer size; default time limit.
pub const DEFAULT_MAX_BYTES: usize = 8 << 20;
pub const MAX_MAX_BYTES: usize = 64 << 20;
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// How profilegate authenticates to the source. Secrets never appear in `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum HttpAuth {
    #[default]
    None,
    Bearer {
        token: String,
    },
    Basic {
        username: String,
        password: String,
    },
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpAuth::None => f.write_str("None"),
            HttpAuth::Bearer { .. } => f.write_str("Bearer(********)"),
            HttpAuth::Basic { username, .. } => write!(f, "Basic({username}, ********)"),
        }
    }
}

/// An HTTP(S) source of one organization's department list. `Debug` leaves the secrets out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSource {
    pub url: String,
    #[serde(default)]
    pub format: SourceFormat,
    /// JSON: the objects' field holding the name; CSV: the header of the name's column.
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub auth: HttpAuth,
    /// A private CA (PEM) to trust besides the system's.
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
    /// A client certificate (PEM) for a source that authenticates its callers by mutual TLS.
    #[serde(default)]
    pub client_cert_pem: Option<String>,
    /// The client certificate's private key (PEM); a secret, like the token.
    #[serde(default)]
    pub client_key_pem: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
}

impl std::fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSource")
            .field("url", &self.url)
            .field("format", &self.format)
            .field("field", &self.field)
            .field("auth", &self.auth)
            .field("tls_ca", &self.tls_ca_pem.is_some())
            .field("client_cert", &self.client_cert_pem.is_some())
            .field("timeout_ms", &self.timeout_ms)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl HttpSource {
    /// The TLS client configuration this source asks for.
    pub fn tls(&self) -> Result<tokio_rustls::TlsConnector, FetchError> {
        let identity = match (&self.client_cert_pem, &self.client_key_pem) {
            (Some(cert_pem), Some(key_pem)) => Some(outbound::Identity { cert_pem, key_pem }),
            (None, None) => None,
            _ => {
                return Err(FetchError::Tls(
                    "a client certificate needs both the certificate and its key".into(),
                ))
            }
        };
        Ok(tokio_rustls::TlsConnector::from(outbound::client_config(
            self.tls_ca_pem.as_deref(),
            identity,
        )?))
    }
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}
fn default_max_bytes() -> usize {
    DEFAULT_MAX_BYTES
}

/// What the last good answer said about its version, sent back to get a 304.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A fetch's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// 304: the list is as it was.
    NotModified,
    Names {
        names: BTreeSet<String>,
        validators: Validators,
    },
}

/// Why a source gave no list. The stored list stays as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("the answer is not a department list: {0}")]
    Parse(#[from] ParseError),
    #[error("the answer is not UTF-8")]
    NotUtf8,
    /// The LDAP source's own failures (settings, connection, bind, search, an entry).
    #[error("LDAP: {0}")]
    Ldap(String),
}

/// Fetches the source's list (`previous`: the last good answer's validators, for a 304).
pub async fn fetch(src: &HttpSource, previous: &Validators) -> Result<Fetch, SourceError> {
    let tls = src.tls()?;
    let auth: Option<Zeroizing<String>> = match &src.auth {
        HttpAuth::None => None,
        HttpAuth::Bearer { token } => Some(Zeroizing::new(format!("Bearer {token}"))),
        HttpAuth::Basic { username, password } => {
            let pair = Zeroizing::new(format!("{username}:{password}"));
            let b64 = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
            Some(Zeroizing::new(format!("Basic {b64}")))
        }
    };
    let accept = match src.format {
        SourceFormat::Json => "application/json",
        SourceFormat::Csv => "text/csv",
    };
    let mut headers: Vec<(&str, &str)> = vec![("Accept", accept)];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    if let Some(e) = &previous.etag {
        headers.push(("If-None-Match", e));
    }
    if let Some(m) = &previous.last_modified {
        headers.push(("If-Modified-Since", m));
    }
    let got = outbound::get(
        &tls,
        &Get {
            url: &src.url,
            headers: &headers,
            timeout: Duration::from_millis(src.timeout_ms.max(1)),
            max_body: src.max_bytes.min(MAX_MAX_BYTES),
        },
    )
    .await?;
    match got.status {
        304 => Ok(Fetch::NotModified),
        200 => {
            let text = std::str::from_utf8(&got.body).map_err(|_| SourceError::NotUtf8)?;
            let names = parse(src.format, src.field.as_deref(), text.as_bytes())?;
            Ok(Fetch::Names {
                names,
                validators: Validators {
                    etag: got.etag,
                    last_modified: got.last_modified,
                },
            })
        }
        other => Err(FetchError::Status(other).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let a = HttpAuth::Basic {
            username: "svc".into(),
            password: "hunter2-secret".into(),
        };
        let b = HttpAuth::Bearer {
            token: "tok-secret".into(),
        };
        let text = format!("{a:?} {b:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("svc"));
    }

    #[test]
    fn a_source_reads_with_defaults() {
        let s: HttpSource = serde_json::from_str(r#"{"url": "https://hr.example/d"}"#).unwrap();
        assert_eq!(s.format, SourceFormat::Json);
        assert_eq!(s.auth, HttpAuth::None);
        assert_eq!(
            (s.timeout_ms, s.max_bytes),
            (DEFAULT_TIMEOUT_MS, DEFAULT_MAX_BYTES)
        );
    }
}
