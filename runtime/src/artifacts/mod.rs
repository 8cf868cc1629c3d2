//! Content-addressed artifact cache, filled by ONE batch exporter process under a file lock.
//!
//! One entry per (exporter request, format, export device, exporter hash, library versions):
//! a change to any of them builds a new artifact. A case exports only its own artifact when
//! it is missing; `hfzoo export` (which the scripts and CI run first) builds every missing
//! artifact of every requested format in one process.
//!
//! Failures: a deterministic Python failure is cached in the manifest (its message says how
//! to retry); a time-out, a crash in native code or an interrupted export is retried.

mod exporter;
pub mod lock;
pub mod manifest;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

pub use manifest::{Manifest, ManifestStatus, OutputStatus, OutputTolerance, Parity, ParityMethod};

use crate::error::{Error, Result};
use crate::spec::{Case, InputSet, ModelSpec};
use crate::{paths, Hardware};
use crate::{Category, FailureCategory};

/// An artifact format: what a backend loads; its id in every document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactFormat {
    /// A traced TorchScript module (`model.pt`), for libtorch.
    #[serde(rename = "torchscript")]
    TorchScript,
    /// ONNX with the request's dynamic axes (`model.onnx`), for OpenVINO, ONNX Runtime and the
    /// browser; the manifest names the exporter that wrote it.
    Onnx,
    /// ONNX with every dimension fixed, one file per input set (`model.onnx` for set a,
    /// `model_b.onnx` for set b), for engines that need static shapes (QNN, WebNN).
    OnnxStatic,
    /// OpenVINO IR from OpenVINO's own PyTorch frontend (`model.xml` + `model.bin`): the
    /// second route for models no ONNX exporter can write.
    OpenvinoIr,
    /// A decoder traced twice with its cache as tensors (`prefill/model.pt`, `decode/model.pt`)
    /// beside transformers' `generate` ids and logits: the generation cell's artifact.
    #[serde(rename = "torchscript-generate")]
    TorchScriptGenerate,
    /// The same two steps as ONNX graphs (`prefill/model.onnx`, `decode/model.onnx`: the past
    /// keys and values as inputs, the present as outputs), checked on ONNX Runtime at export;
    /// each folder's manifest names its graph's inputs.
    OnnxGenerate,
    /// The step as one stateful OpenVINO IR (`model.xml` + `model.bin`): the keys and values are
    /// model state, so it takes ids and the mask and returns logits; a new infer request starts
    /// with an empty cache (`runtime/exporter/openvino_generate_export.py`).
    #[serde(rename = "openvino-generate")]
    OpenvinoGenerate,
}

impl ArtifactFormat {
    /// Every format, in the exporter's order.
    pub const ALL: [ArtifactFormat; 7] = [
        ArtifactFormat::TorchScript,
        ArtifactFormat::Onnx,
        ArtifactFormat::OnnxStatic,
        ArtifactFormat::OpenvinoIr,
        ArtifactFormat::TorchScriptGenerate,
        ArtifactFormat::OnnxGenerate,
        ArtifactFormat::OpenvinoGenerate,
    ];

    /// The id the exporter and the manifest use.
    pub fn id(self) -> &'static str {
        match self {
            ArtifactFormat::TorchScript => "torchscript",
            ArtifactFormat::Onnx => "onnx",
            ArtifactFormat::OnnxStatic => "onnx-static",
            ArtifactFormat::OpenvinoIr => "openvino-ir",
            ArtifactFormat::TorchScriptGenerate => "torchscript-generate",
            ArtifactFormat::OnnxGenerate => "onnx-generate",
            ArtifactFormat::OpenvinoGenerate => "openvino-generate",
        }
    }

    /// The category a failure of a torch engine on this format is filed under: the format's
    /// limit (`torchscript` for a traced module; the exporter's categories for the others).
    pub fn limit(self) -> Category {
        match self {
            ArtifactFormat::TorchScript | ArtifactFormat::TorchScriptGenerate => Category::Torchscript,
            ArtifactFormat::Onnx | ArtifactFormat::OnnxStatic | ArtifactFormat::OnnxGenerate => Category::OnnxExport,
            ArtifactFormat::OpenvinoIr | ArtifactFormat::OpenvinoGenerate => Category::OpenvinoConvert,
        }
    }

    /// The model file inside the artifact directory.
    pub fn file(self) -> &'static str {
        match self {
            ArtifactFormat::TorchScript => "model.pt",
            ArtifactFormat::Onnx | ArtifactFormat::OnnxStatic => "model.onnx",
            ArtifactFormat::OpenvinoIr | ArtifactFormat::OpenvinoGenerate => "model.xml",
            ArtifactFormat::TorchScriptGenerate => "prefill/model.pt",
            ArtifactFormat::OnnxGenerate => "prefill/model.onnx",
        }
    }

    /// Parses an id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.id() == id)
    }
}

/// One artifact directory.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Content key.
    pub key: String,
    /// Directory holding the model file, the input and reference sets and manifest.json.
    pub dir: PathBuf,
    /// Format.
    pub format: ArtifactFormat,
    /// Model type.
    pub model_type: String,
}

impl Artifact {
    /// The model file.
    pub fn model(&self) -> PathBuf {
        self.dir.join(self.format.file())
    }

    /// Inputs of set `a` or `b`.
    pub fn inputs(&self, set: InputSet) -> PathBuf {
        self.dir.join(format!("inputs_{set}.safetensors"))
    }

    /// Reference outputs of set `a` or `b`.
    pub fn reference(&self, set: InputSet) -> PathBuf {
        self.dir.join(format!("reference_{set}.safetensors"))
    }

    /// The graph file of input set `a` (`model.onnx`) or `b` (`model_b.onnx`) of an
    /// `onnx-static` artifact.
    pub fn static_model(&self, set: InputSet) -> PathBuf {
        match set {
            InputSet::A => self.model(),
            InputSet::B => self.dir.join(format!("model_{set}.onnx")),
        }
    }

    /// The graphs of an `onnx-static` artifact, one per input set, each with the input shapes
    /// it was exported for (spec order; `None` for an input the set does not hold).
    pub fn static_graphs(&self, input_names: &[&str]) -> Result<Vec<StaticGraph>> {
        InputSet::BOTH
            .into_iter()
            .map(|set| {
                let named = crate::tensor::read_safetensors(&self.inputs(set))?;
                let shapes = input_names
                    .iter()
                    .map(|name| named.iter().find(|(n, _)| n == name).map(|(_, t)| t.shape().to_vec()))
                    .collect();
                Ok(StaticGraph { file: self.static_model(set), shapes })
            })
            .collect()
    }

    /// The manifest path.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    /// Whether a manifest exists (built, or a recorded failure).
    pub fn exists(&self) -> bool {
        self.manifest_path().is_file()
    }

    /// The manifest, typed.
    pub fn manifest(&self) -> Result<Manifest> {
        let path = self.manifest_path();
        let text = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
        serde_json::from_str(&text)
            .map_err(|source| Error::Json { context: format!("parse {}", path.display()), source })
    }

    /// The per-output tolerances the exporter derived.
    pub fn parity(&self) -> Result<Parity> {
        self.manifest()?.parity.ok_or_else(|| Error::Artifact {
            path: self.manifest_path(),
            message: format!("has no parity section; delete {} to rebuild it", self.dir.display()),
        })
    }

    /// Marker the exporter keeps while it builds this artifact (holds the exporter's pid).
    fn marker(&self) -> PathBuf {
        PathBuf::from(format!("{}.started", self.dir.display()))
    }
}

/// One graph of an `onnx-static` artifact and the input shapes it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticGraph {
    /// The ONNX file.
    pub file: PathBuf,
    /// Input shapes in spec order (`None`: any).
    pub shapes: Vec<Option<Vec<i64>>>,
}

impl StaticGraph {
    /// Whether `inputs` (spec order) have the shapes this graph was exported for.
    pub fn fits(&self, inputs: &[crate::tensor::HostTensor]) -> bool {
        self.shapes.iter().zip(inputs).all(|(shape, t)| shape.as_deref().is_none_or(|s| s == t.shape()))
    }
}

/// A request to build: the model's exporter request and the artifacts wanted from it.
#[derive(Debug, Clone)]
pub struct ExportJob<'a> {
    /// The exporter request (canonical JSON).
    pub request_json: &'a str,
    /// One artifact per format, all on the same export device.
    pub artifacts: Vec<Artifact>,
    /// Formats built only when this job's artifact of `.1` failed (the exporter records the
    /// others as `not-needed`): a backend's fallback routes.
    pub fallbacks: Vec<(ArtifactFormat, ArtifactFormat)>,
}

impl<'a> ExportJob<'a> {
    /// A job for `artifacts` with no fallbacks.
    pub fn new(request_json: &'a str, artifacts: Vec<Artifact>) -> Self {
        Self { request_json, artifacts, fallbacks: Vec::new() }
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
    /// Variables for the exporter processes that are not part of any key (where a checkpoint
    /// lies: its content, not its path, keys its artifacts).
    exporter_env: Vec<(String, String)>,
    /// The longest wait for the export lock (`None`: [`lock::default_wait`]).
    lock_wait: Option<std::time::Duration>,
}

impl Default for ArtifactCache {
    fn default() -> Self {
        Self::new(paths::cache_dir())
    }
}

/// Artifact directories exported by this process: a transient failure is retried once per
/// process, not by every test that asks for it.
static TRIED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn tried(artifact: &Artifact) -> bool {
    TRIED.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(HashSet::new).contains(&artifact.dir)
}

fn mark_tried(artifact: &Artifact) {
    TRIED.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(HashSet::new).insert(artifact.dir.clone());
}

/// Hash of the exporter's files and the torch and transformers versions: what shapes every
/// artifact besides its request. Read once per process (every test builds a cache).
fn environment_hash(exporter: &Path) -> [u8; 32] {
    static HASH: std::sync::OnceLock<(PathBuf, [u8; 32])> = std::sync::OnceLock::new();
    let (for_exporter, hash) = HASH.get_or_init(|| {
        let mut hasher = Sha256::new();
        let exporter_dir = exporter.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut parts: Vec<Vec<u8>> = [
            "export.py",
            "onnx_export.py",
            "generation_export.py",
            "openvino_generate_export.py",
            "parity.py",
            "parity_rule.json",
            "contract.py",
            "contract.json",
        ]
        .iter()
        .map(|file| Sha256::digest(std::fs::read(exporter_dir.join(file)).unwrap_or_default()).to_vec())
        .collect();
        parts.push(paths::torch_version().into_bytes());
        for package in ["transformers", "onnx", "onnxscript", "onnxruntime", "openvino"] {
            parts.push(paths::python_package_version(package).into_bytes());
        }
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(&part);
        }
        (exporter.to_path_buf(), hasher.finalize().into())
    });
    debug_assert_eq!(for_exporter.parent(), exporter.parent(), "one exporter folder per process");
    *hash
}

impl ArtifactCache {
    /// A cache rooted at `dir` using the project's exporter and venv.
    pub fn new(dir: PathBuf) -> Self {
        let exporter = paths::exporter();
        Self {
            dir,
            environment: environment_hash(&exporter),
            exporter,
            python: paths::python(),
            exporter_env: Vec::new(),
            lock_wait: None,
        }
    }

    /// The same cache filled by another exporter script beside the batch exporter (the
    /// checkpoint exporter, which imports it): its own file joins every key.
    pub fn with_exporter(mut self, exporter: PathBuf) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(self.environment);
        hasher.update(Sha256::digest(std::fs::read(&exporter).unwrap_or_default()));
        self.environment = hasher.finalize().into();
        self.exporter = exporter;
        self
    }

    /// The same cache, its exporter processes given `name=value` (never part of a key).
    pub fn with_exporter_env(mut self, name: &str, value: String) -> Self {
        self.exporter_env.retain(|(n, _)| n != name);
        self.exporter_env.push((name.to_string(), value));
        self
    }

    /// The same cache run by another Python (a venv elsewhere, or none: tests of the failure).
    pub fn with_python(mut self, python: PathBuf) -> Self {
        self.python = python;
        self
    }

    /// Content key: the request, the format, the device, the exporter and the library versions.
    pub fn key(&self, request_json: &str, format: ArtifactFormat, device: &str) -> String {
        let mut hasher = Sha256::new();
        for part in [request_json.as_bytes(), format.id().as_bytes(), device.as_bytes(), &self.environment] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hex::encode(hasher.finalize())[..24].to_string()
    }

    /// The artifact of a spec in a format for a hardware, whether or not it exists yet.
    pub fn locate(&self, spec: &ModelSpec, format: ArtifactFormat, hardware: Hardware) -> Artifact {
        self.locate_request(spec.model_type, &spec.request_json, format, hardware)
    }

    /// The artifact of a raw exporter request in a format for a hardware.
    pub fn locate_request(
        &self,
        model_type: &str,
        request_json: &str,
        format: ArtifactFormat,
        hardware: Hardware,
    ) -> Artifact {
        let device = hardware.export_device();
        let key = self.key(request_json, format, device);
        Artifact {
            dir: self.dir.join(format!("{model_type}-{}-{device}-{key}", format.id())),
            key,
            format,
            model_type: model_type.to_string(),
        }
    }

    /// Whether `artifact` must be (re)built now: missing, or a transient failure (time-out,
    /// crash) that this process has not retried yet.
    pub fn needs_export(&self, artifact: &Artifact) -> bool {
        if !artifact.exists() {
            return true;
        }
        matches!(artifact.manifest(), Ok(m) if m.status != ManifestStatus::Ok && m.transient && !tried(artifact))
    }

    /// The case's artifact in `format`, exporting it (alone) when it is missing, or when a
    /// batch recorded it `not-needed` (a fallback route whose preferred format was written) and
    /// it is asked for now. Safe across threads and processes. A cached failure is returned as
    /// [`Error::Export`].
    pub fn ensure(&self, case: &Case, format: ArtifactFormat) -> Result<Artifact> {
        let artifact = self.locate(&case.spec, format, case.hardware);
        let wanted = |artifact: &Artifact| {
            self.needs_export(artifact) || matches!(artifact.manifest(), Ok(m) if m.status == ManifestStatus::NotNeeded)
        };
        if wanted(&artifact) {
            let lock = self.lock_one(&artifact, &format!("exporting {} ({})", case.spec.model_type, format.id()))?;
            // Another test may have built it while this one waited for the lock.
            if wanted(&artifact) {
                if !artifact.exists() {
                    eprintln!("exporting {} ({}) alone; `cargo run -p hfzoo -- export` builds every missing artifact in one process", case.spec.model_type, format.id());
                }
                self.export(
                    case.hardware.export_device(),
                    vec![ExportJob::new(&case.spec.request_json, vec![artifact.clone()])],
                )?;
            }
            drop(lock);
        }
        self.ready(&artifact)
    }

    /// The case's artifact in the first of `formats` whose export succeeded (each later format
    /// is a fallback route); when every one failed, the first's failure with the others'
    /// errors appended, in the first's category.
    pub fn ensure_first(&self, case: &Case, formats: &[ArtifactFormat]) -> Result<Artifact> {
        let mut failures: Vec<(ArtifactFormat, Error)> = Vec::new();
        for format in formats {
            match self.ensure(case, *format) {
                Ok(artifact) => return Ok(artifact),
                Err(error @ Error::Export { .. }) => failures.push((*format, error)),
                Err(error) => return Err(error),
            }
        }
        let mut failures = failures.into_iter();
        let Some((_, first)) = failures.next() else {
            return Err(Error::Artifact { path: self.dir.clone(), message: "no artifact format requested".into() });
        };
        let rest: Vec<String> = failures
            .map(|(format, error)| match error {
                Error::Export { category, error, .. } => format!("{} route: {category}: {error}", format.id()),
                other => format!("{} route: {other}", format.id()),
            })
            .collect();
        match first {
            Error::Export { model, category, error, hint } if !rest.is_empty() => Err(Error::Export {
                model,
                category,
                error: format!("{error}; then the {}", rest.join("; then the ")),
                hint,
            }),
            other => Err(other),
        }
    }

    /// A built artifact with every file present, or the recorded failure as an error.
    pub fn ready(&self, artifact: &Artifact) -> Result<Artifact> {
        let manifest = artifact.manifest()?;
        if manifest.status != ManifestStatus::Ok {
            let hint = if tried(artifact) {
                String::new()
            } else if manifest.transient {
                " (a transient failure; the next run retries it)".to_string()
            } else {
                format!(
                    " (cached from an earlier export: `cargo run -p hfzoo -- export --model {} --retry-failed` or deleting {} rebuilds it)",
                    artifact.model_type,
                    artifact.dir.display()
                )
            };
            let category = manifest.category.unwrap_or(Category::Build);
            // A transient failure other than a time-out or a crash is the machine's (a full
            // disk, memory): the environment's category, which no metadata can expect.
            let machine = manifest.transient && !matches!(category, Category::Timeout | Category::Crash);
            return Err(Error::Export {
                model: artifact.model_type.clone(),
                category: if machine { FailureCategory::Environment } else { category.into() },
                error: manifest.error.unwrap_or_else(|| "unknown error (see manifest.json)".into()),
                hint,
            });
        }
        let mut files = vec![
            artifact.model(),
            artifact.inputs(InputSet::A),
            artifact.inputs(InputSet::B),
            artifact.reference(InputSet::A),
            artifact.reference(InputSet::B),
        ];
        match artifact.format {
            ArtifactFormat::OnnxStatic => files.push(artifact.static_model(InputSet::B)),
            ArtifactFormat::OpenvinoIr | ArtifactFormat::OpenvinoGenerate => files.push(artifact.dir.join("model.bin")),
            ArtifactFormat::TorchScriptGenerate => files.push(artifact.dir.join("decode").join("model.pt")),
            ArtifactFormat::OnnxGenerate => files.push(artifact.dir.join("decode").join("model.onnx")),
            _ => {}
        }
        for file in files {
            if !file.is_file() {
                return Err(Error::Artifact {
                    path: file,
                    message: format!("missing; delete {} to rebuild it", artifact.dir.display()),
                });
            }
        }
        // Pruning in any checkout keeps what a reader used lately.
        mark_used(&artifact.dir);
        Ok(artifact.clone())
    }

    /// Takes the cache's exclusive export lock for `purpose` (what a waiter is told the holder
    /// does), waiting at most [`lock::default_wait`]; released when dropped.
    pub fn lock(&self, purpose: &str) -> Result<lock::ExportLock> {
        std::fs::create_dir_all(&self.dir).map_err(Error::io("create directory", &self.dir))?;
        lock::acquire(&self.dir.join(LOCK_FILE), purpose, self.lock_wait.unwrap_or_else(lock::default_wait))
    }

    /// The locks of one artifact's export: the cache's lock shared (other single exports go on;
    /// a batch or a prune waits) and the artifact's own exclusively (in [`LOCKS_DIR`]), each
    /// waited for at most [`lock::default_wait`]; released when dropped.
    pub fn lock_one(&self, artifact: &Artifact, purpose: &str) -> Result<(lock::ExportLock, lock::ExportLock)> {
        let locks = self.dir.join(LOCKS_DIR);
        std::fs::create_dir_all(&locks).map_err(Error::io("create directory", &locks))?;
        let wait = self.lock_wait.unwrap_or_else(lock::default_wait);
        let cache = lock::acquire_as(&self.dir.join(LOCK_FILE), purpose, wait, lock::Mode::Shared)?;
        let name = artifact.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let own = lock::acquire(&locks.join(format!("{name}.lock")), purpose, wait)?;
        Ok((cache, own))
    }

    /// The same cache with another longest wait for its export lock.
    pub fn with_lock_wait(mut self, wait: std::time::Duration) -> Self {
        self.lock_wait = Some(wait);
        self
    }

    /// Builds `jobs` in exporter processes (`exporter::processes`; each restarted after a crash
    /// for the jobs still missing); call with the lock held. Progress streams to stderr.
    pub fn export(&self, device: &str, jobs: Vec<ExportJob<'_>>) -> Result<()> {
        for artifact in jobs.iter().flat_map(|job| &job.artifacts) {
            mark_tried(artifact);
            // A recorded failure asked to be built again (transient, or --retry-failed) goes.
            if artifact.exists() && artifact.manifest().map_or(true, |m| m.status != ManifestStatus::Ok) {
                std::fs::remove_file(artifact.manifest_path())
                    .map_err(Error::io("remove", artifact.manifest_path()))?;
            }
        }
        exporter::run(&self.python, &self.exporter, &self.exporter_env, device, jobs)
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The name of the export lock's file inside the cache directory (never an entry).
pub const LOCK_FILE: &str = ".export.lock";

/// The folder of each artifact's own export lock inside the cache directory (never an entry).
pub const LOCKS_DIR: &str = ".locks";

/// The name of the mark a reader's use leaves in an entry (hidden: not part of its content).
pub const USED_MARK: &str = ".used";

/// Sets `dir`'s use mark to now, unless it was set within the last hour (best effort: a
/// read-only cache still reads).
pub fn mark_used(dir: &Path) {
    let mark = dir.join(USED_MARK);
    let fresh = std::fs::metadata(&mark)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < std::time::Duration::from_secs(3600));
    if !fresh {
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&mark)
            .and_then(|file| file.set_modified(std::time::SystemTime::now()));
    }
}

/// Reads one input set in the spec's order.
pub fn read_inputs(case: &Case, artifact: &Artifact, set: InputSet) -> Result<Vec<crate::tensor::HostTensor>> {
    let path = artifact.inputs(set);
    let mut named = crate::tensor::read_safetensors(&path)?;
    case.spec
        .inputs
        .iter()
        .map(|input| {
            let index = named.iter().position(|(n, _)| *n == input.name).ok_or_else(|| Error::Artifact {
                path: path.clone(),
                message: format!("has no input `{}`; delete {} to rebuild", input.name, artifact.dir.display()),
            })?;
            Ok(named.remove(index).1)
        })
        .collect()
}
