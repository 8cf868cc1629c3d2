//! Published sizes: for a generating key model, the configurations of released checkpoints of its
//! architecture that fit this machine (`bench/published-configs.yaml`), each with its source. The
//! benchmark makes one with random weights (`--config NAME`) where the config class's default
//! would not fit (llama's and qwen2's defaults are 7B).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use runtime::error::{Error, Result};

/// The file, relative to the checkout.
pub const FILE: &str = "bench/published-configs.yaml";

/// One released checkpoint's architecture.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedConfig {
    /// Its name, as `--config` takes it (`SmolLM2-135M`).
    pub name: String,
    /// Where its values are from: the checkpoint's repository and file.
    pub source: String,
    /// Its parameter count as its authors state it, for the reader (`135M`).
    pub parameters: String,
    /// The config fields that differ from the config class's defaults, as `config.json` has them.
    pub config: serde_json::Map<String, serde_json::Value>,
}

/// Every model type's published configurations, in the file's order.
pub type PublishedConfigs = BTreeMap<String, Vec<PublishedConfig>>;

/// Reads and checks the file at `path`: names unique per model type, a source and a config each.
pub fn read(path: &Path) -> Result<PublishedConfigs> {
    let text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
    parse(&text, path)
}

/// [`read`] on `text` (named `path` in errors).
pub fn parse(text: &str, path: &Path) -> Result<PublishedConfigs> {
    let configs: PublishedConfigs = serde_yaml::from_str(text).map_err(|e| {
        Error::InvalidArgument(format!(
            "{}: {e} (each model type lists entries of name, source, parameters and config)",
            path.display()
        ))
    })?;
    for (model, entries) in &configs {
        for (index, entry) in entries.iter().enumerate() {
            let at = format!("{}: {model}[{index}]", path.display());
            if entry.name.trim().is_empty() || entry.source.trim().is_empty() {
                return Err(Error::InvalidArgument(format!("{at}: `name` and `source` must not be empty")));
            }
            if !entry.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(Error::InvalidArgument(format!(
                    "{at}: name `{}` may hold letters, digits, `-`, `_` and `.` only (it names a folder)",
                    entry.name.escape_debug()
                )));
            }
            if entries[..index].iter().any(|other| other.name == entry.name) {
                return Err(Error::InvalidArgument(format!("{at}: `{}` is listed twice", entry.name)));
            }
            if entry.config.is_empty() {
                return Err(Error::InvalidArgument(format!("{at}: `config` is empty (that is the default size)")));
            }
        }
    }
    Ok(configs)
}

/// The checkout's file ([`FILE`]).
pub fn path() -> PathBuf {
    runtime::paths::root().join(FILE)
}

/// The configuration `name` of `model`, or an error listing the names there are.
pub fn find<'a>(configs: &'a PublishedConfigs, model: &str, name: &str) -> Result<&'a PublishedConfig> {
    let entries = configs.get(model).map(Vec::as_slice).unwrap_or_default();
    entries.iter().find(|entry| entry.name == name).ok_or_else(|| {
        let known: Vec<&str> = entries.iter().map(|entry| entry.name.as_str()).collect();
        Error::InvalidArgument(if known.is_empty() {
            format!("{FILE} lists no published configuration of `{model}`; add one (name, source, parameters, config)")
        } else {
            format!("`{name}` is not a published configuration of `{model}` in {FILE} (there: {})", known.join(", "))
        })
    })
}

/// Picks, for each model, the one name of `names` that is its configuration (none: the default
/// size). A name that is no listed model's configuration, or two names for one model, is an error.
pub fn choose(configs: &PublishedConfigs, models: &[String], names: &[String]) -> Result<Vec<Option<PublishedConfig>>> {
    for name in names {
        if !models.iter().any(|model| configs.get(model).is_some_and(|entries| entries.iter().any(|e| &e.name == name)))
        {
            let listed: Vec<String> = models
                .iter()
                .flat_map(|model| configs.get(model).into_iter().flatten().map(move |e| format!("{model}: {}", e.name)))
                .collect();
            return Err(Error::InvalidArgument(format!(
                "--config {name}: none of the models asked for ({}) has it in {FILE} (listed: {})",
                models.join(", "),
                if listed.is_empty() { "none".to_string() } else { listed.join(", ") }
            )));
        }
    }
    models
        .iter()
        .map(|model| {
            let mine: Vec<&String> = names.iter().filter(|name| find(configs, model, name).is_ok()).collect();
            match mine.as_slice() {
                [] => Ok(None),
                [name] => find(configs, model, name).cloned().map(Some),
                several => Err(Error::InvalidArgument(format!(
                    "--config names {} configurations of `{model}` ({}); run them one at a time",
                    several.len(),
                    several.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ))),
            }
        })
        .collect()
}

/// A model type with the published configuration it was made at (`llama (SmolLM2-135M)`).
pub fn label(model: &str, config: Option<&str>) -> String {
    match config {
        Some(config) => format!("{model} ({config})"),
        None => model.to_string(),
    }
}
