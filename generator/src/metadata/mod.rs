//! Loads and validates `metadata/`: one YAML file per model type plus `hardware.yaml` and
//! `tiers.yaml`.

pub mod locate;
pub mod reason;
pub mod schema;
pub mod tiers;
pub mod validate;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Diagnostic, Diagnostics, Error, Result};
pub use schema::{HardwareEntry, HardwareTable, ModelMetadata};

/// A parsed and validated model file with where it came from.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// Path relative to the repository root, with `/` separators.
    pub source: String,
    /// Parsed contents.
    pub model: ModelMetadata,
}

/// All metadata of the repository, validated.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// Backends from `hardware.yaml`.
    pub hardware: HardwareTable,
    /// Model files sorted by model type.
    pub models: Vec<ModelFile>,
    /// Test tiers from `tiers.yaml`.
    pub tiers: tiers::Tiers,
}

impl Metadata {
    /// Reads and checks `<root>/metadata/hardware.yaml` alone.
    pub fn load_hardware(root: &Path) -> Result<HardwareTable> {
        let mut problems = Vec::new();
        let hardware_path = root.join("metadata/hardware.yaml");
        let Some((hardware, text)) = parse_file::<HardwareTable>(root, &hardware_path, &mut problems) else {
            return Err(Error::Metadata(Diagnostics(problems)));
        };
        problems.extend(validate::check_hardware(&display_path(root, &hardware_path), &text, &hardware));
        if !problems.is_empty() {
            return Err(Error::Metadata(Diagnostics(problems)));
        }
        Ok(hardware)
    }

    /// Reads `<root>/metadata`, reporting every problem in every file at once.
    pub fn load(root: &Path) -> Result<Self> {
        let dir = root.join("metadata");
        let mut problems = Vec::new();
        let hardware = Self::load_hardware(root)?;
        // Every file read once, parsed and validated in parallel; problems kept per file.
        let parsed: Vec<(Option<ModelFile>, Vec<Diagnostic>)> = model_paths(&dir.join("models"))?
            .par_iter()
            .map(|path| {
                let mut found = Vec::new();
                let source = display_path(root, path);
                let Some((model, text)) = parse_file::<ModelMetadata>(root, path, &mut found) else {
                    return (None, found);
                };
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
                found.extend(validate::Validator::new(&source, &text).check(&model, &stem, &hardware));
                (Some(ModelFile { source, model }), found)
            })
            .collect();
        let mut models = Vec::new();
        for (model, found) in parsed {
            problems.extend(found);
            models.extend(model);
        }
        if models.is_empty() && problems.is_empty() {
            problems.push(Diagnostic {
                file: display_path(root, &dir.join("models")),
                line: 0,
                column: 0,
                field: String::new(),
                message: "no model files found".into(),
                hint: "add metadata/models/<model_type>.yaml (see docs/adding-a-model.md)".into(),
            });
        }
        if !problems.is_empty() {
            problems.sort();
            return Err(Error::Metadata(Diagnostics(problems)));
        }
        models.sort_by(|a, b| a.model.model_type.cmp(&b.model.model_type));
        let mut modules = std::collections::BTreeMap::new();
        for file in &models {
            if let Some(other) = modules.insert(file.model.module_name(), &file.source) {
                problems.push(Diagnostic {
                    file: file.source.clone(),
                    line: 1,
                    column: 1,
                    field: "model_type".into(),
                    message: format!(
                        "model_type `{}` makes the same Rust module name as {other}",
                        file.model.model_type
                    ),
                    hint: "model types may differ in more than `-` versus `_`".into(),
                });
            }
        }
        let tiers_path = root.join("metadata/tiers.yaml");
        let tiers = parse_file::<tiers::Tiers>(root, &tiers_path, &mut problems);
        if let Some((tiers, text)) = &tiers {
            problems.extend(validate::check_tiers(&display_path(root, &tiers_path), text, tiers, &models, &hardware));
        }
        if !problems.is_empty() {
            return Err(Error::Metadata(Diagnostics(problems)));
        }
        let tiers = tiers.expect("a missing tiers file is a problem above").0;
        Ok(Self { hardware, models, tiers })
    }

    /// The smoke tier's model types (see [`tiers::resolve_smoke`]).
    pub fn smoke_set(&self) -> Vec<String> {
        let modelled: Vec<&ModelFile> = self.modelled().collect();
        tiers::resolve_smoke(&self.tiers, &modelled)
    }

    /// The smoke tier's slow cells as test-name prefixes (see [`tiers::slow_cells`]).
    pub fn slow_cells(&self) -> Vec<String> {
        tiers::slow_cells(&self.tiers, |model_type| {
            self.models.iter().find(|file| file.model.model_type == model_type).map(|file| file.model.module_name())
        })
    }

    /// What the smoke profile selects of the generated crate, for the smoke set `smoke`.
    pub fn smoke_profile(&self, smoke: &[String]) -> tiers::SmokeProfile {
        let modules = |key_only: bool| {
            self.modelled()
                .filter(|f| smoke.contains(&f.model.model_type) && (f.model.key_model || !key_only))
                .map(|f| f.model.module_name())
                .collect()
        };
        tiers::SmokeProfile {
            modules: modules(false),
            key_modules: modules(true),
            key_models_only: self.tiers.smoke.key_models_only.clone(),
            without_typed_skill: self.tiers.smoke.without_typed_skill.clone(),
            without_generation: self.tiers.smoke.without_generation.clone(),
            slow_cells: self.slow_cells(),
        }
    }

    /// Model files that get modules: every file but components (no standalone model class).
    pub fn modelled(&self) -> impl Iterator<Item = &ModelFile> {
        self.models.iter().filter(|file| !file.model.is_component())
    }

    /// Backends that get generated modules now.
    pub fn generated_hardware(&self) -> impl Iterator<Item = &HardwareEntry> {
        self.hardware.hardware.iter().filter(|entry| entry.generate)
    }
}

fn model_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(Error::io("read directory", dir))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Path relative to `root` for messages and generated headers (never absolute).
pub fn display_path(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

/// The file parsed, with its text (for positions in later diagnostics).
fn parse_file<T: serde::de::DeserializeOwned>(
    root: &Path,
    path: &Path,
    problems: &mut Vec<Diagnostic>,
) -> Option<(T, String)> {
    let file = display_path(root, path);
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            problems.push(Diagnostic {
                file,
                line: 0,
                column: 0,
                field: String::new(),
                message: format!("cannot read file: {error}"),
                hint: "check that the file exists and is UTF-8 text".into(),
            });
            return None;
        }
    };
    match serde_yaml::from_str::<T>(&text) {
        Ok(value) => Some((value, text)),
        Err(error) => {
            let (line, column) = error.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            let message = without_first_position(&error.to_string());
            let field = field_of(&message);
            problems.push(Diagnostic { file, line, column, field, hint: hint_for(&message), message });
            None
        }
    }
}

/// Drops the first " at line X column Y" (the arrow line already shows it) and keeps any
/// further context such as "while scanning a quoted scalar at line 2 column 15".
fn without_first_position(message: &str) -> String {
    let Some(start) = message.find(" at line ") else { return message.to_string() };
    let rest = &message[start + " at line ".len()..];
    let Some(column) = rest.find("column ") else { return message.to_string() };
    let after = &rest[column + "column ".len()..];
    let digits = after.chars().take_while(char::is_ascii_digit).count();
    format!("{}{}", &message[..start], &after[digits..])
}

/// The field a serde_yaml message is about: its `path:` prefix, or the backticked name of a
/// missing field.
fn field_of(message: &str) -> String {
    if let Some(path) = message.split(':').next().filter(|p| !p.contains(' ')) {
        return path.to_string();
    }
    message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()).unwrap_or_default().to_string()
}

fn hint_for(message: &str) -> String {
    if message.contains("unknown field") {
        "remove the field or fix its spelling; docs/metadata-schema.md lists every field".into()
    } else if message.contains("unknown variant") {
        "use one of the values the message lists".into()
    } else if message.contains("missing field") {
        "add the field; docs/metadata-schema.md says what it holds".into()
    } else {
        "fix the YAML at the position shown; docs/metadata-schema.md describes the format".into()
    }
}
