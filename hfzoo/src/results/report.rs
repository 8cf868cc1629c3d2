//! The compatibility matrix, built only from recorded results.

use runtime::results::record::OutcomeKind;
use std::collections::{BTreeMap, BTreeSet};

use super::data::ReportData;
use super::plan::PlannedCell;
use super::query::Cell;
use runtime::{FailureCategory, Hardware};

fn cell(result: &Cell, with_run: bool) -> String {
    let text = match (result.outcome, result.p50_ms) {
        (OutcomeKind::Passed, Some(ms)) => format!("passed {ms:.2} ms"),
        (outcome, _) => outcome.to_string(),
    };
    // A reused verdict is never shown as a fresh measurement: it names the run that measured it.
    let text = match &result.reused_from {
        Some(from) => format!("{text}, reused from run {from}"),
        None => text,
    };
    if with_run {
        format!("{text} (run {})", result.run_id)
    } else {
        text
    }
}

/// The markdown report of a scope: what it covers and where it ran, then the matrix. Across
/// runs (`--latest`), each cell names its run.
pub fn markdown_report(data: &ReportData) -> String {
    let mut out = format!("Scope: {}.\n", data.scope);
    for e in &data.environments {
        out.push_str(&format!(
            "Ran on {} ({}, {} logical CPUs, {}) at commit {} with torch {} and transformers {}, started {} UTC.\n",
            e.host,
            e.cpu_model,
            e.logical_cpus,
            e.os,
            e.git_commit.get(..10).unwrap_or(&e.git_commit),
            e.torch_version,
            e.transformers_version,
            e.started_at
        ));
        if !e.injected.is_empty() {
            out.push_str(&format!(
                "WARNING: test-only setting in effect on {}: {} (timings changed on purpose).\n",
                e.host, e.injected
            ));
        }
    }
    out.push('\n');
    out.push_str(&matrix(&data.cells, &data.missing, data.runs.len() > 1));
    out.push_str(&generation_summary(data));
    out
}

/// One line per engine with generation cells: how many generate as transformers does, and the
/// categories of the rest.
fn generation_summary(data: &ReportData) -> String {
    let mut out = String::new();
    for hw in data.columns() {
        let [passed, failed, unsupported, skipped] = data.generation_totals(hw);
        if passed + failed + unsupported + skipped == 0 {
            continue;
        }
        let mut categories: BTreeMap<String, usize> = BTreeMap::new();
        for cell in data.generation.iter().filter(|c| c.hardware == hw && c.outcome != OutcomeKind::Passed) {
            let category = cell.category.map(|c| c.id().to_string()).unwrap_or_else(|| cell.outcome.id().to_string());
            *categories.entry(format!("{} {category}", cell.outcome)).or_default() += 1;
        }
        let rest: Vec<String> = categories.iter().map(|(what, n)| format!("{n} {what}")).collect();
        out.push_str(&format!(
            "\n{hw} generates (greedy, with the cache, ids equal to transformers' generate): {passed} of {}{}\n",
            passed + failed + unsupported,
            if rest.is_empty() { String::new() } else { format!("; {}", rest.join(", ")) }
        ));
    }
    out
}

/// Markdown: models x hardware with outcome and p50 latency, counts, and the reasons behind
/// every cell that did not pass.
pub fn markdown(results: &[Cell]) -> String {
    matrix(results, &[], false)
}

/// [`markdown`], each cell naming its run when `with_run`, and the planned cells that have no
/// record (`missing`) shown as such: in the matrix, in the counts and listed.
fn matrix(results: &[Cell], missing: &[PlannedCell], with_run: bool) -> String {
    let hardware: BTreeSet<&str> =
        results.iter().map(|r| r.hardware.as_str()).chain(missing.iter().map(|c| c.hardware.as_str())).collect();
    let columns: Vec<&str> = Hardware::ALL.iter().map(|h| h.id()).filter(|id| hardware.contains(id)).collect();
    let mut rows: BTreeMap<&str, BTreeMap<&str, &Cell>> = BTreeMap::new();
    for result in results {
        rows.entry(result.model_type.as_str()).or_default().insert(result.hardware.as_str(), result);
    }
    let missing_set: BTreeSet<(&str, &str)> =
        missing.iter().map(|c| (c.model_type.as_str(), c.hardware.as_str())).collect();
    for cell in missing {
        rows.entry(cell.model_type.as_str()).or_default();
    }
    let mut out = String::from("# Compatibility matrix\n\n");
    if results.is_empty() && missing.is_empty() {
        out.push_str("No results recorded yet: run `cargo test -p generated --features cpu`, then this report.\n");
        return out;
    }
    out.push_str(&format!("| model | {} |\n|---|{}\n", columns.join(" | "), "---|".repeat(columns.len())));
    for (model, cells) in &rows {
        let key = if cells.values().any(|r| r.key_model) { " (key)" } else { "" };
        let line: Vec<String> = columns
            .iter()
            .map(|hw| match cells.get(hw) {
                Some(r) => cell(r, with_run),
                None if missing_set.contains(&(*model, *hw)) => "did not run".into(),
                None => "-".into(),
            })
            .collect();
        out.push_str(&format!("| {model}{key} | {} |\n", line.join(" | ")));
    }
    out.push_str("\n## Totals\n\n| hardware | passed | failed | unsupported | skipped | of them reused | planned, no record |\n|---|---|---|---|---|---|---|\n");
    let missing_on = |hw: &str| missing.iter().filter(|c| c.hardware == hw).count();
    for hw in &columns {
        let count = |outcome: OutcomeKind| results.iter().filter(|r| r.hardware == *hw && r.outcome == outcome).count();
        let reused = results.iter().filter(|r| r.hardware == *hw && r.reused_from.is_some()).count();
        out.push_str(&format!(
            "| {hw} | {} | {} | {} | {} | {reused} | {} |\n",
            count(OutcomeKind::Passed),
            count(OutcomeKind::Failed),
            count(OutcomeKind::Unsupported),
            count(OutcomeKind::Skipped),
            missing_on(hw)
        ));
    }
    for hw in &columns {
        let on_hw: Vec<&Cell> = results.iter().filter(|r| r.hardware == *hw).collect();
        let ran = on_hw.iter().filter(|r| r.outcome != OutcomeKind::Skipped).count();
        let passed = on_hw.iter().filter(|r| r.outcome == OutcomeKind::Passed).count();
        let absent = missing_on(hw);
        if absent > 0 {
            // No share over a truncated column: what is known, and what is not.
            out.push_str(&format!(
                "\n{hw}: INCOMPLETE: {absent} of {} planned cells have no record (listed under \"Did not run\"); of the {} recorded, {passed} ran for real with parity on both input sets.\n",
                on_hw.len() + absent,
                on_hw.len()
            ));
        } else if ran > 0 {
            out.push_str(&format!(
                "\n{hw}: {passed} of {ran} model types ran for real with parity on both input sets ({:.1}%).\n",
                100.0 * passed as f64 / ran as f64
            ));
        }
    }
    if !missing.is_empty() {
        out.push_str("\n## Did not run (planned by the run, no record)\n\nThe run ended before these cells, or lost their process without a trace: no verdict exists for them.\n\n");
        for cell in missing {
            out.push_str(&format!("- {} on {}\n", cell.model_type, cell.hardware));
        }
    }
    let failed: Vec<&Cell> = results.iter().filter(|r| r.outcome == OutcomeKind::Failed).collect();
    if !failed.is_empty() {
        out.push_str("\n## Failed\n\n");
        for r in failed {
            out.push_str(&format!(
                "- {} on {}: {}\n",
                r.model_type,
                r.hardware,
                r.detail.lines().next().unwrap_or_default()
            ));
        }
    }
    // Unsupported, grouped by hardware and category (as the metadata records it).
    let mut unsupported: BTreeMap<(&str, &str), Vec<&Cell>> = BTreeMap::new();
    for r in results.iter().filter(|r| r.outcome == OutcomeKind::Unsupported) {
        unsupported
            .entry((r.hardware.as_str(), r.category.map_or("uncategorised", FailureCategory::id)))
            .or_default()
            .push(r);
    }
    if !unsupported.is_empty() {
        out.push_str("\n## Unsupported, by category\n");
        for ((hw, category), models) in &unsupported {
            out.push_str(&format!("\n### {hw}: {category} ({})\n\n", models.len()));
            for r in models {
                out.push_str(&format!("- {}: {}\n", r.model_type, r.detail.lines().next().unwrap_or_default()));
            }
        }
    }
    // Skips share one reason per hardware; list it once.
    let mut skipped: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for r in results.iter().filter(|r| r.outcome == OutcomeKind::Skipped) {
        skipped.entry(r.hardware.as_str()).or_insert((0, r.detail.as_str())).0 += 1;
    }
    if !skipped.is_empty() {
        out.push_str("\n## Skipped\n\n");
        for (hw, (count, reason)) in skipped {
            out.push_str(&format!("- {hw}: {count} model(s) skipped: {reason}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::Category;

    fn result(model: &str, hw: &str, outcome: &str, p50: Option<f64>, detail: &str) -> Cell {
        Cell {
            model_type: model.into(),
            hardware: hw.into(),
            outcome: OutcomeKind::from_id(outcome).expect("an outcome name"),
            detail: detail.into(),
            p50_ms: p50,
            key_model: true,
            ..Cell::default()
        }
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
        assert!(text.contains("- llava on cpu: set b: output `logits` differs"), "{text}");
        assert!(text.contains("- cuda: 2 model(s) skipped: no NVIDIA GPU"), "{text}");
        assert!(text.contains("cpu: 1 of 2 model types ran for real with parity on both input sets (50.0%)"), "{text}");
    }

    #[test]
    fn a_run_cut_short_names_its_cells_without_a_record_and_gives_no_share() {
        let results = vec![
            result("bert", "openvino", "passed", Some(1.0), ""),
            result("gpt2", "openvino", "failed", None, "test aborted with signal 6 (SIGABRT)"),
        ];
        let missing = vec![
            PlannedCell { hardware: "openvino".into(), model_type: "vit".into() },
            PlannedCell { hardware: "qnn".into(), model_type: "bert".into() },
        ];
        let text = matrix(&results, &missing, false);
        assert!(text.contains("| model | openvino | qnn |"), "a column with no record at all still shows: {text}");
        assert!(
            text.contains("| vit | did not run | - |")
                && text.contains("| bert (key) | passed 1.00 ms | did not run |"),
            "{text}"
        );
        assert!(text.contains("openvino: INCOMPLETE: 1 of 3 planned cells have no record"), "{text}");
        assert!(!text.contains("openvino: 1 of 2 model types"), "no pass share over a truncated column: {text}");
        assert!(
            text.contains("## Did not run") && text.contains("- vit on openvino") && text.contains("- bert on qnn"),
            "{text}"
        );
        assert!(text.contains("| qnn | 0 | 0 | 0 | 0 | 0 | 1 |"), "{text}");
    }

    #[test]
    fn unsupported_models_are_grouped_by_category() {
        let mut a = result("bloom", "cpu", "unsupported", None, "torchscript limit");
        a.category = Some(Category::Torchscript.into());
        let mut b = result("mamba", "cpu", "unsupported", None, "baked shapes");
        b.category = Some(Category::TraceSpecialised.into());
        let mut c = result("xlm", "cpu", "unsupported", None, "another limit");
        c.category = Some(Category::Torchscript.into());
        let text = markdown(&[a, b, c]);
        assert!(
            text.contains("### cpu: torchscript (2)\n\n- bloom: torchscript limit\n- xlm: another limit\n"),
            "{text}"
        );
        assert!(text.contains("### cpu: trace-specialised (1)\n\n- mamba: baked shapes\n"), "{text}");
    }

    #[test]
    fn empty_results_say_how_to_get_some() {
        assert!(markdown(&[]).contains("No results recorded yet"));
    }
}
