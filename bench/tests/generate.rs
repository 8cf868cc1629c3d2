//! The generation benchmark's figures: decode steps from a run's decode time, tokens per second
//! over the rows, and the weights read per second against the measured read bandwidth (the copy bandwidth where none was measured); the
//! table and goals that set the runtime beside its peers.

use bench_core::generate::{GenerateSize, GenerationTiming};
use bench_core::peak::Peak;

#[test]
fn decode_figures_follow_from_the_step_time_the_batch_and_the_weights() {
    let peak = Peak { gflops: 100.0, gemm_size: 1024, bandwidth_gbs: 300.0, read_gbs: Some(200.0), threads: 2 };
    // 16 new tokens: the prefill gives the first, 15 decode steps the rest.
    let size = GenerateSize { batch: 4, prompt: 256, new_tokens: 16 };
    let timing = GenerationTiming::of(&[10.0, 30.0, 20.0], &[150.0, 165.0, 135.0], size, 1_000_000_000, &peak);
    assert_eq!(timing.ttft.p50, 20.0);
    assert_eq!(timing.decode_step.p50, 10.0, "150 ms over 15 steps");
    assert_eq!(timing.tokens_per_s, 400.0, "4 rows every 10 ms");
    assert_eq!(timing.weights_gbs, 100.0, "1 GB of weights every 10 ms");
    assert_eq!(timing.bandwidth_share, 0.5);
}

use bench_core::generate::{check_peers, GeneratePeer, GenerationSizeResult, GenerationStatus, PeerResult};
use bench_core::generate_table::{goals, model_table};
use bench_core::python::GenerateAnswer;

/// One size at batch 1: the runtime's openvino cell at 40 ms a step, its cpu cell refused;
/// OpenVINO GenAI at 39 ms a step, optimum-intel at 30 ms, transformers' ids differing, and
/// onnxruntime-genai without its environment.
fn one_size() -> GenerationSizeResult {
    let peak = Peak { gflops: 100.0, gemm_size: 1024, bandwidth_gbs: 10.0, read_gbs: None, threads: 2 };
    let size = GenerateSize { batch: 1, prompt: 256, new_tokens: 16 };
    let weights = 200_000_000;
    let answer = |status: &str, reason: Option<&str>, generate_ms: Vec<f64>| GenerateAnswer {
        status: status.into(),
        reason: reason.map(String::from),
        prefill_ms: if generate_ms.is_empty() { vec![] } else { vec![60.0, 60.0] },
        generate_ms,
        versions: serde_json::json!({}),
        settings: serde_json::Value::Null,
        export_ms: None,
        peak_rss_mib: Some(900.0),
    };
    let peer = |name: &str, outcome| PeerResult { peer: name.into(), outcome };
    GenerationSizeResult {
        size,
        cells: vec![
            (
                "openvino".into(),
                GenerationStatus::Measured {
                    route: "onnx-generate".into(),
                    artifact_key: "k".into(),
                    timing: GenerationTiming::of(&[55.0, 57.0], &[600.0, 600.0], size, weights, &peak),
                    peak_rss_mib: Some(1200.0),
                    export_peak_rss_mib: Some(4000.0),
                },
            ),
            ("cpu".into(), GenerationStatus::Refused { verdict: "failed".into(), reason: "step 3 | differs".into() }),
        ],
        peers: vec![
            peer(
                "transformers",
                Ok(GeneratePeer::of(answer("mismatch", Some("row 0, step 2"), vec![]), size, weights, &peak)),
            ),
            // 60 ms prefill + 15 steps.
            peer("optimum-intel", Ok(GeneratePeer::of(answer("ok", None, vec![510.0, 510.0]), size, weights, &peak))),
            peer("openvino-genai", Ok(GeneratePeer::of(answer("ok", None, vec![645.0, 645.0]), size, weights, &peak))),
            peer("onnxruntime-genai", Err("skipped: .venv-peers is absent".into())),
        ],
    }
}

#[test]
fn goals_compare_the_runtime_openvino_decode_with_each_openvino_peer() {
    let result = one_size();
    assert_eq!(result.cell_step("openvino"), Some(40.0));
    assert_eq!(result.peer_step("openvino-genai"), Some(39.0), "(645 - 60) ms over 15 steps");
    assert_eq!(result.peer_step("transformers"), None, "a peer whose ids differ is not timed");
    let goals = goals("llama", &[result]);
    assert!(goals.contains("openvino/openvino-genai step ratio 1.03 (goal <= 1.05: met)"), "{goals}");
    assert!(goals.contains("openvino/optimum-intel step ratio 1.33 (goal <= 1.05: not met)"), "{goals}");
    assert!(!goals.contains("cpu/transformers"), "no ratio where neither side was timed: {goals}");
    // 200 MB a step in 30 ms is 6.7 GB/s of a 10 GB/s bound.
    assert!(goals.contains("best share of the bandwidth bound 67% (optimum-intel OVModelForCausalLM)"), "{goals}");
}

#[test]
fn the_table_names_every_engine_and_why_one_was_not_timed() {
    let table = model_table("llama (SmolLM2-135M)", &[one_size()]);
    assert_eq!(table.lines().count(), 2 + 6, "a header, a rule, two cells and four peers:\n{table}");
    assert!(
        table.contains(
            "| runtime openvino (onnx-generate; its export 4000 MiB) | 56.0 | 40.00 | 25.0 | 5.00 | 50% | 1200 |"
        ),
        "{table}"
    );
    assert!(table.contains("| runtime cpu | failed: step 3 \\| differs |"), "{table}");
    assert!(table.contains("| transformers generate (eager) | mismatch: row 0, step 2 | | | | | 900 |"), "{table}");
    assert!(table.contains("| onnxruntime-genai | not-run: skipped: .venv-peers is absent |"), "{table}");
}

#[test]
fn an_unknown_generation_peer_is_refused_naming_the_known_ones() {
    assert!(check_peers(&["transformers".into(), "openvino-genai".into()]).is_ok());
    let error = check_peers(&["llama.cpp".into()]).unwrap_err().to_string();
    assert!(
        error.contains("`llama.cpp`") && error.contains("optimum-intel, openvino-genai, onnxruntime-genai"),
        "{error}"
    );
}
