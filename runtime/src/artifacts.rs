//! Content-addressed artifact cache, filled by ONE batch exporter process under a file lock.
//!
//! The key hashes the model's exporter request, the device, the exporter script, the format,
//! and the torch and transformers versions: a change to any of them builds a new artifact.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::spec::{Case, ModelSpec};
use crate::{paths, Hardware};

/// Artifact format written by the exporter (part of the key).
pub const FORMAT: &str = "torchscript-v1";

/// One artifact directory.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Content key.
    pub key: String,
    /// Directory holding model.pt, inputs/reference sets and manifest.json.
    pub dir: PathBuf,
}

impl Artifact {
    /// The TorchScript module.
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.pt")
    }

    /// Inputs of set `a` or `b`.
    pub fn inputs(&self, set: char) -> PathBuf {
        self.dir.join(format!("inputs_{set}.safetensors"))
    }

    /// Reference outputs of set `a` or `b`.
    pub fn reference(&self, set: char) -> PathBuf {
        self.dir.join(format!("reference_{set}.safetensors"))
    }

    /// The manifest as JSON.
    pub fn manifest(&self) -> Result<serde_json::Value> {
        let path = self.dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
        serde_json::from_str(&text).map_err(|source| Error::Json { context: format!("parse {}", path.display()), source })
    }
}

/// The cache of artifacts under one directory.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    exporter: PathBuf,
    python: PathBuf,
    /// Hash of everything besides the request that shapes an artifact (computed once).
    environment: [u8; 32],
}

impl Default for ArtifactCache {
    fn default() -> Self {
        Self::new(paths::cache_dir())
    }
}

impl ArtifactCache {
    /// A cache rooted at `dir` using the project's exporter and venv.
    pub fn new(dir: PathBuf) -> Self {
        let exporter = paths::exporter();
        let mut hasher = Sha256::new();
        for part in [
            FORMAT.as_bytes(),
            &Sha256::digest(std::fs::read(&exporter).unwrap_or_default()),
            paths::torch_version().as_bytes(),
            paths::python_package_version("transformers").as_bytes(),
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        Self { dir, exporter, python: paths::python(), environment: hasher.finalize().into() }
    }

    /// Content key for an exporter request on a device: the request, the device, the format,
    /// the exporter script and the torch and transformers versions.
    pub fn key(&self, request_json: &str, device: &str) -> String {
        let mut hasher = Sha256::new();
        for part in [request_json.as_bytes(), device.as_bytes(), &self.environment] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hex::encode(hasher.finalize())[..24].to_string()
    }

    /// The artifact for a spec on a hardware, whether or not it exists yet.
    pub fn locate(&self, spec: &ModelSpec, hardware: Hardware) -> Artifact {
        self.locate_request(spec.model_type, spec.request_json, hardware)
    }

    /// The artifact for a raw exporter request on a hardware.
    pub fn locate_request(&self, model_type: &str, request_json: &str, hardware: Hardware) -> Artifact {
        let device = hardware.export_device();
        let key = self.key(request_json, device);
        Artifact { dir: self.dir.join(format!("{model_type}-{device}-{key}")), key }
    }

    /// Returns the case's artifact, building every missing artifact of `batch` (same device)
    /// in one exporter process if the case's own is missing. Safe across threads and processes.
    pub fn ensure(&self, case: &Case, batch: &[&Case]) -> Result<Artifact> {
        let artifact = self.locate(case.spec, case.hardware);
        if !artifact.dir.join("manifest.json").is_file() {
            let lock = self.lock()?;
            // Another test may have built it while this one waited for the lock.
            if !artifact.dir.join("manifest.json").is_file() {
                let device = case.hardware.export_device();
                let mut jobs = BTreeMap::new();
                for other in batch.iter().chain(std::iter::once(&case)).filter(|c| c.hardware.export_device() == device) {
                    let candidate = self.locate(other.spec, other.hardware);
                    if !candidate.dir.join("manifest.json").is_file() {
                        jobs.insert(candidate.key.clone(), (other.spec.request_json, candidate));
                    }
                }
                self.export(device, jobs.into_values().collect())?;
            }
            drop(lock);
        }
        let manifest = artifact.manifest()?;
        if manifest["status"] != "ok" {
            return Err(Error::Export {
                model: case.spec.model_type.to_string(),
                error: manifest["error"].as_str().unwrap_or("unknown error (see manifest.json)").to_string(),
            });
        }
        for file in [artifact.model(), artifact.inputs('a'), artifact.inputs('b'), artifact.reference('a'), artifact.reference('b')] {
            if !file.is_file() {
                return Err(Error::Artifact { path: file, message: format!("missing; delete {} to rebuild it", artifact.dir.display()) });
            }
        }
        Ok(artifact)
    }

    /// Takes the cache's exclusive export lock (blocking); released when the file is dropped.
    pub fn lock(&self) -> Result<File> {
        std::fs::create_dir_all(&self.dir).map_err(Error::io("create directory", &self.dir))?;
        let lock_path = self.dir.join(".export.lock");
        let lock = File::create(&lock_path).map_err(Error::io("create lock", &lock_path))?;
        lock.lock().map_err(Error::io("lock", &lock_path))?;
        Ok(lock)
    }

    /// Runs the exporter for all `jobs` in one process; progress streams to stderr. If the
    /// process dies (a crash in native code), it is started again for the jobs still missing;
    /// the exporter records the job it died in as failed, so every restart makes progress.
    pub fn export(&self, device: &str, jobs: Vec<(&str, Artifact)>) -> Result<()> {
        let mut pending = jobs;
        let mut stalls = 0;
        loop {
            let before = pending.len();
            let outcome = self.export_once(device, &pending);
            pending.retain(|(_, artifact)| !artifact.dir.join("manifest.json").is_file());
            // A process that died in its first job made no artifact but left that job's
            // marker, so one restart without progress is expected; two are not.
            stalls = if pending.len() == before { stalls + 1 } else { 0 };
            match outcome {
                Ok(()) => return Ok(()),
                Err(error) if pending.is_empty() || stalls >= 2 => return Err(error),
                Err(error) => eprintln!("exporter: {error}; restarting for the {} artifact(s) still missing", pending.len()),
            }
        }
    }

    fn export_once(&self, device: &str, jobs: &[(&str, Artifact)]) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        if !self.python.is_file() {
            return Err(Error::Exporter(format!("{} not found: run `bash scripts/setup.sh` first", self.python.display())));
        }
        let payload = serde_json::json!({
            "jobs": jobs.iter().map(|(request_json, artifact)| serde_json::json!({
                "key": artifact.key,
                "dir": artifact.dir,
                "device": device,
                "request": serde_json::from_str::<serde_json::Value>(request_json).unwrap_or_default(),
            })).collect::<Vec<_>>()
        });
        let mut child = Command::new(&self.python)
            .arg(&self.exporter)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Exporter(format!("cannot start {}: {e}", self.python.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(payload.to_string().as_bytes()).map_err(|e| Error::Exporter(format!("cannot send jobs: {e}")))?;
        }
        let output = child.wait_with_output().map_err(|e| Error::Exporter(e.to_string()))?;
        if !output.status.success() {
            return Err(Error::Exporter(format!("{} exited with {} (its stderr is above)", self.exporter.display(), output.status)));
        }
        Ok(())
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
