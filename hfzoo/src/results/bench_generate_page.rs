//! The generation benchmark's HTML page: one self-contained file leading with the goals measured
//! in one run (ratios of decode step times; absolute times move between runs on a shared
//! machine), then decode tokens/s and time to first token per engine and size, every engine's
//! figures with its peak memory, and what was not timed with why.

use bench_core::generate::GenerateRun;
use bench_core::generate_table::goals;

use super::bench_generate::rows;
use super::bench_page::{bars, Group};
use super::html::escape;

/// The page.
pub fn html(run: &GenerateRun) -> String {
    let (mut engines, mut tokens, mut ttft) = (Vec::<String>::new(), Vec::<Group>::new(), Vec::<Group>::new());
    let (mut every, mut refused) = (String::new(), String::new());
    let label_of = |model: &str, config: &str, size: (i64, i64, i64)| {
        let name = bench_core::published::label(model, (!config.is_empty()).then_some(config));
        format!("{name} · batch {} · prompt {} · new {}", size.0, size.1, size.2)
    };
    for row in rows(run) {
        let label = label_of(&row.model_type, &row.config, row.size);
        if row.size.0 == 0 {
            refused += &format!("<li>{}: not run — {}</li>", escape(&row.model_type), escape(&row.detail));
            continue;
        }
        let Some(timing) = &row.timing else {
            refused += &format!(
                "<li>{} — {}: {} — {}</li>",
                escape(&label),
                escape(&row.engine),
                escape(&row.status),
                escape(&row.detail)
            );
            continue;
        };
        if !engines.contains(&row.engine) {
            engines.push(row.engine.clone());
        }
        for (groups, value, interval) in [
            (&mut tokens, timing.tokens_per_s, None),
            (&mut ttft, timing.ttft.p50, Some((timing.ttft.p50_low, timing.ttft.p50_high))),
        ] {
            match groups.iter_mut().find(|g| g.label == label) {
                Some(group) => group.bars.push((row.engine.clone(), value, interval)),
                None => groups.push(Group { label: label.clone(), bars: vec![(row.engine.clone(), value, interval)] }),
            }
        }
        every += &format!(
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.1}</td><td>{:.2}</td><td>{:.0}%</td><td>{}</td></tr>",
            escape(&label),
            escape(&row.engine),
            timing.ttft.p50,
            timing.decode_step.p50,
            timing.tokens_per_s,
            timing.weights_gbs,
            100.0 * timing.bandwidth_share,
            row.peak_rss_mib.map(|m| format!("{m:.0}")).unwrap_or_else(|| "-".into())
        );
    }
    for model in &run.pending {
        refused += &format!("<li>{}: {}</li>", escape(model), bench_core::run::NOT_REACHED);
    }
    let goal_items: String = run
        .models
        .iter()
        .flat_map(|m| {
            goals(&m.label(), &m.sizes)
                .lines()
                .map(|l| format!("<li>{}</li>", escape(l.trim_start_matches("- "))))
                .collect::<Vec<_>>()
        })
        .collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>hfzoo generation benchmark</title><style>body{{font-family:sans-serif;margin:24px;max-width:1100px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}h2{{margin-top:32px}}</style></head><body>\
<h1>Generation with the cache</h1>\
<p>Greedy decoding on {threads} threads; every engine's ids were compared with the reference (transformers' <code>generate</code> on the same weights) before it was timed. Machine bound, measured in this run: <b>{bw:.1} GB/s</b> read bandwidth; at batch 1 each decode step reads every weight once, so the weights' GB/s over it is the share of the bound. Timing: {runs} timed whole decodings per engine after one warm-up; TTFT is the prompt's prefill. Absolute times move between runs on a shared machine: read the ratios, measured in one run.</p>\
<h2>Goals (ratio of median decode steps, the runtime over the peer)</h2><ul>{goals}</ul>\
<h2>Decode tokens/s per engine (all rows)</h2>{tokens}\
<h2>Time to first token, ms (whiskers: the median's 95% interval)</h2>{ttft}\
<h2>Every engine</h2><table><tr><th>cell</th><th>engine</th><th>TTFT p50 ms</th><th>decode ms/step</th><th>tokens/s</th><th>weights GB/s</th><th>of the bound</th><th>peak MiB (its process)</th></tr>{every}</table>\
<h2>Not timed</h2><ul>{refused}</ul>\
</body></html>",
        threads = run.threads,
        bw = run.peak.weight_read_gbs(),
        runs = run.rule.min_runs,
        goals = if goal_items.is_empty() { "<li>nothing to compare: no runtime cell and peer were both timed</li>".to_string() } else { goal_items },
        tokens = bars(&tokens, "tok/s", &engines),
        ttft = bars(&ttft, "ms", &engines),
        refused = if refused.is_empty() { "<li>nothing: every cell and peer ran and matched</li>".to_string() } else { refused },
    )
}
