//! Verdicts cached by content, as Bazel caches test results: each cell (model x hardware)
//! gets a digest of everything its verdict depends on, and a run that asks for reuse
//! (`HFZOO_REUSE_VERDICTS=1`, what `scripts/main.sh` sets unless `--full`) records a cell whose
//! digest has a stored verdict as `reused`, naming the run and commit that measured it, instead
//! of running it again.
//!
//! The digest covers: the hardware and what detection found (available, device, version,
//! reason) and whether `HFZOO_REQUIRE_HARDWARE` names it; the model's exporter request and its
//! metadata expectation; the engine, its settings and its precision; the artifact that would
//! run (format, key: which covers the exporter's files and pinned packages, and a digest of
//! every file in it), or the export failure recorded instead; the parity rule; and the
//! runtime's check code (a hash of its sources, `build.rs`). Change any of them and the cell
//! runs again.
//!
//! Only fresh, non-failing verdicts are stored (a failure always runs again), each as the
//! result record of the run that measured it, under the user-level cache
//! (`<cache root>/verdicts`), so every checkout on the machine shares them.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::artifacts::{Artifact, ArtifactCache};
use crate::backend;
use crate::backend::detect;
use crate::error::{Error, Result};
use crate::hardware::Detection;
use crate::measure::now_ms;
use crate::results::record::{cell_result_id, OutcomeKind, Record, ReusedFrom};
use crate::spec::{Case, Expected};
use crate::{paths, Hardware};

/// Environment variable: `1` reuses stored verdicts whose digest matches (the main job).
pub const REUSE_ENV: &str = "HFZOO_REUSE_VERDICTS";

/// Version of the digest's layout: bumping it invalidates every stored verdict.
const DIGEST_VERSION: u32 = 1;

/// Hash of the runtime's verdict-relevant sources, from `build.rs`.
pub const CHECK_CODE_DIGEST: &str = env!("HFZOO_CHECK_CODE_DIGEST");

/// Whether this process reuses stored verdicts (`HFZOO_REUSE_VERDICTS=1`).
pub fn reuse_enabled() -> bool {
    std::env::var(REUSE_ENV).is_ok_and(|v| v.trim() == "1")
}

/// Everything a cell's verdict depends on; its [`DigestInputs::digest`] names the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestInputs {
    /// Layout version.
    pub version: u32,
    /// Hardware id.
    pub hardware: String,
    /// What detection found.
    pub detection: Detection,
    /// Whether absence of the hardware is a failure (`HFZOO_REQUIRE_HARDWARE`).
    pub required: bool,
    /// The model's exporter request (canonical JSON).
    pub request_json: String,
    /// The metadata expectation (`pass`, or `unsupported`, its category and reason).
    pub expected: String,
    /// The engine that runs the cell, when the hardware is present.
    pub engine: Option<EngineFacts>,
    /// The artifact the cell runs (format, key, content digest) or the export failure
    /// recorded instead, when the hardware is present.
    pub artifact: Option<String>,
    /// Hash of the parity rule (`runtime/exporter/parity_rule.json`).
    pub parity_rule: String,
    /// Hash of the runtime's check code.
    pub check_code: String,
}

/// The engine facts that shape a verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineFacts {
    /// Backend name (`torch`, `openvino`).
    pub name: String,
    /// Its settings (threads, executor, precision), as recorded with each result.
    pub settings: Vec<(String, f64)>,
    /// The relative error its arithmetic adds.
    pub precision_relative: f64,
}

impl DigestInputs {
    /// The digest: sha256 of the inputs' canonical JSON, 32 hex digits.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).expect("digest inputs serialise");
        hex::encode(Sha256::digest(&json))[..32].to_string()
    }
}

/// `pass`, or `unsupported|<category>|<reason>`.
fn expected_text(expected: Expected) -> String {
    match expected {
        Expected::Pass => "pass".into(),
        Expected::Unsupported { category, reason } => format!("unsupported|{category}|{reason}"),
    }
}

/// sha256 of the parity rule file, hex (empty file when unreadable: the export fails then).
fn parity_rule_digest() -> String {
    static DIGEST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DIGEST
        .get_or_init(|| {
            let path = paths::exporter().with_file_name("parity_rule.json");
            hex::encode(Sha256::digest(std::fs::read(path).unwrap_or_default()))
        })
        .clone()
}

/// sha256 over every file of an artifact directory: sorted relative names and contents.
pub fn content_digest(dir: &Path) -> Result<String> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for (relative, path) in files {
        let bytes = std::fs::read(&path).map_err(Error::io("read", &path))?;
        hasher.update((relative.len() as u64).to_le_bytes());
        hasher.update(relative.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Whether a file of an artifact directory is no part of its content: an engine's verdict kept
/// beside the artifact (`engine-<hardware>.json`, written after publishing), or a file still
/// being written (hidden, `.…tmp…`).
fn outside_content(name: &str) -> bool {
    (name.starts_with("engine-") && name.ends_with(".json")) || name.starts_with('.') || name.contains(".tmp")
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(Error::io("read directory", dir))? {
        let path = entry.map_err(Error::io("read directory", dir))?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(outside_content) {
            continue;
        }
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            out.push((relative, path));
        }
    }
    Ok(())
}

/// `<format>|<key>|<content digest>` of the artifact the cell runs. A published artifact never
/// changes, so each directory is hashed once per process (a cell's check, typed-skill and
/// causality tests all ask).
fn artifact_fact(artifact: &Artifact) -> Result<String> {
    static HASHED: std::sync::Mutex<Option<std::collections::HashMap<PathBuf, String>>> = std::sync::Mutex::new(None);
    let known = HASHED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(Default::default)
        .get(&artifact.dir)
        .cloned();
    let content = match known {
        Some(content) => content,
        None => {
            let content = content_digest(&artifact.dir)?;
            HASHED
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(Default::default)
                .insert(artifact.dir.clone(), content.clone());
            content
        }
    };
    Ok(format!("{}|{}|{content}", artifact.format.id(), artifact.key))
}

/// The digest inputs of a case as this machine would run it now, exporting its artifact
/// first when it is missing, never loading or running it. `None` when they cannot be known
/// (an error reading the artifact, or a route the engine has not decided yet): the cell then
/// runs, and its verdict is stored under the digest known after it.
pub fn inputs_for(cache: &ArtifactCache, case: &Case) -> Option<DigestInputs> {
    let detection = detect(case.hardware);
    let (engine, artifact) = if detection.available {
        match backend::for_hardware(case.hardware) {
            Some(backend) => {
                let engine = EngineFacts {
                    name: backend.name().into(),
                    settings: backend.settings().into_iter().map(|m| (m.metric, m.value)).collect(),
                    precision_relative: backend.precision_relative(),
                };
                let artifact = match crate::route::known(cache, case, backend) {
                    Ok(Some(route)) => artifact_fact(&route.artifact).ok()?,
                    Ok(None) => return None,
                    Err(Error::Export { category, error, .. }) => format!("export-failed|{category}|{error}"),
                    Err(_) => return None,
                };
                (Some(engine), Some(artifact))
            }
            None => (None, None),
        }
    } else {
        (None, None)
    };
    Some(DigestInputs {
        version: DIGEST_VERSION,
        hardware: case.hardware.id().into(),
        detection,
        required: crate::hardware::is_required(case.hardware),
        request_json: case.spec.request_json.to_string(),
        expected: expected_text(case.expected),
        engine,
        artifact,
        parity_rule: parity_rule_digest(),
        check_code: CHECK_CODE_DIGEST.into(),
    })
}

/// Stored verdicts under one directory: `<hardware>/<model>/<digest>.json` holds the result
/// record of the run that measured it; `<digest>.<check>.ok` says an extra check (typed
/// skill, causality) of that cell passed, naming the run.
#[derive(Debug, Clone)]
pub struct VerdictStore {
    dir: PathBuf,
}

impl Default for VerdictStore {
    fn default() -> Self {
        Self::new(paths::cache_root().join("verdicts"))
    }
}

impl VerdictStore {
    /// A store rooted at `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn base(&self, hardware: Hardware, model_type: &str, digest: &str) -> PathBuf {
        let safe = |s: &str| {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
                .collect::<String>()
        };
        self.dir.join(hardware.id()).join(safe(model_type)).join(safe(digest))
    }

    /// The stored record of a cell with this digest; `None` when there is none or it cannot be
    /// read (a corrupt file is reported once and then ignored: the cell runs again).
    pub fn find(&self, case: &Case, digest: &str) -> Option<Record> {
        let path = self.base(case.hardware, case.spec.model_type, digest).with_extension("json");
        let text = std::fs::read_to_string(&path).ok()?;
        match serde_json::from_str::<Record>(&text) {
            Ok(record) if record.reused.is_none() && record.outcome != OutcomeKind::Failed => Some(record),
            Ok(_) => None,
            Err(error) => {
                eprintln!("warning: ignoring the stored verdict {}: {error}; the cell runs again", path.display());
                None
            }
        }
    }

    /// Stores a fresh, non-failing record under its digest (temp file + rename).
    pub fn save(&self, case: &Case, digest: &str, record: &Record) -> Result<()> {
        if record.reused.is_some() || record.outcome == OutcomeKind::Failed {
            return Ok(());
        }
        let text = serde_json::to_string_pretty(record)
            .map_err(|source| Error::Json { context: "serialise a verdict".into(), source })?;
        write_atomic(&self.base(case.hardware, case.spec.model_type, digest).with_extension("json"), &text)
    }

    /// The run in which an extra check of this cell passed, if one did.
    pub fn check_passed(&self, case: &Case, digest: &str, check: &str) -> Option<String> {
        let path = self.base(case.hardware, case.spec.model_type, digest).with_extension(format!("{check}.ok"));
        std::fs::read_to_string(path).ok().map(|run| run.trim().to_string()).filter(|run| !run.is_empty())
    }

    /// Records that an extra check of this cell passed in `run_id`.
    pub fn save_check(&self, case: &Case, digest: &str, check: &str, run_id: &str) -> Result<()> {
        write_atomic(
            &self.base(case.hardware, case.spec.model_type, digest).with_extension(format!("{check}.ok")),
            run_id,
        )
    }
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let parent = path.parent().expect("a verdict path has a folder");
    std::fs::create_dir_all(parent).map_err(Error::io("create directory", parent))?;
    let tmp = parent.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("verdict"),
        std::process::id()
    ));
    std::fs::write(&tmp, text).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("rename", path))
}

/// The record of a reused verdict in this run: the stored record's outcome, detail,
/// measurements and samples (those of the run that measured them), with this run's ids and
/// `reused` naming the source run and commit.
pub fn reused_record(source: Record, run: crate::results::record::RunInfo, digest: &str) -> Record {
    let reused = ReusedFrom {
        run_id: source.run.run_id.clone(),
        git_commit: source.run.git_commit.clone(),
        recorded_at_ms: source.recorded_at_ms,
        digest: digest.to_string(),
    };
    Record {
        result_id: cell_result_id(&run.run_id, &source.model.model_type, &source.hardware.hardware, source.kind),
        run,
        reused: Some(reused),
        recorded_at_ms: now_ms(),
        ..source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> DigestInputs {
        DigestInputs {
            version: DIGEST_VERSION,
            hardware: "openvino".into(),
            detection: Detection {
                hardware: "openvino".into(),
                available: true,
                device: "cpu".into(),
                version: "2026.4.1".into(),
                reason: "found".into(),
            },
            required: false,
            request_json: r#"{"model_type":"bert"}"#.into(),
            expected: "pass".into(),
            engine: Some(EngineFacts {
                name: "openvino".into(),
                settings: vec![("openvino_threads".into(), 1.0)],
                precision_relative: 0.0,
            }),
            artifact: Some("onnx|abc|0123".into()),
            parity_rule: "rule".into(),
            check_code: "code".into(),
        }
    }

    #[test]
    fn every_input_changes_the_digest() {
        let base = inputs().digest();
        assert_eq!(inputs().digest(), base, "the digest is a pure function of its inputs");
        /// One input's name and a change of it.
        type Change = (&'static str, Box<dyn Fn(&mut DigestInputs)>);
        let changes: Vec<Change> = vec![
            ("request", Box::new(|i| i.request_json.push(' '))),
            ("artifact content", Box::new(|i| i.artifact = Some("onnx|abc|0124".into()))),
            ("parity rule", Box::new(|i| i.parity_rule = "rule2".into())),
            ("engine version", Box::new(|i| i.detection.version = "2026.5.0".into())),
            ("engine settings", Box::new(|i| i.engine.as_mut().unwrap().settings[0].1 = 2.0)),
            ("engine", Box::new(|i| i.engine.as_mut().unwrap().name = "torch".into())),
            ("check code", Box::new(|i| i.check_code = "code2".into())),
            ("expectation", Box::new(|i| i.expected = "unsupported|backend|x".into())),
            ("required", Box::new(|i| i.required = true)),
            ("hardware", Box::new(|i| i.hardware = "cpu".into())),
            ("availability", Box::new(|i| i.detection.available = false)),
            (
                "device model (the GPU's name)",
                Box::new(|i| i.detection.device = "1 CUDA device(s): NVIDIA H200".into()),
            ),
            (
                "engine files (onnxruntime-web's dist)",
                Box::new(|i| i.detection.version = "Chromium 156; onnxruntime-web 1.31.1 (files 0badc0ffee00)".into()),
            ),
            ("layout version", Box::new(|i| i.version += 1)),
        ];
        for (what, change) in changes {
            let mut changed = inputs();
            change(&mut changed);
            assert_ne!(changed.digest(), base, "a change of the {what} must invalidate a stored verdict");
        }
    }

    #[test]
    fn content_digest_follows_every_byte_and_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.onnx"), b"graph").unwrap();
        std::fs::write(dir.path().join("reference_a.safetensors"), b"ref").unwrap();
        let first = content_digest(dir.path()).unwrap();
        assert_eq!(content_digest(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("reference_a.safetensors"), b"reg").unwrap();
        let second = content_digest(dir.path()).unwrap();
        assert_ne!(second, first);
        std::fs::rename(dir.path().join("model.onnx"), dir.path().join("model_b.onnx")).unwrap();
        let third = content_digest(dir.path()).unwrap();
        assert_ne!(third, second);
        // An engine's verdict kept beside the artifact, and files being written, are not content.
        std::fs::write(dir.path().join("engine-openvino.json"), b"{}").unwrap();
        std::fs::write(dir.path().join(".engine-webgpu.json.tmp-42"), b"{").unwrap();
        assert_eq!(content_digest(dir.path()).unwrap(), third);
    }
}
