//! The no-op fast path: when nothing the generator reads has changed since its last complete
//! run, and nothing it wrote has been touched since, a full `--all` or `--check` has nothing
//! to do. The state (a hash of every input, and the size and modification time of every output)
//! lives in `.cache/generator-state.json`; it is only a shortcut: without it, or on any
//! difference, the generator renders everything and compares as before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What one complete run saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Hash of the generator binary's identity and every input file.
    pub inputs: String,
    /// Every output file: path relative to the root -> (size, modified ns since the epoch).
    pub outputs: BTreeMap<String, (u64, u128)>,
}

/// Where the state lives under `root`.
pub fn path(root: &Path) -> PathBuf {
    root.join(".cache/generator-state.json")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Hash of everything a generation reads: the generator binary (size and time: a rebuilt
/// generator renders anew), `metadata/`, `templates/`, `generated/Cargo.toml` and
/// `.config/nextest.toml` (the last two keep a hand-written header).
pub fn inputs(root: &Path) -> String {
    let mut files = Vec::new();
    files_under(&root.join("metadata"), &mut files);
    files_under(&root.join("templates"), &mut files);
    files.push(root.join("generated/Cargo.toml"));
    files.push(root.join(".config/nextest.toml"));
    files.sort();
    let mut hasher = Sha256::new();
    if let Some(meta) = std::env::current_exe().ok().and_then(|exe| std::fs::metadata(exe).ok()) {
        hasher.update(meta.len().to_le_bytes());
        hasher.update(modified_ns(&meta).to_le_bytes());
    }
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let name = crate::metadata::display_path(root, &file);
        for part in [name.as_bytes(), &bytes] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
    }
    hex::encode(hasher.finalize())
}

fn modified_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Size and time of each output as it is on disk now (`None` for a missing file).
pub fn stamp(root: &Path, paths: impl IntoIterator<Item = String>) -> Option<BTreeMap<String, (u64, u128)>> {
    paths.into_iter().map(|p| std::fs::metadata(root.join(&p)).ok().map(|m| (p, (m.len(), modified_ns(&m))))).collect()
}

/// The saved state, if any and readable.
pub fn load(root: &Path) -> Option<State> {
    serde_json::from_str(&std::fs::read_to_string(path(root)).ok()?).ok()
}

/// Saves the state (atomically); a failure only costs the next run its shortcut.
pub fn save(root: &Path, state: &State) {
    let file = path(root);
    let tmp = file.with_extension("json.tmp");
    if let Some(parent) = file.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if std::fs::write(&tmp, serde_json::to_string(state).unwrap_or_default()).is_ok() {
        let _ = std::fs::rename(&tmp, &file);
    }
}

/// Whether the last complete run's outputs are exactly what is on disk, with unchanged inputs:
/// the same input hash, every recorded output untouched, and no other generated source.
pub fn is_fresh(root: &Path, inputs: &str, generated_sources: &[String]) -> Option<usize> {
    let state = load(root)?;
    if state.inputs != inputs {
        return None;
    }
    let sources_recorded = state.outputs.keys().filter(|p| crate::write::is_owned_source(p)).count();
    if generated_sources.len() != sources_recorded || generated_sources.iter().any(|p| !state.outputs.contains_key(p)) {
        return None;
    }
    let now = stamp(root, state.outputs.keys().cloned())?;
    (now == state.outputs).then_some(now.len())
}
