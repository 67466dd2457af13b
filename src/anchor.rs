//! Signed checkpoints of the audit chain: anchors kept outside the host.
//!
//! A hash chain alone cannot catch someone with write access to the data dir who rewrites a
//! record and recomputes every hash after it. A checkpoint is the chain head (sequence number
//! and hash) at a time, signed with the data dir's Ed25519 key; whoever holds one (the
//! security team receives one in every e-mail) can later ask `audit verify --checkpoint` or
//! `--anchor` whether the chain still holds that record with that hash.
//!
//! The signed bytes are canonical and versioned ([`canonical_bytes`]):
//!
//! ```text
//! profilegate-checkpoint v1\n{seq}\n{hash hex, 64 lowercase}\n{time, RFC 3339}\n
//! ```
//!
//! and the line a person pastes back ([`Checkpoint::footer`], parsed by [`parse_footer`]):
//!
//! ```text
//! Audit checkpoint: pg1 seq=N hash=HEX time=T sig=BASE64
//! ```
//!
//! Pure: formatting, parsing and checking a signature need no store. Signing needs the key
//! pair, which the store keeps ([`SigningKey`] only wraps it).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// First line of the signed bytes; a new layout gets a new version.
pub const CANONICAL_V1: &str = "profilegate-checkpoint v1";
/// What the footer line starts with; `pg1` names the canonical bytes' version.
pub const FOOTER_PREFIX: &str = "Audit checkpoint: pg1 ";

/// Errors of reading or checking an anchor or a checkpoint line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnchorError {
    #[error("{0:?} is not an anchor: use SEQ:HASH (a record number and its 64-hex-digit hash)")]
    BadAnchor(String),
    #[error("not a checkpoint line: paste the whole line starting with \"Audit checkpoint: pg1\"")]
    NotALine,
    #[error("not a whole checkpoint line: its {0} is missing or malformed; paste the whole line starting with \"Audit checkpoint: pg1\"")]
    BadLine(&'static str),
    #[error(
        "{0:?} is not a public key: use the 44-character base64 text `audit checkpoint` prints"
    )]
    BadPublicKey(String),
    #[error("the signature does not verify under public key {public_key}: the line was altered or signed by another key")]
    BadSignature { public_key: String },
    #[error("cannot make a signing key: {0}")]
    KeyGeneration(String),
    #[error("the stored signing key is unreadable: {0}")]
    BadStoredKey(String),
}

/// A signed statement that the chain's record `seq` had hash `hash` at `time`.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The head's sequence number (0: the empty chain).
    pub seq: u64,
    /// The head record's hash, 64 lowercase hex digits.
    pub hash: String,
    /// When it was signed, RFC 3339.
    pub time: String,
    /// Ed25519 signature of the canonical bytes, base64.
    pub signature: String,
}

/// The bytes a checkpoint signs (see the module doc).
pub fn canonical_bytes(seq: u64, hash_hex: &str, time: &str) -> Vec<u8> {
    format!("{CANONICAL_V1}\n{seq}\n{hash_hex}\n{time}\n").into_bytes()
}

impl Checkpoint {
    /// The one line an e-mail ends with; ASCII, and readable back by [`parse_footer`].
    pub fn footer(&self) -> String {
        format!(
            "{FOOTER_PREFIX}seq={} hash={} time={} sig={}",
            self.seq, self.hash, self.time, self.signature
        )
    }

    /// The anchor this checkpoint stands for; `None` if its hash is not 32 bytes of hex.
    pub fn anchor(&self) -> Option<Anchor> {
        Some(Anchor {
            seq: self.seq,
            hash: parse_hash(&self.hash)?,
        })
    }

    /// Checks the signature under `public_key` (base64 of the 32-byte Ed25519 key).
    pub fn verify(&self, public_key: &str) -> Result<(), AnchorError> {
        let key = decode_public_key(public_key)?;
        let bad = || AnchorError::BadSignature {
            public_key: public_key.trim().to_string(),
        };
        let sig = STANDARD
            .decode(self.signature.as_bytes())
            .map_err(|_| bad())?;
        UnparsedPublicKey::new(&ED25519, key)
            .verify(&canonical_bytes(self.seq, &self.hash, &self.time), &sig)
            .map_err(|_| bad())
    }
}

/// Reads a pasted footer line. Tolerates what mail clients and terminals add around it
/// (leading `>` quoting, spaces, a trailing CR); the fields must be in order and complete.
pub fn parse_footer(line: &str) -> Result<Checkpoint, AnchorError> {
    let line = line.trim().trim_start_matches(['>', ' ']).trim();
    let rest = line
        .strip_prefix(FOOTER_PREFIX.trim_end())
        .ok_or(AnchorError::NotALine)?;
    let mut fields = rest.split_ascii_whitespace();
    let mut field = |name: &'static str| {
        fields
            .next()
            .and_then(|f| f.strip_prefix(name))
            .and_then(|f| f.strip_prefix('='))
            .ok_or(AnchorError::BadLine(name))
    };
    let seq = field("seq")?
        .parse::<u64>()
        .map_err(|_| AnchorError::BadLine("seq"))?;
    let hash = field("hash")?.to_ascii_lowercase();
    if parse_hash(&hash).is_none() {
        return Err(AnchorError::BadLine("hash"));
    }
    let time = field("time")?.to_string();
    let signature = field("sig")?.to_string();
    if fields.next().is_some() {
        return Err(AnchorError::BadLine("end (there is text after sig)"));
    }
    Ok(Checkpoint {
        seq,
        hash,
        time,
        signature,
    })
}

/// A record the chain must hold with exactly this hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub hash: [u8; 32],
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, hex::encode(self.hash))
    }
}

impl std::str::FromStr for Anchor {
    type Err = AnchorError;

    /// `SEQ:HASH`, as printed by `audit checkpoint` or taken from a footer.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AnchorError::BadAnchor(s.to_string());
        let (seq, hash) = s.trim().split_once(':').ok_or_else(bad)?;
        Ok(Anchor {
            seq: seq.parse().map_err(|_| bad())?,
            hash: parse_hash(hash).ok_or_else(bad)?,
        })
    }
}

/// 64 hex digits to 32 bytes.
fn parse_hash(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn decode_public_key(s: &str) -> Result<[u8; 32], AnchorError> {
    let bad = || AnchorError::BadPublicKey(s.trim().to_string());
    let bytes = STANDARD.decode(s.trim().as_bytes()).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// The data dir's Ed25519 key pair. `Debug` shows the public key only: the private half must
/// never reach a log.
pub struct SigningKey(Ed25519KeyPair);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.public_key())
            .finish()
    }
}

impl SigningKey {
    /// A new key pair as PKCS#8 (what the store keeps), from the system's random numbers.
    pub fn generate_pkcs8() -> Result<Zeroizing<Vec<u8>>, AnchorError> {
        let rng = ring::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
            .map_err(|e| AnchorError::KeyGeneration(e.to_string()))
    }

    /// Reads a stored PKCS#8 key pair.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, AnchorError> {
        Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(SigningKey)
            .map_err(|e| AnchorError::BadStoredKey(e.to_string()))
    }

    /// The public key, base64 of its 32 bytes: what verifiers keep.
    pub fn public_key(&self) -> String {
        STANDARD.encode(self.0.public_key().as_ref())
    }

    /// Signs the head `(seq, hash)` at `time`.
    pub fn sign(&self, seq: u64, hash: &[u8; 32], time: &str) -> Checkpoint {
        let hash = hex::encode(hash);
        let sig = self.0.sign(&canonical_bytes(seq, &hash, time));
        Checkpoint {
            seq,
            hash,
            time: time.to_string(),
            signature: STANDARD.encode(sig.as_ref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap()
    }

    const T: &str = "2026-11-30T10:00:00.000Z";

    #[test]
    fn canonical_bytes_are_the_documented_ones() {
        assert_eq!(
            canonical_bytes(7, &"ab".repeat(32), T),
            format!("profilegate-checkpoint v1\n7\n{}\n{T}\n", "ab".repeat(32)).into_bytes()
        );
    }

    #[test]
    fn a_footer_round_trips_and_verifies() {
        let k = key();
        let cp = k.sign(42, &[7; 32], T);
        let line = cp.footer();
        // One line well under SMTP's 998, whatever the numbers: about 220 characters.
        assert!(line.is_ascii() && line.len() < 240, "{line}");
        assert!(
            line.starts_with("Audit checkpoint: pg1 seq=42 hash=0707"),
            "{line}"
        );
        let back = parse_footer(&line).unwrap();
        assert_eq!(back, cp);
        back.verify(&k.public_key()).unwrap();
        // Quoted in a reply, with a CR left by the mail.
        assert_eq!(parse_footer(&format!("> {line}\r")).unwrap(), cp);
        assert_eq!(
            cp.anchor(),
            Some(Anchor {
                seq: 42,
                hash: [7; 32]
            })
        );
    }

    #[test]
    fn an_altered_footer_or_another_key_fails_the_signature() {
        let k = key();
        let cp = k.sign(42, &[7; 32], T);
        let pk = k.public_key();
        for forged in [
            Checkpoint {
                seq: 41,
                ..cp.clone()
            },
            Checkpoint {
                hash: "08".repeat(32),
                ..cp.clone()
            },
            Checkpoint {
                time: "2026-11-30T10:00:01.000Z".into(),
                ..cp.clone()
            },
            Checkpoint {
                signature: "AAAA".into(),
                ..cp.clone()
            },
        ] {
            let line = forged.footer();
            let e = parse_footer(&line).unwrap().verify(&pk).unwrap_err();
            assert!(matches!(e, AnchorError::BadSignature { .. }), "{line}: {e}");
        }
        let e = cp.verify(&key().public_key()).unwrap_err();
        assert!(matches!(e, AnchorError::BadSignature { .. }), "{e}");
        assert!(matches!(
            cp.verify("not a key"),
            Err(AnchorError::BadPublicKey(_))
        ));
    }

    #[test]
    fn malformed_lines_and_anchors_are_refused() {
        let line = key().sign(1, &[1; 32], T).footer();
        for bad in [
            "",
            "Audit checkpoint: pg2 seq=1",
            &line.replace("seq=1", "seq=x"),
            &line.replace("hash=", "hash=zz"),
            &line.replace(" sig=", " signature="),
            &format!("{line} extra"),
            &line[..line.find(" sig=").unwrap()],
        ] {
            assert!(parse_footer(bad).is_err(), "{bad}");
        }
        let a: Anchor = format!("5:{}", "0a".repeat(32)).parse().unwrap();
        assert_eq!((a.seq, a.hash), (5, [10; 32]));
        assert_eq!(a.to_string(), format!("5:{}", "0a".repeat(32)));
        for bad in ["5", "x:00", &format!("5:{}", "0a".repeat(31))] {
            assert!(bad.parse::<Anchor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let pkcs8 = SigningKey::generate_pkcs8().unwrap();
        let k = SigningKey::from_pkcs8(&pkcs8).unwrap();
        let dbg = format!("{k:?}");
        assert!(dbg.contains(&k.public_key()), "{dbg}");
        assert!(!dbg.contains(&STANDARD.encode(&pkcs8[..])), "{dbg}");
    }
}
