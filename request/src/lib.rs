//! The exporter request: what the Python exporter needs to build one tiny model, make its two
//! input sets and its references. A versioned document of its own, not the metadata schema
//! serialised as it happens to be: the generator builds it from metadata, emits it once per
//! model (canonical JSON, sorted keys), the runtime parses it back (for baked constants and
//! the run seed) and sends it to `runtime/exporter/export.py`, which checks the version.
//!
//! Changing a field's meaning means a new [`VERSION`]; the exporter refuses other versions.

pub mod category;
// Written by the generator (prettyplease), never by hand or by rustfmt.
#[rustfmt::skip]
pub mod hardware;
pub mod job;
pub mod shape;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use category::Category;
pub use hardware::{Engine, Hardware};
pub use job::{ExportBatch, ExportJob, JobArtifact};
pub use shape::DimRef;

/// The request document version this crate writes and the exporter reads. Version 2 added the
/// typed checkpoint reference ([`CheckpointRef`]); a tiny model's request has none.
pub const VERSION: u32 = 2;

/// One model's exporter request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Document version ([`VERSION`]).
    pub version: u32,
    /// HuggingFace model type.
    pub model_type: String,
    /// transformers config class.
    pub config_class: String,
    /// transformers model class to build.
    pub model_class: String,
    /// Seed of the weights and of the input sets.
    pub seed: u64,
    /// Seed of torch's global generator before each checked forward (models that draw random
    /// numbers in their forward); absent for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_seed: Option<u64>,
    /// Values merged into the config class's defaults (nested maps key by key).
    pub test_config: BTreeMap<String, serde_json::Value>,
    /// Named dimensions.
    pub dims: BTreeMap<String, RequestDim>,
    /// Inputs in forward order.
    pub inputs: Vec<RequestInput>,
    /// Outputs in order.
    pub outputs: Vec<RequestOutput>,
    /// The local checkpoint whose weights the model loads instead of the tiny configuration's
    /// random ones; absent for a tiny model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointRef>,
    /// Greedy generation with the cache instead of one forward (the `torchscript-generate`
    /// artifact); absent for a forward request, whose JSON (and artifact keys) it leaves as
    /// they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<GenerateRequest>,
}

/// What a generation request asks: the model class with the generation head and how many new
/// tokens greedy decoding chooses from each prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// New tokens per prompt (every one chosen: no end-of-sequence token stops it).
    pub new_tokens: u32,
    /// Whether the artifact also carries eager PyTorch's decoding without the cache, which the
    /// engine's own uncached decoding is checked against (the zoo's cells: true). It costs n²
    /// work: `bench --generate` at real size leaves it out ([`ExportRequest::cached_only`]).
    /// Absent from the JSON when true, so the zoo's requests and keys stay as they were.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub uncached: bool,
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// New tokens a generation cell chooses per prompt (the issue's 32: long enough for a cache bug
/// to show, short enough for the zoo).
pub const GENERATION_NEW_TOKENS: u32 = 32;

/// The inputs a generation request's prompts are made of: the ids and, where the forward takes
/// one, the attention mask (left-padded at generation). A request with other inputs cannot be
/// generated from yet, besides [`DECODER_INPUTS`].
pub const GENERATION_INPUTS: [&str; 2] = ["input_ids", "attention_mask"];

/// An encoder-decoder forward's decoder inputs: `generate` makes them itself (from the decoder's
/// start ids, growing), so a generation request leaves them out.
pub const DECODER_INPUTS: [&str; 2] = ["decoder_input_ids", "decoder_attention_mask"];

/// The input names among `names` a generation prompt cannot be made of yet (neither
/// [`GENERATION_INPUTS`] nor [`DECODER_INPUTS`]).
pub fn not_generated_from<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    names.into_iter().filter(|n| !GENERATION_INPUTS.contains(n) && !DECODER_INPUTS.contains(n)).collect()
}

/// A local checkpoint, named by the digest of its content alone: the exporter finds its folder
/// by the digest (the runtime names it in the environment), so the same content in another
/// folder keys the same artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRef {
    /// sha256 of the checkpoint's files.
    pub digest: String,
}

/// A named dimension: its size in set a and, when dynamic, in set b.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDim {
    /// Size in input set a.
    pub size: u32,
    /// Size in input set b; absent for a static dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub varied: Option<u32>,
}

impl RequestDim {
    /// Whether the dimension is dynamic ([`is_dynamic`]).
    pub fn is_dynamic(&self) -> bool {
        is_dynamic(self.varied)
    }
}

/// The field of a dimension whose presence makes it dynamic (the Python side reads this name
/// from `runtime/exporter/contract.json`).
pub const DYNAMIC_FIELD: &str = "varied";

/// The rule, once: a dimension is dynamic (exported with a symbolic size, fed another size in
/// input set b) exactly when it has a `varied` size.
pub fn is_dynamic<T>(varied: Option<T>) -> bool {
    varied.is_some()
}

/// `runtime/exporter/contract.json`: what the Python exporter and harvester read from this
/// crate instead of keeping their own copies (the generator writes it; `--check` keeps it fresh).
pub fn contract_document() -> serde_json::Value {
    let categories: Vec<serde_json::Value> = Category::ALL
        .iter()
        .map(|c| serde_json::json!({"id": c.id(), "probe_stage": c.probe_stage(), "final_for_probe": c.final_for_probe()}))
        .collect();
    serde_json::json!({
        "about": "Written by `cargo run -p generator -- --all` from the contract crate (request/src); do not edit. Failure categories (request/src/category.rs) and the dynamic-dimension rule (request/src/lib.rs, is_dynamic).",
        "version": VERSION,
        "categories": categories,
        "dynamic_dimension_field": DYNAMIC_FIELD,
    })
}

/// A shape entry of a request (the contract's one [`DimRef`]).
pub type RequestDimRef = DimRef<String>;

/// How an input is filled (the exporter's `make_input`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputFill {
    /// Uniform random integers in [low, high), optionally a prefix of special tokens.
    TokenIds {
        /// [low, high).
        range: [f64; 2],
        /// Leading special tokens.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<Prefix>,
    },
    /// All ones (set b pads the last row).
    Mask,
    /// Uniform random floats in [low, high).
    Uniform {
        /// [low, high).
        range: [f64; 2],
    },
    /// Standard normal floats.
    Normal,
    /// Every element (a number) or every row of the last dimension (a list) equals `value`.
    Constant {
        /// The baked value.
        value: ConstantValue,
    },
    /// (x, y) of each patch on a row-major `[width, height]` grid.
    GridPositions {
        /// [width, height].
        value: Vec<f64>,
    },
    /// Well-formed `[x0, y0, x1, y1]` boxes in [low, high).
    Boxes {
        /// [low, high).
        range: [f64; 2],
    },
}

/// A baked constant: `R` holds a row, `Vec<f64>` in documents, a `Cow` of `[f64]` in the
/// specs of generated modules and checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConstantValue<R = Vec<f64>> {
    /// One number for every element.
    Scalar(f64),
    /// One row for the last dimension.
    Row(R),
}

/// Leading special tokens of a `token_ids` input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prefix {
    /// Token id.
    pub token: i64,
    /// How many leading positions.
    pub count: u32,
}

/// One input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestInput {
    /// Keyword name in the model's forward.
    pub name: String,
    /// `int64`, `float32` or `bool`.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<RequestDimRef>,
    /// How it is filled.
    #[serde(flatten)]
    pub fill: InputFill,
}

/// One output, read by name from the model's output object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestOutput {
    /// Field name (`a__b` for a nested field, `x_<i>` for element i of a tuple field).
    pub name: String,
    /// Expected shape.
    pub shape: Vec<RequestDimRef>,
}

impl ExportRequest {
    /// Canonical JSON: sorted keys, no whitespace; equal requests give equal bytes.
    pub fn to_canonical_json(&self) -> String {
        // Through `Value`, whose maps are sorted, so field order never depends on the structs.
        let value = serde_json::to_value(self).expect("a request serialises");
        serde_json::to_string(&value).expect("a JSON value serialises")
    }

    /// Parses a request document, refusing other versions with a message that says what to do.
    pub fn parse(json: &str) -> Result<Self, String> {
        let request: ExportRequest =
            serde_json::from_str(json).map_err(|e| format!("invalid exporter request: {e}"))?;
        if request.version != VERSION {
            return Err(format!("exporter request version {}, this build reads version {VERSION}: regenerate with `cargo run -p generator -- --all`", request.version));
        }
        Ok(request)
    }

    /// The generation request of this forward request: the same configuration, seed and
    /// prompts, `model_class` (the class with the generation head) built instead, and
    /// `new_tokens` chosen greedily, without the forward's [`DECODER_INPUTS`]. Refused when the
    /// prompts need inputs beyond [`GENERATION_INPUTS`] or hold no `input_ids`, naming them.
    pub fn generation(&self, model_class: &str, new_tokens: u32) -> Result<Self, String> {
        let others = not_generated_from(self.inputs.iter().map(|i| i.name.as_str()));
        if !others.is_empty() {
            return Err(format!(
                "`{}` takes {} besides {}: prompts of such inputs are not generated from yet",
                self.model_type,
                others.join(", "),
                GENERATION_INPUTS.join(" and ")
            ));
        }
        if !self.inputs.iter().any(|i| i.name == "input_ids") {
            return Err(format!("`{}` takes no `input_ids`: there is no prompt to generate from", self.model_type));
        }
        Ok(Self {
            model_class: model_class.to_string(),
            generate: Some(GenerateRequest { new_tokens, uncached: true }),
            inputs: self.inputs.iter().filter(|i| !DECODER_INPUTS.contains(&i.name.as_str())).cloned().collect(),
            ..self.clone()
        })
    }

    /// The same generation request without eager PyTorch's uncached decoding in its artifact:
    /// the engine is checked with the cache only (against `generate`'s ids and logits). A
    /// forward request stays as it is.
    pub fn cached_only(mut self) -> Self {
        if let Some(generate) = self.generate.as_mut() {
            generate.uncached = false;
        }
        self
    }

    /// The baked value of input `name`, if it is a `constant`.
    pub fn constant(&self, name: &str) -> Option<&ConstantValue> {
        self.inputs.iter().find(|i| i.name == name).and_then(|i| match &i.fill {
            InputFill::Constant { value } => Some(value),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> ExportRequest {
        ExportRequest {
            version: VERSION,
            model_type: "llava_next".into(),
            config_class: "LlavaNextConfig".into(),
            model_class: "LlavaNextModel".into(),
            seed: 0,
            run_seed: Some(3),
            test_config: BTreeMap::from([("text_config".to_string(), serde_json::json!({"hidden_size": 32}))]),
            dims: BTreeMap::from([
                ("batch".to_string(), RequestDim { size: 2, varied: None }),
                ("seq".to_string(), RequestDim { size: 7, varied: Some(5) }),
            ]),
            inputs: vec![
                RequestInput {
                    name: "input_ids".into(),
                    dtype: "int64".into(),
                    shape: vec![RequestDimRef::Named("batch".into()), RequestDimRef::Named("seq".into())],
                    fill: InputFill::TokenIds { range: [0.0, 99.0], prefix: Some(Prefix { token: 5, count: 4 }) },
                },
                RequestInput {
                    name: "image_sizes".into(),
                    dtype: "int64".into(),
                    shape: vec![RequestDimRef::Named("batch".into()), RequestDimRef::Fixed(2)],
                    fill: InputFill::Constant { value: ConstantValue::Scalar(32.0) },
                },
                RequestInput {
                    name: "image_grid_thw".into(),
                    dtype: "int64".into(),
                    shape: vec![RequestDimRef::Fixed(1), RequestDimRef::Fixed(3)],
                    fill: InputFill::Constant { value: ConstantValue::Row(vec![1.0, 4.0, 4.0]) },
                },
                RequestInput {
                    name: "attention_mask".into(),
                    dtype: "int64".into(),
                    shape: vec![RequestDimRef::Named("batch".into()), RequestDimRef::Named("seq".into())],
                    fill: InputFill::Mask,
                },
            ],
            outputs: vec![RequestOutput {
                name: "last_hidden_state".into(),
                shape: vec![RequestDimRef::Named("batch".into()), RequestDimRef::Any, RequestDimRef::Fixed(32)],
            }],
            checkpoint: None,
            generate: None,
        }
    }

    #[test]
    fn a_request_round_trips_through_its_canonical_json() {
        let request = sample();
        let json = request.to_canonical_json();
        assert_eq!(ExportRequest::parse(&json).unwrap(), request);
        assert_eq!(ExportRequest::parse(&json).unwrap().to_canonical_json(), json, "canonical JSON is stable");
    }

    #[test]
    fn the_document_has_the_exporters_field_names() {
        let json: serde_json::Value = serde_json::from_str(&sample().to_canonical_json()).unwrap();
        assert_eq!(json["version"], 2);
        assert!(json.get("checkpoint").is_none(), "a tiny model's request names no checkpoint");
        assert_eq!(json["inputs"][0]["kind"], "token_ids");
        assert_eq!(json["inputs"][0]["prefix"]["count"], 4);
        assert_eq!(json["inputs"][1]["value"], 32.0);
        assert_eq!(json["dims"]["batch"], serde_json::json!({"size": 2}));
        assert_eq!(json["run_seed"], 3);
    }

    #[test]
    fn other_versions_and_unknown_fields_are_refused() {
        let mut json: serde_json::Value = serde_json::from_str(&sample().to_canonical_json()).unwrap();
        json["version"] = 1.into();
        let error = ExportRequest::parse(&json.to_string()).unwrap_err();
        assert!(error.contains("version 1") && error.contains("cargo run -p generator -- --all"), "{error}");
        json["version"] = VERSION.into();
        json["checkpoint"] = serde_json::json!({"digest": "ab", "folder": "/x"});
        assert!(ExportRequest::parse(&json.to_string()).unwrap_err().contains("folder"));
        json.as_object_mut().unwrap().remove("checkpoint");
        json["surprise"] = true.into();
        assert!(ExportRequest::parse(&json.to_string()).unwrap_err().contains("surprise"));
    }

    #[test]
    fn a_generation_request_keeps_the_prompts_and_names_what_it_cannot_generate_from() {
        let mut text = sample();
        text.inputs.retain(|i| i.name == "input_ids" || i.name == "attention_mask");
        let forward = text.to_canonical_json();
        assert!(!forward.contains("generate"), "a forward request's JSON (its artifact key) is unchanged");
        let generation = text.generation("LlavaNextForConditionalGeneration", 32).unwrap();
        assert_eq!(generation.generate, Some(GenerateRequest { new_tokens: 32, uncached: true }));
        assert_eq!(
            (generation.model_class.as_str(), &generation.inputs),
            ("LlavaNextForConditionalGeneration", &text.inputs)
        );
        let json = generation.to_canonical_json();
        assert!(json.contains(r#""generate":{"new_tokens":32}"#), "{json}");
        assert_eq!(ExportRequest::parse(&json).unwrap(), generation);
        let cached_only = generation.clone().cached_only();
        let json = cached_only.to_canonical_json();
        assert!(json.contains(r#""generate":{"new_tokens":32,"uncached":false}"#), "{json}");
        assert_eq!(ExportRequest::parse(&json).unwrap(), cached_only);
        assert_eq!(text.clone().cached_only(), text, "a forward request has no decoding to leave out");
        let error = sample().generation("X", 32).unwrap_err();
        assert!(error.contains("image_sizes, image_grid_thw"), "{error}");
        // An encoder-decoder's decoder ids: generate makes them, the request leaves them out.
        let mut seq2seq = text.clone();
        let mut decoder = seq2seq.inputs[0].clone();
        decoder.name = "decoder_input_ids".into();
        seq2seq.inputs.push(decoder);
        assert_eq!(seq2seq.generation("T5ForConditionalGeneration", 32).unwrap().inputs, text.inputs);
        text.inputs.retain(|i| i.name == "attention_mask");
        assert!(text.generation("X", 32).unwrap_err().contains("no `input_ids`"));
    }

    #[test]
    fn constants_are_found_by_name() {
        let request = sample();
        assert_eq!(request.constant("image_sizes"), Some(&ConstantValue::Scalar(32.0)));
        assert_eq!(request.constant("image_grid_thw"), Some(&ConstantValue::Row(vec![1.0, 4.0, 4.0])));
        assert_eq!(request.constant("input_ids"), None);
    }
}
