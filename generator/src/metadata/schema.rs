//! The metadata schema: serde types with unknown fields rejected.
//!
//! One `metadata/models/<model_type>.yaml` deserialises into [`ModelMetadata`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The YAML spelling of any unit enum of this schema (`encoder-only`, `token_ids`, `int64`).
pub fn yaml_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// One HuggingFace model type: what to build, how to feed it, what to expect per hardware.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMetadata {
    /// HuggingFace `model_type`; equals the file name and becomes the Rust module name.
    pub model_type: String,
    /// Human-readable name; any text (it reaches Rust source only escaped).
    pub display_name: String,
    /// Architecture family; selects family templates.
    pub family: Family,
    /// Input modalities the suite exercises (text, vision, audio, video).
    pub modality: Vec<Modality>,
    /// The task the suite runs (HuggingFace pipeline task name).
    pub task: String,
    /// One of the 13 key models the torch path is proven on first.
    #[serde(default)]
    pub key_model: bool,
    /// Top-level fields a person curated: `metadata harvest` never changes them (`all`: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curated: Vec<String>,
    /// HuggingFace classes and the default public checkpoint.
    pub hf: HfClasses,
    /// Values merged into the config class's defaults (nested maps key by key) to make it tiny.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub test_config: BTreeMap<String, serde_json::Value>,
    /// Curated config values the harvester applies after its generic shrinking rule.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tiny_overrides: BTreeMap<String, serde_json::Value>,
    /// Named dimensions used by input and output shapes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, Dimension>,
    /// Tensors fed to the model's forward, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Input>,
    /// Tensors read from the model's output, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Output>,
    /// Seed of torch's global generator before each checked forward, for a model that draws
    /// random numbers in its forward (masking, sampling, noise); absent for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_seed: Option<u64>,
    /// Expected outcome per hardware id; absent means `pass`.
    #[serde(default)]
    pub hardware: BTreeMap<String, Expectation>,
    /// Greedy generation with the cache (a generation cell per torch hardware, docs/generation.md);
    /// absent for a type that does not generate, or whose prompts are not built yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<Generation>,
    /// Free-form curator notes (not rendered into code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// What the harvester's probe found (informational; rewritten by every harvest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harvest: Option<HarvestFacts>,
}

impl ModelMetadata {
    /// A component (no standalone model class): recorded, but no module is generated.
    pub fn is_component(&self) -> bool {
        self.hf.model_class.is_none()
    }

    /// The Rust module name: the model type lowercased, other characters than letters and
    /// digits as `_` (`xlm-roberta` -> `xlm_roberta`, `kosmos-2.5` -> `kosmos_2_5`).
    pub fn module_name(&self) -> String {
        self.model_type.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
    }

    /// Whether the harvester must leave top-level `field` alone.
    pub fn is_curated(&self, field: &str) -> bool {
        self.curated.iter().any(|f| f == field || f == "all")
    }
}

/// Facts the harvester's probe recorded for one model type.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HarvestFacts {
    /// Where the model class came from (`MODEL_MAPPING_NAMES`, `task mapping`, `standalone class`, `component`).
    pub model_class_source: String,
    /// Processor kinds transformers registers for the type (tokenizer, image_processor, ...).
    #[serde(default)]
    pub processors: Vec<String>,
    /// Parameters of the tiny model (counted on the meta device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<u64>,
    /// Dimensions the probe had to declare static because the trace bakes them in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_by_trace: Vec<String>,
    /// The shrinking rule whose tiny configuration the metadata holds (`generic`, `proportional`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrink_rule: Option<String>,
}

/// Architecture families (kebab-case in YAML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// `encoder-only`
    EncoderOnly,
    /// `decoder-only`
    DecoderOnly,
    /// `encoder-decoder`
    EncoderDecoder,
    /// `vision`
    Vision,
    /// `vision-text`
    VisionText,
    /// `audio`
    Audio,
    /// `speech-seq2seq`
    SpeechSeq2seq,
    /// `multimodal`
    Multimodal,
    /// `video`
    Video,
    /// `diffusion`
    Diffusion,
    /// `state-space`
    StateSpace,
    /// `mixture-of-experts`
    MixtureOfExperts,
    /// `retrieval`
    Retrieval,
    /// `time-series`
    TimeSeries,
    /// `other`
    Other,
}

/// Input modalities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Modality {
    /// `text`
    Text,
    /// `vision`
    Vision,
    /// `audio`
    Audio,
    /// `video`
    Video,
    /// `time-series`
    TimeSeries,
}

/// HuggingFace classes for the model type.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HfClasses {
    /// Config class in `transformers`, e.g. `BertConfig`.
    pub config_class: String,
    /// The model class the suite builds and runs, e.g. `BertModel`; absent for components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_class: Option<String>,
    /// Task heads transformers offers for this type (informational).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub head_classes: Vec<String>,
    /// Default public checkpoint for users with a local hub cache, where one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

/// A type's generation cell: the class with the generation head and what each hardware is
/// expected to do (absent: `pass`). Its prompts are the forward's `input_ids` and mask.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Generation {
    /// The transformers class `generate` runs on, e.g. `LlamaForCausalLM`.
    pub model_class: String,
    /// Expected outcome per hardware id; absent means `pass`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hardware: BTreeMap<String, Expectation>,
}

/// A named dimension: its size in input set a, and (if dynamic) its size in set b.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// Size in the first (traced) input set.
    pub size: u32,
    /// Size in the second input set; present exactly when the dimension is dynamic.
    #[serde(default)]
    pub varied: Option<u32>,
}

/// A shape entry: a named dimension, a fixed size, or `_` (outputs only: any size, as the
/// reference has it): the contract's one definition.
pub use export_request::DimRef;

/// How the exporter fills an input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Uniform random integers in `range` [low, high), optionally with a prefix of special tokens.
    TokenIds,
    /// All ones.
    Mask,
    /// Uniform random floats in `range`.
    Uniform,
    /// Standard normal floats.
    Normal,
    /// Every element equals `value`, or (with a list `value`) every row of the last dimension equals it.
    Constant,
    /// The (x, y) position of each patch on a row-major `value: [width, height]` grid, the same
    /// for every leading index; shape `[..., width * height, 2]`.
    GridPositions,
    /// Well-formed boxes `[x0, y0, x1, y1]` (x0 <= x1, y0 <= y1) in `range` (integers, or page fractions as float32); last dimension 4.
    Boxes,
}

/// Element types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    /// `int64`
    Int64,
    /// `float32`
    Float32,
    /// `bool`
    Bool,
}

/// Special tokens written at the start of the last dimension (e.g. image tokens).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenPrefix {
    /// Token id to write.
    pub token: i64,
    /// How many leading positions get it.
    pub count: u32,
}

/// One model input.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Keyword name in the model's forward; also the Rust field name.
    pub name: String,
    /// How values are generated.
    pub kind: InputKind,
    /// Shape as dimension names and fixed sizes.
    pub shape: Vec<DimRef>,
    /// Element type.
    pub dtype: DType,
    /// [low, high) for `token_ids` and `uniform`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
    /// Fill value for `constant`: one number for every element, or a row for the last dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ConstantValue>,
    /// Leading special tokens for `token_ids`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<TokenPrefix>,
}

/// The value of a `constant` input (a number for every element, or a row for the last
/// dimension): the contract's one definition.
pub use export_request::ConstantValue;

/// One model output, read by name from the model's output object.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Field name of the HuggingFace output object; also the Rust field name.
    pub name: String,
    /// Expected shape.
    pub shape: Vec<DimRef>,
}

/// Expected outcome on one hardware.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// `pass` or `unsupported`.
    pub expected: ExpectedOutcome,
    /// Why it cannot run, as a category (required with `unsupported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<UnsupportedCategory>,
    /// Why it is unsupported (required with `unsupported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a model type cannot run here (kebab-case in YAML; docs/metadata-schema.md): the
/// contract's one list.
pub use export_request::Category as UnsupportedCategory;

/// What the suite expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedOutcome {
    /// Runs and matches the reference.
    Pass,
    /// Cannot run; an unexpected pass fails and asks for a metadata update.
    Unsupported,
}

/// `metadata/hardware.yaml`: the backends the project knows.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareTable {
    /// Every backend, in display order.
    pub hardware: Vec<HardwareEntry>,
}

/// One backend.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareEntry {
    /// Short id, also the module folder name (`cpu`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Cargo feature of the generated crate.
    pub feature: String,
    /// Engine that runs it: torch, openvino, onnxruntime, browser.
    pub engine: String,
    /// Variant of `runtime::Hardware`.
    pub variant: String,
    /// How the runtime detects it.
    pub detection: String,
    /// One sentence on what runs there (the artifact and engine), the generated modules' doc line.
    pub route: String,
    /// True when the engine compiles one graph per input shape (a check that cuts a dimension
    /// to a size no graph was compiled for, such as causality, cannot run there).
    pub static_shapes: bool,
    /// The torch device the exporter traces on for it (`cpu`, `cuda`, `mps`).
    pub export_device: String,
    /// Which models get the typed-skill test there: `all`, or `key-models` where each load costs
    /// seconds (a software WebGPU adapter compiles every shader), since the test checks the
    /// skill's glue, the same on every engine, and the suite already runs the engine.
    pub typed_skill: TypedSkillScope,
    /// Whether its engine has a generation route: types with a `generation` section get a
    /// generation cell there (docs/generation.md).
    pub generation: bool,
    /// Whether modules are generated for it yet.
    pub generate: bool,
}

/// Which models of a hardware get the typed-skill test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TypedSkillScope {
    /// Every model that should pass.
    All,
    /// The key models that should pass.
    KeyModels,
}
