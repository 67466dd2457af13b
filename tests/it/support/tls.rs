//! A test CA with a leaf certificate for localhost, and a client that trusts it.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// A CA and a leaf certificate for localhost / 127.0.0.1 signed by it, written as PEM files.
/// Returns (cert path, key path, CA PEM).
pub fn generate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "profilegate test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".into()]).unwrap();
    let leaf = params.signed_by(&key, &ca).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let cert = dir.join("cert.pem");
    let keyp = dir.join("key.pem");
    std::fs::write(&cert, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    std::fs::write(&keyp, key.serialize_pem()).unwrap();
    (cert, keyp, ca.pem())
}

/// A reqwest client that trusts `ca_pem` (ring provider: two are linked into the tests).
pub fn client_trusting(ca_pem: &str, http1_only: bool) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = if http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    let mut b = reqwest::Client::builder().use_preconfigured_tls(cfg);
    if http1_only {
        b = b.http1_only();
    }
    b.build().unwrap()
}
