//! Per-hardware expectations from an engine's own run: `metadata expect --hardware H --from FILE`
//! reads the JSON lines `hfzoo expectations --hardware H` prints (one per model: `pass`, or
//! `unsupported` with the failure's category and first error line) and writes them into
//! `hardware.<H>` of each model file. Files that curate `hardware` (or `all`) are left alone
//! and listed; nothing else in a file changes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metadata::schema::{Expectation, ExpectedOutcome, ModelMetadata, UnsupportedCategory};

/// One line of `hfzoo expectations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observed {
    /// Model type.
    pub model_type: String,
    /// `pass` or `unsupported`.
    pub expected: ExpectedOutcome,
    /// The failure's category (with `unsupported`).
    #[serde(default)]
    pub category: Option<UnsupportedCategory>,
    /// The first error line (with `unsupported`).
    #[serde(default)]
    pub reason: Option<String>,
    /// The cell kind (`generate` writes `generation.hardware.<H>`); absent: the forward cell.
    #[serde(default)]
    pub kind: Option<String>,
}

/// What `apply` changed.
#[derive(Debug, Default)]
pub struct ExpectReport {
    /// Files whose expectation changed.
    pub changed: Vec<String>,
    /// Files already holding the observed expectation.
    pub unchanged: usize,
    /// Files a person curates (`curated: [hardware]` or `[all]`): not written.
    pub curated: Vec<String>,
    /// Model types in the input with no metadata file (or, for a generation cell, no
    /// `generation` section).
    pub unknown: Vec<String>,
}

/// Parses the JSON lines of `hfzoo expectations`, naming the line of any error.
pub fn parse(text: &str, source: &Path) -> Result<Vec<Observed>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let observed: Observed = serde_json::from_str(line)
                .map_err(|e| Error::Harvest(format!("{}:{}: {e}", source.display(), index + 1)))?;
            if !matches!(observed.kind.as_deref(), None | Some("forward" | "generate")) {
                return Err(Error::Harvest(format!(
                    "{}:{}: unknown kind {:?} (forward, generate)",
                    source.display(),
                    index + 1,
                    observed.kind.as_deref().unwrap_or_default()
                )));
            }
            if observed.expected == ExpectedOutcome::Unsupported
                && (observed.category.is_none() || observed.reason.is_none())
            {
                return Err(Error::Harvest(format!(
                    "{}:{}: `unsupported` needs a category and a reason",
                    source.display(),
                    index + 1
                )));
            }
            Ok(observed)
        })
        .collect()
}

/// The expectation a model file should hold for an observation.
fn expectation(observed: &Observed) -> Expectation {
    match observed.expected {
        ExpectedOutcome::Pass => Expectation { expected: ExpectedOutcome::Pass, category: None, reason: None },
        ExpectedOutcome::Unsupported => Expectation {
            expected: ExpectedOutcome::Unsupported,
            category: observed.category,
            reason: observed.reason.as_deref().map(crate::metadata::reason::normalise),
        },
    }
}

/// Writes the observed expectations of `hardware` into `metadata/models/*.yaml` under `root`.
pub fn apply(root: &Path, hardware: &str, observed: &[Observed]) -> Result<ExpectReport> {
    let mut report = ExpectReport::default();
    let by_model: BTreeMap<(&str, bool), &Observed> =
        observed.iter().map(|o| ((o.model_type.as_str(), o.kind.as_deref() == Some("generate")), o)).collect();
    for ((model_type, generate), observed) in by_model {
        let path = root.join("metadata/models").join(format!("{model_type}.yaml"));
        let source = format!("metadata/models/{model_type}.yaml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            report.unknown.push(model_type.to_string());
            continue;
        };
        let mut model: ModelMetadata = serde_yaml::from_str(&text).map_err(|e| {
            Error::Harvest(format!("{source}: {e}; fix it (`cargo run -p generator -- metadata validate`) first"))
        })?;
        if model.is_curated("hardware") {
            report.curated.push(source);
            continue;
        }
        let wanted = expectation(observed);
        let map = match (generate, model.generation.as_mut()) {
            (false, _) => &mut model.hardware,
            (true, Some(generation)) => &mut generation.hardware,
            (true, None) => {
                report.unknown.push(format!("{model_type} (no generation section)"));
                continue;
            }
        };
        // A generation cell's `pass` is the default: written as an absent entry.
        let held = map.get(hardware).cloned();
        if held.as_ref() == Some(&wanted) || (generate && held.is_none() && wanted.expected == ExpectedOutcome::Pass) {
            report.unchanged += 1;
            continue;
        }
        if generate && wanted.expected == ExpectedOutcome::Pass {
            map.remove(hardware);
        } else {
            map.insert(hardware.to_string(), wanted);
        }
        let header: String =
            text.lines().take_while(|line| line.starts_with('#')).map(|line| format!("{line}\n")).collect();
        let body = serde_yaml::to_string(&model).map_err(|e| Error::Harvest(format!("{source}: {e}")))?;
        let tmp = path.with_extension("yaml.tmp");
        std::fs::write(&tmp, format!("{header}{body}"))
            .map_err(|e| Error::Harvest(format!("write {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::Harvest(format!("rename {}: {e}", path.display())))?;
        report.changed.push(source);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_lines_need_a_category_and_reason() {
        let path = Path::new("x.jsonl");
        let ok = parse("{\"model_type\":\"bert\",\"expected\":\"pass\"}\n\n{\"model_type\":\"gpt2\",\"expected\":\"unsupported\",\"category\":\"onnx-export\",\"reason\":\"aten::foo\"}\n", path).expect("valid");
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].category, Some(UnsupportedCategory::OnnxExport));
        let error =
            parse("{\"model_type\":\"gpt2\",\"expected\":\"unsupported\"}", path).expect_err("no category").to_string();
        assert!(error.contains("x.jsonl:1") && error.contains("category"), "{error}");
        let error = parse("{\"model_type\":\"gpt2\",\"expected\":\"pass\",\"extra\":1}", path)
            .expect_err("unknown field")
            .to_string();
        assert!(error.contains("extra"), "{error}");
    }
}
