use super::*;
use crate::contract::credential::HASH_SHAPE;
use base64::Engine as _;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/password/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn body(credential: &str) -> String {
    format!(
        r#"{{"actionType":"PRE_UPDATE_PASSWORD","event":{{"initiatorType":"USER","action":"UPDATE","user":{{"id":"u1","updatingCredential":{credential}}}}}}}"#
    )
}

fn shape(e: ParseError) -> (String, String) {
    match e {
        ParseError::Shape { path, message } => (path, message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn seed_suborg_fixture_hash_form() {
    let r = parse_password_request(&fixture("suborg-user-password.json")).unwrap();
    assert_eq!(r.initiator, InitiatorType::Admin);
    assert_eq!(r.action, PasswordAction::Update);
    assert_eq!(r.credential.form(), "HASH");
    let UpdatingCredential::Clear(Credential::Sha256(d)) = &r.credential else {
        panic!("{:?}", r.credential)
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(d.bytes());
    assert_eq!(b64, "h3bxCOJHqx4rMjBCwEnCZkB8gfutQb3h6N/Bu2b9Jn4=");
    assert_eq!(r.user.groups, ["employee", "manager"]);
    assert_eq!(
        r.organization
            .as_ref()
            .and_then(|o| o.org_handle.as_deref()),
        Some("builders.com")
    );
    let emails: Vec<_> = r
        .claim_values("http://wso2.org/claims/emailAddresses")
        .collect();
    assert_eq!(emails, ["bob@work.example.com", "bob@personal.example.com"]);
}

#[test]
fn every_version_and_form() {
    let v1 = parse_password_request(&fixture("v1.0-admin-update-hash.json")).unwrap();
    assert!(v1.organization.is_none() && v1.user.claims.is_empty());
    assert_eq!(v1.credential.form(), "HASH");

    let v11 = parse_password_request(&fixture("v1.1-user-reset-plain.json")).unwrap();
    assert_eq!(
        (v11.initiator.clone(), v11.action.clone()),
        (InitiatorType::User, PasswordAction::Reset)
    );
    assert!(v11.organization.is_none(), "organization: null is accepted");
    assert_eq!(
        v11.request_id.as_deref(),
        Some("1f1e7f0a-7d5b-4a55-9d6c-6a1d3f0e2c11")
    );
    match &v11.credential {
        UpdatingCredential::Clear(Credential::Plain(s)) => {
            assert_eq!(s.expose(), "correct horse battery staple")
        }
        other => panic!("{other:?}"),
    }

    let reg = parse_password_request(&fixture("v2.0-application-register-plain.json")).unwrap();
    assert_eq!(reg.action, PasswordAction::Register);
    assert_eq!(reg.initiator, InitiatorType::Application);
    assert!(reg.user.id.is_none(), "REGISTER has no user.id");

    let jwe = parse_password_request(&fixture("v2.0-admin-invite-jwe.json")).unwrap();
    assert_eq!(jwe.action, PasswordAction::Invite);
    assert_eq!(jwe.credential.form(), "JWE");
    match &jwe.credential {
        UpdatingCredential::Encrypted(s) => assert_eq!(s.expose().split('.').count(), 5),
        other => panic!("{other:?}"),
    }
}

#[test]
fn labels_of_a_later_contract_are_carried() {
    let b = body(r#""x.y.z.w.v""#)
        .replace(r#""USER""#, r#""SYSTEM""#)
        .replace(r#""UPDATE""#, r#""MIGRATE""#);
    let r = parse_password_request(b.as_bytes()).unwrap();
    assert_eq!(r.initiator, InitiatorType::Other("SYSTEM".into()));
    assert_eq!(r.action, PasswordAction::Other("MIGRATE".into()));
}

#[test]
fn the_secret_never_shows_in_debug_or_errors() {
    let b = body(r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":"hunter2-sekrit"}"#);
    let r = parse_password_request(b.as_bytes()).unwrap();
    assert!(!format!("{r:?}").contains("sekrit"), "{r:?}");
    let b = body(r#""eyJhbGciOi.sekrit.x.y.z""#);
    let r = parse_password_request(b.as_bytes()).unwrap();
    assert!(!format!("{r:?}").contains("sekrit"));
    // A HASH value that is not a digest: the error names the path, never the value.
    let b = body(r#"{"type":"PASSWORD","format":"HASH","value":"sekrit"}"#);
    let e = parse_password_request(b.as_bytes()).unwrap_err();
    assert!(!e.to_string().contains("sekrit"), "{e}");
    let (path, message) = shape(e);
    assert_eq!(path, "event.user.updatingCredential");
    assert_eq!(message, HASH_SHAPE);
    // Broken JSON right after the secret: the syntax error gives a position only.
    let b = r#"{"actionType":"PRE_UPDATE_PASSWORD","event":{"user":{"updatingCredential":{"value":"sekrit" "#;
    let e = parse_password_request(b.as_bytes()).unwrap_err();
    assert!(matches!(e, ParseError::NotJson(_)), "{e:?}");
    assert!(!e.to_string().contains("sekrit"), "{e}");
}

#[test]
fn wrong_shapes_name_the_path() {
    for (cred, want_path) in [
        (
            r#"{"type":"PIN","format":"PLAIN_TEXT","value":"x"}"#,
            "event.user.updatingCredential.type",
        ),
        (
            r#"{"type":"PASSWORD","format":"BCRYPT","value":"x"}"#,
            "event.user.updatingCredential.format",
        ),
        (
            r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":7}"#,
            "event.user.updatingCredential.value",
        ),
        (
            r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":["ab"]}"#,
            "event.user.updatingCredential.value[0]",
        ),
        (
            r#"{"type":"PASSWORD","format":"PLAIN_TEXT"}"#,
            "event.user.updatingCredential",
        ),
        (
            r#"{"type":"PASSWORD","format":"HASH","value":"h3bxCOJHqx4rMjBCwEnCZkB8gfutQb3h6N/Bu2b9Jn4=","additionalData":{"algorithm":"MD5"}}"#,
            "event.user.updatingCredential.additionalData.algorithm",
        ),
        ("42", "event.user.updatingCredential"),
        ("null", "event.user.updatingCredential"),
    ] {
        let (path, _) = shape(parse_password_request(body(cred).as_bytes()).unwrap_err());
        assert_eq!(path, want_path, "for {cred}");
    }
    let missing = r#"{"actionType":"PRE_UPDATE_PASSWORD","event":{"initiatorType":"USER","action":"UPDATE","user":{"id":"u"}}}"#;
    let (path, message) = shape(parse_password_request(missing.as_bytes()).unwrap_err());
    assert_eq!(
        (path.as_str(), message.as_str()),
        ("event.user.updatingCredential", "is missing")
    );
    let no_action = body(r#""a.b.c.d.e""#).replace(r#","action":"UPDATE""#, "");
    let (path, _) = shape(parse_password_request(no_action.as_bytes()).unwrap_err());
    assert_eq!(path, "event.action");
}

#[test]
fn envelope_errors() {
    assert_eq!(parse_password_request(b"").unwrap_err(), ParseError::Empty);
    assert_eq!(
        parse_password_request(b"[]").unwrap_err(),
        ParseError::NotObject
    );
    assert_eq!(
        parse_password_request(&[0xff]).unwrap_err(),
        ParseError::NotUtf8
    );
    assert_eq!(
        parse_password_request(b"{}").unwrap_err(),
        ParseError::MissingActionType
    );
    assert_eq!(
        parse_password_request(
            br#"{"actionType":"PRE_UPDATE_PROFILE","event":{"request":{"claims":[]}}}"#
        )
        .unwrap_err(),
        ParseError::OtherActionType
    );
    assert!(matches!(
        parse_password_request(br#"{"actionType":"PRE_UPDATE_PASSWORD"} x"#).unwrap_err(),
        ParseError::NotJson(_)
    ));
}

#[test]
fn jwe_payload_string_or_char_array() {
    let s =
        parse_credential(br#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":"p4ss"}"#).unwrap();
    let a =
        parse_credential(br#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":["p","4","s","s"]}"#)
            .unwrap();
    assert_eq!(s, a);
    // Gson writes '=' as \u003d; a non-BMP character as one element is accepted.
    let h = parse_credential(
        br#"{"type":"PASSWORD","format":"HASH","value":["h","3","b","x","C","O","J","H","q","x","4","r","M","j","B","C","w","E","n","C","Z","k","B","8","g","f","u","t","Q","b","3","h","6","N","/","B","u","2","b","9","J","n","4","\u003d"],"additionalData":{"algorithm":"SHA256"}}"#,
    )
    .unwrap();
    assert!(matches!(h, Credential::Sha256(_)));
    let e = parse_credential(
        "{\"type\":\"PASSWORD\",\"format\":\"PLAIN_TEXT\",\"value\":[\"\u{1F600}\",\"x\"]}"
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(e, Credential::Plain(Secret::new("\u{1F600}x".into())));
}

#[test]
fn lengths_are_bounded() {
    let long = "a".repeat(MAX_PLAINTEXT_BYTES + 1);
    let b = body(&format!(
        r#"{{"type":"PASSWORD","format":"PLAIN_TEXT","value":"{long}"}}"#
    ));
    let (path, _) = shape(parse_password_request(b.as_bytes()).unwrap_err());
    assert_eq!(path, "event.user.updatingCredential.value");
    let ok = "a".repeat(1000);
    let b = body(&format!(
        r#"{{"type":"PASSWORD","format":"PLAIN_TEXT","value":"{ok}"}}"#
    ));
    assert!(parse_password_request(b.as_bytes()).is_ok());
    let jwe = "a".repeat(MAX_JWE_BYTES + 1);
    let (path, _) =
        shape(parse_password_request(body(&format!("\"{jwe}\"")).as_bytes()).unwrap_err());
    assert_eq!(path, "event.user.updatingCredential");
}
