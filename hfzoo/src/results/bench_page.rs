//! The benchmark's HTML page: one self-contained file leading with the ratios measured in one
//! run (absolute times move between runs on a shared machine), then latency per engine and
//! cell with the median's interval, and each engine's share of the measured peak.

use bench_core::cell::CellStatus;
use bench_core::python::PeerStatus;
use bench_core::run::{gflops, BenchRun, Entry};

use super::html::escape;

/// Colours of the engines, in the order they appear.
const COLOURS: [&str; 7] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];

/// One bar: the engine, its value and the value's interval, if any.
pub(crate) type Bar = (String, f64, Option<(f64, f64)>);

/// One group of bars: a cell's label and its engines' bars.
pub(crate) struct Group {
    pub(crate) label: String,
    pub(crate) bars: Vec<Bar>,
}

/// Horizontal grouped bars as SVG: one group per cell (scaled to its own largest value: cells of
/// different models differ by orders of magnitude), one bar per engine, whiskers for intervals.
/// Cells without a bar (none ran) are left out: the "Not reported" list says why.
pub(crate) fn bars(groups: &[Group], unit: &str, engines: &[String]) -> String {
    let groups: Vec<&Group> = groups.iter().filter(|g| !g.bars.is_empty()).collect();
    let (left, width, bar) = (260.0, 560.0, 18.0);
    let height: f64 = groups.iter().map(|g| 24.0 + bar * g.bars.len() as f64).sum::<f64>() + 40.0;
    let mut svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{height}' font-family='sans-serif' font-size='12'>",
        left + width + 120.0
    );
    let mut y = 10.0;
    for group in groups {
        let max = group.bars.iter().map(|(_, v, ci)| ci.map_or(*v, |c| c.1.max(*v))).fold(0.0f64, f64::max).max(1e-9);
        svg += &format!("<text x='4' y='{}' font-weight='bold'>{}</text>", y + 14.0, escape(&group.label));
        y += 24.0;
        for (engine, value, ci) in &group.bars {
            let colour = COLOURS[engines.iter().position(|e| e == engine).unwrap_or(0) % COLOURS.len()];
            let w = width * value / max;
            svg += &format!("<text x='{}' y='{}' text-anchor='end'>{}</text>", left - 6.0, y + 13.0, escape(engine));
            svg += &format!("<rect x='{left}' y='{}' width='{w:.1}' height='{}' fill='{colour}'/>", y + 2.0, bar - 4.0);
            if let Some((low, high)) = ci {
                let (x0, x1) = (left + width * low / max, left + width * high / max);
                svg += &format!("<line x1='{x0:.1}' x2='{x1:.1}' y1='{m}' y2='{m}' stroke='black'/><line x1='{x0:.1}' x2='{x0:.1}' y1='{a}' y2='{b}' stroke='black'/><line x1='{x1:.1}' x2='{x1:.1}' y1='{a}' y2='{b}' stroke='black'/>", m = y + bar / 2.0, a = y + 4.0, b = y + bar - 4.0);
            }
            svg += &format!(
                "<text x='{}' y='{}'>{value:.2} {unit}</text>",
                left + w.max(ci.map_or(0.0, |c| width * c.1 / max)) + 6.0,
                y + 13.0
            );
            y += bar;
        }
    }
    svg += &format!("<line x1='{left}' x2='{left}' y1='10' y2='{}' stroke='#888'/></svg>", y);
    svg
}

/// The page.
pub fn html(run: &BenchRun) -> String {
    let mut engines: Vec<String> = Vec::new();
    let mut latency = Vec::new();
    let mut share = Vec::new();
    let mut rows = String::new();
    let mut refused = String::new();
    let mut every = String::new();
    for model in &run.models {
        for size in &model.sizes {
            let label = format!(
                "{} · batch {}{}",
                model.label(),
                size.size.batch,
                size.size.seq.map(|s| format!(" · seq {s}")).unwrap_or_default()
            );
            let entries: Vec<Entry> = size.entries();
            for entry in &entries {
                if !engines.contains(&entry.engine) {
                    engines.push(entry.engine.clone());
                }
            }
            latency.push(Group {
                label: label.clone(),
                bars: entries
                    .iter()
                    .map(|e| (e.engine.clone(), e.summary.p50, Some((e.summary.p50_low, e.summary.p50_high))))
                    .collect(),
            });
            let flops = size.peers.as_ref().ok().map(|a| a.flops.flops).filter(|f| *f > 0);
            if let Some(flops) = flops {
                share.push(Group {
                    label: label.clone(),
                    bars: entries
                        .iter()
                        .map(|e| (e.engine.clone(), 100.0 * gflops(flops, e.summary.p50) / run.peak.gflops, None))
                        .collect(),
                });
            }
            for e in &entries {
                let cell =
                    |v: Option<f64>, digits: usize| v.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"));
                let s = e.summary;
                every += &format!(
                    "<tr><td>{}</td><td>{}</td><td>{:.3} ({:.3}–{:.3})</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&label),
                    escape(&e.engine),
                    s.p50,
                    s.p50_low,
                    s.p50_high,
                    s.p90,
                    s.p99,
                    s.runs,
                    cell(e.load_ms, 1),
                    cell(e.first_ms, 1),
                    cell(e.peak_rss_mib, 0)
                );
            }
            let winner = size.winner();
            for ours in entries.iter().filter(|e| e.engine.starts_with("runtime ")) {
                let ratios: Vec<String> = entries
                    .iter()
                    .filter(|p| !p.engine.starts_with("runtime "))
                    .map(|p| format!("{}: {:.2}", escape(&p.engine), ours.summary.p50 / p.summary.p50))
                    .collect();
                let overhead = ours.overhead.map_or("-".to_string(), |o| format!("{:+.1}%", 100.0 * o));
                rows += &format!(
                    "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{overhead}</td><td>{}</td></tr>",
                    escape(&label),
                    escape(&ours.engine),
                    ours.summary.p50,
                    ratios.join(", "),
                    winner
                        .as_ref()
                        .map(|w| format!("{} ({:.3} ms)", escape(&w.engine), w.summary.p50))
                        .unwrap_or_default(),
                );
            }
            for (hardware, status) in &size.cells {
                if let CellStatus::Refused { verdict, reason } = status {
                    refused += &format!(
                        "<li>{} on {}: {} — not reported: {}</li>",
                        escape(&label),
                        escape(hardware),
                        escape(verdict),
                        escape(reason)
                    );
                }
            }
            if let Ok(answer) = &size.peers {
                for (name, peer) in answer.peers.iter().filter(|(_, p)| p.status != PeerStatus::Ok) {
                    refused += &format!(
                        "<li>{} {}: {} — {}</li>",
                        escape(&label),
                        escape(name),
                        escape(peer.status.id()),
                        escape(peer.error.as_deref().unwrap_or(""))
                    );
                }
            }
        }
    }
    for (model, why) in &run.not_run {
        refused += &format!("<li>{}: not run — {}</li>", escape(model), escape(why));
    }
    for model in &run.pending {
        refused += &format!("<li>{}: {}</li>", escape(model), bench_core::run::NOT_REACHED);
    }
    format!(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>hfzoo benchmark</title><style>body{{font-family:sans-serif;margin:24px;max-width:1100px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}h2{{margin-top:32px}}</style></head><body>\
<h1>Benchmark at real size</h1>\
<p>Machine peak, measured through libtorch on {threads} threads in this run: <b>{gflops:.1} GFLOP/s</b> float32 GEMM ({n}×{n}), <b>{bw:.1} GB/s</b> copy bandwidth. Every engine ran on {threads} threads. Timing: warm-up in windows of {window} until a window's median is within {tol:.0}% of the last, then at least {min} runs. Absolute times move between runs on a shared machine: read the ratios, measured in one run.</p>\
<h2>The runtime against each peer (ratio of medians; below 1: the runtime is faster)</h2>\
<table><tr><th>cell</th><th>engine</th><th>p50 ms</th><th>ratio to each peer</th><th>overhead over the bare engine call</th><th>fastest engine</th></tr>{rows}</table>\
<h2>Every engine</h2><table><tr><th>cell</th><th>engine</th><th>p50 ms (95% CI)</th><th>p90 ms</th><th>p99 ms</th><th>runs</th><th>load ms</th><th>first ms</th><th>peak MiB (its process)</th></tr>{every}</table>\
<h2>Median latency per engine, ms (whiskers: the median's 95% interval)</h2>{latency}\
<h2>Achieved share of the measured GEMM peak, % (FLOPs from PyTorch's counter; above 100%: the engine's kernels beat libtorch's GEMM)</h2>{share}\
<h2>Not reported</h2><ul>{refused}</ul>\
</body></html>",
        threads = run.threads,
        gflops = run.peak.gflops,
        n = run.peak.gemm_size,
        bw = run.peak.bandwidth_gbs,
        window = run.rule.window,
        tol = 100.0 * run.rule.tolerance,
        min = run.rule.min_runs,
        latency = bars(&latency, "ms", &engines),
        share = bars(&share, "%", &engines),
        refused = if refused.is_empty() { "<li>nothing: every cell and peer ran and matched</li>".to_string() } else { refused },
    )
}
