//! Benchmark runs in the results database: ingested from results/bench/ once, archived after the
//! commit, one row per model, size and engine, and read back whole for the page.

use bench_core::run::{bench_dir, BenchRun};
use hfzoo::results::bench::{pending, rows};
use hfzoo::results::{db_path, ResultsDb};
use serde_json::json;

/// A run as `bench` writes it: bert at batch 1, seq 8; the runtime's cpu cell measured (p50 2 ms,
/// bare 1.9 ms), its openvino cell refused; eager measured at p50 4 ms, torch.compile unsupported.
fn document(id: &str) -> BenchRun {
    let summary = |p50: f64| json!({"runs": 3, "p50": p50, "p90": p50 + 0.5, "p99": p50 + 1.0, "p50_low": p50 - 0.1, "p50_high": p50 + 0.1});
    serde_json::from_value(json!({
        "bench_id": id,
        "environment": {"run_id": id, "started_at_ms": 1_700_000_000_000i64, "host": "h", "git_commit": "c", "torch_version": "t", "transformers_version": "v", "runtime_version": "r", "features": "cpu,openvino"},
        "started_at_ms": 1_700_000_000_000i64,
        "peak": {"gflops": 100.0, "gemm_size": 2048, "bandwidth_gbs": 20.0, "threads": 2},
        "rule": {"window": 5, "tolerance": 0.05, "max_windows": 20, "warmup_seconds": 20.0, "min_runs": 3, "max_runs": 3, "seconds": 0.0},
        "threads": 2,
        "models": [{"model": "bert", "checkpoint": "/c", "digest": "d", "default_size": true, "sizes": [{
            "size": {"batch": 1, "seq": 8},
            "cells": [
                ["cpu", {"status": "measured", "route": "torchscript", "artifact_key": "k", "load_ms": 5.0, "first_ms": 3.0, "ours": summary(2.0),
                         "samples": {"samples": [1.9, 2.0, 2.1], "warmup_runs": 10}, "bare": summary(1.9), "peak_rss_mib": 100.0, "settings": []}],
                ["openvino", {"status": "refused", "verdict": "failed", "reason": "`last_hidden_state` differs"}]
            ],
            "peers": {"Ok": {"flops": {"flops": 100_000_000u64, "by_operator": {}, "weight_bytes": 4, "parameters": 1},
                             "peers": {"eager": {"status": "ok", "samples": [3.9, 4.0, 4.1]}, "compile": {"status": "unsupported", "error": "no compiler"}}}}
        }]}],
        "not_run": [["llama", "too large"]]
    }))
    .expect("a bench document")
}

#[test]
fn a_benchmark_run_is_ingested_once_archived_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path();
    let folder = bench_dir(results);
    std::fs::create_dir_all(&folder).unwrap();
    let run = document("bench-1-1");
    std::fs::write(folder.join("bench-1-1.json"), serde_json::to_string(&run).unwrap()).unwrap();
    std::fs::write(folder.join("bench-2-2.json"), "{ not a run").unwrap();
    let mut db = ResultsDb::open(&db_path(results)).unwrap();
    let report = db.ingest(results).unwrap();
    assert_eq!(report.benchmarks, 1);
    assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
    assert!(pending(results).is_empty());
    assert!(folder.join("ingested/bench-1-1.json").is_file() && folder.join("rejected/bench-2-2.json").is_file());
    // runtime cpu and eager measured, runtime openvino refused, compile unsupported, llama not run.
    assert_eq!(db.bench_cell_count("bench-1-1").unwrap(), 5);
    let stored = db.bench_run(None).unwrap().expect("the latest run");
    assert_eq!(stored.bench_id, "bench-1-1");
    assert_eq!(stored.models[0].sizes[0].entries().len(), 2);
    assert!(db.bench_run(Some("bench-9")).unwrap().is_none());
    // Ingesting the same document again replaces it.
    db.insert_bench(&run).unwrap();
    assert_eq!(db.bench_cell_count("bench-1-1").unwrap(), 5);
}

#[test]
fn rows_carry_ratio_to_eager_share_of_peak_and_overhead() {
    let rows = rows(&document("bench-1-1"));
    let cpu = rows.iter().find(|r| r.engine == "runtime cpu").unwrap();
    assert_eq!(cpu.status, "measured");
    assert_eq!(cpu.ratio_to_eager, Some(0.5));
    // 1e8 FLOPs in 2 ms: 50 GFLOP/s, half the measured 100.
    assert_eq!(cpu.flops, Some((1e8, 50.0, 0.5)));
    assert!((cpu.overhead.unwrap() - (2.0 / 1.9 - 1.0)).abs() < 1e-12);
    let openvino = rows.iter().find(|r| r.engine == "runtime openvino").unwrap();
    assert_eq!((openvino.status.as_str(), openvino.latency), ("failed", None));
    assert!(openvino.detail.contains("differs"));
    assert_eq!(rows.iter().find(|r| r.engine == "compile").unwrap().status, "unsupported");
    assert_eq!(rows.iter().find(|r| r.model_type == "llama").unwrap().status, "not-run");
}
