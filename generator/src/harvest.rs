//! `generator metadata harvest`: writes or updates one metadata file per transformers model type.
//!
//! The Python harvester (`generator/harvester/harvest.py`, run in the project venv) reads
//! transformers' registries and probes each type tiny; it prints one JSON record per type.
//! This module turns records into [`ModelMetadata`], keeps what people curated, writes files
//! that changed (atomically) and `metadata/harvest.yaml` (version, counts, components).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::metadata::schema::{
    Dimension, Expectation, ExpectedOutcome, Family, HardwareTable, HarvestFacts, HfClasses, Input, Modality,
    ModelMetadata, Output, UnsupportedCategory,
};
use crate::metadata::validate::is_safe_identifier;

/// Fields the harvester never overwrites, curated or not.
const ALWAYS_KEPT: [&str; 5] = ["key_model", "curated", "tiny_overrides", "notes", "generation"];

/// What to harvest.
#[derive(Debug, Clone, Default)]
pub struct HarvestOptions {
    /// Only these model types (all when empty).
    pub only: Vec<String>,
    /// Probe worker processes (default: one per core).
    pub workers: Option<usize>,
}

/// What a harvest changed.
#[derive(Debug, Default)]
pub struct HarvestReport {
    /// Files written for the first time.
    pub created: Vec<String>,
    /// Files rewritten, with the top-level fields that changed.
    pub updated: Vec<(String, Vec<String>)>,
    /// Files already up to date.
    pub unchanged: usize,
    /// Model files whose type transformers no longer defines (left in place).
    pub stale: Vec<String>,
    /// transformers version read.
    pub transformers: String,
    /// Outcome counts: pass, unsupported per category, component.
    pub counts: BTreeMap<String, usize>,
}

/// One line of the Python harvester's output.
#[derive(Debug, Deserialize)]
struct Record {
    model_type: String,
    config_class: Option<String>,
    model_class: Option<String>,
    #[serde(default)]
    model_class_source: String,
    #[serde(default)]
    head_classes: Vec<String>,
    family: Option<String>,
    task: Option<String>,
    #[serde(default)]
    processors: Vec<String>,
    #[serde(default)]
    transformers: String,
    #[serde(default)]
    test_config: BTreeMap<String, Value>,
    parameters: Option<u64>,
    #[serde(default)]
    dims: BTreeMap<String, Dimension>,
    #[serde(default)]
    inputs: Vec<Input>,
    #[serde(default)]
    outputs: Vec<Output>,
    #[serde(default)]
    modality: Vec<String>,
    expected: Option<String>,
    category: Option<String>,
    reason: Option<String>,
    #[serde(default)]
    static_by_trace: Vec<String>,
    run_seed: Option<u64>,
    shrink_rule: Option<String>,
}

/// `metadata/harvest.yaml`: what the last harvest read, and the state of every model file after it.
#[derive(Debug, Serialize)]
struct HarvestSummary {
    transformers: String,
    model_types: usize,
    with_model_class: usize,
    /// CPU expectations of all model files after this harvest (`--only` included): pass,
    /// unsupported per category, component.
    cpu: BTreeMap<String, usize>,
    components: Vec<String>,
}

/// The summary key of one model file: `component`, `pass` or `unsupported: <category>`.
fn outcome_key(model: &ModelMetadata) -> String {
    match model.hardware.get("cpu") {
        _ if model.is_component() => "component".to_string(),
        Some(e) if e.expected == ExpectedOutcome::Unsupported => {
            format!("unsupported: {}", e.category.map(|c| crate::metadata::schema::yaml_name(&c)).unwrap_or_default())
        }
        _ => "pass".to_string(),
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(Value::String(text.to_string())).ok()
}

fn modality_of(record: &Record) -> Vec<Modality> {
    let mut found: Vec<Modality> = record.modality.iter().filter_map(|m| parse_enum(m)).collect();
    if found.is_empty() {
        // No inputs were planned: fall back on the processor kinds transformers registers.
        for (kind, modality) in [
            ("tokenizer", Modality::Text),
            ("image_processor", Modality::Vision),
            ("video_processor", Modality::Video),
            ("feature_extractor", Modality::Audio),
        ] {
            if record.processors.iter().any(|p| p == kind) {
                found.push(modality);
            }
        }
    }
    if found.is_empty() {
        found.push(Modality::Text);
    }
    found
}

/// Turns one harvester record into metadata (before curated fields are restored).
fn from_record(record: Record, hardware: &HardwareTable) -> Result<ModelMetadata> {
    let bad = |what: &str| Error::Harvest(format!("harvester record for `{}` has no {what}", record.model_type));
    let config_class = record.config_class.clone().ok_or_else(|| bad("config_class"))?;
    let display_name = config_class.strip_suffix("Config").unwrap_or(&config_class).to_string();
    let family = record.family.as_deref().and_then(parse_enum).unwrap_or(Family::Other);
    let mut expectations = BTreeMap::new();
    if record.model_class.is_some() {
        let expectation = match record.expected.as_deref() {
            Some("pass") => Expectation { expected: ExpectedOutcome::Pass, category: None, reason: None },
            _ => Expectation {
                expected: ExpectedOutcome::Unsupported,
                category: Some(record.category.as_deref().and_then(parse_enum).unwrap_or(UnsupportedCategory::Build)),
                reason: Some(crate::metadata::reason::normalise(
                    record.reason.as_deref().unwrap_or("the probe recorded no reason"),
                )),
            },
        };
        // The probe runs eager PyTorch and TorchScript: its verdict is the torch backends'.
        // Other engines' expectations come from their own runs and are kept (see `merge`).
        for entry in hardware.hardware.iter().filter(|h| h.generate && h.engine == "torch") {
            expectations.insert(entry.id.clone(), expectation.clone());
        }
    }
    let passes = record.expected.as_deref() == Some("pass");
    // Failures after the inputs ran eagerly (tracing, the varied set, a chaotic output) keep
    // them, so the runtime reproduces the failure in its recorded category.
    let ran_inputs = passes
        || matches!(
            record.category.as_deref(),
            Some("torchscript" | "trace-specialised" | "nondeterministic" | "chaotic" | "no-signal")
        );
    let modality = modality_of(&record);
    Ok(ModelMetadata {
        model_type: record.model_type,
        display_name,
        family,
        modality,
        task: record.task.unwrap_or_else(|| "feature-extraction".into()),
        key_model: false,
        curated: Vec::new(),
        hf: HfClasses {
            config_class,
            model_class: record.model_class,
            head_classes: record.head_classes,
            checkpoint: None,
        },
        test_config: record.test_config,
        tiny_overrides: BTreeMap::new(),
        // Inputs and outputs only where the probe ran the model through: a half-planned
        // model would otherwise claim inputs it never ran with.
        dimensions: if ran_inputs { record.dims } else { BTreeMap::new() },
        inputs: if ran_inputs { record.inputs } else { Vec::new() },
        outputs: if ran_inputs {
            record.outputs.into_iter().filter(|o| is_safe_identifier(&o.name)).collect()
        } else {
            Vec::new()
        },
        run_seed: if ran_inputs { record.run_seed } else { None },
        hardware: expectations,
        generation: None,
        notes: None,
        harvest: Some(HarvestFacts {
            model_class_source: record.model_class_source,
            processors: record.processors,
            parameters: record.parameters,
            static_by_trace: record.static_by_trace,
            shrink_rule: record.shrink_rule,
        }),
    })
}

/// Harvested metadata with curated and always-kept fields taken from the existing file.
fn merge(existing: &ModelMetadata, harvested: ModelMetadata, hardware: &HardwareTable) -> Result<ModelMetadata> {
    if existing.is_curated("all") {
        return Ok(existing.clone());
    }
    let harvested = keep_other_engines(existing, harvested, hardware);
    let mut merged = serde_json::to_value(&harvested).map_err(|e| Error::Harvest(e.to_string()))?;
    let old = serde_json::to_value(existing).map_err(|e| Error::Harvest(e.to_string()))?;
    let (Value::Object(merged_map), Value::Object(old_map)) = (&mut merged, &old) else {
        return Err(Error::Harvest("metadata does not serialise to a map".into()));
    };
    let keys: Vec<String> = merged_map.keys().chain(old_map.keys()).cloned().collect();
    for key in keys {
        if existing.is_curated(&key) || ALWAYS_KEPT.contains(&key.as_str()) {
            match old_map.get(&key) {
                Some(value) => merged_map.insert(key, value.clone()),
                None => merged_map.remove(&key),
            };
        }
    }
    let mut model: ModelMetadata =
        serde_json::from_value(merged).map_err(|e| Error::Harvest(format!("{}: {e}", existing.model_type)))?;
    if !existing.is_curated("hf") {
        model.hf.checkpoint = existing.hf.checkpoint.clone();
    }
    Ok(model)
}

/// The harvested model with the existing expectations of every hardware the probe does not
/// measure (engines other than torch, and hardware not in the table): those come from that
/// engine's own runs or a person, and re-harvesting must not overwrite them.
fn keep_other_engines(
    existing: &ModelMetadata,
    mut harvested: ModelMetadata,
    hardware: &HardwareTable,
) -> ModelMetadata {
    for (id, expectation) in &existing.hardware {
        let probed = hardware.hardware.iter().any(|h| &h.id == id && h.engine == "torch");
        if !probed {
            harvested.hardware.insert(id.clone(), expectation.clone());
        }
    }
    harvested
}

fn changed_fields(old: &ModelMetadata, new: &ModelMetadata) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return vec!["(all)".into()];
    };
    let mut keys: Vec<String> = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).cloned().collect();
    keys.sort();
    keys.dedup();
    keys
}

fn file_text(model: &ModelMetadata, transformers: &str) -> Result<String> {
    let body = serde_yaml::to_string(model).map_err(|e| Error::Harvest(format!("{}: {e}", model.model_type)))?;
    Ok(format!(
        "# Harvested from transformers {transformers} by `cargo run -p generator -- metadata harvest`.\n\
         # Re-harvesting rewrites every field except those listed under `curated:` (and key_model,\n\
         # tiny_overrides, notes, generation). See docs/adding-a-model.md.\n{body}"
    ))
}

fn python(root: &Path) -> PathBuf {
    std::env::var_os("HFZOO_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"))
}

/// Runs the Python harvester and collects its records (progress goes to stderr).
fn run_harvester(root: &Path, options: &HarvestOptions, overrides: &BTreeMap<String, Value>) -> Result<Vec<Record>> {
    let python = python(root);
    if !python.is_file() {
        return Err(Error::Harvest(format!("{} not found: run `bash scripts/setup.sh` first", python.display())));
    }
    let cache = root.join(".cache");
    std::fs::create_dir_all(&cache).map_err(Error::io("create directory", &cache))?;
    let overrides_file = cache.join("harvest-overrides.json");
    std::fs::write(&overrides_file, serde_json::to_vec(overrides).unwrap_or_default())
        .map_err(Error::io("write", &overrides_file))?;
    let script = root.join("generator/harvester/harvest.py");
    let mut command = Command::new(&python);
    command.arg(&script).arg("--overrides").arg(&overrides_file);
    if !options.only.is_empty() {
        command.arg("--only").arg(options.only.join(","));
    }
    if let Some(workers) = options.workers {
        command.arg("--workers").arg(workers.to_string());
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Harvest(format!("cannot start {} {}: {e}", python.display(), script.display())))?;
    let mut records = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| Error::Harvest(format!("reading harvester output: {e}")))?;
            records.push(
                serde_json::from_str::<Record>(&line)
                    .map_err(|e| Error::Harvest(format!("harvester printed an unreadable record ({e}): {line}")))?,
            );
        }
    }
    let status = child.wait().map_err(|e| Error::Harvest(e.to_string()))?;
    if !status.success() {
        return Err(Error::Harvest(format!(
            "{} exited with {status} (its stderr is above); no metadata was written",
            script.display()
        )));
    }
    Ok(records)
}

fn read_existing(path: &Path) -> Result<Option<ModelMetadata>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_yaml::from_str(&text).map(Some).map_err(|e| {
            Error::Harvest(format!("{}: {e}; fix it (`cargo run -p generator -- metadata validate`) before harvesting, so curated fields are not lost", path.display()))
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Error::io("read", path)(error)),
    }
}

/// Harvests, merges and writes; returns what changed.
pub fn harvest(root: &Path, hardware: &HardwareTable, options: &HarvestOptions) -> Result<HarvestReport> {
    let models_dir = root.join("metadata/models");
    let mut existing = BTreeMap::new();
    let mut overrides = BTreeMap::new();
    let entries = std::fs::read_dir(&models_dir).map_err(Error::io("read directory", &models_dir))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(stem) =
            path.file_stem().and_then(|s| s.to_str()).filter(|_| path.extension().is_some_and(|e| e == "yaml"))
        else {
            continue;
        };
        if let Some(model) = read_existing(&path)? {
            if !model.tiny_overrides.is_empty() {
                overrides.insert(stem.to_string(), serde_json::to_value(&model.tiny_overrides).unwrap_or_default());
            }
            existing.insert(stem.to_string(), model);
        }
    }
    let records = run_harvester(root, options, &overrides)?;
    let mut report = HarvestReport::default();
    let mut files = BTreeMap::new();
    let mut seen = Vec::new();
    let full = options.only.is_empty();
    // Every model file as it stands after this harvest: the summary describes all of them.
    let mut finals = if full { BTreeMap::new() } else { existing.clone() };
    for record in records {
        report.transformers = record.transformers.clone();
        let harvested = from_record(record, hardware)?;
        *report.counts.entry(outcome_key(&harvested)).or_default() += 1;
        let relative = format!("metadata/models/{}.yaml", harvested.model_type);
        seen.push(harvested.model_type.clone());
        let model = match existing.get(&harvested.model_type) {
            Some(old) => {
                let merged = merge(old, harvested, hardware)?;
                let changed = changed_fields(old, &merged);
                finals.insert(merged.model_type.clone(), merged.clone());
                if changed.is_empty() {
                    report.unchanged += 1;
                    continue;
                }
                report.updated.push((relative.clone(), changed));
                merged
            }
            None => {
                report.created.push(relative.clone());
                finals.insert(harvested.model_type.clone(), harvested.clone());
                harvested
            }
        };
        files.insert(relative, file_text(&model, &report.transformers)?);
    }
    if full {
        report.stale = existing.keys().filter(|k| !seen.contains(k)).cloned().collect();
    }
    let mut cpu = BTreeMap::new();
    for model in finals.values() {
        *cpu.entry(outcome_key(model)).or_default() += 1;
    }
    let components: Vec<String> = finals.values().filter(|m| m.is_component()).map(|m| m.model_type.clone()).collect();
    let summary = HarvestSummary {
        transformers: report.transformers.clone(),
        model_types: finals.len(),
        with_model_class: finals.len() - components.len(),
        cpu,
        components,
    };
    if !summary.transformers.is_empty() {
        let text = serde_yaml::to_string(&summary).map_err(|e| Error::Harvest(e.to_string()))?;
        files.insert(
            "metadata/harvest.yaml".to_string(),
            format!("# Written by `cargo run -p generator -- metadata harvest`; do not edit.\n{text}"),
        );
    }
    crate::write::write(root, &files, false)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> HardwareTable {
        serde_yaml::from_str(
            "hardware:\n  - {id: cpu, name: CPU, feature: cpu, engine: torch, variant: Cpu, detection: x, route: x, static_shapes: false, export_device: cpu, typed_skill: all, generation: true, generate: true}\n  - {id: openvino, name: OpenVINO, feature: openvino, engine: openvino, variant: Openvino, detection: x, route: x, static_shapes: false, export_device: cpu, typed_skill: all, generation: true, generate: true}\n",
        )
        .expect("table")
    }

    fn model(hardware: &str) -> ModelMetadata {
        serde_yaml::from_str(&format!(
            "model_type: m\ndisplay_name: M\nfamily: encoder-only\nmodality: [text]\ntask: feature-extraction\nhf: {{config_class: MConfig, model_class: MModel}}\nhardware:\n{hardware}"
        ))
        .expect("model")
    }

    #[test]
    fn reharvesting_keeps_expectations_of_engines_the_probe_does_not_run() {
        let existing = model("  cpu: {expected: pass}\n  openvino: {expected: unsupported, category: onnx-export, reason: 'aten::foo'}\n");
        let harvested = model("  cpu: {expected: unsupported, category: torchscript, reason: new}\n");
        let merged = merge(&existing, harvested, &table()).expect("merge");
        assert_eq!(
            merged.hardware["cpu"].category,
            Some(UnsupportedCategory::Torchscript),
            "the probe's verdict replaces the torch backends'"
        );
        let openvino = &merged.hardware["openvino"];
        assert_eq!(openvino.category, Some(UnsupportedCategory::OnnxExport));
        assert_eq!(openvino.reason.as_deref(), Some("aten::foo"));
    }
}
