//! The benchmark's Markdown table: per cell the median with its interval, tail percentiles,
//! throughput, achieved GFLOP/s and share of the measured peak, and the ratio to each peer.

use bench_core::cell::CellStatus;
use bench_core::python::PeerStatus;
use bench_core::run::{gflops, BenchRun, SizeResult};

/// A value to `digits` decimals, or `-`.
fn optional(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

/// At batch 1, the share of the measured bandwidth that reading every weight once per
/// inference takes (the bound of batch-1 decoding); `None` at other batches.
pub fn bandwidth_share(weight_bytes: Option<u64>, batch: i64, p50_ms: f64, bandwidth_gbs: f64) -> Option<f64> {
    let bytes = weight_bytes.filter(|_| batch == 1)?;
    Some(bytes as f64 / (p50_ms / 1e3) / 1e9 / bandwidth_gbs)
}

/// Ratio of our median to a peer's (below 1: the runtime is faster).
pub fn ratio(ours: f64, peer: f64) -> f64 {
    ours / peer
}

fn size_label(size: &SizeResult) -> (String, String) {
    (size.size.batch.to_string(), size.size.seq.map(|s| s.to_string()).unwrap_or_else(|| "-".into()))
}

/// The run as Markdown: the machine's peak, one row per engine and cell, the winner per cell.
pub fn markdown(run: &BenchRun) -> String {
    let mut out = format!(
        "machine peak (measured through libtorch, {} threads): {:.1} GFLOP/s float32 GEMM ({}x{}), {:.1} GB/s copy bandwidth\n\n",
        run.peak.threads, run.peak.gflops, run.peak.gemm_size, run.peak.gemm_size, run.peak.bandwidth_gbs
    );
    out += "| model | batch | seq | engine | p50 ms (95% CI) | p90 | p99 | items/s | GFLOP/s | % peak | ratio to eager | to compile | to onnxruntime | to openvino-python | overhead over bare | load ms | first ms | peak MiB | weight reads, % of bandwidth (batch 1) |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for model in &run.models {
        for size in &model.sizes {
            let (batch, seq) = size_label(size);
            let flops = size.peers.as_ref().ok().map(|answer| answer.flops.flops);
            let weight_bytes = size.peers.as_ref().ok().map(|answer| answer.flops.weight_bytes);
            let entries = size.entries();
            let peer = |name: &str| entries.iter().find(|e| e.engine == name).map(|e| e.summary.p50);
            for entry in &entries {
                let s = entry.summary;
                let ratio_to = |name: &str| match peer(name) {
                    Some(p) if entry.engine != name => format!("{:.2}", ratio(s.p50, p)),
                    _ => "-".into(),
                };
                let (achieved, share) = match flops {
                    Some(f) if f > 0 => (
                        format!("{:.1}", gflops(f, s.p50)),
                        format!("{:.0}%", 100.0 * gflops(f, s.p50) / run.peak.gflops),
                    ),
                    _ => ("-".into(), "-".into()),
                };
                let overhead = entry.overhead.map_or_else(|| "-".to_string(), |o| format!("{:+.1}%", 100.0 * o));
                out += &format!(
                    "| {} | {batch} | {seq} | {} | {:.3} ({:.3}-{:.3}) | {:.3} | {:.3} | {:.1} | {achieved} | {share} | {} | {} | {} | {} | {overhead} | {} | {} | {} | {} |\n",
                    model.label(),
                    entry.engine,
                    s.p50,
                    s.p50_low,
                    s.p50_high,
                    s.p90,
                    s.p99,
                    size.size.batch as f64 / (s.p50 / 1e3),
                    ratio_to("eager"),
                    ratio_to("compile"),
                    ratio_to("onnxruntime"),
                    ratio_to("openvino-python"),
                    optional(entry.load_ms, 1),
                    optional(entry.first_ms, 1),
                    optional(entry.peak_rss_mib, 0),
                    optional(bandwidth_share(weight_bytes, size.size.batch, s.p50, run.peak.weight_read_gbs()).map(|share| 100.0 * share), 0),
                );
            }
            for (hardware, status) in &size.cells {
                if let CellStatus::Refused { verdict, reason } = status {
                    out += &format!(
                        "| {} | {batch} | {seq} | runtime {hardware} | {verdict}, not reported: {} |||||||||||||||\n",
                        model.label(),
                        reason.replace('|', "/").lines().next().unwrap_or("")
                    );
                }
            }
            if let Ok(answer) = &size.peers {
                for (name, peer) in answer.peers.iter().filter(|(_, p)| p.status != PeerStatus::Ok) {
                    out += &format!(
                        "| {} | {batch} | {seq} | {name} | {}: {} |||||||||||||||\n",
                        model.label(),
                        peer.status.id(),
                        peer.error.clone().unwrap_or_default().replace('|', "/")
                    );
                }
            }
        }
    }
    for (model, why) in &run.not_run {
        out += &format!("| {model} | - | - | - | not run: {} |||||||||||||||\n", why.replace('|', "/"));
    }
    for model in &run.pending {
        out += &format!("| {model} | - | - | - | {} |||||||||||||||\n", bench_core::run::NOT_REACHED);
    }
    out += "\nfastest engine per cell (by median):\n\n";
    for model in &run.models {
        for size in &model.sizes {
            let (batch, seq) = size_label(size);
            if let Some(winner) = size.winner() {
                out += &format!(
                    "- {} batch {batch} seq {seq}: {} ({:.3} ms)\n",
                    model.label(),
                    winner.engine,
                    winner.summary.p50
                );
            }
        }
    }
    out
}
