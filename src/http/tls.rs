//! HTTPS: rustls on ring (built with `builder_with_provider`: two crypto providers are linked,
//! and the implicit builder would panic), from PEM files the operator gives, or from a
//! self-signed certificate generated once into the data dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// Why HTTPS could not be set up, with the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path}: {detail} (give a PEM file with --tls-cert, the server certificate first, then its chain)")]
    Cert { path: PathBuf, detail: String },
    #[error("cannot read the TLS private key {path}: {detail} (give an unencrypted PEM key with --tls-key: PKCS#8, PKCS#1 or SEC1)")]
    Key { path: PathBuf, detail: String },
    #[error("the TLS certificate and key do not fit together: {0}")]
    Mismatch(String),
    #[error("cannot create the self-signed certificate in {path}: {detail}")]
    SelfSigned { path: PathBuf, detail: String },
}

/// A certificate ready to serve, and what to tell the operator about it.
pub struct Loaded {
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the leaf certificate (DER), as `AA:BB:…`.
    pub fingerprint: String,
    pub cert_path: PathBuf,
}

fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Loads a certificate chain and key (PEM) into a server configuration offering h2 and
/// HTTP/1.1.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<Loaded, TlsError> {
    let cert_err = |detail: String| TlsError::Cert {
        path: cert_path.to_path_buf(),
        detail,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    let Some(leaf) = certs.first() else {
        return Err(cert_err("no CERTIFICATE block in it".into()));
    };
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsError::Key {
        path: key_path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint,
        cert_path: cert_path.to_path_buf(),
    })
}

/// The self-signed certificate's files in the data dir, created on first use (kept across
/// restarts, so the identity server's truststore entry stays valid). `names` are the DNS names
/// and IP addresses it is valid for.
pub fn self_signed(data_dir: &Path, names: &[String]) -> Result<Loaded, TlsError> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("self-signed-cert.pem");
    let key_path = dir.join("self-signed-key.pem");
    if !cert_path.exists() || !key_path.exists() {
        let err = |detail: String| TlsError::SelfSigned {
            path: dir.clone(),
            detail,
        };
        let ck =
            rcgen::generate_simple_self_signed(names.to_vec()).map_err(|e| err(e.to_string()))?;
        std::fs::create_dir_all(&dir).map_err(|e| err(e.to_string()))?;
        write_private(&key_path, ck.signing_key.serialize_pem().as_bytes())
            .map_err(|e| err(e.to_string()))?;
        std::fs::write(&cert_path, ck.cert.pem()).map_err(|e| err(e.to_string()))?;
    }
    load(&cert_path, &key_path)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}

/// The names a self-signed certificate covers: localhost, the loopback addresses, this host's
/// name, and the listen address when it is a specific one.
pub fn default_names(listen: std::net::SocketAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() && !names.iter().any(|n| n == h) {
            names.push(h.to_string());
        }
    }
    let ip = listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    names
}
