//! The generation check on real tiny decoders (Llama, GPT-2) and an encoder-decoder (T5):
//! exported with their cache as tensors, decoded greedily by libtorch with and without the
//! cache, judged against transformers' `generate` on both prompts; a changed reference fails
//! naming the step.

use runtime::artifacts::{ArtifactCache, ArtifactFormat, OutputTolerance};
use runtime::generation::{self, Decoded, Feed, Judgement, Reference, Steps};
use runtime::{Case, Cow, Expected, Hardware, InputSet, ModelSpec};

/// New tokens per prompt in these tests (what a generated cell asks too).
const NEW_TOKENS: u32 = 32;

/// The forward request of a tiny decoder (batch 2 then 3, prompts of 7 then 11 tokens).
fn forward_request(
    model_type: &str,
    config_class: &str,
    test_config: serde_json::Value,
) -> export_request::ExportRequest {
    let json = serde_json::json!({
        "version": export_request::VERSION, "model_type": model_type, "config_class": config_class,
        "model_class": "unused", "seed": 0, "test_config": test_config,
        "dims": {"batch": {"size": 2, "varied": 3}, "seq": {"size": 7, "varied": 11}},
        "inputs": [
            {"name": "input_ids", "kind": "token_ids", "shape": ["batch", "seq"], "dtype": "int64", "range": [0.0, 99.0]},
            {"name": "attention_mask", "kind": "mask", "shape": ["batch", "seq"], "dtype": "int64"}
        ],
        "outputs": [{"name": "logits", "shape": ["batch", "seq", 99]}]
    });
    export_request::ExportRequest::parse(&json.to_string()).unwrap()
}

/// An encoder-decoder's forward request: the decoder's ids too, which generation leaves out.
fn seq2seq_request(
    model_type: &str,
    config_class: &str,
    test_config: serde_json::Value,
) -> export_request::ExportRequest {
    let mut request = forward_request(model_type, config_class, test_config);
    let mut decoder = request.inputs[0].clone();
    decoder.name = "decoder_input_ids".into();
    request.inputs.push(decoder);
    request
}

/// A generation case on CPU for `model_class`.
fn case(
    model_type: &'static str,
    config_class: &'static str,
    model_class: &str,
    test_config: serde_json::Value,
) -> Case {
    let forward = if model_class.ends_with("ForConditionalGeneration") {
        seq2seq_request(model_type, config_class, test_config)
    } else {
        forward_request(model_type, config_class, test_config)
    };
    let request = forward.generation(model_class, NEW_TOKENS).unwrap();
    let spec = ModelSpec {
        model_type,
        display_name: model_type,
        family: "decoder-only",
        modality: &["text"],
        task: "text-generation",
        config_class,
        model_class: Cow::Owned(model_class.to_string()),
        checkpoint: "",
        source: "runtime/tests/generation.rs",
        key_model: false,
        dims: Cow::Borrowed(&[]),
        inputs: Cow::Borrowed(&[]),
        outputs: Cow::Borrowed(&[]),
        constants: Cow::Borrowed(&[]),
        run_seed: None,
        request_json: Cow::Owned(request.to_canonical_json()),
    };
    Case { spec: Cow::Owned(spec), hardware: Hardware::Cpu, expected: Expected::Pass }
}

fn llama() -> Case {
    case(
        "llama",
        "LlamaConfig",
        "LlamaForCausalLM",
        serde_json::json!({"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "intermediate_size": 37, "max_position_embeddings": 64, "tie_word_embeddings": false}),
    )
}

fn gpt2() -> Case {
    case(
        "gpt2",
        "GPT2Config",
        "GPT2LMHeadModel",
        serde_json::json!({"vocab_size": 99, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64}),
    )
}

fn t5() -> Case {
    case(
        "t5",
        "T5Config",
        "T5ForConditionalGeneration",
        serde_json::json!({"vocab_size": 99, "d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 2, "num_decoder_layers": 2,
            "num_heads": 4, "relative_attention_num_buckets": 8, "decoder_start_token_id": 0, "pad_token_id": 0}),
    )
}

/// The case's artifact, its steps on libtorch (CPU) and the logits' tolerance.
fn loaded(case: &Case) -> (runtime::artifacts::Artifact, Steps, OutputTolerance) {
    let artifact = ArtifactCache::default().ensure(case, ArtifactFormat::TorchScriptGenerate).unwrap();
    let backend = runtime::backend::for_hardware(Hardware::Cpu).unwrap();
    let steps = Steps::load(backend, Hardware::Cpu, &artifact).unwrap();
    let tolerance = artifact.parity().unwrap().outputs["logits"];
    (artifact, steps, tolerance)
}

#[test]
fn tiny_decoders_generate_generates_ids_with_and_without_the_cache() {
    for case in [llama(), gpt2()] {
        let (artifact, steps, tolerance) = loaded(&case);
        let verdict = generation::check(&steps, &artifact, &tolerance).unwrap();
        assert_eq!(verdict, Judgement::Matched, "{}", case.spec.model_type);
        // Set b's last prompt row is left-padded, as generation pads.
        let b = Reference::read(&artifact, InputSet::B).unwrap();
        let mask = b.mask.as_i64().unwrap();
        assert_eq!((mask[mask.len() - 11], mask[mask.len() - 1]), (0, 1), "{}: {mask:?}", case.spec.model_type);
    }
}

#[test]
fn a_cached_only_request_carries_no_uncached_reference_and_is_checked_with_the_cache() {
    let mut llama = llama();
    let request = export_request::ExportRequest::parse(&llama.spec.request_json).unwrap().cached_only();
    let mut spec = (*llama.spec).clone();
    spec.request_json = Cow::Owned(request.to_canonical_json());
    llama.spec = Cow::Owned(spec);
    let (artifact, steps, tolerance) = loaded(&llama);
    for set in InputSet::BOTH {
        let reference = Reference::read(&artifact, set).unwrap();
        assert!(reference.uncached.is_none(), "the exporter left eager PyTorch's uncached decoding out");
    }
    assert_eq!(generation::check(&steps, &artifact, &tolerance).unwrap(), Judgement::Matched);
    // And the full request's artifact is another one, carrying it.
    let (full, _, _) = loaded(&self::llama());
    assert_ne!(full.key, artifact.key);
    assert!(Reference::read(&full, InputSet::A).unwrap().uncached.is_some());
}

#[test]
fn the_cache_makes_the_work_linear_in_the_new_tokens() {
    let (artifact, steps, _) = loaded(&llama());
    let a = Reference::read(&artifact, InputSet::A).unwrap();
    let (batch, prompt) = (2, 7);
    let processed = |n: usize| generation::decode_cached(&steps, &a.ids, &a.mask, n, Feed::Greedy).unwrap().processed;
    // The prompt once, then one position per row per new token: 256 new tokens cost 255 steps.
    for n in [1, 64, 256] {
        assert_eq!(processed(n), batch * prompt + batch * (n - 1), "{n} new tokens");
    }
    assert_eq!(processed(256) - processed(128), 128 * batch, "each new token costs one position per row");
    // Without the cache every step runs the whole sequence again.
    let uncached = generation::decode_uncached(&steps, &a.ids, &a.mask, 16).unwrap().processed;
    assert_eq!(uncached, (0..16).map(|k| batch * (prompt + k)).sum::<usize>());
}

/// An encoder-decoder: the encoder runs once at prefill beside the decoder's start id, then each
/// new token costs one decoder position per row; the whole check passes with and without the
/// cache. (BART, whose configuration forces its end token, is in test_generation_export.py.)
#[test]
fn a_tiny_encoder_decoder_generates_as_generate_in_linear_work() {
    let (artifact, steps, tolerance) = loaded(&t5());
    assert_eq!(steps.decoder_start(), Some(&[0_i64][..]), "T5 decodes from its pad id");
    assert_eq!(generation::check(&steps, &artifact, &tolerance).unwrap(), Judgement::Matched);
    let a = Reference::read(&artifact, InputSet::A).unwrap();
    let (batch, prompt) = (2, 7);
    let processed = |n: usize| generation::decode_cached(&steps, &a.ids, &a.mask, n, Feed::Greedy).unwrap().processed;
    for n in [1, 64] {
        assert_eq!(processed(n), batch * (prompt + 1) + batch * (n - 1), "{n} new tokens");
    }
    // Without the cache the encoder and the grown decoder run at every step.
    let uncached = generation::decode_uncached(&steps, &a.ids, &a.mask, 8).unwrap().processed;
    assert_eq!(uncached, (0..8).map(|k| batch * (prompt + 1 + k)).sum::<usize>());
}

/// `decoded` with the id at (`row`, `step`) replaced by another.
fn with_other_id(decoded: &Decoded, row: usize, step: usize) -> Decoded {
    let mut changed = decoded.clone();
    let at = row * decoded.steps + step;
    changed.tokens[at] = (changed.tokens[at] + 1) % decoded.vocab as i64;
    changed
}

#[test]
fn a_reference_changed_at_one_step_fails_naming_that_step_and_forced_decoding() {
    let (artifact, steps, tolerance) = loaded(&llama());
    let a = Reference::read(&artifact, InputSet::A).unwrap();
    let want = with_other_id(&a.generated, 1, 5);
    let got = generation::decode_cached(&steps, &a.ids, &a.mask, want.steps, Feed::Greedy).unwrap();
    let forced = generation::decode_cached(&steps, &a.ids, &a.mask, want.steps, Feed::Forced(&want.tokens)).unwrap();
    let Judgement::Failed(detail) = generation::judge(&got, &want, Some(&forced), &tolerance, "set a") else {
        panic!("a changed reference id must fail")
    };
    assert!(detail.contains("at step 5 of row 1"), "{detail}");
    // Forced decoding disagrees at the changed position only (the later logits follow the changed id).
    assert!(detail.contains("top-1 agrees at") && !detail.contains("agrees at 64 of 64"), "{detail}");
    // One logit moved by ten tolerances fails too, naming its step, with every id equal.
    let mut moved = a.generated.clone();
    let at = 9 * moved.vocab + 3; // row 0, step 9, id 3
    moved.logits[at] += (10.0 * tolerance.abs) as f32;
    let Judgement::Failed(detail) = generation::judge(&got, &moved, None, &tolerance, "set a") else {
        panic!("a moved reference logit must fail")
    };
    assert!(detail.contains("every id matches") && detail.contains("step 9 (row 0)"), "{detail}");
}

/// The same decoders on OpenVINO: the steps as ONNX graphs with the past as inputs, fed by name.
#[cfg(feature = "openvino")]
#[test]
fn tiny_decoders_generate_on_openvino_from_the_onnx_steps() {
    for case in [llama(), gpt2()] {
        generates_on_openvino(&case, ArtifactFormat::OnnxGenerate);
    }
}

/// `case`'s artifact in `format`, whose whole generation check passes on OpenVINO.
#[cfg(feature = "openvino")]
fn generates_on_openvino(case: &Case, format: ArtifactFormat) -> runtime::artifacts::Artifact {
    let case = Case { hardware: Hardware::Openvino, ..case.clone() };
    let artifact = ArtifactCache::default().ensure(&case, format).unwrap();
    let backend = runtime::backend::for_hardware(Hardware::Openvino).unwrap();
    let steps = Steps::load(backend, Hardware::Openvino, &artifact).unwrap();
    let tolerance = artifact.parity().unwrap().outputs["logits"];
    assert_eq!(
        generation::check(&steps, &artifact, &tolerance).unwrap(),
        Judgement::Matched,
        "{}",
        case.spec.model_type
    );
    artifact
}

/// An encoder-decoder on OpenVINO: its ONNX steps (the stateful IR carries decoder-only caches only).
#[cfg(feature = "openvino")]
#[test]
fn a_tiny_encoder_decoder_generates_on_openvino_from_the_onnx_steps() {
    generates_on_openvino(&t5(), ArtifactFormat::OnnxGenerate);
    let case = Case { hardware: Hardware::Openvino, ..t5() };
    let error = ArtifactCache::default().ensure(&case, ArtifactFormat::OpenvinoGenerate).unwrap_err().to_string();
    assert!(error.contains("encoder-decoder"), "{error}");
}

/// The same decoders as one stateful OpenVINO IR: the cache stays in the engine and each step
/// takes the ids and the mask only. The whole check passes (both prompts, with and without the
/// cache: every prefill must start an empty cache), llama's attention runs as the CPU plugin's
/// one kernel on the cache in every layer, and a decode step before any prefill is refused.
#[cfg(feature = "openvino")]
#[test]
fn tiny_decoders_generate_on_openvino_from_the_stateful_ir() {
    let backend = runtime::backend::for_hardware(Hardware::Openvino).unwrap();
    for case in [llama(), gpt2()] {
        let artifact = generates_on_openvino(&case, ArtifactFormat::OpenvinoGenerate);
        let facts = artifact.manifest().unwrap().export.unwrap();
        if case.spec.model_type == "llama" {
            assert_eq!(facts["attention"], "sdpa", "{facts}");
            assert_eq!(facts["fused_attention_layers"], facts["cache_layers"], "{facts}");
        }
        let names = ["input_ids", "attention_mask"];
        let pair = backend.load_steps(Hardware::Openvino, &[(&artifact, &names), (&artifact, &names)]).unwrap();
        let reference = Reference::read(&artifact, InputSet::A).unwrap();
        let error = pair[1].forward(&[reference.ids.clone(), reference.mask.clone()]).unwrap_err().to_string();
        assert!(error.contains("before any prefill"), "{error}");
    }
}

/// The same ONNX steps in headless Chromium through onnxruntime-web's WebGPU provider, both on
/// one page: the past goes to the page and back at every step, fed by name. Llama's first prompt
/// with the cache only (32 of the full check's 130-odd runs, about 0.25 s each on the software
/// adapter); the main job runs every type's whole check (metadata/tiers.yaml, `without_generation`).
#[cfg(feature = "browser")]
#[test]
fn a_tiny_decoder_generates_on_webgpu_from_the_onnx_steps() {
    let backend = runtime::backend::for_hardware(Hardware::Webgpu).unwrap();
    let found = backend.detect(Hardware::Webgpu);
    assert!(found.available, "this test needs WebGPU in headless Chromium (scripts/setup.sh): {}", found.reason);
    let case = Case { hardware: Hardware::Webgpu, ..llama() };
    let artifact = ArtifactCache::default().ensure(&case, ArtifactFormat::OnnxGenerate).unwrap();
    let steps = Steps::load(backend, Hardware::Webgpu, &artifact).unwrap();
    let tolerance = artifact.parity().unwrap().outputs["logits"];
    let reference = Reference::read(&artifact, InputSet::A).unwrap();
    let want = &reference.generated;
    let cached = generation::decode_cached(&steps, &reference.ids, &reference.mask, want.steps, Feed::Greedy).unwrap();
    assert_eq!(cached.processed, want.batch * (reference.ids.shape()[1] as usize + want.steps - 1), "linear work");
    assert_eq!(generation::judge(&cached, want, None, &tolerance, "set a"), Judgement::Matched);
}
