//! A hand-written tiny BERT case for runtime tests (generated modules are not available here).

#![allow(dead_code)]

use runtime::{Case, DType, Dim, DimRef, Expected, Hardware, ModelSpec, TensorSpec, Tolerance};

const BATCH_SEQ: &[DimRef] = &[DimRef::Named("batch"), DimRef::Named("seq")];

/// A 2-layer BERT with hidden size 32; `seq` dynamic, `batch` static (to test rejection).
pub const SPEC: ModelSpec = ModelSpec {
    model_type: "bert",
    display_name: "BERT (runtime test)",
    family: "encoder-only",
    modality: &["text"],
    task: "feature-extraction",
    config_class: "BertConfig",
    model_class: "BertModel",
    checkpoint: "google-bert/bert-base-uncased",
    source: "runtime/tests/common/mod.rs",
    key_model: false,
    dims: &[Dim { name: "batch", size: 2, varied: None }, Dim { name: "seq", size: 7, varied: Some(5) }],
    inputs: &[
        TensorSpec { name: "input_ids", dtype: Some(DType::Int64), shape: BATCH_SEQ },
        TensorSpec { name: "attention_mask", dtype: Some(DType::Int64), shape: BATCH_SEQ },
    ],
    outputs: &[TensorSpec { name: "last_hidden_state", dtype: None, shape: &[DimRef::Named("batch"), DimRef::Named("seq"), DimRef::Fixed(32)] }],
    tolerance: Tolerance { abs: 1e-4, rel: 1e-4 },
    request_json: r#"{"config_class":"BertConfig","dims":{"batch":{"size":2},"seq":{"size":7,"varied":5}},"inputs":[{"dtype":"int64","kind":"token_ids","name":"input_ids","range":[0.0,99.0],"shape":["batch","seq"]},{"dtype":"int64","kind":"mask","name":"attention_mask","shape":["batch","seq"]}],"model_class":"BertModel","model_type":"bert","outputs":[{"name":"last_hidden_state","shape":["batch","seq",32]}],"seed":0,"test_config":{"hidden_size":32,"intermediate_size":37,"max_position_embeddings":64,"num_attention_heads":4,"num_hidden_layers":2,"vocab_size":99}}"#,
};

/// The case on CPU, expected to pass.
pub static CPU: Case = Case { spec: &SPEC, hardware: Hardware::Cpu, expected: Expected::Pass };

/// The case on CPU, (wrongly) expected unsupported.
pub static CPU_EXPECTED_UNSUPPORTED: Case = Case { spec: &SPEC, hardware: Hardware::Cpu, expected: Expected::Unsupported { category: "build", reason: "pretend it cannot run" } };

/// The case on CUDA (absent on CI machines).
pub static CUDA: Case = Case { spec: &SPEC, hardware: Hardware::Cuda, expected: Expected::Pass };
