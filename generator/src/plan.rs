//! The resolved plan for one model on one hardware: exactly what templates receive.

use serde::Serialize;

use crate::metadata::schema::{yaml_name, DimRef, ExpectedOutcome, TypedSkillScope};
use crate::metadata::{HardwareEntry, ModelFile};

/// Everything a template needs for one module; strings are raw and escaped by filters.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// HuggingFace model type (`xlm-roberta`).
    pub model_type: String,
    /// Rust module name (`xlm_roberta`, validated identifier).
    pub module: String,
    /// The model's typed skill, also the prefix of its typed inputs and outputs, e.g.
    /// `LlavaNext` (`LlavaNextInputs`, `LlavaNextOutputs`).
    pub model_struct: String,
    /// Metadata file, relative to the repository root.
    pub source: String,
    /// The hardware this module targets.
    pub hardware: PlanHardware,
    /// Human-readable name (untrusted text).
    pub display_name: String,
    /// Family, kebab-case.
    pub family: String,
    /// Modalities exercised.
    pub modality: Vec<String>,
    /// Task name.
    pub task: String,
    /// transformers config class.
    pub config_class: String,
    /// transformers model class the suite runs.
    pub model_class: String,
    /// Default public checkpoint.
    pub checkpoint: String,
    /// Key model flag.
    pub key_model: bool,
    /// Named dimensions.
    pub dims: Vec<PlanDim>,
    /// Inputs in forward order.
    pub inputs: Vec<PlanTensor>,
    /// Outputs in order.
    pub outputs: Vec<PlanTensor>,
    /// Expected outcome on this hardware.
    pub expected: PlanExpected,
    /// Which optional tests the module gets.
    pub checks: PlanChecks,
    /// The baked value of each `constant` input, by name (from the request, so both agree).
    pub constants: Vec<PlanConstant>,
    /// Seed of torch's global generator before each checked forward, if the model needs one.
    pub run_seed: Option<u64>,
    /// The file under `generated/requests/` that holds the exporter request as canonical JSON
    /// (sorted keys); the spec module includes it (`include_str!`), the batch exporter reads it.
    pub request_file: String,
    /// The generation cell's class and request, where the metadata has one (the spec module
    /// carries it whatever the hardware).
    pub generation: Option<PlanGeneration>,
}

/// A type's generation cell as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct PlanGeneration {
    /// The class `generate` runs on.
    pub model_class: String,
    /// Its request's file under `generated/requests/`.
    pub request_file: String,
    /// Expected outcome on this plan's hardware.
    pub expected: PlanExpected,
}

/// A `constant` input's baked value: a number (`value` is a number) or a row (a list).
#[derive(Debug, Clone, Serialize)]
pub struct PlanConstant {
    /// Input name.
    pub name: String,
    /// The value as the request has it.
    pub value: export_request::ConstantValue,
}

/// Hardware fields a template uses.
#[derive(Debug, Clone, Serialize)]
pub struct PlanHardware {
    /// Id, also the module folder (`cpu`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `runtime::Hardware` variant.
    pub variant: String,
    /// Cargo feature.
    pub feature: String,
    /// What runs there, one sentence for the module's doc line.
    pub route: String,
}

/// The optional tests of a module, resolved here so templates only choose blocks. A test is
/// emitted only where it can fail: none where the case is expected unsupported.
#[derive(Debug, Clone, Serialize)]
pub struct PlanChecks {
    /// The typed skill reproduces the reference (the model has inputs; the case should pass).
    pub typed_skill: bool,
    /// A prefix's logits ignore later tokens (a key model that should pass, on an engine with
    /// dynamic shapes; the family template decides whether the family is causal).
    pub causality: bool,
    /// Greedy generation with the cache against transformers' `generate` (a type with a
    /// `generation` section, on hardware whose engine has a generation route).
    pub generation: bool,
}

/// A named dimension.
#[derive(Debug, Clone, Serialize)]
pub struct PlanDim {
    /// Name.
    pub name: String,
    /// Size in input set a.
    pub size: u32,
    /// Size in input set b; absent for static dimensions.
    pub varied: Option<u32>,
}

/// An input or output tensor.
#[derive(Debug, Clone, Serialize)]
pub struct PlanTensor {
    /// Name (validated identifier).
    pub name: String,
    /// Element type for inputs (`int64`, `float32`, `bool`); `float32` for outputs is not assumed.
    pub dtype: Option<String>,
    /// Shape entries, as documents write them (`batch`, `32`, `_`).
    pub shape: Vec<DimRef>,
}

/// Expected outcome.
#[derive(Debug, Clone, Serialize)]
pub struct PlanExpected {
    /// `pass` or `unsupported`.
    pub kind: String,
    /// Reason for `unsupported`.
    pub reason: Option<String>,
    /// Category for `unsupported` (kebab-case).
    pub category: Option<String>,
    /// The category's `runtime::Category` variant (`OnnxCheck`).
    pub category_variant: Option<String>,
}

/// `llava_next` + `cpu` -> `LlavaNextCpu`.
pub fn struct_name(model_type: &str, hardware: &str) -> String {
    let mut out = String::new();
    for part in model_type.split('_').chain(hardware.split('_')) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

impl Plan {
    /// Resolves one model file on one hardware with the model's exporter request.
    pub fn new(file: &ModelFile, hardware: &HardwareEntry, built: &crate::request::BuiltRequest) -> Self {
        let model = &file.model;
        let request = &built.request;
        let expected = PlanExpected::of(model.hardware.get(&hardware.id));
        let generation = model.generation.as_ref().map(|g| PlanGeneration {
            model_class: g.model_class.clone(),
            request_file: generation_request_file(&model.model_type),
            expected: PlanExpected::of(g.hardware.get(&hardware.id)),
        });
        Plan {
            model_type: model.model_type.clone(),
            module: model.module_name(),
            model_struct: struct_name(&model.module_name(), ""),
            source: file.source.clone(),
            hardware: PlanHardware {
                id: hardware.id.clone(),
                name: hardware.name.clone(),
                variant: hardware.variant.clone(),
                feature: hardware.feature.clone(),
                route: hardware.route.clone(),
            },
            display_name: model.display_name.clone(),
            family: yaml_name(&model.family),
            modality: model.modality.iter().map(yaml_name).collect(),
            task: model.task.clone(),
            config_class: model.hf.config_class.clone(),
            model_class: model.hf.model_class.clone().unwrap_or_default(),
            checkpoint: model.hf.checkpoint.clone().unwrap_or_default(),
            key_model: model.key_model,
            dims: model
                .dimensions
                .iter()
                .map(|(name, dim)| PlanDim { name: name.clone(), size: dim.size, varied: dim.varied })
                .collect(),
            inputs: model
                .inputs
                .iter()
                .map(|input| PlanTensor {
                    name: input.name.clone(),
                    dtype: Some(yaml_name(&input.dtype)),
                    shape: input.shape.clone(),
                })
                .collect(),
            outputs: model
                .outputs
                .iter()
                .map(|output| PlanTensor { name: output.name.clone(), dtype: None, shape: output.shape.clone() })
                .collect(),
            checks: PlanChecks {
                typed_skill: !model.inputs.is_empty()
                    && expected.kind == "pass"
                    && (model.key_model || hardware.typed_skill == TypedSkillScope::All),
                causality: model.key_model && expected.kind == "pass" && !hardware.static_shapes,
                generation: generation.is_some() && hardware.generation,
            },
            expected,
            constants: request
                .inputs
                .iter()
                .filter_map(|i| {
                    request.constant(&i.name).map(|value| PlanConstant { name: i.name.clone(), value: value.clone() })
                })
                .collect(),
            run_seed: request.run_seed,
            request_file: request_file(&model.model_type),
            generation,
        }
    }
}

impl PlanExpected {
    /// The expectation of one hardware (absent: `pass`).
    fn of(expectation: Option<&crate::metadata::schema::Expectation>) -> Self {
        match expectation {
            Some(e) if e.expected == ExpectedOutcome::Unsupported => PlanExpected {
                kind: "unsupported".into(),
                reason: e.reason.clone(),
                category: e.category.as_ref().map(yaml_name),
                category_variant: e.category.as_ref().map(|c| format!("{c:?}")),
            },
            _ => PlanExpected { kind: "pass".into(), reason: None, category: None, category_variant: None },
        }
    }
}

/// The name of a model type's generation request file under `generated/requests/`.
pub fn generation_request_file(model_type: &str) -> String {
    format!("generate/{model_type}.json")
}

/// The name of a model type's request file under `generated/requests/`.
pub fn request_file(model_type: &str) -> String {
    format!("{model_type}.json")
}

#[cfg(test)]
mod tests {
    use super::struct_name;

    #[test]
    fn yaml_spellings_come_from_serde() {
        use crate::metadata::schema::{yaml_name, DType, Family, InputKind, Modality};
        assert_eq!(yaml_name(&Modality::TimeSeries), "time-series");
        assert_eq!(yaml_name(&Family::SpeechSeq2seq), "speech-seq2seq");
        assert_eq!(yaml_name(&InputKind::TokenIds), "token_ids");
        assert_eq!(yaml_name(&DType::Float32), "float32");
    }

    #[test]
    fn struct_names_are_camel_case_of_model_and_hardware() {
        assert_eq!(struct_name("llava_next", "cpu"), "LlavaNextCpu");
        assert_eq!(struct_name("bert", "cuda"), "BertCuda");
    }
}
