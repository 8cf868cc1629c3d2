//! What the browser offers, asked of a real page: the WebGPU adapter (vendor, architecture,
//! device, description, `isFallbackAdapter`, features) and, per device type, whether WebNN's
//! `createContext` accepts it. Probed once per process; the answer is also kept in the cache
//! for processes of the same boot, browser binary and onnxruntime-web (every result record
//! lists every backend's detection, and a launch for each would cost every test a browser).

use std::path::PathBuf;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::driver::{self, Setup};
use crate::hardware::Detection;
use crate::Hardware;

/// The WebGPU adapter the page got.
#[derive(Debug, Clone, PartialEq)]
pub struct Adapter {
    /// `GPUAdapterInfo.vendor`.
    pub vendor: String,
    /// `GPUAdapterInfo.architecture`.
    pub architecture: String,
    /// `GPUAdapterInfo.device`.
    pub device: String,
    /// `GPUAdapterInfo.description`.
    pub description: String,
    /// A software (fallback) adapter such as SwiftShader.
    pub fallback: bool,
    /// The adapter's features (`shader-f16`, ...).
    pub features: Vec<String>,
}

impl Adapter {
    /// The adapter as people name it: vendor, architecture, device, description, and
    /// "software adapter" for a fallback one.
    pub fn label(&self) -> String {
        let parts: Vec<&str> = [&self.vendor, &self.architecture, &self.device, &self.description]
            .into_iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        let name = if parts.is_empty() { "unnamed adapter".to_string() } else { parts.join(" ") };
        if self.fallback {
            format!("{name} (software adapter)")
        } else {
            name
        }
    }

    /// Whether the adapter computes in half precision (`shader-f16`).
    pub fn shader_f16(&self) -> bool {
        self.features.iter().any(|f| f == "shader-f16")
    }
}

/// What the probe found.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The browser binary and onnxruntime-web.
    pub setup: Setup,
    /// The browser's version, from its user agent.
    pub chromium_version: String,
    /// The adapter, or why there is none.
    pub webgpu: Result<Adapter, String>,
    /// The first WebNN device type (`gpu`, `npu`, `cpu`) with a context, or why none.
    pub webnn: Result<String, String>,
}

impl Probe {
    /// Reads the page's probe answer.
    pub fn from_page(setup: Setup, found: &serde_json::Value) -> Probe {
        let text =
            |v: &serde_json::Value, key: &str| v.get(key).and_then(|s| s.as_str()).unwrap_or_default().to_string();
        let user_agent = text(found, "userAgent");
        let from_agent = user_agent
            .split_whitespace()
            .find_map(|w| w.strip_prefix("HeadlessChrome/").or_else(|| w.strip_prefix("Chrome/")))
            .unwrap_or("unknown");
        let chromium_version =
            Some(text(found, "browserVersion")).filter(|v| !v.is_empty()).unwrap_or_else(|| from_agent.to_string());
        let gpu = &found["webgpu"];
        let webgpu = match gpu.get("error").and_then(|e| e.as_str()) {
            Some(error) => Err(error.to_string()),
            None if gpu.is_object() => Ok(Adapter {
                vendor: text(gpu, "vendor"),
                architecture: text(gpu, "architecture"),
                device: text(gpu, "device"),
                description: text(gpu, "description"),
                fallback: gpu.get("isFallbackAdapter").and_then(|v| v.as_bool()).unwrap_or(false),
                features: gpu
                    .get("features")
                    .and_then(|f| f.as_array())
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            }),
            None => Err("the page did not report WebGPU".into()),
        };
        let nn = &found["webnn"];
        let webnn = match (nn.get("error").and_then(|e| e.as_str()), nn.get("contexts").and_then(|c| c.as_object())) {
            (Some(error), _) => Err(error.to_string()),
            (None, Some(contexts)) => ["gpu", "npu", "cpu"]
                .into_iter()
                .find(|device| contexts.get(*device).and_then(|v| v.as_str()) == Some("ok"))
                .map(str::to_string)
                .ok_or_else(|| {
                    let refusals: Vec<String> = ["cpu", "gpu", "npu"]
                        .into_iter()
                        .map(|d| format!("{d}: {}", contexts.get(d).and_then(|v| v.as_str()).unwrap_or("not tried")))
                        .collect();
                    format!(
                        "navigator.ml is present, but createContext refused every device type ({})",
                        refusals.join("; ")
                    )
                }),
            (None, None) => Err("the page did not report WebNN".into()),
        };
        Probe { setup, chromium_version, webgpu, webnn }
    }

    /// Browser and onnxruntime-web versions with the browser's path.
    pub fn version(&self) -> String {
        format!(
            "Chromium {} ({}); onnxruntime-web {}",
            self.chromium_version,
            self.setup.chromium.display(),
            self.setup.ort_version
        )
    }

    /// The detection of `hardware` (webgpu or webnn).
    pub fn detection(&self, hardware: Hardware) -> Detection {
        match hardware {
            Hardware::Webgpu => match &self.webgpu {
                Ok(adapter) => {
                    let f16 = if adapter.shader_f16() { "shader-f16 present" } else { "no shader-f16" };
                    let kind = if adapter.fallback {
                        "a software adapter: a pass proves correctness, not GPU speed"
                    } else {
                        "a hardware adapter"
                    };
                    let name = adapter.label().trim_end_matches(" (software adapter)").to_string();
                    Detection::new(
                        hardware,
                        true,
                        adapter.label(),
                        self.version(),
                        format!("WebGPU adapter {name}: {kind}; {f16}"),
                    )
                }
                Err(why) => Detection::new(
                    hardware,
                    false,
                    "",
                    self.version(),
                    format!("no WebGPU in headless Chromium: {why}"),
                ),
            },
            Hardware::Webnn => match &self.webnn {
                Ok(device) => Detection::new(
                    hardware,
                    true,
                    format!("WebNN {device} context"),
                    self.version(),
                    format!("navigator.ml.createContext accepts deviceType `{device}`"),
                ),
                Err(why) => {
                    Detection::new(hardware, false, "", self.version(), format!("no WebNN in headless Chromium: {why}"))
                }
            },
            other => Detection::new(other, false, "", "", "the browser backend serves webgpu and webnn only"),
        }
    }
}

/// Why there is no probe answer: nothing to probe with, or a browser that would not answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeError {
    /// No Chromium or no onnxruntime-web: the hardware is absent (a skip).
    Absent(String),
    /// A Chromium was found but failed to start or to answer: a fault of the environment,
    /// which fails the cell (category `environment`) and is never stored as a verdict.
    Failed(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Absent(why) | ProbeError::Failed(why) => f.write_str(why),
        }
    }
}

/// This process's probe (cached per boot, browser and onnxruntime-web), or why none ran.
pub fn probe() -> &'static Result<Probe, ProbeError> {
    static PROBE: OnceLock<Result<Probe, ProbeError>> = OnceLock::new();
    PROBE.get_or_init(|| {
        let setup = driver::setup(&super::ort_dir()).map_err(ProbeError::Absent)?;
        let cache = cache_file(&setup);
        let cached = cache
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
        let found = match cached {
            Some(found) => found,
            None => {
                let found = driver::with_browser(&super::ort_dir(), |browser| browser.probe()).map_err(|e| {
                    ProbeError::Failed(format!(
                        "{} was found but could not be started or probed: {e}",
                        setup.chromium.display()
                    ))
                })?;
                if let Some(path) = &cache {
                    store(path, &found);
                }
                found
            }
        };
        Ok(Probe::from_page(setup, &found))
    })
}

/// `<cache root>/browser/probe-<digest>.json`, the digest over the boot, the browser binary
/// (path, size, modification time), onnxruntime-web's version and the page's script.
fn cache_file(setup: &Setup) -> Option<PathBuf> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let meta = std::fs::metadata(std::fs::canonicalize(&setup.chromium).ok()?).ok()?;
    let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    let mut hash = Sha256::new();
    for part in [
        boot.trim(),
        &setup.chromium.display().to_string(),
        &meta.len().to_string(),
        &modified.to_string(),
        &setup.ort_version,
        super::server::PAGE_JS,
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    Some(crate::paths::cache_root().join("browser").join(format!("probe-{}.json", &hex::encode(hash.finalize())[..24])))
}

/// Writes the probe answer atomically (a temporary file renamed), ignoring failures: the
/// cache only saves a launch.
fn store(path: &std::path::Path, found: &serde_json::Value) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let temporary = dir.join(format!(".probe-{}.tmp", std::process::id()));
    if std::fs::write(&temporary, found.to_string()).is_ok() && std::fs::rename(&temporary, path).is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Setup {
        Setup { chromium: "/usr/bin/chromium".into(), ort_dir: "/x".into(), ort_version: "1.31.1".into() }
    }

    #[test]
    fn a_software_adapter_is_named_so_and_webnn_refusals_are_the_reason() {
        let found = serde_json::json!({
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/148.0.0.0 Safari/537.36",
            "browserVersion": "148.0.7778.167",
            "webgpu": {"vendor": "google", "architecture": "swiftshader", "device": "", "description": "", "isFallbackAdapter": true, "features": ["subgroups"]},
            "webnn": {"contexts": {"cpu": "NotSupportedError: WebNN is not supported on this platform.", "gpu": "NotSupportedError: no", "npu": "NotSupportedError: no"}},
        });
        let probe = Probe::from_page(setup(), &found);
        let gpu = probe.detection(Hardware::Webgpu);
        assert!(gpu.available);
        assert_eq!(gpu.device, "google swiftshader (software adapter)");
        assert_eq!(gpu.version, "Chromium 148.0.7778.167 (/usr/bin/chromium); onnxruntime-web 1.31.1");
        assert!(gpu.reason.contains("not GPU speed") && gpu.reason.contains("no shader-f16"), "{}", gpu.reason);
        let nn = probe.detection(Hardware::Webnn);
        assert!(!nn.available);
        assert!(
            nn.reason.contains("cpu: NotSupportedError: WebNN is not supported on this platform."),
            "{}",
            nn.reason
        );
    }

    #[test]
    fn a_missing_adapter_or_a_webnn_context_is_reported_as_found() {
        let found = serde_json::json!({"userAgent": "", "webgpu": {"error": "navigator.gpu.requestAdapter() returned null (no WebGPU adapter)"}, "webnn": {"contexts": {"cpu": "ok", "gpu": "NotSupportedError: x"}}});
        let probe = Probe::from_page(setup(), &found);
        let gpu = probe.detection(Hardware::Webgpu);
        assert!(!gpu.available && gpu.reason.contains("returned null"), "{gpu:?}");
        let nn = probe.detection(Hardware::Webnn);
        assert!(nn.available && nn.device == "WebNN cpu context", "{nn:?}");
    }
}
