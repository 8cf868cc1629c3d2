//! A hand-written tiny BERT case for runtime tests (generated modules are not available here).

#![allow(dead_code)]

use runtime::{Case, Cow, DType, Dim, DimRef, Expected, Hardware, ModelSpec, TensorSpec};

const BATCH_SEQ: &[DimRef] = &[DimRef::Named("batch"), DimRef::Named("seq")];

/// A 2-layer BERT with hidden size 32; `seq` dynamic, `batch` static (to test rejection).
pub const SPEC: ModelSpec = bert(
    "BertModel",
    r#"{"version":2,"config_class":"BertConfig","dims":{"batch":{"size":2},"seq":{"size":7,"varied":5}},"inputs":[{"dtype":"int64","kind":"token_ids","name":"input_ids","range":[0.0,99.0],"shape":["batch","seq"]},{"dtype":"int64","kind":"mask","name":"attention_mask","shape":["batch","seq"]}],"model_class":"BertModel","model_type":"bert","outputs":[{"name":"last_hidden_state","shape":["batch","seq",32]}],"seed":0,"test_config":{"hidden_size":32,"intermediate_size":37,"max_position_embeddings":64,"num_attention_heads":4,"num_hidden_layers":2,"vocab_size":99}}"#,
);

const DIMS: &[Dim] = &[Dim::new("batch", 2, None), Dim::new("seq", 7, Some(5))];
const INPUTS: &[TensorSpec] = &[
    TensorSpec::new("input_ids", Some(DType::Int64), BATCH_SEQ),
    TensorSpec::new("attention_mask", Some(DType::Int64), BATCH_SEQ),
];
const OUTPUTS: &[TensorSpec] =
    &[TensorSpec::new("last_hidden_state", None, &[DimRef::Named("batch"), DimRef::Named("seq"), DimRef::Fixed(32)])];

/// The tiny BERT's spec with `model_class` and the exporter request `request_json`.
const fn bert(model_class: &'static str, request_json: &'static str) -> ModelSpec {
    ModelSpec {
        model_type: "bert",
        display_name: "BERT (runtime test)",
        family: "encoder-only",
        modality: &["text"],
        task: "feature-extraction",
        config_class: "BertConfig",
        model_class: Cow::Borrowed(model_class),
        checkpoint: "google-bert/bert-base-uncased",
        source: "runtime/tests/common/mod.rs",
        key_model: false,
        dims: Cow::Borrowed(DIMS),
        inputs: Cow::Borrowed(INPUTS),
        outputs: Cow::Borrowed(OUTPUTS),
        constants: Cow::Borrowed(&[]),
        run_seed: None,
        request_json: Cow::Borrowed(request_json),
    }
}

/// The case on CPU, expected to pass.
pub static CPU: Case = Case { spec: Cow::Borrowed(&SPEC), hardware: Hardware::Cpu, expected: Expected::Pass };

/// The case on CPU, (wrongly) expected unsupported.
pub static CPU_EXPECTED_UNSUPPORTED: Case = Case {
    spec: Cow::Borrowed(&SPEC),
    hardware: Hardware::Cpu,
    expected: Expected::Unsupported { category: runtime::Category::Build, reason: "pretend it cannot run" },
};

/// A model class transformers does not have: the exporter fails at build (cached).
pub const BROKEN_SPEC: ModelSpec = bert(
    "NoSuchModel",
    r#"{"version":2,"config_class":"BertConfig","model_class":"NoSuchModel","model_type":"bert","dims":{},"inputs":[],"outputs":[],"seed":0,"test_config":{}}"#,
);

/// The broken model, expected to pass (it cannot).
pub static BROKEN: Case = Case { spec: Cow::Borrowed(&BROKEN_SPEC), hardware: Hardware::Cpu, expected: Expected::Pass };

/// The broken model, expected unsupported as `build` (what it is).
pub static BROKEN_AS_BUILD: Case = Case {
    spec: Cow::Borrowed(&BROKEN_SPEC),
    hardware: Hardware::Cpu,
    expected: Expected::Unsupported { category: runtime::Category::Build, reason: "no such model class" },
};

/// The broken model, expected unsupported as `torchscript` (a category it is not).
pub static BROKEN_AS_TORCHSCRIPT: Case = Case {
    spec: Cow::Borrowed(&BROKEN_SPEC),
    hardware: Hardware::Cpu,
    expected: Expected::Unsupported { category: runtime::Category::Torchscript, reason: "recorded long ago" },
};

/// The case on CUDA (absent on CI machines).
pub static CUDA: Case = Case { spec: Cow::Borrowed(&SPEC), hardware: Hardware::Cuda, expected: Expected::Pass };

/// Run information of a recorded test run on `host`.
pub fn run_info(run: &str, host: &str) -> runtime::results::record::RunInfo {
    runtime::results::record::RunInfo {
        run_id: run.into(),
        started_at_ms: 1_700_000_000_000,
        host: host.into(),
        git_commit: "abc".into(),
        torch_version: "2.13.0".into(),
        transformers_version: "5.24.0".into(),
        runtime_version: "0.1.0".into(),
        features: "cpu".into(),
        cpu_model: "cpu".into(),
        logical_cpus: 2,
        os: "Linux".into(),
        injected: String::new(),
        backends: vec![runtime::Detection {
            hardware: "openvino".into(),
            available: false,
            device: String::new(),
            version: String::new(),
            reason: "not installed".into(),
        }],
    }
}

/// The case on OpenVINO, expected to pass.
pub static OPENVINO: Case = Case { spec: Cow::Borrowed(&SPEC), hardware: Hardware::Openvino, expected: Expected::Pass };

/// The case on Qualcomm QNN, expected to pass (where an HTP device exists).
pub static QNN: Case = Case { spec: Cow::Borrowed(&SPEC), hardware: Hardware::Qnn, expected: Expected::Pass };

/// The case on WebGPU (headless Chromium), expected to pass.
pub static WEBGPU: Case = Case { spec: Cow::Borrowed(&SPEC), hardware: Hardware::Webgpu, expected: Expected::Pass };
