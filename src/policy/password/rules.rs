//! The password rules as settings: serde-serializable with defaults, so they can be stored per
//! organization and edited in the admin UI, and checked on save by [`PasswordRules::validate`].

use serde::{Deserialize, Serialize};

use crate::contract::{validate_message, MessageKind};
use crate::policy::FailureMessage;

/// NIST SP 800-63B-4 §3.1.1.2: at least 15 characters for a single-factor password.
pub const SINGLE_FACTOR_MIN: u32 = 15;
/// The floor when the password is only one factor of MFA.
pub const MFA_MIN: u32 = 8;
/// NIST: verifiers SHOULD permit at least 64 characters; we never allow a lower maximum.
pub const MAX_FLOOR: u32 = 64;
/// The highest maximum an admin may set; the parser carries at most 16 KiB, which holds it.
pub const MAX_CEILING: u32 = 1024;
/// Shortest context word the "contains" rule looks for (shorter ones match too much).
pub const CONTAINS_MIN_WORD: usize = 4;

/// Placeholders in a description, replaced by the configured numbers. Square brackets are in
/// the caller's charset, so a template passes the same check as the text it becomes.
pub const MIN_PLACEHOLDER: &str = "[min]";
pub const MAX_PLACEHOLDER: &str = "[max]";

/// Whether the password is the only factor (NIST floor 15) or one factor of MFA (floor 8).
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FactorMode {
    #[default]
    SingleFactor,
    Mfa,
}

impl FactorMode {
    pub const fn floor(self) -> u32 {
        match self {
            FactorMode::SingleFactor => SINGLE_FACTOR_MIN,
            FactorMode::Mfa => MFA_MIN,
        }
    }
}

/// One organization's password policy.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordRules {
    pub factor_mode: FactorMode,
    /// Minimum in Unicode code points after NFC; never below the factor mode's floor.
    pub min_length: u32,
    /// Maximum in code points; never below 64. Longer passwords are refused, never truncated.
    pub max_length: u32,
    /// Compare with the bundled list of common passwords.
    pub common_passwords: bool,
    /// Refuse repeated (`aaaa`, `abcabc`) and sequential (`1234`, `qwerty`) passwords.
    pub patterns: bool,
    /// Refuse a password equal to a context word (or that word with digits and symbols around).
    pub context_words: bool,
    /// Stricter: refuse a password that contains a context word of 4 or more characters.
    pub context_contains: bool,
    /// Refuse a password found in the imported breached-password filter (it applies only when
    /// a filter is loaded; without one the rule is listed as unchecked).
    pub breached: bool,
    /// More words to treat as context (product or brand names of this organization).
    pub extra_words: Vec<String>,
    pub messages: PasswordMessages,
}

impl Default for PasswordRules {
    fn default() -> Self {
        PasswordRules {
            factor_mode: FactorMode::SingleFactor,
            min_length: SINGLE_FACTOR_MIN,
            max_length: 256,
            common_passwords: true,
            patterns: true,
            context_words: true,
            context_contains: false,
            breached: true,
            extra_words: Vec::new(),
            messages: PasswordMessages::default(),
        }
    }
}

/// The failure text for each rule; a description may hold `[min]` and `[max]`.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordMessages {
    pub too_short: FailureMessage,
    pub too_long: FailureMessage,
    pub common: FailureMessage,
    pub repetitive: FailureMessage,
    pub sequential: FailureMessage,
    pub context_word: FailureMessage,
    pub breached: FailureMessage,
    /// When the online breach check is set to fail closed and its source did not answer.
    pub breach_unavailable: FailureMessage,
}

fn msg(reason: &str, description: &str) -> FailureMessage {
    FailureMessage {
        reason: reason.into(),
        description: description.into(),
    }
}

impl Default for PasswordMessages {
    fn default() -> Self {
        PasswordMessages {
            too_short: msg(
                "password_too_short",
                "Use at least [min] characters. A passphrase of several unrelated words is long and easy to remember.",
            ),
            too_long: msg("password_too_long", "Use at most [max] characters."),
            common: msg(
                "password_too_common",
                "This password is on a list of commonly used passwords. Choose a different one.",
            ),
            repetitive: msg(
                "password_repetitive",
                "This password repeats a character or a pattern (like aaaa or abcabc). Choose a different one.",
            ),
            sequential: msg(
                "password_sequential",
                "This password is a sequence (like 12345 or abcde) or a keyboard row (like qwerty). Choose a different one.",
            ),
            context_word: msg(
                "password_context_word",
                "Do not use your name or user name or e-mail address or the name of this organization or service. Choose a different password.",
            ),
            breached: msg(
                "password_breached",
                "This password has appeared in a data breach and is not safe to use. Choose a different one.",
            ),
            breach_unavailable: msg(
                "password_check_unavailable",
                "This password could not be checked against known data breaches just now. Try again in a few minutes.",
            ),
        }
    }
}

impl PasswordMessages {
    /// Every text with its field name, for validation and the admin UI.
    pub fn all(&self) -> [(&'static str, &FailureMessage); 8] {
        [
            ("too_short", &self.too_short),
            ("too_long", &self.too_long),
            ("common", &self.common),
            ("repetitive", &self.repetitive),
            ("sequential", &self.sequential),
            ("context_word", &self.context_word),
            ("breached", &self.breached),
            ("breach_unavailable", &self.breach_unavailable),
        ]
    }
}

/// Why rules cannot be saved; names the field so the admin UI can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("min_length must be at least {floor} for {mode:?}")]
    MinTooLow { floor: u32, mode: FactorMode },
    #[error("max_length must be between {MAX_FLOOR} and {MAX_CEILING} and not below min_length")]
    MaxOutOfRange,
    #[error("messages.{field}.{part} {problem}")]
    Message {
        field: &'static str,
        part: &'static str,
        problem: String,
    },
    #[error("extra_words has more than {0} entries or an entry longer than 64 characters")]
    TooManyWords(usize),
}

/// Most admin-supplied context words; each becomes up to ~50 hashes per HASH-form request.
pub const MAX_EXTRA_WORDS: usize = 50;

impl PasswordRules {
    /// The minimum in force: the configured one, raised to the factor mode's floor.
    pub fn effective_min(&self) -> u32 {
        self.min_length.max(self.factor_mode.floor())
    }

    /// The maximum in force: at least 64 and the minimum, at most [`MAX_CEILING`].
    pub fn effective_max(&self) -> u32 {
        self.max_length
            .clamp(MAX_FLOOR, MAX_CEILING)
            .max(self.effective_min())
    }

    /// Checks rules before they are saved. Evaluation never relies on it: it uses the
    /// effective values, so stored rules that are out of range still give a NIST floor.
    pub fn validate(&self) -> Result<(), RulesError> {
        let floor = self.factor_mode.floor();
        if self.min_length < floor {
            return Err(RulesError::MinTooLow {
                floor,
                mode: self.factor_mode,
            });
        }
        if !(MAX_FLOOR..=MAX_CEILING).contains(&self.max_length)
            || self.max_length < self.min_length
        {
            return Err(RulesError::MaxOutOfRange);
        }
        if self.extra_words.len() > MAX_EXTRA_WORDS
            || self.extra_words.iter().any(|w| w.chars().count() > 64)
        {
            return Err(RulesError::TooManyWords(MAX_EXTRA_WORDS));
        }
        for (field, m) in self.messages.all() {
            validate_message(&m.reason, MessageKind::Reason).map_err(|problem| {
                RulesError::Message {
                    field,
                    part: "reason",
                    problem,
                }
            })?;
            // Checked as the user will see it: with the numbers in place of the placeholders.
            validate_message(&self.render(&m.description), MessageKind::Description).map_err(
                |problem| RulesError::Message {
                    field,
                    part: "description",
                    problem,
                },
            )?;
        }
        Ok(())
    }

    /// A description with `[min]` and `[max]` replaced by the numbers in force.
    pub fn render(&self, description: &str) -> String {
        description
            .replace(MIN_PLACEHOLDER, &self.effective_min().to_string())
            .replace(MAX_PLACEHOLDER, &self.effective_max().to_string())
    }
}
