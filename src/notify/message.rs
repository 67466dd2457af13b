//! The security-team e-mail: which changes are reported and the text that reports them. Pure:
//! no I/O, so the content rules are tested without a mail server.

use crate::contract::{ActionRequest, ClaimValue, PasswordRequest};
use crate::policy::ClaimChange;

/// Fixed subject: nothing from the request reaches a header.
pub const SUBJECT: &str = "[profilegate] Sensitive profile attribute change";
/// The claim whose current value names the user.
pub const USERNAME_CLAIM: &str = "http://wso2.org/claims/username";
/// Longest value shown; the rest is cut (an e-mail is not the place for a 10 KiB value).
const MAX_VALUE_CHARS: usize = 200;

/// The claims of the update that are sensitive, each with its old value where the action
/// shares it. A removal is a change too.
pub fn sensitive_changes(changes: &[ClaimChange], sensitive: &[String]) -> Vec<ClaimChange> {
    changes
        .iter()
        .filter(|c| sensitive.iter().any(|s| s == &c.uri))
        .cloned()
        .collect()
}

/// Makes a value safe for a line of plain text: CR, LF and every other control character
/// become a space, so a value can never start a new line (or a header), and long values are cut.
pub fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .take(MAX_VALUE_CHARS)
        .collect();
    if s.chars().count() > MAX_VALUE_CHARS {
        out.push_str(" [...]");
    }
    out
}

fn show(v: &ClaimValue) -> String {
    match v {
        ClaimValue::Single(s) if s.is_empty() => "(removed)".into(),
        ClaimValue::Multi(v) if v.is_empty() => "(removed)".into(),
        ClaimValue::Single(s) => one_line(s),
        ClaimValue::Multi(v) => format!(
            "[{}]",
            v.iter().map(|x| one_line(x)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The e-mail body for an allowed update that touches sensitive claims.
pub fn body(req: &ActionRequest, changes: &[ClaimChange], time: &str) -> String {
    let event = req.event.as_ref();
    let user = event.and_then(|e| e.user.as_ref());
    let tenant = event.and_then(|e| e.tenant.as_ref());
    let org = event.and_then(|e| e.organization.as_ref());
    let username = req
        .user_claims()
        .iter()
        .find(|c| c.uri == USERNAME_CLAIM)
        .map(|c| show(&c.value));
    let field = |v: Option<&str>| v.map_or_else(|| "(not given)".to_string(), one_line);
    let mut out = String::new();
    out.push_str("profilegate allowed a change to sensitive profile attributes.\n\n");
    out.push_str(&format!(
        "User id:        {}\n",
        field(user.and_then(|u| u.id.as_deref()))
    ));
    if let Some(name) = username {
        out.push_str(&format!("Username:       {name}\n"));
    }
    if let Some(shared) = user.and_then(|u| u.shared_user_id.as_deref()) {
        out.push_str(&format!("Shared user id: {}\n", one_line(shared)));
    }
    out.push_str(&format!(
        "Tenant:         {} ({})\n",
        field(tenant.and_then(|t| t.name.as_deref())),
        field(tenant.and_then(|t| t.id.as_deref()))
    ));
    if let Some(o) = org {
        out.push_str(&format!(
            "Organization:   {} ({})\n",
            field(o.name.as_deref()),
            field(o.id.as_deref())
        ));
    }
    out.push_str(&format!(
        "Initiator:      {}\n",
        field(event.and_then(|e| e.initiator_type.as_deref()))
    ));
    out.push_str(&format!(
        "Request id:     {}\n",
        field(req.request_id.as_deref())
    ));
    out.push_str(&format!(
        "Time:           {time}\n\nChanges (old -> new):\n"
    ));
    let mut unshared = false;
    for c in changes {
        let old = match &c.old {
            Some(v) => show(v),
            None => {
                unshared = true;
                "(not shared with the action)".into()
            }
        };
        out.push_str(&format!(
            "  {}\n    {} -> {}\n",
            one_line(&c.uri),
            old,
            show(&c.new)
        ));
    }
    if unshared {
        out.push_str(
            "\nOld values appear only for attributes shared with the action: in the identity server, \
             add those claims to the pre-update profile action's attributes.\n",
        );
    }
    out
}

/// Fixed subject of the password-event e-mail.
pub const PASSWORD_SUBJECT: &str = "[profilegate] Password change allowed";

/// The e-mail body for an allowed password change: who, where, by whom and how the credential
/// arrived. Never the password or anything derived from it (not even its length).
pub fn password_body(
    req: &PasswordRequest,
    action: &str,
    initiator: &str,
    form: &str,
    time: &str,
) -> String {
    let field = |v: Option<&str>| v.map_or_else(|| "(not given)".to_string(), one_line);
    let username = req
        .user
        .claims
        .iter()
        .find(|c| c.uri == USERNAME_CLAIM)
        .map(|c| show(&c.value));
    let user_id = match (&req.user.id, action) {
        (Some(id), _) => one_line(id),
        (None, "REGISTER") => "(new user)".into(),
        (None, _) => "(not given)".into(),
    };
    let mut out = String::new();
    out.push_str("profilegate allowed a password change.\n\n");
    out.push_str(&format!("User id:        {user_id}\n"));
    if let Some(name) = username {
        out.push_str(&format!("Username:       {name}\n"));
    }
    let tenant = req.tenant.as_ref();
    out.push_str(&format!(
        "Tenant:         {} ({})\n",
        field(tenant.and_then(|t| t.name.as_deref())),
        field(tenant.and_then(|t| t.id.as_deref()))
    ));
    if let Some(o) = &req.organization {
        out.push_str(&format!(
            "Organization:   {} ({})\n",
            field(o.name.as_deref()),
            field(o.id.as_deref())
        ));
    }
    out.push_str(&format!("Action:         {}\n", one_line(action)));
    out.push_str(&format!("Initiator:      {}\n", one_line(initiator)));
    out.push_str(&format!("Credential:     {}\n", one_line(form)));
    out.push_str(&format!(
        "Request id:     {}\n",
        field(req.request_id.as_deref())
    ));
    out.push_str(&format!("Time:           {time}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::parse_request;
    use crate::policy::take_claim_changes;

    #[test]
    fn values_cannot_break_lines() {
        assert_eq!(one_line("a\r\nBcc: x@y\u{0}z"), "a  Bcc: x@y z");
        assert!(one_line(&"x".repeat(500)).ends_with("[...]"));
    }

    #[test]
    fn body_reports_old_and_new() {
        let mut req = parse_request(
            br#"{"actionType":"PRE_UPDATE_PROFILE","requestId":"r1","event":{"initiatorType":"ADMIN",
            "request":{"claims":[{"uri":"http://wso2.org/claims/emailaddress","value":"new@x.com"},
                                  {"uri":"http://wso2.org/claims/mobile","value":""},
                                  {"uri":"http://wso2.org/claims/nickname","value":"n"}]},
            "tenant":{"id":"1","name":"bar.com"},
            "user":{"id":"u1","claims":[{"uri":"http://wso2.org/claims/emailaddress","value":"old@x.com"},
                                         {"uri":"http://wso2.org/claims/username","value":"bob"}]}}}"#,
        )
        .unwrap();
        let sensitive: Vec<String> = crate::model::DEFAULT_SENSITIVE
            .iter()
            .map(|s| s.to_string())
            .collect();
        let changes = sensitive_changes(&take_claim_changes(&mut req), &sensitive);
        assert_eq!(changes.len(), 2, "nickname is not sensitive");
        let b = body(&req, &changes, "2026-01-01T00:00:00.000Z");
        assert!(b.contains("old@x.com -> new@x.com"), "{b}");
        assert!(
            b.contains("(not shared with the action) -> (removed)"),
            "{b}"
        );
        assert!(
            b.contains("Username:       bob") && b.contains("bar.com (1)") && b.contains("r1"),
            "{b}"
        );
    }

    #[test]
    fn the_password_mail_names_the_event_and_never_the_password() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/password/v2.0-application-register-plain.json"
        ))
        .unwrap();
        let req = crate::contract::parse_password_request(&body).unwrap();
        let secret = match &req.credential {
            crate::contract::UpdatingCredential::Clear(crate::contract::Credential::Plain(s)) => {
                s.expose().to_string()
            }
            _ => panic!("a PLAIN_TEXT sample"),
        };
        let text = password_body(
            &req,
            "REGISTER",
            "APPLICATION\r\nBcc: x@y",
            "PLAIN_TEXT",
            "T",
        );
        assert!(text.contains("User id:        (new user)"), "{text}");
        assert!(
            text.contains("Initiator:      APPLICATION  Bcc: x@y"),
            "{text}"
        );
        assert!(!text.contains(&secret), "{text}");
    }
}
