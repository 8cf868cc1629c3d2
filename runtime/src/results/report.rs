//! The compatibility matrix, built only from recorded results.

use std::collections::{BTreeMap, BTreeSet};

use super::db::LatestResult;
use crate::Hardware;

fn cell(result: &LatestResult) -> String {
    match (result.outcome.as_str(), result.p50_ms) {
        ("passed", Some(ms)) => format!("passed {ms:.2} ms"),
        (outcome, _) => outcome.to_string(),
    }
}

/// Markdown: models x hardware with outcome and p50 latency, counts, and the reasons behind
/// every cell that did not pass.
pub fn markdown(results: &[LatestResult]) -> String {
    let hardware: BTreeSet<&str> = results.iter().map(|r| r.hardware.as_str()).collect();
    let columns: Vec<&str> = Hardware::ALL.iter().map(|h| h.id()).filter(|id| hardware.contains(id)).collect();
    let mut rows: BTreeMap<&str, BTreeMap<&str, &LatestResult>> = BTreeMap::new();
    for result in results {
        rows.entry(result.model_type.as_str()).or_default().insert(result.hardware.as_str(), result);
    }
    let mut out = String::from("# Compatibility matrix\n\n");
    if results.is_empty() {
        out.push_str("No results recorded yet: run `cargo test -p generated --features cpu`, then this report.\n");
        return out;
    }
    out.push_str(&format!("| model | {} |\n|---|{}\n", columns.join(" | "), "---|".repeat(columns.len())));
    for (model, cells) in &rows {
        let key = if cells.values().any(|r| r.key_model) { " (key)" } else { "" };
        let line: Vec<String> = columns.iter().map(|hw| cells.get(hw).map(|r| cell(r)).unwrap_or_else(|| "-".into())).collect();
        out.push_str(&format!("| {model}{key} | {} |\n", line.join(" | ")));
    }
    out.push_str("\n## Totals\n\n| hardware | passed | failed | unsupported | skipped |\n|---|---|---|---|---|\n");
    for hw in &columns {
        let count = |outcome: &str| results.iter().filter(|r| r.hardware == *hw && r.outcome == outcome).count();
        out.push_str(&format!("| {hw} | {} | {} | {} | {} |\n", count("passed"), count("failed"), count("unsupported"), count("skipped")));
    }
    let notes: Vec<&LatestResult> = results.iter().filter(|r| r.outcome != "passed").collect();
    if !notes.is_empty() {
        out.push_str("\n## Not passing\n\n");
        // Skips share one reason per hardware; list it once.
        let mut skipped: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
        for r in &notes {
            if r.outcome == "skipped" {
                let entry = skipped.entry(r.hardware.as_str()).or_insert((0, r.detail.as_str()));
                entry.0 += 1;
            } else {
                out.push_str(&format!("- {} on {}: {}: {}\n", r.model_type, r.hardware, r.outcome, r.detail.lines().next().unwrap_or_default()));
            }
        }
        for (hw, (count, reason)) in skipped {
            out.push_str(&format!("- {hw}: {count} model(s) skipped: {reason}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(model: &str, hw: &str, outcome: &str, p50: Option<f64>, detail: &str) -> LatestResult {
        LatestResult { model_type: model.into(), hardware: hw.into(), outcome: outcome.into(), detail: detail.into(), p50_ms: p50, key_model: true }
    }

    #[test]
    fn matrix_shows_outcomes_latency_totals_and_reasons() {
        let results = vec![
            result("bert", "cpu", "passed", Some(1.234), ""),
            result("bert", "cuda", "skipped", None, "no NVIDIA GPU"),
            result("llava", "cpu", "failed", None, "set b: output `logits` differs"),
            result("llava", "cuda", "skipped", None, "no NVIDIA GPU"),
        ];
        let text = markdown(&results);
        assert!(text.contains("| model | cpu | cuda |"), "{text}");
        assert!(text.contains("| bert (key) | passed 1.23 ms | skipped |"), "{text}");
        assert!(text.contains("| cpu | 1 | 1 | 0 | 0 |"), "{text}");
        assert!(text.contains("- llava on cpu: failed: set b: output `logits` differs"), "{text}");
        assert!(text.contains("- cuda: 2 model(s) skipped: no NVIDIA GPU"), "{text}");
    }

    #[test]
    fn empty_results_say_how_to_get_some() {
        assert!(markdown(&[]).contains("No results recorded yet"));
    }
}
