//! Repetitive and sequential passwords (NIST's "repetitive or sequential characters"). Both
//! look at the whole password, lower-cased: a password is refused only when all of it is the
//! pattern, never because a part of it is.

use zeroize::Zeroizing;

/// Orders the user may type in: the alphabet and digits (wrapping 9 to 0), keyboard rows and
/// the columns of a US keyboard as people walk them (`1qaz2wsx`). Each is also read backwards.
const BASES: &[&str] = &[
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "`1234567890-=",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "qazwsxedcrfvtgbyhnujmik,ol.p;/",
    "zaq1xsw2cde3vfr4bgt5nhy6mju7,ki8.lo9/;p0",
    "qwertzuiop",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
];

/// Shortest run that counts as a sequence piece; a password made only of such pieces is refused.
const MIN_RUN: usize = 3;

/// True when the password is one character or a short pattern repeated (`aaaa`, `abcabcab`),
/// or uses at most two distinct characters (`aaaaaaab`, `abababba`).
pub fn is_repetitive(password: &str) -> bool {
    // Wiped on drop: it is the password.
    let chars: Zeroizing<Vec<char>> =
        Zeroizing::new(password.chars().flat_map(char::to_lowercase).collect());
    let n = chars.len();
    if n < 2 {
        return false;
    }
    let mut distinct: Vec<char> = Vec::with_capacity(3);
    for c in chars.iter() {
        if !distinct.contains(c) {
            distinct.push(*c);
            if distinct.len() > 2 {
                break;
            }
        }
    }
    if distinct.len() <= 2 {
        return true;
    }
    // A period of at most half the length: every character equals the one p places before.
    (1..=n / 2).any(|p| (p..n).all(|i| chars[i] == chars[i - p]))
}

/// True when the whole password is made of runs of at least three characters that follow each
/// other in one order: a base of [`BASES`] forwards or backwards, or Unicode code points going
/// up or down by one (`abc123`, `qwertyuiop`, `9876543210`, `zyxw`).
pub fn is_sequential(password: &str) -> bool {
    // Wiped on drop: it is the password.
    let chars: Zeroizing<Vec<char>> =
        Zeroizing::new(password.chars().flat_map(char::to_lowercase).collect());
    if chars.len() < MIN_RUN {
        return false;
    }
    let bases: Vec<Vec<char>> = BASES.iter().map(|b| b.chars().collect()).collect();
    let mut i = 0;
    while i < chars.len() {
        let run = longest_run(&chars[i..], &bases);
        if run < MIN_RUN {
            return false;
        }
        i += run;
    }
    true
}

/// The longest prefix of `s` that is a run in one order.
fn longest_run(s: &[char], bases: &[Vec<char>]) -> usize {
    let mut best = 1;
    let orders: [&dyn Fn(char, char) -> bool; 2] = [
        &|a, b| u32::from(a).checked_add(1) == Some(u32::from(b)),
        &|a, b| u32::from(b).checked_add(1) == Some(u32::from(a)),
    ];
    for follows in orders {
        best = best.max(run_len(s, follows));
    }
    for base in bases {
        let fwd = |a: char, b: char| base.windows(2).any(|w| w[0] == a && w[1] == b);
        let back = |a: char, b: char| base.windows(2).any(|w| w[1] == a && w[0] == b);
        best = best.max(run_len(s, &fwd)).max(run_len(s, &back));
    }
    best
}

fn run_len(s: &[char], follows: &dyn Fn(char, char) -> bool) -> usize {
    1 + s.windows(2).take_while(|w| follows(w[0], w[1])).count()
}

/// Which pattern a generated string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternKind {
    Repetitive,
    Sequential,
}

/// Longest generated string, in characters: covers the NIST single-factor minimum and more.
const MAX_GENERATED: usize = 32;

/// A bounded set of repetitive and sequential strings, for the HASH form (which can only be
/// compared exactly): every printable ASCII character repeated 4 to 32 times, and every run of
/// 4 or more characters of each order in [`BASES`] (forwards and backwards, lower-case,
/// upper-case and capitalized; the digit order continued up to 32 characters). About 25,000.
pub fn generated() -> Vec<(String, PatternKind)> {
    let mut out = Vec::new();
    for c in (0x20u8..0x7f).map(char::from) {
        for n in 4..=MAX_GENERATED {
            out.push((std::iter::repeat_n(c, n).collect(), PatternKind::Repetitive));
        }
    }
    let digits: String = "0123456789".repeat(4);
    let mut orders: Vec<String> = BASES.iter().map(|b| b.to_string()).collect();
    orders.push(digits);
    for base in orders {
        let fwd: Vec<char> = base.chars().collect();
        let back: Vec<char> = fwd.iter().rev().copied().collect();
        for chars in [fwd, back] {
            for start in 0..chars.len() {
                for end in start + 4..=chars.len().min(start + MAX_GENERATED) {
                    let lower: String = chars[start..end].iter().collect();
                    let upper = lower.to_uppercase();
                    if upper != lower {
                        let mut it = lower.chars();
                        let cap: String = it
                            .next()
                            .into_iter()
                            .flat_map(char::to_uppercase)
                            .chain(it)
                            .collect();
                        out.push((cap, PatternKind::Sequential));
                        out.push((upper, PatternKind::Sequential));
                    }
                    out.push((lower, PatternKind::Sequential));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetitive() {
        for p in [
            "aaaaaaaaaaaaaaaa",
            "abcabcabcabcabca",
            "ABab",
            "xyxyxyxyxyxyxyxyxy",
            "aaaaaaaaaaaaab",
            "passwordpassword",
        ] {
            assert!(is_repetitive(p), "{p}");
        }
        for p in ["correct horse battery staple", "abcabcabcabcabd", "a", ""] {
            assert!(!is_repetitive(p), "{p}");
        }
    }

    #[test]
    fn sequential() {
        for p in [
            "123456789012345",
            "abcdefghijklmnop",
            "ZYXWVUTSRQPONMLK",
            "qwertyuiopasdfgh",
            "1qaz2wsx3edc4rfv",
            "abcdef1234567890",
            "9876543210",
            "poiuytrewq",
            "\u{3b1}\u{3b2}\u{3b3}\u{3b4}\u{3b5}",
        ] {
            assert!(is_sequential(p), "{p}");
        }
        for p in [
            "correct horse battery staple",
            "abcdefghijklmnoX",
            "ab",
            "qwertyuiopzz",
            "1357924680",
        ] {
            assert!(!is_sequential(p), "{p}");
        }
    }

    #[test]
    fn generated_strings_are_what_the_checks_refuse() {
        let all = generated();
        assert!(all.len() < 40_000, "{}", all.len());
        for (s, kind) in &all {
            match kind {
                PatternKind::Repetitive => assert!(is_repetitive(s), "{s}"),
                PatternKind::Sequential => assert!(is_sequential(s), "{s}"),
            }
        }
        assert!(all.iter().any(|(s, _)| s == "1234567890123456"));
        assert!(all.iter().any(|(s, _)| s == "Qwertyuiop"));
    }
}
