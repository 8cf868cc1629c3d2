//! Where the runtime finds the project, the venv, the exporter, the cache and the results.
//!
//! Defaults are relative to the checkout the runtime was built in; each can be overridden
//! by an environment variable for machines that keep caches or results elsewhere.

use std::path::{Path, PathBuf};

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Repository root (`HFZOO_ROOT`, else the checkout this crate was built in).
pub fn root() -> PathBuf {
    env_path("HFZOO_ROOT").unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("runtime lives in the workspace").to_path_buf()
    })
}

/// Environment variable that moves the user-level cache root.
pub const CACHE_ENV: &str = "HFZOO_CACHE_DIR";

/// The user-level cache every checkout shares (`HFZOO_CACHE_DIR`, else
/// `${XDG_CACHE_HOME:-~/.cache}/hfzoo`, where Hugging Face keeps its hub cache too; without
/// a home directory, `<root>/.cache/hfzoo`). Everything in it is keyed by content.
pub fn cache_root() -> PathBuf {
    env_path(CACHE_ENV).unwrap_or_else(|| {
        user_cache_root(env_path("XDG_CACHE_HOME"), env_path("HOME")).unwrap_or_else(|| root().join(".cache/hfzoo"))
    })
}

/// `$XDG_CACHE_HOME/hfzoo`, else `$HOME/.cache/hfzoo` (relative values are ignored, as the
/// XDG base directory specification says).
fn user_cache_root(xdg_cache_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let xdg = xdg_cache_home.filter(|p| p.is_absolute());
    let base = xdg.or_else(|| home.filter(|p| p.is_absolute()).map(|home| home.join(".cache")))?;
    Some(base.join("hfzoo"))
}

/// Artifact cache: `<cache root>/artifacts`, content-addressed.
pub fn cache_dir() -> PathBuf {
    cache_root().join("artifacts")
}

/// Artifacts of local checkpoints: `<cache root>/checkpoints`, keyed by the checkpoint's
/// content; apart from the tiny artifacts, so pruning those never removes them.
pub fn checkpoint_cache_dir() -> PathBuf {
    cache_root().join("checkpoints")
}

/// OpenVINO's compiled-model cache (its `CACHE_DIR`): `<cache root>/openvino`.
pub fn openvino_cache_dir() -> PathBuf {
    cache_root().join("openvino")
}

/// Results folder holding the spool and the database (`HFZOO_RESULTS_DIR`, else `<root>/results`).
pub fn results_dir() -> PathBuf {
    env_path("HFZOO_RESULTS_DIR").unwrap_or_else(|| root().join("results"))
}

/// Python of the project venv (`HFZOO_PYTHON`, else `<root>/.venv/bin/python`).
pub fn python() -> PathBuf {
    env_path("HFZOO_PYTHON").unwrap_or_else(|| root().join(".venv/bin/python"))
}

/// The batch exporter script.
pub fn exporter() -> PathBuf {
    root().join("runtime/exporter/export.py")
}

/// The exporter of local checkpoints (the batch exporter, loading weights from a directory).
pub fn checkpoint_exporter() -> PathBuf {
    root().join("runtime/exporter/checkpoint_export.py")
}

/// The libtorch directory tch was built against (the torch package in the venv).
pub fn libtorch() -> Option<PathBuf> {
    option_env!("LIBTORCH").map(PathBuf::from)
}

/// torch version from the linked libtorch's `version.py`, e.g. `2.13.0+cu130`.
pub fn torch_version() -> String {
    libtorch()
        .and_then(|dir| std::fs::read_to_string(dir.join("version.py")).ok())
        .and_then(|text| python_string_assignment(&text, "__version__"))
        .unwrap_or_else(|| "unknown".into())
}

/// Whether the linked libtorch is a ROCm (HIP) build, from `version.py`.
pub fn torch_hip_version() -> Option<String> {
    let text = std::fs::read_to_string(libtorch()?.join("version.py")).ok()?;
    python_string_assignment(&text, "hip")
}

/// The `.dist-info` folders of the Python distributions installed next to torch
/// (`torch-2.x.dist-info`), unsorted; empty without a venv.
pub fn python_distributions() -> Vec<String> {
    let site = libtorch().and_then(|dir| dir.parent().map(Path::to_path_buf));
    site.and_then(|site| std::fs::read_dir(site).ok())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|file| file.ends_with(".dist-info"))
        .collect()
}

/// Version of a Python distribution installed next to torch (from its `.dist-info` folder).
pub fn python_package_version(name: &str) -> String {
    let prefix = format!("{name}-");
    python_distributions()
        .iter()
        .find_map(|file| file.strip_prefix(&prefix)?.strip_suffix(".dist-info").map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// Value of `name = '...'` in a Python source file; `None` for `None` or absent.
fn python_string_assignment(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim() != name {
            return None;
        }
        let value = value.trim().split(':').next()?.trim();
        let value = value.trim_matches(|c| c == '\'' || c == '"');
        (value != "None" && !value.is_empty()).then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{python_string_assignment, user_cache_root};

    #[test]
    fn user_cache_follows_xdg_then_home() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(user_cache_root(p("/x/cache"), p("/home/u")), p("/x/cache/hfzoo"));
        assert_eq!(user_cache_root(None, p("/home/u")), p("/home/u/.cache/hfzoo"));
        assert_eq!(user_cache_root(p("relative"), p("/home/u")), p("/home/u/.cache/hfzoo"));
        assert_eq!(user_cache_root(None, None), None);
    }

    #[test]
    fn reads_version_assignments_and_none() {
        let text = "__version__ = '2.13.0+cu130'\ncuda: Optional[str] = '13.0'\nhip: Optional[str] = None\n";
        assert_eq!(python_string_assignment(text, "__version__").as_deref(), Some("2.13.0+cu130"));
        assert_eq!(python_string_assignment(text, "hip"), None);
        assert_eq!(python_string_assignment(text, "missing"), None);
    }
}
