//! Each operation on a real sled store: keys (generate, list, export, retire, the third-key
//! conflict, the ring's order, a backup and restore that brings them back), the policy (set,
//! show, fallback, validation named by field) and `check`.

use super::*;
use crate::keys::KeyRing;
use crate::model::PasswordEventMail;
use crate::policy::password::{FactorMode, Outcome, PasswordRules, Rule};
use crate::service::testing::{run, TestStore};
use crate::service::ServiceError;
use crate::store::Store;

/// A compact JWE as WSO2 (Nimbus) makes it, for the ring's key with this certificate.
fn token_for(cert_pem: &str, key_ring: &KeyRing, payload: &str) -> String {
    let key = key_ring
        .keys()
        .iter()
        .find(|k| k.certificate_pem() == cert_pem)
        .expect("the key is in the ring");
    crate::keys::seal_for_tests(key, payload)
}

const PAYLOAD: &str = r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":["p","4","s","s"]}"#;

fn field(e: &ServiceError) -> Option<&'static str> {
    match e {
        ServiceError::Invalid { field, .. } => Some(field),
        _ => None,
    }
}

fn audit_text(store: &Store) -> String {
    let mut out = Vec::new();
    store.export_audit(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn keys_generate_list_export_retire_and_the_third_is_a_conflict() {
    let t = TestStore::new();
    let (store, ctx) = (&t.store, t.ctx());
    assert_eq!(
        field(&run(generate_key(ctx, 1024)).unwrap_err()),
        Some("bits")
    );
    assert!(list_keys(store).unwrap().is_empty());

    let (first, export) = run(generate_key(ctx, 2048)).unwrap();
    assert_eq!((first.bits, first.is_active()), (2048, true));
    assert!(export
        .certificate_pem
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(export.certificate_base64.starts_with("LS0tLS1CRUdJTi"));
    assert_eq!(export, export_key(store, &first.id).unwrap());
    let (second, _) = run(generate_key(ctx, 2048)).unwrap();

    // The ring holds both, newest first.
    let ring = store.password_keyring();
    let ids: Vec<&str> = ring.keys().iter().map(|k| k.id()).collect();
    assert_eq!(ids, [second.id.as_str(), first.id.as_str()]);
    let listed: Vec<String> = list_keys(store)
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, [second.id.clone(), first.id.clone()]);

    // A third is refused before any work, naming the keys to retire.
    let e = run(generate_key(ctx, 2048)).unwrap_err();
    assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&first.id) && msg.contains(&second.id), "{msg}");
    assert_eq!(list_keys(store).unwrap().len(), 2);

    // Retiring the first: tokens for it no longer open, tokens for the second still do.
    let token_first = token_for(&export.certificate_pem, &ring, PAYLOAD);
    assert_eq!(
        store
            .password_keyring()
            .decrypt(&token_first)
            .unwrap()
            .value(),
        "p4ss"
    );
    let retired = run(retire_key(ctx, &first.id)).unwrap();
    assert!(!retired.is_active());
    assert!(store.password_keyring().decrypt(&token_first).is_err());
    assert_eq!(store.password_keyring().keys().len(), 1);
    let e = export_key(store, &first.id).unwrap_err();
    assert!(matches!(e, ServiceError::NotFound(_)), "{e:?}");
    let e = run(retire_key(ctx, &first.id)).unwrap_err();
    assert!(matches!(e, ServiceError::NotFound(_)), "{e:?}");
    // Listed still, as retired; and now there is room again.
    let all = list_keys(store).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|k| k.id == first.id && k.retired.is_some()));
    run(generate_key(ctx, 2048)).unwrap();

    // The chain has every change with ids and fingerprints, and no key bytes.
    let audit = audit_text(store);
    assert_eq!(
        audit.matches("password.keys.generate").count(),
        3,
        "{audit}"
    );
    assert!(audit.contains("password.keys.retire") && audit.contains(&first.fingerprint));
    assert!(
        !audit.contains("BEGIN") && !audit.contains("pkcs8"),
        "{audit}"
    );
}

#[test]
fn keys_survive_a_reopen_and_a_backup_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (token, backup) = {
        let store = Store::open(&dir.path().join("a")).unwrap();
        let ctx = crate::service::Ctx {
            store: &store,
            durability: crate::service::Durability::Flush,
            actor: "test",
        };
        let (_, export) = run(generate_key(ctx, 2048)).unwrap();
        let token = token_for(&export.certificate_pem, &store.password_keyring(), PAYLOAD);
        let mut backup = Vec::new();
        store.backup(&mut backup).unwrap();
        (token, backup)
    };
    // Reopened: the ring is rebuilt from the tree.
    let store = Store::open(&dir.path().join("a")).unwrap();
    assert_eq!(
        store.password_keyring().decrypt(&token).unwrap().value(),
        "p4ss"
    );
    drop(store);
    // Restored into an empty dir: the key is back and opens the token made for it.
    let restored = dir.path().join("b");
    crate::store::backup::restore(&restored, &mut backup.as_slice()).unwrap();
    let store = Store::open(&restored).unwrap();
    assert_eq!(store.password_keys().unwrap().len(), 1);
    assert_eq!(
        store.password_keyring().decrypt(&token).unwrap().value(),
        "p4ss"
    );
}

#[test]
fn policy_set_show_fallback_and_validation() {
    let t = TestStore::new();
    let (store, ctx) = (&t.store, t.ctx());
    let root = show_policy(store, None).unwrap();
    assert!(root.own && root.org.is_none());
    assert_eq!(root.rules, PasswordRules::default());
    assert_eq!(root.notify, PasswordEventMail::None);

    let mut mfa = PasswordRules {
        factor_mode: FactorMode::Mfa,
        min_length: 8,
        ..PasswordRules::default()
    };
    run(set_policy(ctx, Some("org-1"), mfa.clone())).unwrap();
    let org1 = show_policy(store, Some("org-1")).unwrap();
    assert!(org1.own);
    assert_eq!(org1.rules.min_length, 8);
    // Another organization falls back to the root's.
    let org2 = show_policy(store, Some("org-2")).unwrap();
    assert!(!org2.own);
    assert_eq!(org2.rules.min_length, 15);
    assert_eq!(
        store
            .settings()
            .password
            .rules_for(Some("org-2"))
            .min_length,
        15
    );

    // Validation names the field, and nothing is stored.
    mfa.min_length = 7;
    let e = run(set_policy(ctx, Some("org-1"), mfa.clone())).unwrap_err();
    assert_eq!(field(&e), Some("min_length"), "{e}");
    let single = PasswordRules {
        min_length: 12,
        ..PasswordRules::default()
    };
    let e = run(set_policy(ctx, None, single)).unwrap_err();
    assert_eq!(field(&e), Some("min_length"), "{e}");
    let long = PasswordRules {
        max_length: 32,
        ..PasswordRules::default()
    };
    assert_eq!(
        field(&run(set_policy(ctx, None, long)).unwrap_err()),
        Some("max_length")
    );
    let mut bad_text = PasswordRules::default();
    bad_text.messages.too_short.description = "Too short, sorry".into();
    let e = run(set_policy(ctx, None, bad_text)).unwrap_err();
    assert_eq!(field(&e), Some("messages.too_short.description"));
    assert!(
        e.to_string().contains("messages.too_short.description"),
        "{e}"
    );
    let e = run(set_policy(ctx, Some("bad\norg"), PasswordRules::default())).unwrap_err();
    assert_eq!(field(&e), Some("org"));
    assert_eq!(
        show_policy(store, Some("org-1")).unwrap().rules.min_length,
        8
    );
    assert_eq!(
        show_policy(store, None).unwrap().rules,
        PasswordRules::default()
    );

    // An organization's own rules can be removed; the root's cannot.
    run(clear_policy(ctx, "org-1")).unwrap();
    assert!(!show_policy(store, Some("org-1")).unwrap().own);
    assert!(matches!(
        run(clear_policy(ctx, "org-1")).unwrap_err(),
        ServiceError::NotFound(_)
    ));
    run(set_event_mail(ctx, PasswordEventMail::AdminInitiated)).unwrap();
    assert_eq!(
        show_policy(store, None).unwrap().notify,
        PasswordEventMail::AdminInitiated
    );
    assert!(audit_text(store).contains("password.policy"));
}

#[test]
fn check_evaluates_and_stores_nothing() {
    let t = TestStore::new();
    let (store, ctx) = (&t.store, t.ctx());
    let head = store.chain_head();
    let v = check(store, None, "correct horse battery staple").unwrap();
    assert!(v.is_accepted(), "{v:?}");
    let v = check(store, None, "short").unwrap();
    assert_eq!(v.failed_rule(), Some(Rule::MinLength));
    let v = check(store, None, "passwordpassword").unwrap();
    assert!(!v.is_accepted());
    let v = check(store, None, "profilegate").unwrap();
    assert!(!v.is_accepted());
    // An organization's own rules apply to it.
    let rules = PasswordRules {
        factor_mode: FactorMode::Mfa,
        min_length: 8,
        ..PasswordRules::default()
    };
    run(set_policy(ctx, Some("org-1"), rules)).unwrap();
    let head_after_set = store.chain_head();
    assert!(check(store, Some("org-1"), "tangerine-owl")
        .unwrap()
        .is_accepted());
    match check(store, None, "tangerine-owl").unwrap().outcome {
        Outcome::Rejected { rule, message } => {
            assert_eq!(rule, Rule::MinLength);
            assert!(
                message.description.contains("15"),
                "{}",
                message.description
            );
        }
        Outcome::Accepted => panic!("the root needs 15"),
    }
    // Checking recorded nothing.
    assert_ne!(head.seq, head_after_set.seq);
    assert_eq!(store.chain_head().seq, head_after_set.seq);
}

#[test]
fn check_with_takes_the_users_words_as_context() {
    let t = TestStore::new();
    let store = &t.store;
    let head = store.chain_head();
    let pw = "margaret-thornbury";
    assert!(check(store, None, pw).unwrap().is_accepted());
    // The given and family name together, in either order, as an event would give them.
    let named = TryContext {
        given_name: Some("Margaret"),
        family_name: Some("Thornbury"),
        ..TryContext::default()
    };
    let v = check_with(store, None, pw, &named, None).unwrap();
    assert_eq!(v.failed_rule(), Some(Rule::ContextWord), "{v:?}");
    // The e-mail's local part.
    let mail = TryContext {
        email: Some("margaret-thornbury@example.com"),
        ..TryContext::default()
    };
    let v = check_with(store, None, pw, &mail, None).unwrap();
    assert_eq!(v.failed_rule(), Some(Rule::ContextWord), "{v:?}");
    // Blank values add nothing.
    let blank = TryContext {
        username: Some("  "),
        ..TryContext::default()
    };
    assert!(check_with(store, None, pw, &blank, None)
        .unwrap()
        .is_accepted());
    // A password over the bound is refused by name, not evaluated.
    let long = "x".repeat(MAX_TRY_BYTES + 1);
    let e = check_with(store, None, &long, &TryContext::default(), None).unwrap_err();
    assert_eq!(field(&e), Some("password"));
    assert_eq!(store.chain_head().seq, head.seq, "nothing recorded");
}

/// The breached-password filter's use cases on a real store: status before and after an
/// import, the refusals named by field, `check_with` naming the rule, the audit record and the
/// server's reload (which records a new file once).
#[test]
fn breached_import_status_check_and_reload() {
    let t = TestStore::new();
    let dir = t.store.dir().to_path_buf();
    assert_eq!(breached_status(&dir).unwrap(), None);
    let line = |p: &str| {
        let d =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, p.as_bytes());
        format!("{}:5\n", hex::encode(d.as_ref()))
    };
    let inputs = tempfile::tempdir().unwrap();
    let src = inputs.path().join("pwned.txt");
    std::fs::write(&src, line("violet hammock sunrise")).unwrap();
    let e = import_breached(&dir, &src, 0, &mut |_| {}).unwrap_err();
    assert_eq!(field(&e), Some("min_count"));
    let bad = inputs.path().join("bad.txt");
    std::fs::write(&bad, "nope\n").unwrap();
    assert_eq!(
        field(&import_breached(&dir, &bad, 1, &mut |_| {}).unwrap_err()),
        Some("file")
    );

    let live = std::sync::Arc::new(crate::breached::Live::default());
    let ctx = t.ctx();
    assert_eq!(run(reload_breached(ctx, &live)).unwrap(), None);
    let info = import_breached(&dir, &src, 1, &mut |_| {}).unwrap();
    assert_eq!(info.entries, 1);
    assert_eq!(breached_status(&dir).unwrap(), Some(info.clone()));
    let loaded = run(reload_breached(ctx, &live)).unwrap();
    assert_eq!(loaded, Some(info));
    assert_eq!(run(reload_breached(ctx, &live)).unwrap(), None);
    let audit: Vec<String> = t
        .store
        .audit_iter_rev()
        .filter_map(|r| r.ok())
        .map(|r| serde_json::to_string(&r.entry).unwrap())
        .filter(|e| e.contains("password.breached.import"))
        .collect();
    assert_eq!(audit.len(), 1, "{audit:?}");

    let filter = load_breached(&dir).unwrap().unwrap();
    let v = check_with(
        &t.store,
        None,
        "violet hammock sunrise",
        &TryContext::default(),
        Some(&filter),
    )
    .unwrap();
    assert_eq!(v.failed_rule(), Some(Rule::Breached));
    let v = check(&t.store, None, "violet hammock sunrise").unwrap();
    assert!(v.is_accepted());
    assert_eq!(v.unchecked, vec![Rule::Breached]);
}
