//! `bench --generate`'s run as Markdown: the machine's bound, a row per size and engine (the
//! runtime's cells, then each peer), and the goals measured on each size.

use crate::generate::{GenerateRun, GenerationSizeResult};
use crate::generate_outcome::outcomes;

/// A table cell's text: its first line, with `|` escaped.
fn cell_text(text: &str) -> String {
    text.lines().next().unwrap_or_default().replace('|', "\\|")
}

/// Peak resident memory as a table cell.
fn rss(mib: Option<f64>) -> String {
    mib.map(|m| format!("{m:.0}")).unwrap_or_default()
}

/// A Markdown table of one model's generation results: a row per size and engine.
pub fn model_table(label: &str, results: &[GenerationSizeResult]) -> String {
    let mut out = String::from(
        "| model | batch | prompt | new | engine | TTFT p50 ms | decode ms/step | tokens/s | weights GB/s | of bandwidth | peak RSS MiB |\n|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for result in results {
        let size = result.size;
        let lead = format!("| {label} | {} | {} | {} |", size.batch, size.prompt, size.new_tokens);
        for outcome in outcomes(result) {
            let engine = match &outcome.route {
                Some(route) => format!("{} ({route})", outcome.engine),
                None => outcome.engine.clone(),
            };
            let peak = rss(outcome.peak_rss_mib);
            out.push_str(&match outcome.timing {
                Some(timing) => format!(
                    "{lead} {engine} | {:.1} | {:.2} | {:.1} | {:.2} | {:.0}% | {peak} |\n",
                    timing.ttft.p50,
                    timing.decode_step.p50,
                    timing.tokens_per_s,
                    timing.weights_gbs,
                    timing.bandwidth_share * 100.0,
                ),
                None => format!(
                    "{lead} {engine} | {} | | | | | {peak} |\n",
                    cell_text(&format!("{}: {}", outcome.status, outcome.detail))
                ),
            });
        }
    }
    out
}

/// How a runtime cell's decode compares with a peer's: the ratio of their median step times
/// (runtime over peer: at most 1.05 meets the goal), where both were timed.
fn ratio(result: &GenerationSizeResult, hardware: &str, peer: &str) -> Option<f64> {
    Some(result.cell_step(hardware)? / result.peer_step(peer)?)
}

/// The goals of `bench --generate` on each size: the runtime's OpenVINO decode against OpenVINO
/// GenAI's and optimum-intel's, TorchScript's against transformers' eager `generate`, and the
/// best share of the bandwidth bound.
pub fn goals(label: &str, results: &[GenerationSizeResult]) -> String {
    let mut out = String::new();
    for result in results {
        let size = result.size;
        let mut parts = Vec::new();
        for (hardware, peer, bound) in
            [("openvino", "openvino-genai", 1.05), ("openvino", "optimum-intel", 1.05), ("cpu", "transformers", 1.0)]
        {
            if let Some(r) = ratio(result, hardware, peer) {
                let verdict = if r <= bound { "met" } else { "not met" };
                parts.push(format!("{hardware}/{peer} step ratio {r:.2} (goal <= {bound}: {verdict})"));
            }
        }
        let best = outcomes(result)
            .into_iter()
            .filter_map(|o| Some((o.engine, o.timing?.bandwidth_share)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((engine, share)) = best {
            parts.push(format!("best share of the bandwidth bound {:.0}% ({engine})", share * 100.0));
        }
        if !parts.is_empty() {
            out.push_str(&format!(
                "- {label}, batch {} prompt {} new {}: {}\n",
                size.batch,
                size.prompt,
                size.new_tokens,
                parts.join("; ")
            ));
        }
    }
    out
}

/// The run as Markdown: the machine's bound, then a table and the goals per model.
pub fn markdown(run: &GenerateRun) -> String {
    let mut out = format!(
        "Generation, {} threads; measured read bandwidth {:.1} GB/s (decode at batch 1 reads every weight once per token; copy bandwidth {:.1} GB/s).\n\n",
        run.threads,
        run.peak.weight_read_gbs(),
        run.peak.bandwidth_gbs
    );
    for model in &run.models {
        out.push_str(&model_table(&model.label(), &model.sizes));
        out.push('\n');
        out.push_str(&goals(&model.label(), &model.sizes));
        out.push('\n');
    }
    for (model, why) in &run.not_run {
        out.push_str(&format!("- {model}: not run: {why}\n"));
    }
    for model in &run.pending {
        out.push_str(&format!("- {model}: {}\n", crate::run::NOT_REACHED));
    }
    out
}
