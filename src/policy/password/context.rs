//! Context-specific words (NIST: "the name of the service, the username, and derivatives
//! thereof"): gathered from the event, compared with the whole password, and for the HASH
//! form expanded into a bounded set of likely variants and hashed.

use unicode_normalization::UnicodeNormalization;

use super::blocklist::sha256;
use crate::contract::PasswordRequest;

/// The product names; a password equal to one of them is as guessable as the username.
pub const PRODUCT_WORDS: &[&str] = &["wso2", "asgardeo", "profilegate"];

/// Claims that hold the user's names or login, as WSO2's claim dialect spells them.
pub const NAME_CLAIMS: &[&str] = &[
    "http://wso2.org/claims/username",
    "http://wso2.org/claims/givenname",
    "http://wso2.org/claims/lastname",
    "http://wso2.org/claims/nickname",
    "http://wso2.org/claims/middleName",
    "http://wso2.org/claims/fullname",
];

const GIVEN_NAME: &str = "http://wso2.org/claims/givenname";
const LAST_NAME: &str = "http://wso2.org/claims/lastname";

/// Claims that hold e-mail addresses.
pub const EMAIL_CLAIMS: &[&str] = &[
    "http://wso2.org/claims/emailaddress",
    "http://wso2.org/claims/emailAddresses",
];

/// Most words kept; a request cannot make the HASH-form expansion grow without bound.
pub const MAX_WORDS: usize = 64;
/// Shortest word kept: shorter pieces (`jo`, `uk`) say nothing about a 15-character password.
const MIN_WORD: usize = 3;
/// Longest word kept, in characters.
const MAX_WORD: usize = 128;

/// The words of one request, NFC-normalized, de-duplicated case-insensitively, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextWords {
    words: Vec<String>,
}

impl ContextWords {
    /// From any words: each is kept whole and also split into its parts (see [`Self::add`]).
    pub fn from_words<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        let mut cw = ContextWords::default();
        for w in words {
            cw.add(w);
        }
        cw
    }

    /// The event's words: names and login from `user.claims`, e-mail local part and domain
    /// labels, organization names and handles, tenant name, the product names and `extra`.
    pub fn from_request(req: &PasswordRequest, extra: &[String]) -> Self {
        let mut cw = ContextWords::from_words(PRODUCT_WORDS.iter().copied());
        for uri in NAME_CLAIMS.iter().chain(EMAIL_CLAIMS) {
            for v in req.claim_values(uri) {
                cw.add(v);
            }
        }
        // The full name as the user may type it, in either order.
        let given = req.claim_values(GIVEN_NAME).next().unwrap_or("");
        let last = req.claim_values(LAST_NAME).next().unwrap_or("");
        if !given.is_empty() && !last.is_empty() {
            cw.push(&format!("{given} {last}"));
            cw.push(&format!("{last} {given}"));
        }
        for org in [req.organization.as_ref(), req.user.organization.as_ref()]
            .into_iter()
            .flatten()
        {
            for v in [org.name.as_deref(), org.org_handle.as_deref()]
                .into_iter()
                .flatten()
            {
                cw.add(v);
            }
        }
        // The super tenant's name is technical, not the organization's.
        if let Some(name) = req.tenant.as_ref().and_then(|t| t.name.as_deref()) {
            if name != "carbon.super" {
                cw.add(name);
            }
        }
        for w in extra {
            cw.add(w);
        }
        cw
    }

    /// Adds a value and what a user would derive from it: `PRIMARY/bob` gives `bob`; an e-mail
    /// address gives its local part, its domain with and without the last label and each other
    /// label; a name gives its parts
    /// split on spaces, dots, hyphens and underscores.
    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        // A user-store prefix is not part of the name the user types.
        let value = value.rsplit_once('/').map_or(value, |(_, v)| v);
        self.push(value);
        let (local, domain) = match value.split_once('@') {
            Some((l, d)) => (l, Some(d)),
            None => (value, None),
        };
        self.push(local);
        for part in local.split(|c: char| c.is_whitespace() || ".-_+".contains(c)) {
            self.push(part);
        }
        let host = domain.unwrap_or(if value.contains('.') { value } else { "" });
        self.push(host);
        if let Some((name, _tld)) = host.rsplit_once('.') {
            self.push(name);
            for label in name.split('.') {
                self.push(label);
            }
        }
    }

    fn push(&mut self, word: &str) {
        let word: String = word.trim().nfc().collect();
        let len = word.chars().count();
        if self.words.len() >= MAX_WORDS || !(MIN_WORD..=MAX_WORD).contains(&len) {
            return;
        }
        let lower = word.to_lowercase();
        if !self.words.iter().any(|w| w.to_lowercase() == lower) {
            self.words.push(word);
        }
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The password equals a word, ignoring case, spaces and punctuation, also once digits and
    /// symbols around it are taken off (`Emily Rose`, `emily.rose2026!`, `BUILDERS`).
    pub fn matches_whole(&self, password: &str) -> bool {
        let pw = squash(password);
        let core = pw.trim_matches(|c: char| c.is_numeric());
        self.words
            .iter()
            .map(|w| squash(w))
            .any(|w| !w.is_empty() && (*w == *pw || (!core.is_empty() && w.as_str() == core)))
    }

    /// The stricter rule: the password contains a word of at least `min_chars` characters.
    pub fn contained_in(&self, password: &str, min_chars: usize) -> bool {
        let pw = squash(password);
        self.words
            .iter()
            .map(|w| squash(w))
            .any(|w| w.chars().count() >= min_chars && pw.contains(w.as_str()))
    }

    /// Whether a HASH-form digest is that of one of the words' likely variants (see
    /// [`Self::variant_digests`]); stops at the first match.
    pub fn matches_digest(&self, digest: &[u8; 32], year: Option<i32>) -> bool {
        self.each_variant(year, |d| d == digest)
    }

    /// SHA-256 digests of each word's likely variants, for the HASH form, where only exact
    /// matches are possible: as written, lower, upper and capitalized, each bare and with a
    /// common suffix (`1`, `123`, `!`, the year given, ...). At most
    /// `MAX_WORDS * 4 * (SUFFIXES + 4)` digests.
    pub fn variant_digests(&self, year: Option<i32>) -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        self.each_variant(year, |d| {
            out.push(*d);
            false
        });
        out
    }

    /// Hashes the variants in turn until `stop` says so; true if it did.
    fn each_variant(&self, year: Option<i32>, mut stop: impl FnMut(&[u8; 32]) -> bool) -> bool {
        let years: Vec<String> = year
            .map(|y| {
                vec![
                    y.to_string(),
                    format!("{y}!"),
                    format!("@{y}"),
                    format!("#{y}"),
                ]
            })
            .unwrap_or_default();
        for w in &self.words {
            let lower = w.to_lowercase();
            let mut forms = vec![
                w.clone(),
                lower.clone(),
                w.to_uppercase(),
                capitalize(&lower),
            ];
            forms.sort();
            forms.dedup();
            for form in &forms {
                for suffix in SUFFIXES
                    .iter()
                    .copied()
                    .chain(years.iter().map(String::as_str))
                {
                    let mut candidate = String::with_capacity(form.len() + suffix.len());
                    candidate.push_str(form);
                    candidate.push_str(suffix);
                    if stop(&sha256(&candidate)) {
                        return true;
                    }
                }
            }
        }
        false
    }
}

/// Common endings people add to a word to pass a composition rule.
const SUFFIXES: &[&str] = &[
    "", "1", "12", "123", "1234", "12345", "123456", "!", "1!", "123!", "@123", "#1", "01", "007",
];

fn capitalize(lower: &str) -> String {
    let mut it = lower.chars();
    match it.next() {
        Some(first) => first.to_uppercase().chain(it).collect(),
        None => String::new(),
    }
}

/// Lower case, letters and digits only (NFC first): `Emily Rose` and `emily.rose` compare equal.
/// Wiped on drop: it is derived from the password.
fn squash(s: &str) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(
        s.nfc()
            .flat_map(char::to_lowercase)
            .filter(|c| c.is_alphanumeric())
            .collect(),
    )
}
