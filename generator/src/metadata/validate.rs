//! Semantic checks run after parsing; each problem becomes a located diagnostic.

use std::collections::{BTreeMap, BTreeSet};

use super::locate::{display, locate, Step};
use super::schema::{
    yaml_name, ConstantValue, DimRef, Expectation, ExpectedOutcome, HardwareTable, InputKind, ModelMetadata,
};
use crate::error::Diagnostic;

/// True when `name` is a lowercase ASCII Rust identifier that is not a keyword.
pub fn is_safe_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return false };
    (first.is_ascii_lowercase() || first == '_')
        && name != "_"
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && syn::parse_str::<syn::Ident>(name).is_ok()
}

/// True when `name` is a Python identifier usable with `getattr(transformers, name)`.
fn is_python_class_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks `hardware.yaml`: ids and features are identifiers, variants are type names, no duplicates.
pub fn check_hardware(file: &str, text: &str, table: &HardwareTable) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let mut ids = BTreeSet::new();
    for (index, entry) in table.hardware.iter().enumerate() {
        let mut report = |key: &'static str, message: String, hint: &str| {
            let path = [Step::Key("hardware"), Step::Index(index), Step::Key(key)];
            let (line, column) = locate(text, &path);
            found.push(Diagnostic {
                file: file.into(),
                line,
                column,
                field: display(&path),
                message,
                hint: hint.into(),
            });
        };
        if !is_safe_identifier(&entry.id) || !ids.insert(entry.id.as_str()) {
            report(
                "id",
                format!("hardware id `{}` is not a unique safe identifier", entry.id.escape_debug()),
                "lowercase letters, digits and `_`, unique",
            );
        }
        if !is_safe_identifier(&entry.engine) {
            report("engine", format!("engine `{}` is not a safe identifier", entry.engine.escape_debug()), "the engine's folder under runtime/src/backend/ and the runtime's cargo feature: lowercase letters, digits and `_`");
        }
        if !["cpu", "cuda", "mps"].contains(&entry.export_device.as_str()) {
            report(
                "export_device",
                format!(
                    "export device `{}` is not a torch device the exporter traces on",
                    entry.export_device.escape_debug()
                ),
                "one of cpu, cuda, mps",
            );
        }
        if !is_safe_identifier(&entry.feature) {
            report(
                "feature",
                format!("feature `{}` is not a safe identifier", entry.feature.escape_debug()),
                "lowercase letters, digits and `_`",
            );
        }
        let variant_ok = entry.variant.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && entry.variant.chars().all(|c| c.is_ascii_alphanumeric());
        if !variant_ok {
            report(
                "variant",
                format!("variant `{}` is not a `runtime::Hardware` variant name", entry.variant.escape_debug()),
                "CamelCase ASCII, e.g. Cuda",
            );
        }
    }
    found
}

/// Checks `tiers.yaml`: a positive sample, a non-empty salt, known key-models-only hardware, and slow marks that name a
/// model type with metadata and a hardware id of `hardware.yaml`, with a measured time.
pub fn check_tiers(
    file: &str,
    text: &str,
    tiers: &super::tiers::Tiers,
    models: &[super::ModelFile],
    hardware: &HardwareTable,
) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let mut report = |path: &[Step<'_>], message: String, hint: &str| {
        let (line, column) = locate(text, path);
        found.push(Diagnostic { file: file.into(), line, column, field: display(path), message, hint: hint.into() });
    };
    if tiers.smoke.sample == 0 {
        report(
            &[Step::Key("smoke"), Step::Key("sample")],
            "the smoke sample is empty".into(),
            "sample at least one model type besides the key models (the tier should cover every family)",
        );
    }
    if tiers.smoke.salt.trim().is_empty() {
        report(
            &[Step::Key("smoke"), Step::Key("salt")],
            "the smoke salt is empty".into(),
            "any non-empty string; changing it draws another sample",
        );
    }
    let known: Vec<&str> = hardware.hardware.iter().map(|hw| hw.id.as_str()).collect();
    let listed = [
        ("key_models_only", &tiers.smoke.key_models_only),
        ("without_typed_skill", &tiers.smoke.without_typed_skill),
        ("without_generation", &tiers.smoke.without_generation),
    ];
    for (field, hardware_id, index) in
        listed.iter().flat_map(|(field, ids)| ids.iter().enumerate().map(move |(index, id)| (*field, id, index)))
    {
        if !known.contains(&hardware_id.as_str()) {
            report(
                &[Step::Key("smoke"), Step::Key(field), Step::Index(index)],
                format!("unknown hardware `{}`", hardware_id.escape_debug()),
                &format!("one of {}", known.join(", ")),
            );
        }
    }
    for (model_type, marks) in &tiers.slow {
        if !models.iter().any(|f| &f.model.model_type == model_type) {
            report(
                &[Step::Key("slow"), Step::Key(model_type)],
                format!("slow mark for `{}`, which has no metadata", model_type.escape_debug()),
                "name a file of metadata/models/ (without .yaml), or remove the mark",
            );
        }
        for (hardware_id, mark) in marks {
            if !known.contains(&hardware_id.as_str()) {
                report(
                    &[Step::Key("slow"), Step::Key(model_type), Step::Key(hardware_id)],
                    format!("unknown hardware `{}`", hardware_id.escape_debug()),
                    &format!("one of {}", known.join(", ")),
                );
            }
            if !(mark.seconds.is_finite() && mark.seconds > 0.0) {
                report(
                    &[Step::Key("slow"), Step::Key(model_type), Step::Key(hardware_id), Step::Key("seconds")],
                    format!("seconds must be a measured time, got {}", mark.seconds),
                    "the wall seconds the slow cell took",
                );
            }
        }
    }
    found
}

/// Collects diagnostics for one parsed model file.
pub struct Validator<'a> {
    file: &'a str,
    text: &'a str,
    found: Vec<Diagnostic>,
}

impl<'a> Validator<'a> {
    /// Starts checking `file` whose contents are `text`.
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Self { file, text, found: Vec::new() }
    }

    fn report(&mut self, path: &[Step<'_>], message: String, hint: impl Into<String>) {
        let (line, column) = locate(self.text, path);
        self.found.push(Diagnostic {
            file: self.file.to_string(),
            line,
            column,
            field: display(path),
            message,
            hint: hint.into(),
        });
    }

    /// Runs every check and returns what was found.
    pub fn check(mut self, model: &ModelMetadata, stem: &str, hardware: &HardwareTable) -> Vec<Diagnostic> {
        self.identity(model, stem);
        self.classes(model);
        self.dimensions(model);
        self.component(model);
        self.inputs(model, hardware);
        self.outputs(model, hardware);
        self.expectations(model, hardware);
        self.generation(model, hardware);
        self.found
    }

    fn identity(&mut self, model: &ModelMetadata, stem: &str) {
        let allowed = model.model_type.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !allowed || !is_safe_identifier(&model.module_name()) || model.model_type.starts_with('_') {
            self.report(
                &[Step::Key("model_type")],
                format!("model_type `{}` does not make a safe Rust module name", model.model_type.escape_debug()),
                "use ASCII letters, digits, `_`, `-` and `.`, starting with a letter, and no Rust keyword",
            );
        } else if model.model_type != stem {
            self.report(
                &[Step::Key("model_type")],
                format!("model_type `{}` does not match the file name `{stem}.yaml`", model.model_type),
                format!("rename the file to `{}.yaml` or set model_type to `{stem}`", model.model_type),
            );
        }
        if model.display_name.trim().is_empty() {
            self.report(
                &[Step::Key("display_name")],
                "display_name is empty".into(),
                "give the model a human-readable name",
            );
        }
        if model.modality.is_empty() {
            self.report(
                &[Step::Key("modality")],
                "modality lists nothing".into(),
                "list the modalities the inputs exercise, e.g. [text]",
            );
        }
    }

    fn classes(&mut self, model: &ModelMetadata) {
        let model_class = model.hf.model_class.as_ref();
        for (key, value) in
            std::iter::once(("config_class", &model.hf.config_class)).chain(model_class.map(|m| ("model_class", m)))
        {
            if !is_python_class_name(value) {
                self.report(
                    &[Step::Key("hf"), Step::Key(key)],
                    format!("hf.{key} `{}` is not a class name", value.escape_debug()),
                    "name a class exported by `transformers`, e.g. BertModel",
                );
            }
        }
    }

    fn dimensions(&mut self, model: &ModelMetadata) {
        for (name, dim) in &model.dimensions {
            if !is_safe_identifier(name) {
                self.report(
                    &[Step::Key("dimensions"), Step::Key(name)],
                    format!("dimension name `{}` is not an identifier", name.escape_debug()),
                    "use lowercase letters, digits and `_`",
                );
            }
            if dim.size == 0 || dim.varied == Some(0) {
                self.report(
                    &[Step::Key("dimensions"), Step::Key(name)],
                    format!("dimension `{name}` has size 0"),
                    "sizes are at least 1",
                );
            }
            if dim.varied == Some(dim.size) {
                self.report(
                    &[Step::Key("dimensions"), Step::Key(name), Step::Key("varied")],
                    format!("dimension `{name}` is declared dynamic but `varied` equals `size` ({})", dim.size),
                    "choose another size for the second input set, or remove `varied` to make it static",
                );
            }
        }
    }

    fn shape(&mut self, model: &ModelMetadata, path: &[Step<'_>], shape: &[DimRef], any_allowed: bool) {
        if shape.is_empty() && !any_allowed {
            self.report(path, "shape is empty".into(), "list dimension names or sizes, e.g. [batch, seq]");
        }
        for entry in shape {
            if *entry == DimRef::Any && !any_allowed {
                self.report(
                    path,
                    "`_` (any size) is allowed in output shapes only".into(),
                    "name a declared dimension or give a size",
                );
            }
            if let DimRef::Named(name) = entry {
                if !model.dimensions.contains_key(name) {
                    let known: Vec<&str> = model.dimensions.keys().map(String::as_str).collect();
                    self.report(
                        path,
                        format!("shape names dimension `{}` which is not declared", name.escape_debug()),
                        format!("declare it under `dimensions` (declared: {})", known.join(", ")),
                    );
                }
            }
        }
    }

    /// True when some hardware expects `pass` (absent expectations mean `pass`).
    fn runs_somewhere(model: &ModelMetadata, hardware: &HardwareTable) -> bool {
        hardware
            .hardware
            .iter()
            .filter(|h| h.generate)
            .any(|h| model.hardware.get(&h.id).is_none_or(|e| e.expected == ExpectedOutcome::Pass))
    }

    fn component(&mut self, model: &ModelMetadata) {
        if model.is_component() && !(model.inputs.is_empty() && model.outputs.is_empty()) {
            self.report(
                &[Step::Key("hf")],
                "a component (no `hf.model_class`) declares inputs or outputs".into(),
                "name the model class that runs it, or remove inputs and outputs",
            );
        }
    }

    fn inputs(&mut self, model: &ModelMetadata, hardware: &HardwareTable) {
        if model.inputs.is_empty() && !model.is_component() && Self::runs_somewhere(model, hardware) {
            self.report(
                &[Step::Key("inputs")],
                "no inputs declared".into(),
                "declare the tensors the model's forward takes",
            );
        }
        let mut names = BTreeSet::new();
        for (index, input) in model.inputs.iter().enumerate() {
            let at = |key| [Step::Key("inputs"), Step::Index(index), Step::Key(key)];
            if !is_safe_identifier(&input.name) {
                self.report(
                    &at("name"),
                    format!("input name `{}` is not a safe identifier", input.name.escape_debug()),
                    "use the forward's keyword argument name",
                );
            } else if !names.insert(input.name.as_str()) {
                self.report(&at("name"), format!("input `{}` is declared twice", input.name), "each input once");
            }
            self.shape(model, &at("shape"), &input.shape, false);
            if input.kind == InputKind::Boxes && input.shape.last() != Some(&DimRef::Fixed(4)) {
                self.report(
                    &at("shape"),
                    format!("boxes input `{}` must end in a dimension of size 4", input.name),
                    "e.g. shape: [batch, seq, 4]",
                );
            }
            let needs_range = matches!(input.kind, InputKind::TokenIds | InputKind::Uniform | InputKind::Boxes);
            match (needs_range, input.range) {
                (true, None) => self.report(
                    &at("kind"),
                    format!("input `{}` of kind {} needs `range: [low, high]`", input.name, yaml_name(&input.kind)),
                    "add e.g. `range: [0, 99]`",
                ),
                (true, Some([low, high])) if low >= high || !low.is_finite() || !high.is_finite() => self.report(
                    &at("range"),
                    format!("range [{low}, {high}] of input `{}` is empty or not finite", input.name),
                    "low must be below high",
                ),
                (false, Some(_)) => self.report(
                    &at("range"),
                    format!("input `{}` of kind {} takes no range", input.name, yaml_name(&input.kind)),
                    "remove `range`",
                ),
                _ => {}
            }
            match (input.kind, &input.value) {
                (InputKind::Constant, None) => self.report(
                    &at("kind"),
                    format!("constant input `{}` needs `value`", input.name),
                    "add e.g. `value: 32`",
                ),
                (InputKind::Constant, Some(ConstantValue::Row(row)))
                    if input.shape.last() != Some(&DimRef::Fixed(row.len() as u32)) =>
                {
                    self.report(
                        &at("value"),
                        format!(
                            "constant input `{}` has a row of {} values, but its last dimension is not {}",
                            input.name,
                            row.len(),
                            row.len()
                        ),
                        "end the shape in the row's length, e.g. shape: [batch, 3] for value: [1, 4, 4]",
                    )
                }
                (InputKind::GridPositions, Some(ConstantValue::Row(grid)))
                    if grid.len() == 2 && grid.iter().all(|v| v.fract() == 0.0 && (1.0..=4096.0).contains(v)) =>
                {
                    let patches = (grid[0] * grid[1]) as u32;
                    let n = input.shape.len();
                    if n < 2 || input.shape[n - 1] != DimRef::Fixed(2) || input.shape[n - 2] != DimRef::Fixed(patches) {
                        self.report(
                            &at("shape"),
                            format!(
                                "grid_positions input `{}` on a {}x{} grid must end in [{patches}, 2]",
                                input.name, grid[0], grid[1]
                            ),
                            format!("e.g. shape: [batch, {patches}, 2]"),
                        );
                    }
                }
                (InputKind::GridPositions, _) => self.report(
                    &at("value"),
                    format!("grid_positions input `{}` needs `value: [width, height]`", input.name),
                    "add e.g. `value: [6, 6]` (two whole numbers from 1 to 4096)",
                ),
                (InputKind::Constant, Some(_)) | (_, None) => {}
                (_, Some(_)) => self.report(
                    &at("value"),
                    format!("only constant inputs take `value` (input `{}`)", input.name),
                    "remove `value`",
                ),
            }
            if input.prefix.is_some() && input.kind != InputKind::TokenIds {
                self.report(
                    &at("prefix"),
                    format!("only token_ids inputs take `prefix` (input `{}`)", input.name),
                    "remove `prefix`",
                );
            }
        }
    }

    fn outputs(&mut self, model: &ModelMetadata, hardware: &HardwareTable) {
        if model.outputs.is_empty() && !model.is_component() && Self::runs_somewhere(model, hardware) {
            self.report(
                &[Step::Key("outputs")],
                "no outputs declared".into(),
                "declare at least one output the check compares",
            );
        }
        let mut names = BTreeSet::new();
        for (index, output) in model.outputs.iter().enumerate() {
            let at = |key| [Step::Key("outputs"), Step::Index(index), Step::Key(key)];
            if !is_safe_identifier(&output.name) {
                self.report(
                    &at("name"),
                    format!("output name `{}` is not a safe identifier", output.name.escape_debug()),
                    "use the field name of the HuggingFace output object",
                );
            } else if !names.insert(output.name.as_str()) {
                self.report(&at("name"), format!("output `{}` is declared twice", output.name), "each output once");
            }
            self.shape(model, &at("shape"), &output.shape, true);
        }
    }

    fn expectations(&mut self, model: &ModelMetadata, hardware: &HardwareTable) {
        self.expectation_map(&[Step::Key("hardware")], &model.hardware, hardware);
    }

    /// The `generation` section: a class name, the forward's prompt inputs, and expectations
    /// of hardware with a generation route only.
    fn generation(&mut self, model: &ModelMetadata, hardware: &HardwareTable) {
        let Some(generation) = &model.generation else { return };
        if !is_python_class_name(&generation.model_class) {
            self.report(
                &[Step::Key("generation"), Step::Key("model_class")],
                format!("generation.model_class `{}` is not a class name", generation.model_class.escape_debug()),
                "name a transformers class with a generation head, e.g. LlamaForCausalLM",
            );
        }
        let others = export_request::not_generated_from(model.inputs.iter().map(|i| i.name.as_str()));
        if !others.is_empty() || !model.inputs.iter().any(|i| i.name == "input_ids") {
            self.report(
                &[Step::Key("generation")],
                format!(
                    "generation needs prompts of `input_ids` (and a mask; an encoder-decoder's decoder ids) only; the inputs hold {}",
                    if others.is_empty() { "no input_ids".to_string() } else { others.join(", ") }
                ),
                "remove the section until prompts of such inputs are built",
            );
        }
        for id in generation.hardware.keys() {
            if hardware.hardware.iter().any(|entry| &entry.id == id && !entry.generation) {
                self.report(
                    &[Step::Key("generation"), Step::Key("hardware"), Step::Key(id)],
                    format!("{id} has no generation route yet (metadata/hardware.yaml: `generation: false`)"),
                    "remove it: no cell is generated there",
                );
            }
        }
        self.expectation_map(&[Step::Key("generation"), Step::Key("hardware")], &generation.hardware, hardware);
    }

    /// Checks one map of expectations by hardware id, found under `at`.
    fn expectation_map(&mut self, at: &[Step<'_>], map: &BTreeMap<String, Expectation>, hardware: &HardwareTable) {
        for (id, expectation) in map {
            let here = |key: Option<&'static str>| {
                let mut steps: Vec<Step<'_>> = at.to_vec();
                steps.push(Step::Key(id));
                if let Some(key) = key {
                    steps.push(Step::Key(key));
                }
                steps
            };
            if !hardware.hardware.iter().any(|entry| &entry.id == id) {
                let known: Vec<&str> = hardware.hardware.iter().map(|entry| entry.id.as_str()).collect();
                self.report(
                    &here(None),
                    format!("unknown hardware `{}`", id.escape_debug()),
                    format!("one of: {}", known.join(", ")),
                );
                continue;
            }
            let reason_empty = expectation.reason.as_deref().is_none_or(|reason| reason.trim().is_empty());
            if expectation.expected == ExpectedOutcome::Unsupported && reason_empty {
                self.report(
                    &here(Some("expected")),
                    format!("`unsupported` on {id} needs a reason"),
                    "add `reason:` with the concrete error",
                );
            }
            if let Some(reason) =
                expectation.reason.as_deref().filter(|reason| *reason != super::reason::normalise(reason))
            {
                self.report(
                    &here(Some("reason")),
                    format!("the reason on {id} carries machine or run detail (a second line, an absolute path, a measured number); generated code would change with the machine"),
                    format!("write it normalised: {:?} (`metadata expect` and the harvester write that form)", super::reason::normalise(reason)),
                );
            }
            if expectation.expected == ExpectedOutcome::Unsupported && expectation.category.is_none() {
                self.report(
                    &here(Some("expected")),
                    format!("`unsupported` on {id} needs a category"),
                    "add `category:` (one of the categories in docs/metadata-schema.md, e.g. torchscript)",
                );
            }
            if expectation.expected == ExpectedOutcome::Pass
                && (expectation.category.is_some() || expectation.reason.is_some())
            {
                self.report(
                    &here(Some("expected")),
                    format!("`pass` on {id} takes no category or reason"),
                    "remove them, or set `expected: unsupported`",
                );
            }
        }
    }
}
