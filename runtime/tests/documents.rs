//! Documents on disk stay byte-identical where their version did not change: result records
//! written by the main job before the outcome became a type (fixtures/records, copied from the
//! spool of the main job at 12fb90cc) read and write back byte for byte, but for the last digit
//! of a float (serde_json's default parser is not correctly rounded: 0.455278 is read as
//! 0.45527799999999996 and written back shorter, with or without this change).

use runtime::results::record::{OutcomeKind, Record};

#[test]
fn records_written_before_the_typed_outcome_read_and_write_back_byte_for_byte() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records");
    for (file, outcome) in [
        ("passed.json", OutcomeKind::Passed),
        ("failed.json", OutcomeKind::Failed),
        ("skipped.json", OutcomeKind::Skipped),
        ("unsupported.json", OutcomeKind::Unsupported),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let record: Record = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(record.outcome, outcome, "{file}");
        let written = serde_json::to_string_pretty(&record).unwrap();
        assert_eq!(without_floats(&written), without_floats(&text), "{file} must write back unchanged");
        let read_again: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_value(&record).unwrap(), read_again, "{file}: the same values");
    }
}

/// `text` with every number that has a fraction or an exponent replaced by `#`.
fn without_floats(text: &str) -> String {
    let mut out = String::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        let is_float = token.starts_with(|c: char| c.is_ascii_digit() || c == '-')
            && token.contains(['.', 'e', 'E'])
            && token.parse::<f64>().is_ok();
        out.push_str(if is_float { "#" } else { token });
        token.clear();
    };
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if c == '"' && !escaped {
            in_string = !in_string;
        }
        escaped = in_string && c == '\\' && !escaped;
        if !in_string && (c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')) {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

#[test]
fn an_unknown_outcome_is_an_error_naming_it() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records");
    let text = std::fs::read_to_string(dir.join("passed.json"))
        .unwrap()
        .replace("\"outcome\": \"passed\"", "\"outcome\": \"maybe\"");
    let error = serde_json::from_str::<Record>(&text).unwrap_err().to_string();
    assert!(error.contains("unknown variant `maybe`") && error.contains("passed"), "{error}");
    assert_eq!(OutcomeKind::from_id("maybe"), None);
    assert!(OutcomeKind::ALL.iter().all(|kind| OutcomeKind::from_id(kind.id()) == Some(*kind)));
}
