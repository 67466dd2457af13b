//! The password-sharing keys and the encrypted credential form of the pre-update-password
//! action. When the action is registered with a certificate, WSO2 sends
//! `event.user.updatingCredential` as a compact JWE (Nimbus: `RSA-OAEP-256` + `A256GCM`, no key
//! id) to that certificate's RSA key; see `../shared/research/password-action.md` §1.
//!
//! - `key.rs`: an RSA key pair (2048 or 3072 bits) and its self-signed certificate: generation,
//!   export (PKCS#8 DER for the store, PEM and base64 of the PEM for WSO2) and reload.
//! - `jwe.rs`: the compact JWE, opened with each active key in turn ([`KeyRing`]).
//! - `credential.rs`: the decrypted payload (`value` a string or Gson's `char[]`).
//!
//! Pure apart from the system's random numbers: storing the key bytes is the caller's job
//! (`service`), so is mapping the errors to an answer. No error message carries the token, a
//! key or any plaintext. Crypto is aws-lc-rs (constant-time RSA; not the RustCrypto `rsa`
//! crate, RUSTSEC-2023-0071); secrets live in `Zeroizing` buffers.

mod credential;
mod jwe;
mod key;
mod seal;

/// Seals a token as WSO2 does, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) use jwe::tests::seal as seal_for_tests;

pub use credential::{Credential, CredentialFormat};
pub use jwe::{JweError, KeyRing, MAX_ACTIVE_KEYS, MAX_TOKEN_LEN};
pub use key::{KeyError, KeySize, PasswordKey, CERTIFICATE_SUBJECT};
pub use seal::{seal, HEADER as JWE_HEADER};
