//! `hfzoo compare BASE NEW`: what changed between two runs, cell by cell. An outcome that got
//! worse, or a latency change beyond run-to-run noise, is a regression (non-zero exit).
//!
//! The latency rule (see docs/results.md): a cell's latency regressed when the stored samples
//! of both runs differ under a two-sided Mann-Whitney U test at `P_MAX`, *and* its median grew
//! beyond the run-to-run noise, *and* by at least `MIN_DELTA_MS`. The samples of one run are
//! taken back to back beside the same neighbours, so the test alone sees every shift between
//! runs as significant; the noise is therefore measured between the two runs: the robust
//! spread (1.4826 x MAD) of the log median ratios of every judged cell. A cell is slower when
//! its ratio exceeds `NOISE_K` spreads (and at least `MIN_RATIO`); with under
//! `MIN_CELLS_FOR_NOISE` judged cells the spread cannot be measured and `FALLBACK_RATIO` holds.

use runtime::results::record::OutcomeKind;
use std::collections::BTreeMap;

use serde::Serialize;

use super::db::ResultsDb;
use super::query::{Cell, Scope};
use super::stats::{mann_whitney_p, median};
use crate::error::Result;

/// Significance level of the latency test.
pub const P_MAX: f64 = 0.001;
/// Least median ratio (new / base) that counts as slower, however quiet the machine.
pub const MIN_RATIO: f64 = 1.25;
/// Spreads of run-to-run noise a ratio must exceed.
pub const NOISE_K: f64 = 5.0;
/// Judged cells needed to measure the noise between two runs.
pub const MIN_CELLS_FOR_NOISE: usize = 30;
/// The ratio that counts as slower when the noise cannot be measured (the noise of two full CPU
/// suites of one commit on a 2-core machine reached 2.6x; see docs/results.md).
pub const FALLBACK_RATIO: f64 = 3.0;
/// Least median growth in ms that counts as slower.
pub const MIN_DELTA_MS: f64 = 0.05;
/// Fewest samples per side for a latency verdict (with fewer the test cannot reach `P_MAX`).
pub const MIN_SAMPLES: usize = 5;
/// A worst parity diff at this share of its tolerance or more is reported as drift when it doubled.
pub const DRIFT_SHARE: f64 = 0.5;

/// A cell whose outcome changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeChange {
    /// Model type.
    pub model_type: String,
    /// Hardware id.
    pub hardware: String,
    /// Outcome in the base run.
    pub base: OutcomeKind,
    /// Outcome in the new run.
    pub new: OutcomeKind,
    /// First line of the new detail.
    pub detail: String,
    /// Whether this change is a regression.
    pub regression: bool,
}

/// A latency change beyond noise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyChange {
    /// Model type.
    pub model_type: String,
    /// Hardware id.
    pub hardware: String,
    /// Median of the base samples (ms).
    pub base_ms: f64,
    /// Median of the new samples (ms).
    pub new_ms: f64,
    /// new / base.
    pub ratio: f64,
    /// Mann-Whitney p-value.
    pub p_value: f64,
    /// Slower (a regression) or faster.
    pub slower: bool,
}

/// A worst parity diff that moved toward its tolerance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// Model type.
    pub model_type: String,
    /// Hardware id.
    pub hardware: String,
    /// Share of the tolerance in the base run.
    pub base_share: f64,
    /// Share of the tolerance in the new run.
    pub new_share: f64,
}

/// Everything that changed between two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Base run id.
    pub base: String,
    /// New run id.
    pub new: String,
    /// Cells in both runs.
    pub common: usize,
    /// Outcome changes.
    pub outcomes: Vec<OutcomeChange>,
    /// Cells only in the new run (`model on hardware: outcome`).
    pub added: Vec<String>,
    /// Cells only in the base run.
    pub removed: Vec<String>,
    /// Latency changes beyond noise.
    pub latency: Vec<LatencyChange>,
    /// Parity drift.
    pub drift: Vec<Drift>,
    /// Passing cells with too few samples on a side for a latency verdict.
    pub undecided: Vec<String>,
    /// Passing cells not judged for latency because a side reused an earlier run's verdict
    /// (its timings are that run's, not a fresh measurement).
    pub reused: Vec<String>,
    /// The measured run-to-run noise: robust spread of the log median ratios (`None`: too few cells).
    pub noise_spread: Option<f64>,
    /// The median ratio (new / base) over every judged cell: a shift of the whole run.
    pub run_wide_ratio: Option<f64>,
    /// The ratio beyond which a cell counted as slower (or its inverse, faster) in this comparison.
    pub threshold_ratio: f64,
}

impl Comparison {
    /// Number of regressions: worse outcomes plus slower latencies.
    pub fn regressions(&self) -> usize {
        self.outcomes.iter().filter(|c| c.regression).count() + self.latency.iter().filter(|c| c.slower).count()
    }
}

/// Whether going from `base` to `new` is a regression: a pass lost, or a new failure.
fn worse(base: OutcomeKind, new: OutcomeKind) -> bool {
    (base == OutcomeKind::Passed && new != OutcomeKind::Passed)
        || (new == OutcomeKind::Failed && base != OutcomeKind::Failed)
}

/// Compares the cells of two runs with their samples.
/// `base` and `new` are run ids, or `latest` and `previous` (the two newest runs).
pub fn compare(db: &ResultsDb, base: &str, new: &str) -> Result<Comparison> {
    let runs = db.runs()?;
    let alias = |name: &str| -> Result<String> {
        let index = match name {
            "latest" => 0,
            "previous" => 1,
            id => return Ok(db.resolve_run(Some(id))?.unwrap_or_default()),
        };
        runs.get(index).map(|r| r.run_id.clone()).ok_or_else(|| {
            crate::Error::InvalidArgument(format!("`{name}`: {} holds {} run(s)", db.path().display(), runs.len()))
        })
    };
    let (base, new) = (alias(base)?, alias(new)?);
    let base_cells = db.cells(&Scope::Run(Some(base.clone())))?;
    let new_cells = db.cells(&Scope::Run(Some(new.clone())))?;
    let ids: Vec<&str> = base_cells.iter().chain(&new_cells).map(|c| c.result_id.as_str()).collect();
    let samples = db.samples(&ids)?;
    Ok(compare_cells(base, new, &base_cells, &new_cells, &samples))
}

/// [`compare`] on cells and samples already read.
pub fn compare_cells(
    base: String,
    new: String,
    base_cells: &[Cell],
    new_cells: &[Cell],
    samples: &BTreeMap<String, Vec<f64>>,
) -> Comparison {
    let key = |c: &Cell| (c.model_type.clone(), c.hardware.clone());
    let old: BTreeMap<_, &Cell> = base_cells.iter().map(|c| (key(c), c)).collect();
    let now: BTreeMap<_, &Cell> = new_cells.iter().map(|c| (key(c), c)).collect();
    let name = |c: &Cell| format!("{} on {}: {}", c.model_type, c.hardware, c.outcome);
    let mut out = Comparison {
        base,
        new,
        common: 0,
        outcomes: Vec::new(),
        added: now.iter().filter(|(k, _)| !old.contains_key(*k)).map(|(_, c)| name(c)).collect(),
        removed: old.iter().filter(|(k, _)| !now.contains_key(*k)).map(|(_, c)| name(c)).collect(),
        latency: Vec::new(),
        drift: Vec::new(),
        undecided: Vec::new(),
        reused: Vec::new(),
        noise_spread: None,
        run_wide_ratio: None,
        threshold_ratio: FALLBACK_RATIO,
    };
    let none = Vec::new();
    let mut judged: Vec<(&Cell, f64, f64, f64)> = Vec::new();
    for (k, b) in &old {
        let Some(n) = now.get(k) else { continue };
        out.common += 1;
        if b.outcome != n.outcome {
            out.outcomes.push(OutcomeChange {
                model_type: n.model_type.clone(),
                hardware: n.hardware.clone(),
                base: b.outcome,
                new: n.outcome,
                detail: n.detail.lines().next().unwrap_or_default().to_string(),
                regression: worse(b.outcome, n.outcome),
            });
            continue;
        }
        if n.outcome != OutcomeKind::Passed {
            continue;
        }
        if let (Some(bs), Some(ns)) = (b.worst_diff_share, n.worst_diff_share) {
            if ns >= DRIFT_SHARE && ns >= 2.0 * bs {
                out.drift.push(Drift {
                    model_type: n.model_type.clone(),
                    hardware: n.hardware.clone(),
                    base_share: bs,
                    new_share: ns,
                });
            }
        }
        if let Some(from) = n.reused_from.as_ref().or(b.reused_from.as_ref()) {
            out.reused.push(format!("{} on {} (reused from {from})", n.model_type, n.hardware));
            continue;
        }
        let (sb, sn) = (samples.get(&b.result_id).unwrap_or(&none), samples.get(&n.result_id).unwrap_or(&none));
        if sb.len() < MIN_SAMPLES || sn.len() < MIN_SAMPLES {
            out.undecided.push(format!("{} on {} ({} and {} samples)", n.model_type, n.hardware, sb.len(), sn.len()));
            continue;
        }
        if let Some(p) = mann_whitney_p(sb, sn) {
            judged.push((n, median(sb), median(sn), p));
        }
    }
    let logs: Vec<f64> = judged.iter().map(|(_, b, n, _)| (n / b).ln()).filter(|v| v.is_finite()).collect();
    if logs.len() >= MIN_CELLS_FOR_NOISE {
        let center = median(&logs);
        let spread = 1.4826 * median(&logs.iter().map(|v| (v - center).abs()).collect::<Vec<_>>());
        out.noise_spread = Some(spread);
        out.run_wide_ratio = Some(center.exp());
        out.threshold_ratio = (NOISE_K * spread).exp().max(MIN_RATIO);
    }
    for (cell, base_ms, new_ms, p_value) in judged {
        if let Some(change) = latency_change(cell, base_ms, new_ms, p_value, out.threshold_ratio) {
            out.latency.push(change);
        }
    }
    out
}

/// The latency verdict of one cell: `Some` only beyond the noise threshold and the floors.
fn latency_change(cell: &Cell, mb: f64, mn: f64, p: f64, threshold: f64) -> Option<LatencyChange> {
    let ratio = mn / mb;
    let slower = ratio >= threshold && mn - mb >= MIN_DELTA_MS;
    let faster = ratio <= 1.0 / threshold && mb - mn >= MIN_DELTA_MS;
    (p < P_MAX && (slower || faster)).then(|| LatencyChange {
        model_type: cell.model_type.clone(),
        hardware: cell.hardware.clone(),
        base_ms: mb,
        new_ms: mn,
        ratio,
        p_value: p,
        slower,
    })
}

/// The latency rule as applied, with the noise it measured, in one sentence.
pub fn rule(c: &Comparison) -> String {
    let noise = match (c.noise_spread, c.run_wide_ratio) {
        (Some(spread), Some(shift)) => format!(
            "the run-to-run noise measured on the judged cells is a spread of {spread:.3} in log ratio ({:.2}x), the whole run moved {shift:.2}x",
            spread.exp()
        ),
        _ => format!("too few judged cells (under {MIN_CELLS_FOR_NOISE}) to measure the noise, so the fixed {FALLBACK_RATIO}x holds"),
    };
    format!(
        "Mann-Whitney U p < {P_MAX} on the stored samples, and medians {:.2}x or more and {MIN_DELTA_MS} ms or more apart; {noise}; cells with under {MIN_SAMPLES} samples on a side are not judged ({}).",
        c.threshold_ratio,
        c.undecided.len()
    )
}

/// The comparison as markdown.
pub fn markdown(c: &Comparison) -> String {
    let mut out = format!("# Comparison: {} -> {}\n\n", c.base, c.new);
    out.push_str(&format!(
        "{} cell(s) in both runs; {} regression(s); {} outcome change(s); {} latency change(s) beyond noise; {} added; {} removed.\n",
        c.common,
        c.regressions(),
        c.outcomes.len(),
        c.latency.len(),
        c.added.len(),
        c.removed.len()
    ));
    out.push_str(&format!("\nLatency rule: {}\n", rule(c)));
    if !c.outcomes.is_empty() {
        out.push_str("\n## Outcome changes\n\n| model | hardware | base | new | regression | detail |\n|---|---|---|---|---|---|\n");
        for o in &c.outcomes {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                o.model_type,
                o.hardware,
                o.base,
                o.new,
                if o.regression { "yes" } else { "no" },
                o.detail.replace('|', "\\|")
            ));
        }
    }
    if !c.latency.is_empty() {
        out.push_str("\n## Latency beyond noise\n\n| model | hardware | base p50 (ms) | new p50 (ms) | ratio | p | verdict |\n|---|---|---|---|---|---|---|\n");
        for l in &c.latency {
            out.push_str(&format!(
                "| {} | {} | {:.3} | {:.3} | {:.2} | {:.1e} | {} |\n",
                l.model_type,
                l.hardware,
                l.base_ms,
                l.new_ms,
                l.ratio,
                l.p_value,
                if l.slower { "slower (regression)" } else { "faster" }
            ));
        }
    }
    if !c.drift.is_empty() {
        out.push_str("\n## Parity drift (worst diff at least doubled and at half its tolerance or more)\n\n");
        for d in &c.drift {
            out.push_str(&format!(
                "- {} on {}: {:.2} -> {:.2} of tolerance\n",
                d.model_type, d.hardware, d.base_share, d.new_share
            ));
        }
    }
    if !c.reused.is_empty() {
        out.push_str(&format!(
            "\n{} passing cell(s) reused an earlier run's verdict and were not judged for latency.\n",
            c.reused.len()
        ));
    }
    for (title, list) in [("Added", &c.added), ("Removed", &c.removed)] {
        if !list.is_empty() {
            out.push_str(&format!("\n## {title}\n\n"));
            for line in list {
                out.push_str(&format!("- {line}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(run: &str, model: &str, outcome: &str) -> Cell {
        Cell {
            run_id: run.into(),
            result_id: format!("{run}-{model}"),
            model_type: model.into(),
            hardware: "cpu".into(),
            outcome: OutcomeKind::from_id(outcome).expect("an outcome name"),
            ..Cell::default()
        }
    }

    fn run(base_cells: &[Cell], new_cells: &[Cell], samples: &[(&str, Vec<f64>)]) -> Comparison {
        let samples = samples.iter().map(|(id, s)| (id.to_string(), s.clone())).collect();
        compare_cells("a".into(), "b".into(), base_cells, new_cells, &samples)
    }

    fn steady(ms: f64) -> Vec<f64> {
        (0..10).map(|i| ms + 0.001 * f64::from(i)).collect()
    }

    #[test]
    fn a_reused_cell_never_feeds_a_latency_comparison() {
        let mut reused = cell("b", "bert", "passed");
        reused.reused_from = Some("a".into());
        let c = run(
            &[cell("a", "bert", "passed"), cell("a", "t5", "passed")],
            &[reused, cell("b", "t5", "passed")],
            &[("a-bert", steady(1.0)), ("b-bert", steady(9.0)), ("a-t5", steady(1.0)), ("b-t5", steady(9.0))],
        );
        assert_eq!(c.reused, vec!["bert on cpu (reused from a)".to_string()]);
        assert_eq!(
            c.latency.iter().map(|l| l.model_type.as_str()).collect::<Vec<_>>(),
            vec!["t5"],
            "only the fresh cell is judged: {c:?}"
        );
    }

    #[test]
    fn a_lost_pass_and_a_new_failure_are_regressions_and_a_new_pass_is_not() {
        let c = run(
            &[
                cell("a", "bert", "passed"),
                cell("a", "t5", "unsupported"),
                cell("a", "vit", "failed"),
                cell("a", "old", "passed"),
            ],
            &[
                cell("b", "bert", "failed"),
                cell("b", "t5", "passed"),
                cell("b", "vit", "failed"),
                cell("b", "new", "passed"),
            ],
            &[],
        );
        assert_eq!(c.outcomes.len(), 2);
        assert!(c.outcomes.iter().any(|o| o.model_type == "bert" && o.regression));
        assert!(c.outcomes.iter().any(|o| o.model_type == "t5" && !o.regression));
        assert_eq!(
            (c.added.clone(), c.removed.clone()),
            (vec!["new on cpu: passed".to_string()], vec!["old on cpu: passed".to_string()])
        );
        assert_eq!(c.regressions(), 1);
        assert!(markdown(&c).contains("| bert | cpu | passed | failed | yes |"));
    }

    #[test]
    fn a_slowdown_beyond_noise_is_a_regression_and_noise_is_not() {
        let base = [cell("a", "bert", "passed"), cell("a", "gpt2", "passed"), cell("a", "tiny", "passed")];
        let new = [cell("b", "bert", "passed"), cell("b", "gpt2", "passed"), cell("b", "tiny", "passed")];
        let noisy: Vec<f64> = [1.0, 1.3, 0.9, 1.1, 1.2, 1.0, 0.95, 1.05, 1.15, 1.25].to_vec();
        let c = run(
            &base,
            &new,
            &[
                ("a-bert", steady(1.0)),
                ("b-bert", steady(6.0)),
                ("a-gpt2", noisy.clone()),
                ("b-gpt2", noisy.iter().rev().map(|v| v * 1.02).collect()),
                // Significant but below the effect floor: 0.010 -> 0.020 ms.
                ("a-tiny", steady(0.010)),
                ("b-tiny", steady(0.020)),
            ],
        );
        assert_eq!(c.latency.len(), 1, "{c:?}");
        assert_eq!((c.latency[0].model_type.as_str(), c.latency[0].slower), ("bert", true));
        assert_eq!(c.regressions(), 1);
    }

    #[test]
    fn the_threshold_follows_the_noise_measured_between_the_runs() {
        // 40 cells whose medians move by up to +-30% between runs (noise), one 4x slower.
        let names: Vec<String> = (0..41).map(|i| format!("m{i}")).collect();
        let base: Vec<Cell> = names.iter().map(|m| cell("a", m, "passed")).collect();
        let new: Vec<Cell> = names.iter().map(|m| cell("b", m, "passed")).collect();
        let mut samples = Vec::new();
        for (i, m) in names.iter().enumerate() {
            let shift = if i == 40 { 4.0 } else { 1.0 + 0.3 * ((i as f64) / 20.0 - 1.0) };
            samples.push((format!("a-{m}"), steady(1.0)));
            samples.push((format!("b-{m}"), steady(shift)));
        }
        let samples: Vec<(&str, Vec<f64>)> = samples.iter().map(|(id, s)| (id.as_str(), s.clone())).collect();
        let c = run(&base, &new, &samples);
        let spread = c.noise_spread.expect("40 judged cells measure the noise");
        assert!(spread > 0.1 && spread < 0.25, "{spread}");
        assert!(c.threshold_ratio > 1.7 && c.threshold_ratio < 3.5, "{}", c.threshold_ratio);
        assert_eq!(
            c.latency.iter().filter(|l| l.slower).map(|l| l.model_type.as_str()).collect::<Vec<_>>(),
            vec!["m40"]
        );
        assert!(rule(&c).contains("run-to-run noise"));
    }

    #[test]
    fn too_few_samples_are_undecided_not_judged() {
        let c = run(
            &[cell("a", "big", "passed")],
            &[cell("b", "big", "passed")],
            &[("a-big", vec![100.0, 101.0]), ("b-big", vec![300.0, 301.0])],
        );
        assert!(c.latency.is_empty());
        assert_eq!(c.undecided, vec!["big on cpu (2 and 2 samples)".to_string()]);
    }

    #[test]
    fn a_diff_that_doubles_toward_its_tolerance_is_drift() {
        let mut b = cell("a", "bert", "passed");
        b.worst_diff_share = Some(0.3);
        let mut n = cell("b", "bert", "passed");
        n.worst_diff_share = Some(0.7);
        let c = run(&[b], &[n], &[]);
        assert_eq!(c.drift.len(), 1);
        assert_eq!(c.regressions(), 0);
    }
}
