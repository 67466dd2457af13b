//! A source's answer as department names. Pure. JSON: an array of names, or an array of
//! objects whose `field` holds the name. CSV: one name a line with an optional header, or,
//! with `field`, the column of that header. Names are normalized as the directory stores them
//! (trimmed, 1 to 256 characters, no control characters) and deduplicated; one bad entry
//! refuses the whole answer, naming it (a sync applies whole or not at all).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::policy::normalize_department;

/// Most names one answer may hold.
pub const MAX_NAMES: usize = 100_000;

/// How the source writes its list.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    #[default]
    Json,
    Csv,
}

/// Why an answer is not a list of names. The entry is named by its place, never quoted whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("the JSON is not an array of names or of objects")]
    NotAnArray,
    #[error("entry {index}: {problem}")]
    Entry { index: usize, problem: String },
    #[error("line {line}: {problem}")]
    Line { line: u64, problem: String },
    #[error("the CSV has no column {0:?}")]
    NoColumn(String),
    #[error("more than {MAX_NAMES} names")]
    TooMany,
}

/// Parses a source's answer into the set of names it lists.
pub fn parse(
    format: SourceFormat,
    field: Option<&str>,
    body: &[u8],
) -> Result<BTreeSet<String>, ParseError> {
    let names = match format {
        SourceFormat::Json => parse_json(field, body)?,
        SourceFormat::Csv => parse_csv(field, body)?,
    };
    if names.len() > MAX_NAMES {
        return Err(ParseError::TooMany);
    }
    Ok(names)
}

fn parse_json(field: Option<&str>, body: &[u8]) -> Result<BTreeSet<String>, ParseError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    let items = v.as_array().ok_or(ParseError::NotAnArray)?;
    if items.len() > MAX_NAMES {
        return Err(ParseError::TooMany);
    }
    let mut names = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let entry = |problem: String| ParseError::Entry {
            index: i + 1,
            problem,
        };
        let raw = match (item, field) {
            (serde_json::Value::String(s), _) => s.as_str(),
            (serde_json::Value::Object(o), Some(f)) => o
                .get(f)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| entry(format!("has no text field {f:?}")))?,
            (serde_json::Value::Object(_), None) => {
                return Err(entry(
                    "is an object: set the field that holds the name".into(),
                ))
            }
            _ => return Err(entry("is neither a name nor an object".into())),
        };
        names.insert(normalize_department(raw).map_err(|e| entry(e.to_string()))?);
    }
    Ok(names)
}

fn parse_csv(field: Option<&str>, body: &[u8]) -> Result<BTreeSet<String>, ParseError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let mut column: Option<usize> = None;
    let mut names = BTreeSet::new();
    for (i, rec) in rdr.records().enumerate() {
        let line_of = |rec: &csv::StringRecord| rec.position().map_or(i as u64 + 1, |p| p.line());
        let rec = rec.map_err(|e| ParseError::Line {
            line: i as u64 + 1,
            problem: format!("not valid CSV: {e}"),
        })?;
        let line = line_of(&rec);
        if rec.iter().all(str::is_empty) {
            continue;
        }
        if i == 0 {
            // The header: the named column, or a one-column list's optional title.
            if let Some(f) = field {
                let at = rec.iter().position(|h| h.eq_ignore_ascii_case(f));
                column = Some(at.ok_or_else(|| ParseError::NoColumn(f.to_string()))?);
                continue;
            }
            if rec.len() == 1
                && ["name", "department", "departments"]
                    .iter()
                    .any(|h| rec[0].eq_ignore_ascii_case(h))
            {
                continue;
            }
        }
        let raw = match column {
            Some(c) => rec.get(c).ok_or_else(|| ParseError::Line {
                line,
                problem: format!("has no column {}", c + 1),
            })?,
            None if rec.len() == 1 => &rec[0],
            None => {
                return Err(ParseError::Line {
                    line,
                    problem: format!(
                        "{} columns; name the column that holds the department, or quote names with a comma",
                        rec.len()
                    ),
                })
            }
        };
        if raw.is_empty() {
            continue;
        }
        names.insert(normalize_department(raw).map_err(|e| ParseError::Line {
            line,
            problem: e.to_string(),
        })?);
        if names.len() > MAX_NAMES {
            return Err(ParseError::TooMany);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn json_names_or_objects_with_a_field() {
        let names = br#"["HR", " Engineering ", "R&D, Europe", "HR"]"#;
        assert_eq!(
            parse(SourceFormat::Json, None, names).unwrap(),
            set(&["Engineering", "HR", "R&D, Europe"])
        );
        let objects = br#"[{"name": "HR", "id": 1}, {"name": "Sales", "active": true}]"#;
        assert_eq!(
            parse(SourceFormat::Json, Some("name"), objects).unwrap(),
            set(&["HR", "Sales"])
        );
        assert_eq!(parse(SourceFormat::Json, None, b"[]").unwrap(), set(&[]));
    }

    #[test]
    fn bad_json_is_refused_naming_the_entry() {
        for (body, field, want) in [
            (&b"<html>"[..], None, "not JSON"),
            (br#"{"departments": []}"#, None, "not an array"),
            (br#"["HR", 7]"#, None, "entry 2: is neither"),
            (br#"[{"name": "HR"}]"#, None, "entry 1: is an object"),
            (
                br#"[{"title": "HR"}]"#,
                Some("name"),
                "entry 1: has no text field \"name\"",
            ),
            (br#"["HR", "   "]"#, None, "entry 2:"),
            (br#"["a\u0000b"]"#, None, "entry 1:"),
        ] {
            let e = parse(SourceFormat::Json, field, body)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(want),
                "{e} for {}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn csv_one_column_or_a_named_one() {
        let one = b"department\r\nHR\r\n\r\n\"R&D, Europe\"\r\nSales\r\n";
        assert_eq!(
            parse(SourceFormat::Csv, None, one).unwrap(),
            set(&["HR", "R&D, Europe", "Sales"])
        );
        let table = b"id,Department,cost centre\n1,HR,100\n2,Sales,200\n3,HR,300\n";
        assert_eq!(
            parse(SourceFormat::Csv, Some("department"), table).unwrap(),
            set(&["HR", "Sales"])
        );
        let e = parse(SourceFormat::Csv, Some("team"), table).unwrap_err();
        assert_eq!(e, ParseError::NoColumn("team".into()));
        let e = parse(SourceFormat::Csv, None, table)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1: 3 columns"), "{e}");
    }
}
