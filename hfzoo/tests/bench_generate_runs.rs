//! Generation benchmark runs in the results database: ingested from results/bench-generate/
//! once, archived after the commit, one row per model, size and engine (the runtime's cells and
//! every peer, timed or with why not), and drawn as a page.

use bench_core::generate::{generate_dir, GenerateRun};
use hfzoo::results::bench_generate::rows;
use hfzoo::results::bench_generate_page::html;
use hfzoo::results::{db_path, ResultsDb};
use serde_json::json;

/// A run as `bench --generate` writes it: llama at SmolLM2-135M, batch 1, prompt 256, 16 new
/// tokens; the runtime's openvino cell measured (40 ms a step), its cpu cell failed; OpenVINO
/// GenAI measured (39 ms a step), transformers' ids differing, onnxruntime-genai skipped; qwen2
/// not run.
fn document(id: &str) -> GenerateRun {
    let summary = |p50: f64| json!({"runs": 2, "p50": p50, "p90": p50, "p99": p50, "p50_low": p50, "p50_high": p50});
    let timing = |step: f64| json!({"ttft": summary(56.0), "decode_step": summary(step), "tokens_per_s": 1e3 / step, "weights_gbs": 0.54 / step * 1e3, "bandwidth_share": 0.54 / step * 1e3 / 20.0});
    serde_json::from_value(json!({
        "bench_id": id,
        "environment": {"run_id": id, "started_at_ms": 1_700_000_000_000i64, "host": "h", "git_commit": "c", "torch_version": "t", "transformers_version": "v", "runtime_version": "r", "features": "cpu,openvino"},
        "started_at_ms": 1_700_000_000_000i64,
        "peak": {"gflops": 100.0, "gemm_size": 2048, "bandwidth_gbs": 20.0, "threads": 2},
        "rule": {"window": 1, "tolerance": 1.0, "max_windows": 1, "warmup_seconds": 0.0, "min_runs": 5, "max_runs": 5, "seconds": 0.0},
        "threads": 2,
        "models": [{"model": "llama", "config": "SmolLM2-135M", "model_class": "LlamaForCausalLM", "checkpoint": "/c", "digest": "d", "sizes": [{
            "size": {"batch": 1, "prompt": 256, "new_tokens": 16},
            "cells": [
                ["openvino", {"status": "measured", "route": "onnx-generate", "artifact_key": "k", "timing": timing(40.0), "peak_rss_mib": 1200.0}],
                ["cpu", {"status": "refused", "verdict": "failed", "reason": "step 3: `logits` differ"}]
            ],
            "peers": [
                {"peer": "transformers", "outcome": {"Ok": {"status": "mismatch", "reason": "row 0, step 2", "timing": null}}},
                {"peer": "openvino-genai", "outcome": {"Ok": {"status": "ok", "prefill_ms": [60.0], "generate_ms": [645.0], "peak_rss_mib": 900.0, "timing": timing(39.0)}}},
                {"peer": "onnxruntime-genai", "outcome": {"Err": "skipped: .venv-peers is absent"}}
            ]
        }]}],
        "not_run": [["qwen2", "too large"]]
    }))
    .expect("a generation bench document")
}

#[test]
fn a_generation_run_is_ingested_once_archived_and_kept_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path();
    let folder = generate_dir(results);
    std::fs::create_dir_all(&folder).unwrap();
    let run = document("bench-generate-1-1");
    std::fs::write(folder.join("bench-generate-1-1.json"), serde_json::to_string(&run).unwrap()).unwrap();
    std::fs::write(folder.join("bench-generate-2-2.json"), "{ not a run").unwrap();
    let mut db = ResultsDb::open(&db_path(results)).unwrap();
    let report = db.ingest(results).unwrap();
    assert_eq!(report.benchmarks, 1);
    assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
    assert!(report.rejected[0].contains("generation benchmark"), "{:?}", report.rejected);
    assert!(folder.join("ingested/bench-generate-1-1.json").is_file());
    assert!(folder.join("rejected/bench-generate-2-2.json").is_file());
    let statuses = db.generate_cell_statuses("bench-generate-1-1").unwrap();
    let expected = [
        ("-", "not-run"),
        ("OpenVINO GenAI LLMPipeline", "measured"),
        ("onnxruntime-genai", "not-run"),
        ("runtime cpu", "failed"),
        ("runtime openvino", "measured"),
        ("transformers generate (eager)", "mismatch"),
    ];
    let statuses: Vec<(&str, &str)> = statuses.iter().map(|(e, s)| (e.as_str(), s.as_str())).collect();
    assert_eq!(statuses, expected);
    // The same document again replaces itself.
    db.insert_generate_bench(&run).unwrap();
    assert_eq!(db.generate_cell_statuses("bench-generate-1-1").unwrap().len(), 6);
}

#[test]
fn rows_carry_the_figures_of_what_was_timed_and_why_the_rest_was_not() {
    let rows = rows(&document("bench-generate-1-1"));
    let openvino = rows.iter().find(|r| r.engine == "runtime openvino").unwrap();
    assert_eq!((openvino.config.as_str(), openvino.size), ("SmolLM2-135M", (1, 256, 16)));
    assert_eq!(openvino.timing.as_ref().map(|t| t.decode_step.p50), Some(40.0));
    assert_eq!(openvino.peak_rss_mib, Some(1200.0));
    let cpu = rows.iter().find(|r| r.engine == "runtime cpu").unwrap();
    assert!(cpu.timing.is_none() && cpu.detail.contains("differ"));
    let skipped = rows.iter().find(|r| r.engine == "onnxruntime-genai").unwrap();
    assert!(skipped.detail.contains(".venv-peers"), "{}", skipped.detail);
}

#[test]
fn the_page_leads_with_the_goals_and_lists_what_was_not_timed() {
    let page = html(&document("bench-generate-1-1"));
    assert!(page.contains("openvino/openvino-genai step ratio 1.03 (goal &lt;= 1.05: met)"), "{page}");
    assert!(page.contains("<svg"), "the tokens/s and TTFT charts");
    assert!(page.contains("runtime cpu: failed — step 3: `logits` differ"), "{page}");
    assert!(page.contains("<li>qwen2: not run — too large</li>"), "{page}");
}

#[test]
fn a_run_stopped_midway_keeps_its_models_and_names_those_not_reached_until_its_last_write() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path();
    let folder = generate_dir(results);
    std::fs::create_dir_all(&folder).unwrap();
    // As `bench --generate` writes it after its first model: qwen2 still to come.
    let mut run = document("bench-generate-3-3");
    run.not_run.clear();
    run.pending = vec!["qwen2".into()];
    let text = serde_json::to_string(&run).unwrap();
    assert!(text.contains("\"pending\":[\"qwen2\"]"), "{text}");
    std::fs::write(folder.join("bench-generate-3-3.json"), &text).unwrap();
    let page = html(&run);
    assert!(page.contains(&format!("<li>qwen2: {}</li>", bench_core::run::NOT_REACHED)), "{page}");
    assert!(bench_core::generate_table::markdown(&run).contains(&format!("- qwen2: {}", bench_core::run::NOT_REACHED)));
    let mut db = ResultsDb::open(&db_path(results)).unwrap();
    assert_eq!(db.ingest(results).unwrap().benchmarks, 1);
    assert_eq!(
        db.generate_cell_statuses("bench-generate-3-3").unwrap().len(),
        5,
        "llama's rows, nothing for qwen2 yet"
    );
    // Its last write (qwen2 not run) replaces the partial run's rows; a finished run has no `pending`.
    run.pending.clear();
    run.not_run.push(("qwen2".into(), "too large".into()));
    let text = serde_json::to_string(&run).unwrap();
    assert!(!text.contains("pending"), "{text}");
    std::fs::write(folder.join("bench-generate-3-3.json"), &text).unwrap();
    assert_eq!(db.ingest(results).unwrap().benchmarks, 1);
    let statuses = db.generate_cell_statuses("bench-generate-3-3").unwrap();
    assert_eq!(statuses.len(), 6);
    assert!(statuses.contains(&("-".into(), "not-run".into())));
}
