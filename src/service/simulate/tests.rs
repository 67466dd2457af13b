use super::*;
use crate::service::testing::TestStore;

fn deps(t: &TestStore) -> Deps<'_> {
    Deps {
        store: &t.store,
        blocklist: crate::service::password::bundled_blocklist(),
        breached: None,
        salt: [7; 32],
    }
}

fn run(t: &TestStore, event: &str, overrides: Overrides) -> Simulation {
    let req = SimulateRequest {
        event: event.into(),
        endpoint: None,
        overrides,
    };
    simulate(&deps(t), &req).expect("simulated")
}

fn seed() -> &'static str {
    sample("seed-usecase-profile").expect("bundled").event
}

#[test]
fn every_sample_is_decided_at_its_endpoint_with_a_valid_answer() {
    let t = TestStore::new();
    for s in samples() {
        let sim = run(&t, s.event, Overrides::default());
        assert_eq!(sim.endpoint, s.endpoint, "{}", s.id);
        assert!(sim.answer.contract_problems.is_empty(), "{}: {sim:?}", s.id);
        let audit = sim.audit.as_ref().expect("a record");
        assert_eq!(audit.decision, sim.decision, "{}", s.id);
        // The JWE sample names a key profilegate does not have: the 400 ERROR it would get.
        if s.id == "v2.0-admin-invite-jwe" {
            assert_eq!(sim.answer.status, 400, "{sim:?}");
        } else {
            assert_ne!(sim.decision, "ERROR", "{}: {sim:?}", s.id);
        }
    }
}

#[test]
fn a_department_list_not_saved_yet_decides_and_nothing_is_written() {
    let t = TestStore::new();
    let head = t.store.chain_head();
    let current = run(&t, seed(), Overrides::default());
    assert_eq!(current.decision, "FAILED");
    assert_eq!(current.rule.as_deref(), Some("invalid_department"));
    assert!(!current.edited);
    let edited = run(
        &t,
        seed(),
        Overrides {
            departments: Some(DepartmentsOverride {
                org: None,
                names: vec!["HR".into(), " ".into()],
            }),
            ..Default::default()
        },
    );
    assert_eq!(edited.decision, "SUCCESS", "{edited:?}");
    assert_eq!(edited.rule.as_deref(), Some("allowed"));
    assert!(edited.edited);
    // Sensitive claims changed and no SMTP: the record says why no e-mail went out.
    let note = edited.audit.as_ref().and_then(|a| a.notification.clone());
    assert!(note.is_some_and(|n| n.starts_with("not configured")));
    assert_eq!(t.store.chain_head(), head, "the chain did not move");
    assert!(t.store.list_departments(None).unwrap().is_empty());
}

#[test]
fn a_bad_event_is_the_400_error_the_caller_would_get() {
    let t = TestStore::new();
    let sim = run(&t, "{\"actionType\": ", Overrides::default());
    assert_eq!(sim.answer.status, 400);
    assert_eq!(sim.decision, "ERROR");
    assert_eq!(sim.answer.body["errorMessage"], "Invalid request body");
    assert!(sim.answer.contract_problems.is_empty());
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(crate::contract::MAX_BODY));
    let sim = run(&t, &big, Overrides::default());
    assert_eq!(sim.answer.status, 400);
    assert_eq!(sim.answer.body["errorMessage"], "Request body too large");
    assert!(
        sim.audit.is_none(),
        "a body over the limit is never recorded"
    );
}

#[test]
fn edited_messages_and_rules_are_checked_as_saving_them_would_be() {
    let t = TestStore::new();
    let mut messages = Messages::default();
    messages.invalid_department.description = "Pick one, from the list".into();
    let e = simulate(
        &deps(&t),
        &SimulateRequest {
            event: seed().into(),
            endpoint: None,
            overrides: Overrides {
                messages: Some(messages.clone()),
                ..Default::default()
            },
        },
    )
    .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Invalid { field, message } if *field == "overrides.messages" && message.starts_with("messages.invalid_department.description")),
        "{e:?}"
    );
    messages.invalid_department.description = "Pick one from the list.".into();
    let sim = run(
        &t,
        seed(),
        Overrides {
            messages: Some(messages),
            ..Default::default()
        },
    );
    assert_eq!(
        sim.answer.body["failureDescription"],
        "Pick one from the list."
    );
    let rules = PasswordRules {
        min_length: 0,
        ..Default::default()
    };
    let e = simulate(
        &deps(&t),
        &SimulateRequest {
            event: sample("v1.1-user-reset-plain").unwrap().event.into(),
            endpoint: None,
            overrides: Overrides {
                password_rules: Some(rules),
                ..Default::default()
            },
        },
    )
    .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Invalid { field, .. } if *field == "overrides.password_rules"),
        "{e:?}"
    );
}

#[test]
fn edited_password_rules_decide_the_password_event() {
    let t = TestStore::new();
    let event = sample("v2.0-application-register-plain").unwrap().event;
    let current = run(&t, event, Overrides::default());
    let rules = PasswordRules {
        min_length: 40,
        ..Default::default()
    };
    let edited = run(
        &t,
        event,
        Overrides {
            password_rules: Some(rules),
            ..Default::default()
        },
    );
    assert_ne!(current.rule.as_deref(), Some("min_length"), "{current:?}");
    assert_eq!(edited.decision, "FAILED");
    assert_eq!(edited.rule.as_deref(), Some("min_length"), "{edited:?}");
    let audit = edited.audit.unwrap();
    assert_eq!(audit.user_id.as_deref(), Some("new user"), "REGISTER");
    assert!(
        !serde_json::to_string(&audit)
            .unwrap()
            .contains("buildersbuilders"),
        "never the password"
    );
}

#[test]
fn the_contract_check_names_what_the_caller_would_refuse() {
    let ok = serde_json::json!({"actionStatus": "FAILED", "failureReason": "x", "failureDescription": "y."});
    assert!(contract_problems(200, &ok).is_empty());
    assert_eq!(contract_problems(400, &ok).len(), 1, "status");
    let comma = serde_json::json!({"actionStatus": "FAILED", "failureReason": "a,b", "failureDescription": "y."});
    assert_eq!(contract_problems(200, &comma).len(), 1, "charset");
    let extra = serde_json::json!({"actionStatus": "SUCCESS", "x": 1});
    assert_eq!(contract_problems(200, &extra).len(), 1, "keys");
}

#[test]
fn a_profile_event_at_the_password_endpoint_is_the_wrong_action_type() {
    let t = TestStore::new();
    let req = SimulateRequest {
        event: seed().into(),
        endpoint: Some(Endpoint::Password),
        overrides: Overrides::default(),
    };
    let sim = simulate(&deps(&t), &req).unwrap();
    assert_eq!(sim.endpoint, Endpoint::Password);
    assert_eq!(sim.decision, "FAILED");
    assert_eq!(sim.rule.as_deref(), Some("invalid_action_type"));
    assert_eq!(sim.answer.body["failureReason"], "invalid_input");
    let audit = sim.audit.unwrap();
    assert_eq!(
        audit.tenant_id.as_deref(),
        Some("2210"),
        "the profile body's fields"
    );
}
