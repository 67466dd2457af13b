//! The forwarder's pure parts: what goes on the wire to a collector, and how long to wait
//! after a failure. No I/O here, so every format is pinned by unit tests.

use std::time::Duration;

/// RFC 5424 PRI: facility 13 (log audit) × 8 + severity 6 (informational).
const PRI: u8 = 13 * 8 + 6;
/// The structured-data ID: a private enterprise number, as RFC 5424 §7.2.2 asks of custom IDs.
pub const SD_ID: &str = "pg@32473";
/// The APP-NAME and MSGID of every message.
pub const APP_NAME: &str = "profilegate";
pub const MSGID: &str = "audit";

/// Most records in one send: bounds memory and a collector's request size.
pub const MAX_BATCH: usize = 500;

/// A RFC 5424 header field: printable US-ASCII without spaces, at most `max` characters,
/// `-` (the NILVALUE) when nothing is left.
fn header_field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if f.is_empty() {
        "-".into()
    } else {
        f
    }
}

/// One audit record as a RFC 5424 message: `<110>1 TIME HOST profilegate PID audit
/// [pg@32473 seq="N" hash="HEX"] JSON`. `time` is the record's own (RFC 3339); the MSG is the
/// record's JSON exactly as stored (one line: it is compact JSON), so a SIEM can re-hash it.
pub fn syslog_message(
    seq: u64,
    hash: &str,
    time: &str,
    host: &str,
    pid: u32,
    body: &[u8],
) -> Vec<u8> {
    // SD-PARAM values escape `"`, `\` and `]`; a hex hash never has them, but be exact.
    let hash: String = hash
        .chars()
        .flat_map(|c| match c {
            '"' | '\\' | ']' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let mut m = format!(
        "<{PRI}>1 {} {} {APP_NAME} {pid} {MSGID} [{SD_ID} seq=\"{seq}\" hash=\"{hash}\"] ",
        header_field(time, 128),
        header_field(host, 255),
    )
    .into_bytes();
    m.extend_from_slice(body);
    m
}

/// RFC 6587 octet counting: `MSG-LEN SP SYSLOG-MSG`.
pub fn octet_frame(msg: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg);
}

/// One record as a JSON line for an HTTP collector: `{"seq":N,"hash":"HEX","record":{…}}\n`,
/// with the record's JSON embedded exactly as stored (so its hash can be checked).
pub fn json_line(seq: u64, hash: &str, body: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.extend_from_slice(b",\"hash\":");
    // A hex string needs no escaping; serializing keeps that true whatever is passed.
    out.extend_from_slice(serde_json::Value::from(hash).to_string().as_bytes());
    out.extend_from_slice(b",\"record\":");
    out.extend_from_slice(body);
    out.extend_from_slice(b"}\n");
}

/// Wait after the `failures`-th failure in a row: 1 s, doubling, at most 60 s.
pub fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(6);
    Duration::from_secs(secs.min(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syslog_message_is_rfc5424_with_seq_and_hash() {
        let m = syslog_message(
            7,
            "ab01",
            "2026-11-30T12:00:00.123Z",
            "gate one",
            42,
            br#"{"seq":7,"kind":"decision"}"#,
        );
        assert_eq!(
            String::from_utf8(m).unwrap(),
            r#"<110>1 2026-11-30T12:00:00.123Z gateone profilegate 42 audit [pg@32473 seq="7" hash="ab01"] {"seq":7,"kind":"decision"}"#
        );
        let m = syslog_message(1, "x\"]", "", "", 1, b"{}");
        assert!(String::from_utf8(m)
            .unwrap()
            .starts_with(r#"<110>1 - - profilegate 1 audit [pg@32473 seq="1" hash="x\"\]"] {}"#));
    }

    #[test]
    fn frames_are_octet_counted() {
        let mut out = Vec::new();
        octet_frame(b"hello", &mut out);
        octet_frame("é".as_bytes(), &mut out);
        assert_eq!(out, b"5 hello2 \xc3\xa9");
    }

    #[test]
    fn json_lines_embed_the_record_as_stored() {
        let mut out = Vec::new();
        json_line(3, "ff", br#"{"a":1}"#, &mut out);
        json_line(4, "ee", br#"{"b":[2]}"#, &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0],
            serde_json::json!({"seq":3,"hash":"ff","record":{"a":1}})
        );
        assert_eq!(lines[1]["record"]["b"][0], 2);
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn backoff_doubles_from_one_second_to_a_minute() {
        let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(0).as_secs(), 1);
        assert_eq!(backoff(u32::MAX).as_secs(), 60);
    }
}
