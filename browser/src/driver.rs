//! One headless browser per process, reused across models with a fresh page per model: the
//! commands the runtime sends the page (probe, load, run), each under a time limit. A browser
//! that timed out or died is ended and the next command starts a new one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::launch::{self, Chromium};
use crate::server::{Blob, Reply, Server};
use crate::wire;
use crate::{Error, Result};
use host_tensor::HostTensor;

/// Environment variable naming onnxruntime-web's `dist` folder.
pub const ORT_WEB_ENV: &str = "HFZOO_ORT_WEB_DIR";

/// Environment variable that sets the limit, in seconds, on loading and on running a model
/// (default [`DEFAULT_WORK_LIMIT_S`]).
pub const TIMEOUT_ENV: &str = "HFZOO_BROWSER_TIMEOUT_S";

/// Default limit on loading and on running a model: a tiny model's largest graphs compile
/// their shaders in well under a minute on a software adapter; one that takes longer would
/// hold a test for many minutes (a load, two checked runs, three timed runs).
pub const DEFAULT_WORK_LIMIT_S: u64 = 120;

/// Limit on a launch: from starting Chromium to the page's first poll.
pub const LAUNCH_LIMIT: Duration = Duration::from_secs(60);

/// The limit on loading and on running a model.
pub fn work_limit() -> Duration {
    Duration::from_secs(
        std::env::var(TIMEOUT_ENV).ok().and_then(|v| v.parse().ok()).filter(|s| *s > 0).unwrap_or(DEFAULT_WORK_LIMIT_S),
    )
}

/// onnxruntime-web's `dist` folder: `HFZOO_ORT_WEB_DIR`, else the one scripts/setup.sh installs
/// under the checkout at `root` (`.tools/onnxruntime-web/node_modules/onnxruntime-web/dist`).
pub fn ort_dir(root: &Path) -> PathBuf {
    std::env::var_os(ORT_WEB_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".tools/onnxruntime-web/node_modules/onnxruntime-web/dist"))
}

/// What a launch needs: the browser binary and onnxruntime-web with its version.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The Chromium binary.
    pub chromium: PathBuf,
    /// onnxruntime-web's `dist` folder.
    pub ort_dir: PathBuf,
    /// onnxruntime-web's version (its package.json) and a digest of its `dist` files (names,
    /// sizes, modification times): files replaced under the same version change it.
    pub ort_version: String,
}

/// 12 hex digits of sha256 over the sorted names, sizes and modification times of the files
/// in `dir` (not their contents: the folder is about 100 MB and every test process asks).
pub fn files_digest(dir: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    let mut files: Vec<(String, u64, u128)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let meta = entry.metadata().ok().filter(|m| m.is_file())?;
            let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
            Some((entry.file_name().to_string_lossy().into_owned(), meta.len(), modified))
        })
        .collect();
    files.sort();
    let mut hash = Sha256::new();
    for (name, size, modified) in files {
        hash.update(format!("{name}\0{size}\0{modified}\0").as_bytes());
    }
    hex::encode(hash.finalize())[..12].to_string()
}

/// The browser and onnxruntime-web (its `dist` folder, `ort_dir`), or why one is missing
/// (with how to get it).
pub fn setup(ort_dir: &Path) -> std::result::Result<Setup, String> {
    let chromium = launch::find_chromium()?;
    let ort_dir = ort_dir.to_path_buf();
    if !ort_dir.join("ort.all.min.mjs").is_file() {
        return Err(format!("onnxruntime-web is not at {} (no ort.all.min.mjs): run scripts/setup.sh, which installs it with npm, or set {ORT_WEB_ENV}", ort_dir.display()));
    }
    let package = ort_dir.parent().map(|p| p.join("package.json")).unwrap_or_default();
    let ort_version = std::fs::read_to_string(&package)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let ort_version = format!("{ort_version} (files {})", files_digest(&ort_dir));
    Ok(Setup { chromium, ort_dir, ort_version })
}

/// A model as the page loads it: its files and the execution provider (a JSON value as
/// onnxruntime-web takes it).
#[derive(Debug, Clone)]
pub struct PageModel {
    /// Unique per load in this process.
    pub token: u64,
    /// The ONNX files, one per graph.
    pub files: Vec<PathBuf>,
    /// `"webgpu"` or `{"name": "webnn", "deviceType": ...}`.
    pub provider: serde_json::Value,
}

/// What the page reported after loading a model.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The graph's input names (session order).
    pub inputs: Vec<String>,
    /// The graph's output names (session order).
    pub outputs: Vec<String>,
    /// The placement lines of ORT's verbose log.
    pub placement: Vec<String>,
}

/// The running browser and its server.
pub struct Browser {
    chromium: Chromium,
    server: Server,
    next_id: u64,
    /// The model the current page holds.
    holds: Option<u64>,
    /// Set when a command timed out or the browser died: the browser is ended after it.
    broken: bool,
}

static BROWSER: Mutex<Option<Browser>> = Mutex::new(None);

/// Runs `work` on this process's browser, starting one (with onnxruntime-web from `ort_dir`)
/// if none runs; a browser left broken by `work` is ended (with its processes).
pub fn with_browser<T>(ort_dir: &Path, work: impl FnOnce(&mut Browser) -> Result<T>) -> Result<T> {
    let mut held = BROWSER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !held.as_mut().is_some_and(|browser| browser.chromium.running()) {
        *held = None;
        *held = Some(Browser::launch(ort_dir)?);
    }
    let browser = held.as_mut().expect("a browser was just started");
    let result = work(browser);
    if browser.broken {
        *held = None;
    }
    result
}

/// The process group and profile directory of this process's browser, if one runs (for tests
/// of process hygiene).
pub fn browser_group() -> Option<(i32, PathBuf)> {
    BROWSER
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|b| (b.chromium.group(), b.chromium.profile().to_path_buf()))
}

fn engine(message: String) -> Error {
    Error::Engine(message)
}

impl Browser {
    fn launch(ort_dir: &Path) -> Result<Browser> {
        let setup = setup(ort_dir).map_err(engine)?;
        let server = Server::start(&setup.ort_dir)?;
        let mut chromium = Chromium::launch(&setup.chromium, &server.page_url())?;
        let deadline = Instant::now() + LAUNCH_LIMIT;
        while !server.page_ready(Duration::from_millis(250)) {
            // A browser that exited will never load the page: said at once, not at the limit.
            if !chromium.running() {
                return Err(engine(format!(
                    "{} exited before it loaded the driver page; its log:\n{}",
                    setup.chromium.display(),
                    chromium.log_tail(8)
                )));
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout(format!(
                    "{} did not load the driver page within {} s (still running); its log:\n{}",
                    setup.chromium.display(),
                    LAUNCH_LIMIT.as_secs(),
                    chromium.log_tail(8)
                )));
            }
        }
        Ok(Browser { chromium, server, next_id: 1, holds: None, broken: false })
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Sends `command` and waits for its reply; a page error is an error with the page's
    /// message, a timeout or a dead browser also marks the browser broken.
    fn request(&mut self, id: u64, command: serde_json::Value, limit: Duration, what: &str) -> Result<Reply> {
        self.server.send(id, command);
        let deadline = Instant::now() + limit;
        loop {
            if let Some(reply) = self.server.reply(id, Duration::from_millis(500)) {
                return match reply {
                    Reply::Json(value) if value.get("error").is_some() => Err(engine(page_error(&value))),
                    reply => Ok(reply),
                };
            }
            if !self.chromium.running() {
                self.broken = true;
                return Err(engine(format!(
                    "the browser exited while {what}; its log:\n{}",
                    self.chromium.log_tail(8)
                )));
            }
            if Instant::now() >= deadline {
                self.broken = true;
                let console = self.server.log_tail(5);
                let console = if console.is_empty() { String::new() } else { format!("; its console:\n{console}") };
                return Err(Error::Timeout(format!(
                    "{what} took more than {} s ({TIMEOUT_ENV} sets the limit){console}",
                    limit.as_secs()
                )));
            }
        }
    }

    /// Asks the page what the browser offers (WebGPU adapter, WebNN contexts, user agent).
    pub fn probe(&mut self) -> Result<serde_json::Value> {
        let id = self.id();
        match self.request(id, serde_json::json!({"cmd": "probe"}), LAUNCH_LIMIT, "probing WebGPU and WebNN")? {
            Reply::Json(value) => Ok(value),
            Reply::Binary(_) => Err(engine("the page answered the probe with binary data".into())),
        }
    }

    /// Moves to a fresh page and loads `model` there.
    pub fn open(&mut self, model: &PageModel) -> Result<Loaded> {
        self.holds = None;
        self.server.next_generation();
        if !self.server.page_ready(LAUNCH_LIMIT) {
            self.broken = true;
            return Err(Error::Timeout(format!(
                "a fresh page did not load within {} s; console:\n{}",
                LAUNCH_LIMIT.as_secs(),
                self.server.log_tail(5)
            )));
        }
        let mut urls = Vec::new();
        for (index, file) in model.files.iter().enumerate() {
            let name = format!("model-{}-{index}.onnx", model.token);
            self.server.put_blob(&name, Blob::File(file.clone()));
            urls.push(format!("blob/{name}"));
        }
        let id = self.id();
        let reply = self.request(
            id,
            serde_json::json!({"cmd": "load", "models": urls, "provider": model.provider}),
            work_limit(),
            "loading the model",
        );
        for index in 0..model.files.len() {
            self.server.remove_blob(&format!("model-{}-{index}.onnx", model.token));
        }
        let Reply::Json(value) = reply? else { return Err(engine("the page answered a load with binary data".into())) };
        let strings = |key: &str| -> Vec<String> {
            value
                .get(key)
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        self.holds = Some(model.token);
        Ok(Loaded { inputs: strings("inputs"), outputs: strings("outputs"), placement: strings("placement") })
    }

    /// Runs graph `graph` of `model` on named inputs (loading it again if the page moved on).
    pub fn run(
        &mut self,
        model: &PageModel,
        graph: usize,
        inputs: &[(&str, &HostTensor)],
    ) -> Result<Vec<(String, HostTensor)>> {
        if self.holds != Some(model.token) {
            self.open(model)?;
        }
        let message = Arc::new(wire::encode(inputs)?);
        let id = self.id();
        let name = format!("input-{id}");
        self.server.put_blob(&name, Blob::Bytes(message));
        let reply = self.request(
            id,
            serde_json::json!({"cmd": "run", "blob": format!("blob/{name}"), "graph": graph}),
            work_limit(),
            "running the model",
        );
        self.server.remove_blob(&name);
        match reply? {
            Reply::Binary(bytes) => wire::decode(&bytes),
            Reply::Json(value) => Err(engine(format!("the page answered a run with JSON, not tensors: {value}"))),
        }
    }
}

/// The page's error message and the last console lines it saw.
fn page_error(value: &serde_json::Value) -> String {
    let message = value.get("error").and_then(|v| v.as_str()).unwrap_or("unknown error").to_string();
    let console: Vec<&str> = value
        .get("console")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    if console.is_empty() {
        message
    } else {
        format!("{message}\n(console: {})", console.join(" | "))
    }
}
