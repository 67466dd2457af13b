use super::*;
use crate::contract::{parse_password_request, validate_message, MessageKind};

pub(super) fn bundled() -> &'static Blocklist {
    static LIST: std::sync::OnceLock<Blocklist> = std::sync::OnceLock::new();
    LIST.get_or_init(Blocklist::bundled)
}

pub(super) fn mfa() -> PasswordRules {
    PasswordRules {
        factor_mode: FactorMode::Mfa,
        min_length: 8,
        ..PasswordRules::default()
    }
}

fn eval_with(rules: &PasswordRules, words: &ContextWords, pw: &str) -> Verdict {
    let ctx = PasswordContext {
        blocklist: bundled(),
        words,
        year: Some(2026),
        breached: None,
    };
    evaluate(rules, Candidate::Plain(pw), &ctx)
}

fn failed(rules: &PasswordRules, words: &ContextWords, pw: &str) -> Option<Rule> {
    eval_with(rules, words, pw).failed_rule()
}

pub(super) fn seed_words() -> ContextWords {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/password/suborg-user-password.json"
    ))
    .unwrap();
    ContextWords::from_request(&parse_password_request(&body).unwrap(), &[])
}

pub(super) const GOOD: &str = "correct horse battery staple";

#[test]
fn min_length_in_code_points_with_the_nist_floors() {
    let none = ContextWords::default();
    let d = PasswordRules::default();
    assert_eq!(failed(&d, &none, "tangerine lamp"), Some(Rule::MinLength)); // 14
    assert_eq!(failed(&d, &none, "tangerine lamps"), None); // 15
                                                            // Code points, not bytes: 15 non-ASCII characters are enough.
    assert_eq!(failed(&d, &none, "\u{65e5}\u{672c}\u{8a9e}\u{306e}\u{5408}\u{8a00}\u{8449}\u{3092}\u{899a}\u{3048}\u{308b}\u{306e}\u{306f}\u{96e3}\u{3057}"), None);
    // 8 only as an explicit MFA setting; a lower stored minimum is raised to the floor.
    assert_eq!(failed(&mfa(), &none, "tangerine lamp"), None);
    let low = PasswordRules {
        min_length: 8,
        ..PasswordRules::default()
    };
    assert!(low.validate().is_err());
    assert_eq!(failed(&low, &none, "tangerine lamp"), Some(Rule::MinLength));
    assert!(mfa().validate().is_ok());
    let v = eval_with(&d, &none, "tangerine lamp");
    match v.outcome {
        Outcome::Rejected { message, .. } => {
            assert_eq!(message.reason, "password_too_short");
            assert!(
                message
                    .description
                    .starts_with("Use at least 15 characters."),
                "{}",
                message.description
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_maximum_under_64_and_no_truncation() {
    let none = ContextWords::default();
    let long = "the quick brown fox jumps over the lazy dog while seven zebras hum loudly";
    assert!(long.chars().count() > 64);
    // Even an admin's maximum of 20 is raised to 64.
    let tight = PasswordRules {
        max_length: 20,
        ..PasswordRules::default()
    };
    assert!(tight.validate().is_err());
    assert_eq!(failed(&tight, &none, &long[..64]), None);
    assert_eq!(failed(&PasswordRules::default(), &none, long), None);
    let over: String = std::iter::repeat_n(GOOD, 10).collect::<Vec<_>>().join(" ");
    assert!(over.chars().count() > 256);
    assert_eq!(
        failed(&PasswordRules::default(), &none, &over),
        Some(Rule::MaxLength)
    );
    let rules = PasswordRules {
        max_length: 1024,
        ..PasswordRules::default()
    };
    // Patterns see the whole password: a repeated passphrase is refused, not cut and accepted.
    assert_eq!(failed(&rules, &none, &over), Some(Rule::Repetitive));
}

#[test]
fn nfc_and_raw_forms() {
    let none = ContextWords::default();
    // 14 characters typed as base letter + combining accent: 28 code points raw, 14 in NFC.
    let decomposed14: String = "e\u{301}".repeat(7) + &"a\u{300}".repeat(7);
    assert_eq!(decomposed14.chars().count(), 28);
    assert_eq!(
        failed(&PasswordRules::default(), &none, &decomposed14),
        Some(Rule::MinLength)
    );
    // A listed password typed decomposed is caught through its NFC form...
    let list = Blocklist::from_lines("caf\u{e9} au lait caf\u{e9}\n");
    let ctx = PasswordContext {
        blocklist: &list,
        words: &none,
        year: None,
        breached: None,
    };
    let v = evaluate(
        &mfa(),
        Candidate::Plain("Cafe\u{301} au lait cafe\u{301}"),
        &ctx,
    );
    assert_eq!(v.failed_rule(), Some(Rule::Common));
    // ...and one listed in decomposed form is caught through the raw form.
    let list = Blocklist::from_lines("cafe\u{301} au lait cafe\u{301}\n");
    let ctx = PasswordContext {
        blocklist: &list,
        ..ctx
    };
    let v = evaluate(
        &mfa(),
        Candidate::Plain("cafe\u{301} au lait cafe\u{301}"),
        &ctx,
    );
    assert_eq!(v.failed_rule(), Some(Rule::Common));
    // Context words compare in NFC as well.
    let words = ContextWords::from_words(["Ren\u{e9}e"]);
    assert_eq!(
        failed(&mfa(), &words, "RENE\u{301}E2026!"),
        Some(Rule::ContextWord)
    );
}

#[test]
fn common_passwords_whole_and_case_insensitive() {
    let none = ContextWords::default();
    assert_eq!(
        failed(&PasswordRules::default(), &none, "1qaz2wsx3edc4rfv"),
        Some(Rule::Common)
    );
    assert_eq!(
        failed(&PasswordRules::default(), &none, "MomsAnalAdventure"),
        Some(Rule::Common)
    );
    assert_eq!(failed(&mfa(), &none, "Password1"), Some(Rule::Common));
    // Whole-password comparison: a listed password inside a longer one is fine.
    assert_eq!(failed(&mfa(), &none, "password1 is not my password"), None);
    let off = PasswordRules {
        common_passwords: false,
        ..mfa()
    };
    assert_eq!(failed(&off, &none, "Password1"), None);
}

#[test]
fn repetitive_and_sequential() {
    let none = ContextWords::default();
    let d = PasswordRules::default();
    assert_eq!(
        failed(&d, &none, "zzzzzzzzzzzzzzzzzzzz"),
        Some(Rule::Repetitive)
    );
    assert_eq!(
        failed(&d, &none, "xyzzyxyzzyxyzzyxyzzy"),
        Some(Rule::Repetitive)
    );
    assert_eq!(
        failed(&d, &none, "abcdefghijklmnopqrst"),
        Some(Rule::Sequential)
    );
    assert_eq!(
        failed(&d, &none, "qwertyuiopasdfghjkl"),
        Some(Rule::Sequential)
    );
    assert_eq!(
        failed(&d, &none, "9876543210zyxwvutsrq"),
        Some(Rule::Sequential)
    );
    assert_eq!(failed(&d, &none, GOOD), None);
    let off = PasswordRules {
        patterns: false,
        ..d
    };
    assert_eq!(failed(&off, &none, "abcdefghijklmnopqrst"), None);
}

#[test]
fn context_words_from_the_seed_fixture() {
    let words = seed_words();
    let have: Vec<String> = words.words().iter().map(|w| w.to_lowercase()).collect();
    for w in [
        "wso2",
        "asgardeo",
        "profilegate",
        "bob@aol.com",
        "bob",
        "aol",
        "bob@work.example.com",
        "work",
        "example",
        "personal",
        "builders",
        "builders.com",
        "bar.com",
        "bar",
    ] {
        assert!(have.iter().any(|h| h == w), "{w} missing from {have:?}");
    }
    let rules = mfa();
    for pw in [
        "bob@aol.com",
        "BUILDERS.COM",
        "Builders2026!",
        "Asgardeo123",
        "bob.aol.com",
    ] {
        assert_eq!(failed(&rules, &words, pw), Some(Rule::ContextWord), "{pw}");
    }
    // Whole-password comparison by default; "contains" is the stricter option.
    let pw = "builders of tall towers";
    assert_eq!(failed(&PasswordRules::default(), &words, pw), None);
    let strict = PasswordRules {
        context_contains: true,
        ..PasswordRules::default()
    };
    assert_eq!(failed(&strict, &words, pw), Some(Rule::ContextContains));
    // Words under 4 characters are not looked for inside a password.
    assert_eq!(failed(&strict, &words, "a bobcat sat on a mat"), None);
}

#[test]
fn context_words_from_names_and_email() {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/password/v1.1-user-reset-plain.json"
    ))
    .unwrap();
    let req = parse_password_request(&body).unwrap();
    let words = ContextWords::from_request(&req, &["Zephyrion".into()]);
    for pw in [
        "Emily Rosenthal",
        "emily.rose",
        "EmilyRose",
        "Rosenthal1234",
        "acme.example",
        "zephyrion!",
    ] {
        assert_eq!(failed(&mfa(), &words, pw), Some(Rule::ContextWord), "{pw}");
    }
    assert_eq!(failed(&mfa(), &words, GOOD), None);
}

pub(super) struct Stub(pub(super) BreachAnswer);
impl BreachedCheck for Stub {
    fn check(&self, password: &str) -> BreachAnswer {
        if password == "violet hammock sunrise" {
            self.0
        } else {
            BreachAnswer::NotFound
        }
    }
}

#[test]
fn breached_extension_point() {
    let none = ContextWords::default();
    let rules = PasswordRules::default();
    for (answer, want, unchecked) in [
        (BreachAnswer::Found, Some(Rule::Breached), false),
        (BreachAnswer::NotFound, None, false),
        (BreachAnswer::Unknown, None, true),
    ] {
        let stub = Stub(answer);
        let ctx = PasswordContext {
            blocklist: bundled(),
            words: &none,
            year: None,
            breached: Some(&stub),
        };
        let v = evaluate(&rules, Candidate::Plain("violet hammock sunrise"), &ctx);
        assert_eq!(v.failed_rule(), want);
        assert_eq!(v.unchecked.contains(&Rule::Breached), unchecked);
    }
}

/// No source loaded: an enabled rule is unchecked; a disabled rule is neither checked nor
/// listed, and a found password passes.
#[test]
fn breached_rule_without_a_source_or_turned_off() {
    let none = ContextWords::default();
    let stub = Stub(BreachAnswer::Found);
    let mut rules = PasswordRules::default();
    let ctx = |breached| PasswordContext {
        blocklist: bundled(),
        words: &none,
        year: None,
        breached,
    };
    let pw = Candidate::Plain("violet hammock sunrise");
    let v = evaluate(&rules, pw, &ctx(None));
    assert!(v.is_accepted());
    assert_eq!(v.unchecked, vec![Rule::Breached]);
    rules.breached = false;
    for source in [None, Some(&stub as &dyn BreachedCheck)] {
        let v = evaluate(&rules, pw, &ctx(source));
        assert!(v.is_accepted());
        assert!(!v.applied.contains(&Rule::Breached) && !v.unchecked.contains(&Rule::Breached));
    }
}

#[test]
fn every_default_text_passes_the_callers_charset() {
    let rules = PasswordRules::default();
    rules.validate().unwrap();
    for r in [
        rules.clone(),
        mfa(),
        PasswordRules {
            max_length: 1024,
            ..rules.clone()
        },
    ] {
        for (field, m) in r.messages.all() {
            validate_message(&m.reason, MessageKind::Reason)
                .unwrap_or_else(|e| panic!("{field}: {e}"));
            let text = r.render(&m.description);
            assert!(!text.contains('['), "{field}: {text}");
            validate_message(&text, MessageKind::Description)
                .unwrap_or_else(|e| panic!("{field}: {e}"));
        }
    }
    let mut bad = PasswordRules::default();
    bad.messages.common.description = "Too common, sorry".into();
    assert!(matches!(
        bad.validate(),
        Err(RulesError::Message {
            field: "common",
            part: "description",
            ..
        })
    ));
}

#[test]
fn rules_are_settings_with_defaults() {
    let d: PasswordRules = serde_json::from_str("{}").unwrap();
    assert_eq!(d, PasswordRules::default());
    let json = serde_json::to_string(&mfa()).unwrap();
    assert!(json.contains("\"factor_mode\":\"mfa\""), "{json}");
    assert_eq!(serde_json::from_str::<PasswordRules>(&json).unwrap(), mfa());
    let v = eval_with(
        &PasswordRules::default(),
        &ContextWords::default(),
        "tangerine lamp",
    );
    let audit = serde_json::to_string(&v).unwrap();
    assert!(
        audit.contains("\"rule\":\"min_length\"") && !audit.contains("tangerine"),
        "{audit}"
    );
    assert!(!format!("{:?}", Candidate::Plain("tangerine")).contains("tangerine"));
}

#[test]
fn the_online_answer_folds_into_an_accepting_verdict_only() {
    let none = ContextWords::default();
    let rules = PasswordRules::default();
    let ok = eval_with(&rules, &none, "violet hammock sunrise");
    assert!(ok.is_accepted());
    let found = ok
        .clone()
        .with_online_breach(&rules, BreachAnswer::Found, false);
    assert_eq!(found.failed_rule(), Some(Rule::Breached));
    assert_eq!(
        found.to_response(),
        ActionResponse::failed(
            &rules.messages.breached.reason,
            &rules.messages.breached.description
        )
    );
    let clean = ok
        .clone()
        .with_online_breach(&rules, BreachAnswer::NotFound, true);
    assert!(clean.is_accepted() && clean.applied.contains(&Rule::Breached));
    let open = ok
        .clone()
        .with_online_breach(&rules, BreachAnswer::Unknown, false);
    assert!(open.is_accepted() && open.unchecked.contains(&Rule::Breached));
    let closed = ok.with_online_breach(&rules, BreachAnswer::Unknown, true);
    assert_eq!(closed.failed_rule(), Some(Rule::BreachUnavailable));
    assert!(closed.unchecked.contains(&Rule::Breached));
    // A refused password stays refused for its own rule (and is never sent out).
    let short = eval_with(&rules, &none, "tangerine lamp");
    let still = short.with_online_breach(&rules, BreachAnswer::Found, true);
    assert_eq!(still.failed_rule(), Some(Rule::MinLength));
}
