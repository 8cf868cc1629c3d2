//! The benchmark's own checks: its FLOP count against a hand computation, its refusal to time a
//! cell that does not match eager PyTorch, and a smoke run of the command on a small checkpoint.

use std::path::Path;
use std::process::Command;

use bench_core::cell::{self, CellStatus};
use bench_core::python::{self, Model};
use bench_core::stats::Rule;
use runtime::artifacts::{ArtifactCache, ArtifactFormat};
use runtime::tensor::{read_safetensors, write_safetensors};
use runtime::InputSet;
use serde_json::{json, Value};

const BERT: &runtime::Case = &generated::cpu::bert::CASE;

/// A BERT encoder's matrix-product FLOPs by hand, a multiply-add counting 2: per layer the Q, K,
/// V and output projections (4 · 2·B·S·H²), the scores and the weighted values (2 · 2·B·S²·H),
/// the feed-forward pair (2 · 2·B·S·H·I); then the pooler (2·B·H²).
fn bert_flops(batch: u64, seq: u64, hidden: u64, layers: u64, intermediate: u64) -> u64 {
    let layer =
        8 * batch * seq * hidden * hidden + 4 * batch * seq * seq * hidden + 4 * batch * seq * hidden * intermediate;
    layers * layer + 2 * batch * hidden * hidden
}

#[test]
fn the_flop_count_of_tiny_bert_is_the_hand_computed_count() {
    let request: Value = serde_json::from_str(&BERT.spec.request_json).unwrap();
    let config = &request["test_config"];
    let number = |key: &str| config[key].as_u64().unwrap_or_else(|| panic!("bert's test_config has no {key}"));
    let artifact = ArtifactCache::default().ensure(BERT, ArtifactFormat::TorchScript).unwrap();
    let inputs = read_safetensors(&artifact.inputs(InputSet::A)).unwrap();
    let shape = inputs.iter().find(|(name, _)| name == "input_ids").unwrap().1.shape().to_vec();
    let model = Model {
        checkpoint: Path::new(""),
        digest: "",
        request: &BERT.spec.request_json,
        inputs: &artifact.inputs(InputSet::A),
    };
    let counted = python::flops(&model).unwrap();
    let expected = bert_flops(
        shape[0] as u64,
        shape[1] as u64,
        number("hidden_size"),
        number("num_hidden_layers"),
        number("intermediate_size"),
    );
    assert_eq!(counted.flops, expected, "by operator: {:?}", counted.by_operator);
    assert!(counted.weight_bytes > 0 && counted.weight_bytes == 4 * counted.parameters);
}

#[test]
fn a_cell_that_does_not_match_eager_pytorch_is_refused_not_timed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::new(dir.path().to_path_buf());
    let artifact = cache.ensure(BERT, ArtifactFormat::TorchScript).unwrap();
    // The reference now differs from what the model computes, far beyond any tolerance.
    let path = artifact.reference(InputSet::A);
    let mut reference = read_safetensors(&path).unwrap();
    reference[0].1 = reference[0].1.with_f32_offset(0, 1e3).unwrap();
    write_safetensors(&path, &reference).unwrap();
    let (status, ran) = cell::measure(&cache, BERT, &Rule::SMOKE).unwrap();
    match status {
        CellStatus::Refused { verdict, reason } => {
            assert_eq!(verdict, "failed");
            assert!(reason.contains(reference[0].0.as_str()), "{reason}");
        }
        CellStatus::Measured(measured) => panic!("a mismatching cell was timed: {measured:?}"),
    }
    assert!(ran.is_none());
}

#[test]
fn the_bench_command_times_a_small_bert_on_cpu_and_openvino_beside_its_peers() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("bert-small");
    let config = json!({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 512, "max_position_embeddings": 64});
    python::make_checkpoint("BertConfig", "BertModel", &config, &checkpoint, None).unwrap();
    let out = dir.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "--model",
            "bert",
            "--hardware",
            "cpu,openvino",
            "--batch",
            "2",
            "--seq",
            "16",
            "--quick",
            "--peers",
            "eager,onnxruntime,openvino",
            "--threads",
            "1",
        ])
        .arg("--checkpoint")
        .arg(&checkpoint)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let table = String::from_utf8_lossy(&run.stdout);
    let written = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("the run's document");
    assert!(written.with_extension("html").is_file(), "the run's page beside its document");
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    let size = &document["models"][0]["sizes"][0];
    assert_eq!(
        (&size["size"]["batch"], &size["size"]["seq"], &size["size"]["seconds"]),
        (&json!(2), &json!(16), &Value::Null)
    );
    for cell in size["cells"].as_array().unwrap() {
        assert_eq!(cell[1]["status"], "measured", "{cell}");
        assert!(cell[1]["ours"]["p50"].as_f64().unwrap() > 0.0);
        assert!(cell[1]["bare"]["p50"].as_f64().unwrap() > 0.0, "every engine here has a bare call");
    }
    for peer in ["eager", "onnxruntime", "openvino"] {
        assert_eq!(size["peers"]["Ok"]["peers"][peer]["status"], "ok", "{peer}: {}", size["peers"]);
    }
    // 2 layers of 2·16 tokens at hidden 64, intermediate 128, and the pooler.
    let expected = 2 * (8 * 2 * 16 * 64 * 64 + 4 * 2 * 16 * 16 * 64 + 4 * 2 * 16 * 64 * 128) + 2 * 2 * 64 * 64;
    assert_eq!(size["peers"]["Ok"]["flops"]["flops"], expected);
    for engine in ["runtime cpu", "runtime openvino", "eager", "onnxruntime", "openvino-python"] {
        assert!(
            table.lines().any(|line| line.starts_with(&format!("| bert | 2 | 16 | {engine} |"))),
            "no {engine} row in\n{table}"
        );
    }
    assert!(table.contains("fastest engine per cell"), "{table}");
}
