//! One password-sharing key: an RSA key pair and the self-signed certificate WSO2 is given.
//! The store keeps two things per key, the PKCS#8 DER ([`PasswordKey::pkcs8_der`], to be
//! written 0600) and the certificate PEM; [`PasswordKey::load`] takes them back and checks
//! that they belong together.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{self, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::Engine as _;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyUsagePurpose, PublicKeyData, SigningKey,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// The certificate's subject (its common name), so an operator recognises it in WSO2's console.
pub const CERTIFICATE_SUBJECT: &str = "profilegate password sharing";

/// Ten years. WSO2 checks no dates, neither when the certificate is uploaded nor when it
/// encrypts with it (research §1.4), so an expiry would stop nothing and only alarm tools that
/// do look; keys are replaced by rotation, when the operator decides.
const VALIDITY_DAYS: i64 = 3650;

/// Why a key could not be made, loaded or exported.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("RSA keys of {0} bits are not offered: choose 2048 or 3072")]
    UnsupportedSize(u32),
    #[error("the key is not a usable RSA private key of 2048 or 3072 bits in PKCS#8 DER")]
    BadPrivateKey,
    #[error("the certificate is not one PEM-encoded X.509 certificate")]
    BadCertificate,
    #[error("the certificate does not carry this key's public key")]
    CertificateMismatch,
    #[error("at most {0} keys can be active at once")]
    TooManyKeys(usize),
    /// Key generation or signing failed inside the crypto library (no detail is available).
    #[error("the crypto library failed to {0}")]
    Crypto(&'static str),
}

/// The RSA sizes offered: WSO2 casts the certificate's key to an RSA key and Nimbus uses it
/// as it is; below 2048 is weak, above 3072 only slows every password change down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySize {
    Rsa2048,
    Rsa3072,
}

impl KeySize {
    /// The size for a number of bits, or `UnsupportedSize`.
    pub fn from_bits(bits: u32) -> Result<Self, KeyError> {
        match bits {
            2048 => Ok(Self::Rsa2048),
            3072 => Ok(Self::Rsa3072),
            other => Err(KeyError::UnsupportedSize(other)),
        }
    }

    pub fn bits(self) -> u32 {
        match self {
            Self::Rsa2048 => 2048,
            Self::Rsa3072 => 3072,
        }
    }

    fn lc(self) -> rsa::KeySize {
        match self {
            Self::Rsa2048 => rsa::KeySize::Rsa2048,
            Self::Rsa3072 => rsa::KeySize::Rsa3072,
        }
    }
}

/// A password-sharing key: the private key (for decryption), its certificate and the
/// identifiers shown to the operator. `Debug` shows only the identifiers.
pub struct PasswordKey {
    id: String,
    size: KeySize,
    pkcs8: Zeroizing<Vec<u8>>,
    certificate_der: Vec<u8>,
    certificate_pem: String,
    fingerprint: String,
    decrypting: OaepPrivateDecryptingKey,
}

impl PasswordKey {
    /// A new key pair of `size` and a self-signed certificate for it (subject
    /// [`CERTIFICATE_SUBJECT`], valid from an hour ago for ten years, key usage
    /// keyEncipherment).
    pub fn generate(size: KeySize) -> Result<Self, KeyError> {
        let pair =
            RsaKeyPair::generate(size.lc()).map_err(|_| KeyError::Crypto("generate a key"))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| KeyError::Crypto("encode a key"))?;
        let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
        let certificate = self_signed(&pair, OffsetDateTime::now_utc())?;
        Self::assemble(pkcs8, certificate.der().to_vec(), certificate.pem())
    }

    /// The key back from its stored form: the PKCS#8 DER and the certificate PEM, which must
    /// carry the same public key (a mismatch would make every encrypted credential fail).
    pub fn load(pkcs8_der: &[u8], certificate_pem: &str) -> Result<Self, KeyError> {
        let der = CertificateDer::from_pem_slice(certificate_pem.as_bytes())
            .map_err(|_| KeyError::BadCertificate)?;
        Self::assemble(
            Zeroizing::new(pkcs8_der.to_vec()),
            der.as_ref().to_vec(),
            certificate_pem.to_owned(),
        )
    }

    fn assemble(
        pkcs8: Zeroizing<Vec<u8>>,
        certificate_der: Vec<u8>,
        certificate_pem: String,
    ) -> Result<Self, KeyError> {
        let private =
            PrivateDecryptingKey::from_pkcs8(&pkcs8).map_err(|_| KeyError::BadPrivateKey)?;
        let size = u32::try_from(private.key_size_bits())
            .ok()
            .and_then(|bits| KeySize::from_bits(bits).ok())
            .ok_or(KeyError::BadPrivateKey)?;
        let spki = private
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Crypto("encode a public key"))?;
        let certified = certificate_spki(&certificate_der)?;
        if certified.as_slice() != spki.as_ref() {
            return Err(KeyError::CertificateMismatch);
        }
        let decrypting =
            OaepPrivateDecryptingKey::new(private).map_err(|_| KeyError::BadPrivateKey)?;
        Ok(Self {
            id: hex::encode(&Sha256::digest(spki.as_ref())[..8]),
            size,
            pkcs8,
            fingerprint: colon_hex(&Sha256::digest(&certificate_der)),
            certificate_der,
            certificate_pem,
            decrypting,
        })
    }

    /// First 16 hex digits of the SHA-256 of the SubjectPublicKeyInfo: names the key in the
    /// store, the CLI and the UI (the JWE itself names no key).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn size(&self) -> KeySize {
        self.size
    }

    /// The private key as PKCS#8 (v1) DER, for the store only: never print or log it.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// Base64 (standard, padded) of the whole PEM text: what WSO2's
    /// `passwordSharing.certificate` takes (its own tests send it so).
    pub fn certificate_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.certificate_pem.as_bytes())
    }

    /// SHA-256 of the certificate's DER, upper-case hex pairs joined by colons (as openssl and
    /// browsers print it).
    pub fn fingerprint_sha256(&self) -> &str {
        &self.fingerprint
    }

    pub(crate) fn decrypting(&self) -> &OaepPrivateDecryptingKey {
        &self.decrypting
    }
}

impl fmt::Debug for PasswordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordKey")
            .field("id", &self.id)
            .field("bits", &self.size.bits())
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The certificate, signed (sha256WithRSAEncryption) with its own key.
fn self_signed(pair: &RsaKeyPair, now: OffsetDateTime) -> Result<rcgen::Certificate, KeyError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CERTIFICATE_SUBJECT);
    params.distinguished_name = name;
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(VALIDITY_DAYS);
    params.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    params
        .self_signed(&RcgenSigner(pair))
        .map_err(|_| KeyError::Crypto("sign the certificate"))
}

/// rcgen's view of an aws-lc-rs RSA key pair: rcgen's own RSA support would need its
/// `aws_lc_rs` feature, which moves all of rcgen (the TLS self-signed certificate too) off ring.
struct RcgenSigner<'a>(&'a RsaKeyPair);

impl PublicKeyData for RcgenSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key().as_ref()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl SigningKey for RcgenSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let mut signature = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut signature)
            .map_err(|_| rcgen::Error::RingUnspecified)?;
        Ok(signature)
    }
}

/// The SubjectPublicKeyInfo (DER) of a DER certificate.
fn certificate_spki(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let der = CertificateDer::from(der);
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| KeyError::BadCertificate)?;
    Ok(cert.subject_public_key_info().as_ref().to_vec())
}

fn colon_hex(bytes: &[u8]) -> String {
    let hex = hex::encode_upper(bytes);
    let mut out = String::with_capacity(hex.len() + hex.len() / 2);
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.extend(pair.iter().map(|&b| char::from(b)));
    }
    out
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
