//! What one hardware's run says each model's expectation should be: the JSON lines that
//! `cargo run -p generator -- metadata expect --hardware H --from FILE` writes into metadata.

use super::query::Cell;
use runtime::results::record::OutcomeKind;
use runtime::{Category, FailureCategory};

/// The expectation line for one cell, or `None` when the run says nothing about it (skipped,
/// already expected unsupported, or failed for a reason metadata can never expect: the
/// environment, or a time limit, which says how loaded the machine was, not what the model does).
pub fn line(cell: &Cell) -> Option<serde_json::Value> {
    match cell.outcome {
        OutcomeKind::Passed => Some(serde_json::json!({"model_type": cell.model_type, "expected": "pass"})),
        OutcomeKind::Failed => match cell.category {
            // An expected unsupported that ran and matched: it passes now.
            None => Some(serde_json::json!({"model_type": cell.model_type, "expected": "pass"})),
            // The environment's, or a time limit (the browser's load or run): never an expectation.
            Some(FailureCategory::Environment | FailureCategory::Of(Category::Timeout)) => None,
            Some(FailureCategory::Of(category)) => Some(serde_json::json!({
                "model_type": cell.model_type,
                "expected": "unsupported",
                "category": category,
                "reason": reason(&cell.detail, category),
            })),
        },
        _ => None,
    }
}

/// The error's first line, without the ` [category]` the suite appends (at most 300 characters).
fn reason(detail: &str, category: Category) -> String {
    let first = detail.lines().next().unwrap_or("");
    let error = first.split_once(&format!(" [{category}]")).map_or(first, |(error, _)| error);
    error.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(outcome: &str, category: Option<&str>, detail: &str) -> Cell {
        Cell {
            outcome: OutcomeKind::from_id(outcome).expect("an outcome name"),
            category: category.map(|id| FailureCategory::from_id(id).expect("a category id")),
            detail: detail.into(),
            model_type: "m".into(),
            ..Cell::default()
        }
    }

    #[test]
    fn failures_become_unsupported_with_their_category_and_first_line() {
        let failed = line(&cell("failed", Some("onnx-export"), "export failed: aten::histc [onnx-export]\nmore"))
            .expect("a line");
        assert_eq!(failed["expected"], "unsupported");
        assert_eq!(failed["category"], "onnx-export");
        assert_eq!(failed["reason"], "export failed: aten::histc");
        assert_eq!(line(&cell("passed", None, "ran onnx")).map(|v| v["expected"].clone()), Some("pass".into()));
        assert_eq!(
            line(&cell("failed", None, "expected unsupported (x) but it ran and matched"))
                .map(|v| v["expected"].clone()),
            Some("pass".into())
        );
        assert!(line(&cell("failed", Some("environment"), "no exporter [environment]")).is_none());
        assert!(line(&cell(
            "failed",
            Some("timeout"),
            "browser: timeout: loading the model took more than 120 s [timeout]"
        ))
        .is_none());
        assert!(line(&cell("skipped", None, "absent")).is_none());
        assert!(line(&cell("unsupported", Some("backend"), "x")).is_none());
    }
}
