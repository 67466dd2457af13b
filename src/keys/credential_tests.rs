use super::*;

fn parse(json: &str) -> Result<Credential, JweError> {
    Credential::from_payload(json.as_bytes())
}

fn not_credential(json: &str) -> &'static str {
    match parse(json) {
        Err(JweError::NotCredential(why)) => why,
        other => panic!("{json}: {other:?}"),
    }
}

#[test]
fn the_string_form() {
    let c =
        parse(r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":"s3cret with spaces"}"#).unwrap();
    assert_eq!(c.value(), "s3cret with spaces");
    assert_eq!(c.format(), CredentialFormat::PlainText);
}

#[test]
fn the_gson_char_array_form() {
    let c = parse(
        r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":["s","3","\u003d","é","\"","\\"]}"#,
    )
    .unwrap();
    assert_eq!(c.value(), "s3=é\"\\");
    let empty = parse(r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":[]}"#).unwrap();
    assert_eq!(empty.value(), "");
}

#[test]
fn surrogate_halves_in_separate_elements_are_joined() {
    let c =
        parse(r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":["a","\ud83d","\ude00","b"]}"#)
            .unwrap();
    assert_eq!(c.value(), "a\u{1F600}b");
    // Upper-case hex and a pair split over array elements in the other order.
    assert_eq!(
        not_credential(r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":["\uDE00","\uD83D"]}"#),
        "the value array has a surrogate without its other half"
    );
    assert_eq!(
        not_credential(r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":["x","\ud83d"]}"#),
        "the value array has a surrogate without its other half"
    );
}

#[test]
fn a_long_char_array_grows_its_buffer() {
    let password: String = (0..1000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let elements: Vec<String> = password.chars().map(|c| format!("\"{c}\"")).collect();
    let json = format!(
        r#"{{"type":"PASSWORD","format":"PLAIN_TEXT","value":[{}]}}"#,
        elements.join(",")
    );
    assert_eq!(parse(&json).unwrap().value(), password);
}

#[test]
fn elements_must_be_single_code_units() {
    for value in [
        r#"["ab"]"#,
        r#"[""]"#,
        r#"["😀"]"#,
        r#"["a",1]"#,
        r#"[["a"]]"#,
        r#"["\ud83d\ude00"]"#,
    ] {
        let json = format!(r#"{{"type":"PASSWORD","format":"PLAIN_TEXT","value":{value}}}"#);
        assert!(
            matches!(parse(&json), Err(JweError::NotCredential(_))),
            "{value}"
        );
    }
    assert_eq!(
        not_credential(r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":["a","bc","d"]}"#),
        "an element of the value array is not one UTF-16 code unit"
    );
}

#[test]
fn the_hash_form_with_and_without_its_algorithm() {
    let hash = "h3bxCOJHqx4rMjBCwEnCZkB8gfutQb3h6N/Bu2b9Jn4=";
    let gson = r#"{"type":"PASSWORD","format":"HASH","value":"h3bxCOJHqx4rMjBCwEnCZkB8gfutQb3h6N/Bu2b9Jn4\u003d","additionalData":{"algorithm":"SHA256"}}"#;
    let c = parse(gson).unwrap();
    assert_eq!(
        (c.format(), c.value()),
        (CredentialFormat::Sha256Hash, hash)
    );
    let bare = parse(r#"{"type":"PASSWORD","format":"HASH","value":"abc"}"#).unwrap();
    assert_eq!(bare.format(), CredentialFormat::Sha256Hash);
    assert_eq!(
        not_credential(
            r#"{"type":"PASSWORD","format":"HASH","value":"a","additionalData":{"algorithm":"MD5"}}"#
        ),
        "algorithm is not SHA256"
    );
    assert_eq!(
        not_credential(
            r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":"a","additionalData":{"algorithm":"SHA256"}}"#
        ),
        "a PLAIN_TEXT value names an algorithm"
    );
}

#[test]
fn other_shapes_are_not_credentials() {
    assert_eq!(not_credential("p4ss"), "not JSON");
    assert_eq!(
        not_credential(r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":"a"} x"#),
        "not JSON"
    );
    assert_eq!(
        not_credential(r#"{"type":"PIN","format":"PLAIN_TEXT","value":"1"}"#),
        "type is not PASSWORD"
    );
    assert_eq!(
        not_credential(r#"{"type":"PASSWORD","format":"SALTED","value":"1"}"#),
        "format is neither PLAIN_TEXT nor HASH"
    );
    for json in [
        r#"{"type":"PASSWORD","format":"PLAIN_TEXT"}"#,
        r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":12}"#,
        r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":null}"#,
        r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":"a","value":"b"}"#,
        r#"["PASSWORD"]"#,
    ] {
        assert_eq!(
            not_credential(json),
            "not an object with type, format and a string or character-array value",
            "{json}"
        );
    }
}

#[test]
fn debug_shows_the_format_only() {
    let c = parse(r#"{"type":"PASSWORD","format":"PLAIN_TEXT","value":"hunter2hunter2"}"#).unwrap();
    let shown = format!("{c:?}");
    assert!(shown.contains("PlainText"), "{shown}");
    assert!(!shown.contains("hunter2"));
}
