//! The one place that turns any text into a message the caller's parser accepts.
//!
//! WSO2 validates `failureReason`/`errorMessage` against
//! `^[a-zA-Z0-9\s\-_.!?;:'()\[\]]{1,100}$` and the descriptions against the same class with
//! at most 300 characters (CONTRACT.md §4.4). A violation does not reject our message: it turns
//! the user's clean 400 into a 500. So every string we send passes through [`sanitize`], and
//! admin-entered messages are checked with [`validate_message`] when they are saved.

/// Which field a message is for; decides the length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `failureReason` or `errorMessage`: at most 100 characters.
    Reason,
    /// `failureDescription` or `errorDescription`: at most 300 characters.
    Description,
}

impl MessageKind {
    /// The caller's maximum length for this field.
    pub const fn max_len(self) -> usize {
        match self {
            MessageKind::Reason => 100,
            MessageKind::Description => 300,
        }
    }

    /// What we send when sanitizing leaves nothing.
    const fn fallback(self) -> &'static str {
        match self {
            MessageKind::Reason => "error",
            MessageKind::Description => "The request could not be processed.",
        }
    }
}

/// True for exactly the characters of the caller's class. `\s` in Java without
/// UNICODE_CHARACTER_CLASS is `[ \t\n\x0B\f\r]`, so vertical tab counts and no Unicode space does.
pub fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            ' ' | '\t'
                | '\n'
                | '\u{0B}'
                | '\u{0C}'
                | '\r'
                | '-'
                | '_'
                | '.'
                | '!'
                | '?'
                | ';'
                | ':'
                | '\''
                | '('
                | ')'
                | '['
                | ']'
        )
}

/// Makes `input` acceptable to the caller: every disallowed character becomes a space (runs of
/// them become one), the result is trimmed and cut to the field's limit, and an empty result is
/// replaced by a fixed fallback. The output always matches the caller's regex.
pub fn sanitize(input: &str, kind: MessageKind) -> String {
    let mut out = String::with_capacity(input.len().min(kind.max_len()));
    let mut last_replaced = false;
    for c in input.chars() {
        if is_allowed(c) {
            // "a, b" becomes "a b", not "a  b".
            if !(c == ' ' && last_replaced) {
                out.push(c);
            }
            last_replaced = false;
        } else {
            if !out.ends_with(|c: char| c.is_ascii_whitespace()) {
                out.push(' ');
            }
            last_replaced = true;
        }
        if out.len() > kind.max_len() + 1 {
            break;
        }
    }
    // Every char kept is ASCII, so byte length is char length and truncation is safe.
    let trimmed = out.trim();
    let cut = &trimmed[..trimmed.len().min(kind.max_len())];
    let cut = cut.trim();
    if cut.is_empty() {
        kind.fallback().to_string()
    } else {
        cut.to_string()
    }
}

/// Checks an admin-entered message without changing it, so the admin learns at save time
/// what the caller would reject at request time. Returns the reason it is not acceptable.
pub fn validate_message(input: &str, kind: MessageKind) -> Result<(), String> {
    if input.trim().is_empty() {
        return Err("must not be empty".into());
    }
    let len = input.chars().count();
    if len > kind.max_len() {
        return Err(format!(
            "is {len} characters long; the identity server accepts at most {}",
            kind.max_len()
        ));
    }
    let bad: Vec<String> = input
        .chars()
        .filter(|c| !is_allowed(*c))
        .map(|c| format!("{c:?}"))
        .collect();
    if !bad.is_empty() {
        return Err(format!(
            "contains characters the identity server rejects: {} (allowed: letters, digits, spaces and - _ . ! ? ; : ' ( ) [ ])",
            bad.join(" ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches_contract(s: &str, kind: MessageKind) -> bool {
        !s.is_empty() && s.len() <= kind.max_len() && s.chars().all(is_allowed)
    }

    #[test]
    fn keeps_valid_text() {
        let s = "Provided user department value is invalid.";
        assert_eq!(sanitize(s, MessageKind::Description), s);
    }

    #[test]
    fn replaces_forbidden_characters() {
        let s = sanitize("Department R&D, Europe is not valid", MessageKind::Reason);
        assert_eq!(s, "Department R D Europe is not valid");
        assert!(matches_contract(&s, MessageKind::Reason));
        let s = sanitize("Ünïcødé \"quoted\" a/b @x é😀", MessageKind::Reason);
        assert!(matches_contract(&s, MessageKind::Reason), "{s}");
    }

    #[test]
    fn truncates_and_never_empty() {
        let long = "a".repeat(500);
        assert_eq!(sanitize(&long, MessageKind::Reason).len(), 100);
        assert_eq!(sanitize(&long, MessageKind::Description).len(), 300);
        assert_eq!(sanitize("", MessageKind::Reason), "error");
        assert_eq!(sanitize(",,,@@@", MessageKind::Reason), "error");
        let padded = format!("{} x", "b".repeat(99));
        assert!(matches_contract(
            &sanitize(&padded, MessageKind::Reason),
            MessageKind::Reason
        ));
    }

    #[test]
    fn validation_explains() {
        assert!(validate_message("ok message", MessageKind::Reason).is_ok());
        let e = validate_message("R&D, Europe", MessageKind::Reason).unwrap_err();
        assert!(e.contains("'&'") && e.contains("','"), "{e}");
        assert!(validate_message(&"x".repeat(101), MessageKind::Reason).is_err());
        assert!(validate_message(" ", MessageKind::Reason).is_err());
    }
}
