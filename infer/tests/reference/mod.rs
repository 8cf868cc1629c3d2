//! Python's side of the skill tests (`skill_reference.py`): a checkpoint made the way a user has
//! one and what Python transformers computes on it, kept in the user's cache. The script is
//! seeded (the same files and numbers every run), so its result is keyed by everything it
//! depends on: the script's bytes, the kind, the texts, the Python interpreter and every
//! installed package's version (not the checkout: clones share it). A changed script or package makes it again; `HFZOO_CACHE_DIR` moves it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The script that makes the checkpoints and their references.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/skill_reference.py")
}

/// The interpreter (the file the venv's `python` resolves to: its version) and every installed Python
/// package with its version (the `.dist-info` folders beside torch). Not the venv's own path:
/// another clone's venv of the same packages keys the same results.
fn python_environment() -> String {
    let interpreter =
        std::fs::canonicalize(runtime::paths::python()).map(|t| t.display().to_string()).unwrap_or_default();
    let mut packages = runtime::paths::python_distributions();
    packages.sort();
    format!("{interpreter}\n{}", packages.join("\n"))
}

/// The key of the script's result for `kind` on `texts`.
fn key(kind: &str, texts: &[&str]) -> String {
    let mut hash = Sha256::new();
    hash.update(std::fs::read(script()).expect("the reference script is there"));
    for part in [kind, &texts.join("\u{0}"), &python_environment()] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    format!("{kind}-{}", &hex::encode(hash.finalize())[..24])
}

/// Runs the script: the checkpoint of `kind` in `dir` (and its images, audio or videos beside
/// it), and Python's results as JSON text.
fn run_script(kind: &str, dir: &Path, texts: &[&str]) -> String {
    let output = Command::new(runtime::paths::python())
        .arg(script())
        .arg(kind)
        .arg(dir)
        .args(texts)
        .output()
        .expect("the venv's python runs (bash scripts/setup.sh)");
    assert!(
        output.status.success(),
        "{} {kind} failed: {}",
        script().display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the reference script prints UTF-8")
}

/// Copies the files of `from` (one level of folders below it too: a video's frames) to `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Folder names the script writes: the checkpoint `<kind>` and its `<kind>-images` and the like.
fn made_by(kind: &str, name: &str) -> bool {
    name == kind || name.strip_prefix(kind).is_some_and(|rest| rest.starts_with('-'))
}

/// The checkpoint of `kind` in `dir` (its images, audio or videos beside it, as `dir-images`
/// and the like) and Python's results on `texts`: copied from the user's cache where kept,
/// else made by the script and kept there (in a folder of its own, renamed into place whole:
/// a reader never sees half of it). Two tests that want the same result at once make it once:
/// the second waits for the first under the result's lock file.
pub fn python_reference(kind: &str, dir: &Path, texts: &[&str]) -> Value {
    let kept = runtime::paths::cache_root().join("skill-references").join(key(kind, texts));
    let parent = kept.parent().unwrap();
    std::fs::create_dir_all(parent).unwrap();
    let lock = std::fs::File::create(kept.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if !kept.join("expected.json").is_file() {
        let staging = tempfile::tempdir_in(parent).unwrap();
        let made = staging.path().join("made");
        let text = run_script(kind, &made.join(kind), texts);
        // Paths in the results name the folder they were made in: kept relative to it.
        let text = text.replace(&made.join(kind).display().to_string(), "@CHECKPOINT@");
        std::fs::write(made.join("expected.json"), text).unwrap();
        // Another clone's test may have kept the same result meanwhile: either copy is the same.
        let _ = std::fs::rename(&made, &kept);
    }
    drop(lock);
    for entry in std::fs::read_dir(&kept).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if made_by(kind, &name) {
            let target = format!("{}{}", dir.display(), &name[kind.len()..]);
            copy_tree(&kept.join(&name), Path::new(&target));
        }
    }
    let text = std::fs::read_to_string(kept.join("expected.json")).unwrap();
    serde_json::from_str(&text.replace("@CHECKPOINT@", &dir.display().to_string()))
        .expect("the reference script prints JSON")
}
