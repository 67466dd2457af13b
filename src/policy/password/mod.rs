//! The password decision (NIST SP 800-63B-4 §3.1.1.2), a pure function of rules, candidate and
//! context: no I/O, no clock (the year comes in the context), no global state. The verdict
//! names the rule that failed and carries the text the user sees, because NIST requires telling
//! the user why a password was refused.
//!
//! A plain password is checked raw and NFC-normalized (the identity server stores it as typed):
//! either form failing a rule fails it. A HASH-form password can only be compared exactly, so
//! only the common-password list, the context-word variants and a generated set of repetitive
//! and sequential strings apply; the verdict lists what could not be checked.

pub mod blocklist;
pub mod context;
pub mod patterns;
pub mod rules;

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::contract::{ActionResponse, Credential};
use crate::policy::FailureMessage;
pub use blocklist::{hash_form, sha256, Blocklist, COMMON_PASSWORDS_SOURCE};
pub use context::ContextWords;
pub use patterns::PatternKind;
pub use rules::{FactorMode, PasswordMessages, PasswordRules, RulesError};

/// The password being checked, as the credential carries it.
#[derive(Clone, Copy)]
pub enum Candidate<'a> {
    Plain(&'a str),
    /// `SHA-256(utf8(password))`.
    Sha256(&'a [u8; 32]),
}

impl<'a> From<&'a Credential> for Candidate<'a> {
    fn from(c: &'a Credential) -> Self {
        match c {
            Credential::Plain(s) => Candidate::Plain(s.expose()),
            Credential::Sha256(d) => Candidate::Sha256(d.bytes()),
        }
    }
}

impl std::fmt::Debug for Candidate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Candidate::Plain(_) => "Candidate::Plain([redacted])",
            Candidate::Sha256(_) => "Candidate::Sha256([redacted])",
        })
    }
}

/// What a breached-password source says about one plain password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreachAnswer {
    Found,
    NotFound,
    /// The source could not answer (not loaded, timed out): the rule is listed as unchecked,
    /// and the caller decides whether that fails closed.
    Unknown,
}

/// The extension point for breached passwords (the offline filter; an online range API's
/// answer, fetched before `evaluate` and handed in through this trait). It sees the plain
/// password only: breach corpora are keyed by SHA-1, which the HASH form cannot give.
pub trait BreachedCheck: Send + Sync {
    fn check(&self, password: &str) -> BreachAnswer;
}

/// What one evaluation looks at besides the password.
#[derive(Clone, Copy)]
pub struct PasswordContext<'a> {
    pub blocklist: &'a Blocklist,
    pub words: &'a ContextWords,
    /// The current year, for context-word variants of the HASH form (`bob2026`).
    pub year: Option<i32>,
    /// The breached-password source; `None`: none is loaded, so an enabled rule is unchecked.
    pub breached: Option<&'a dyn BreachedCheck>,
}

/// A rule of the policy, as the audit record and the admin UI name it.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[schema(as = PasswordRule)] // the profile policy has a `Rule` schema too
pub enum Rule {
    MinLength,
    MaxLength,
    Common,
    ContextWord,
    ContextContains,
    Repetitive,
    Sequential,
    Breached,
    /// The online breach source did not answer and the check is set to fail closed.
    BreachUnavailable,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    /// The first rule that failed and the text for the user (placeholders filled in).
    Rejected {
        rule: Rule,
        message: FailureMessage,
    },
}

/// The decision and what it rests on, for the answer and the audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    /// Rules that were checked (up to and including the one that failed).
    pub applied: Vec<Rule>,
    /// Enabled rules that could not be checked: on a HASH-form password, or a breach source
    /// that did not answer.
    pub unchecked: Vec<Rule>,
}

impl Verdict {
    pub fn is_accepted(&self) -> bool {
        self.outcome == Outcome::Accepted
    }

    /// The answer to the caller: SUCCESS, or FAILED with the rule's texts (sanitized again by
    /// the constructor, so even unvalidated stored texts give a contract-valid answer).
    pub fn to_response(&self) -> ActionResponse {
        match &self.outcome {
            Outcome::Accepted => ActionResponse::Success,
            Outcome::Rejected { message, .. } => {
                ActionResponse::failed(&message.reason, &message.description)
            }
        }
    }

    /// Folds in the online breach source's answer, asked only after the local rules accepted
    /// the password (a refused one never leaves the machine, even as a hash prefix). A source
    /// that did not answer leaves the rule unchecked, or refuses when set to fail closed.
    pub fn with_online_breach(
        mut self,
        rules: &PasswordRules,
        answer: BreachAnswer,
        fail_closed: bool,
    ) -> Verdict {
        if !self.is_accepted() {
            return self;
        }
        let failed = match answer {
            BreachAnswer::Found => Some(Rule::Breached),
            BreachAnswer::NotFound => None,
            BreachAnswer::Unknown => {
                if !self.unchecked.contains(&Rule::Breached) {
                    self.unchecked.push(Rule::Breached);
                }
                fail_closed.then_some(Rule::BreachUnavailable)
            }
        };
        if answer != BreachAnswer::Unknown && !self.applied.contains(&Rule::Breached) {
            self.unchecked.retain(|r| *r != Rule::Breached);
            self.applied.push(Rule::Breached);
        }
        if let Some(rule) = failed {
            if rule == Rule::BreachUnavailable {
                self.applied.push(rule);
            }
            self.outcome = Outcome::Rejected {
                rule,
                message: message(rules, rule),
            };
        }
        self
    }

    /// The rule that failed, if any.
    pub fn failed_rule(&self) -> Option<Rule> {
        match &self.outcome {
            Outcome::Accepted => None,
            Outcome::Rejected { rule, .. } => Some(*rule),
        }
    }
}

/// The rule's message with `[min]`/`[max]` filled in.
fn message(rules: &PasswordRules, rule: Rule) -> FailureMessage {
    let m = &rules.messages;
    let msg = match rule {
        Rule::MinLength => &m.too_short,
        Rule::MaxLength => &m.too_long,
        Rule::Common => &m.common,
        Rule::ContextWord | Rule::ContextContains => &m.context_word,
        Rule::Repetitive => &m.repetitive,
        Rule::Sequential => &m.sequential,
        Rule::Breached => &m.breached,
        Rule::BreachUnavailable => &m.breach_unavailable,
    };
    FailureMessage {
        reason: msg.reason.clone(),
        description: rules.render(&msg.description),
    }
}

/// Collects the verdict as rules are checked in order; the first failure ends it.
struct Run<'r> {
    rules: &'r PasswordRules,
    applied: Vec<Rule>,
    unchecked: Vec<Rule>,
}

impl Run<'_> {
    /// Records `rule` as applied; `Err` carries the verdict when it failed.
    fn check(&mut self, rule: Rule, failed: bool) -> Result<(), Verdict> {
        self.applied.push(rule);
        if failed {
            return Err(self.finish(Outcome::Rejected {
                rule,
                message: message(self.rules, rule),
            }));
        }
        Ok(())
    }

    fn finish(&mut self, outcome: Outcome) -> Verdict {
        Verdict {
            outcome,
            applied: std::mem::take(&mut self.applied),
            unchecked: std::mem::take(&mut self.unchecked),
        }
    }
}

/// Evaluates a password against the rules. Order: length, common list, context words,
/// patterns, breach; the first failure is the verdict.
pub fn evaluate(
    rules: &PasswordRules,
    candidate: Candidate<'_>,
    ctx: &PasswordContext<'_>,
) -> Verdict {
    let mut run = Run {
        rules,
        applied: Vec::new(),
        unchecked: Vec::new(),
    };
    let result = match candidate {
        Candidate::Plain(raw) => evaluate_plain(&mut run, raw, ctx),
        Candidate::Sha256(digest) => evaluate_digest(&mut run, digest, ctx),
    };
    match result {
        Ok(()) => run.finish(Outcome::Accepted),
        Err(v) => v,
    }
}

fn evaluate_plain(run: &mut Run<'_>, raw: &str, ctx: &PasswordContext<'_>) -> Result<(), Verdict> {
    let rules = run.rules;
    // Length first: it bounds the work of the pattern checks that follow (the parser bounds
    // the input to MAX_PLAINTEXT_BYTES, so normalizing it first is cheap).
    let raw_len = raw.chars().count();
    let max = rules.effective_max() as usize;
    let nfc: Zeroizing<String> = Zeroizing::new(raw.nfc().collect());
    let nfc_len = nfc.chars().count();
    run.check(
        Rule::MinLength,
        raw_len.min(nfc_len) < rules.effective_min() as usize,
    )?;
    run.check(Rule::MaxLength, raw_len.max(nfc_len) > max)?;
    let forms: Vec<&str> = if *nfc == raw {
        vec![raw]
    } else {
        vec![raw, nfc.as_str()]
    };
    let any = |f: &dyn Fn(&str) -> bool| forms.iter().any(|s| f(s));
    if rules.common_passwords {
        run.check(
            Rule::Common,
            any(&|s| {
                ctx.blocklist
                    .contains_lower(&Zeroizing::new(s.to_lowercase()))
            }),
        )?;
    }
    if rules.context_words {
        run.check(Rule::ContextWord, any(&|s| ctx.words.matches_whole(s)))?;
    }
    if rules.context_contains {
        run.check(
            Rule::ContextContains,
            any(&|s| ctx.words.contained_in(s, rules::CONTAINS_MIN_WORD)),
        )?;
    }
    if rules.patterns {
        run.check(Rule::Repetitive, any(&patterns::is_repetitive))?;
        run.check(Rule::Sequential, any(&patterns::is_sequential))?;
    }
    if rules.breached {
        // No source loaded answers like a source that cannot answer: the rule is unchecked.
        let answers: Vec<BreachAnswer> = match ctx.breached {
            Some(source) => forms.iter().map(|s| source.check(s)).collect(),
            None => vec![BreachAnswer::Unknown],
        };
        if answers.contains(&BreachAnswer::Found) {
            run.check(Rule::Breached, true)?;
        } else if answers.contains(&BreachAnswer::Unknown) {
            run.unchecked.push(Rule::Breached);
        } else {
            run.check(Rule::Breached, false)?;
        }
    }
    Ok(())
}

fn evaluate_digest(
    run: &mut Run<'_>,
    digest: &[u8; 32],
    ctx: &PasswordContext<'_>,
) -> Result<(), Verdict> {
    let rules = run.rules;
    run.unchecked.extend([Rule::MinLength, Rule::MaxLength]);
    if rules.common_passwords {
        run.check(Rule::Common, ctx.blocklist.contains_digest(digest))?;
    }
    if rules.context_words {
        run.check(
            Rule::ContextWord,
            ctx.words.matches_digest(digest, ctx.year),
        )?;
    }
    if rules.context_contains {
        run.unchecked.push(Rule::ContextContains);
    }
    if rules.patterns {
        // Only a generated set can be compared; finding nothing there proves little, so the
        // rules stay listed as unchecked unless they fail.
        match ctx.blocklist.pattern_of_digest(digest) {
            Some(PatternKind::Repetitive) => run.check(Rule::Repetitive, true)?,
            Some(PatternKind::Sequential) => run.check(Rule::Sequential, true)?,
            None => run.unchecked.extend([Rule::Repetitive, Rule::Sequential]),
        }
    }
    if rules.breached {
        run.unchecked.push(Rule::Breached);
    }
    Ok(())
}

#[cfg(test)]
mod samples_tests;
#[cfg(test)]
mod tests;
