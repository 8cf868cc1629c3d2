//! Finding and loading OpenVINO's C library from the project venv's `openvino` wheel, a pool
//! of configured `Core`s (one per concurrent compile), and what detection reports: device,
//! version, precision, bf16/AMX.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use openvino::{Core, DeviceType, PropertyKey, RwPropertyKey};

use super::engine_error;
use crate::error::{Error, Result};
use crate::paths;

/// Environment variable naming the `libopenvino_c` file to load instead of the venv's.
pub const LIBRARY_ENV: &str = "HFZOO_OPENVINO_LIB";

/// The `libopenvino_c.so*` to load: `HFZOO_OPENVINO_LIB`, else the wheel's `openvino/libs/`.
pub fn library_path() -> std::result::Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(LIBRARY_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() { Ok(path) } else { Err(format!("{LIBRARY_ENV}={} is not a file", path.display())) };
    }
    let site = paths::libtorch()
        .and_then(|dir| dir.parent().map(|p| p.to_path_buf()))
        .ok_or("the project venv is unknown (LIBTORCH unset at build time)")?;
    let libs = site.join("openvino/libs");
    let found = std::fs::read_dir(&libs)
        .map_err(|e| {
            format!(
                "OpenVINO runtime not installed: {} ({e}); `bash scripts/setup.sh` installs the openvino wheel",
                libs.display()
            )
        })?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libopenvino_c.so")))
        .min();
    found.ok_or_else(|| {
        format!("{} has no libopenvino_c.so*: reinstall the openvino wheel (`bash scripts/setup.sh`)", libs.display())
    })
}

/// The process's idle OpenVINO cores, each with its CPU plugin configured (or why there are
/// none). The library is loaded once; a caller takes a core out of the pool, so compiles run in
/// parallel (one slow compile no longer stalls every other case) and no core is ever dropped
/// while a model it compiled may still be in use.
fn cores() -> &'static std::result::Result<Mutex<Vec<Core>>, String> {
    static CORES: OnceLock<std::result::Result<Mutex<Vec<Core>>, String>> = OnceLock::new();
    CORES.get_or_init(|| {
        let path = library_path()?;
        openvino_sys::library::load_from(&path).map_err(|e| format!("cannot load {}: {e}", path.display()))?;
        let first = new_core().map_err(|e| format!("{e} (library {})", path.display()))?;
        Ok(Mutex::new(vec![first]))
    })
}

/// A new core with the CPU plugin told the precision, threads and streams, and, only when
/// `HFZOO_OPENVINO_MODEL_CACHE=1`, where to cache compiled models
/// (`paths::openvino_cache_dir`, shared by every checkout). Off by default: measured with
/// OpenVINO 2026.4.1 on this machine, encodec's ONNX file compiled anew matched eager PyTorch
/// within 7.8e-8, and the same model loaded from the cache (`LOADED_FROM_CACHE` true, precision
/// still reported f32) differed by 1.5e-5, beyond its derived tolerance: a verdict must not
/// depend on what a cache holds. A cache directory that cannot be made turns the cache off.
fn new_core() -> std::result::Result<Core, String> {
    let mut core = Core::new().map_err(|e| format!("OpenVINO Core::new failed: {e}"))?;
    let mut properties = super::cpu_properties();
    if model_cache_enabled() {
        let cache = crate::paths::openvino_cache_dir();
        match std::fs::create_dir_all(&cache) {
            Ok(()) => properties.push((openvino::RwPropertyKey::CacheDir, cache.display().to_string())),
            Err(error) => {
                eprintln!("warning: OpenVINO's model cache is off: cannot create {}: {error}", cache.display())
            }
        }
    }
    for (key, value) in properties {
        core.set_property(&DeviceType::CPU, &key, &value)
            .map_err(|e| format!("cannot set {} = {value} on the CPU plugin: {e}", key.as_ref()))?;
    }
    Ok(core)
}

/// Environment variable: `1` turns on OpenVINO's compiled-model cache (see [`new_core`]).
pub const MODEL_CACHE_ENV: &str = "HFZOO_OPENVINO_MODEL_CACHE";

/// Whether OpenVINO's compiled-model cache is on (`HFZOO_OPENVINO_MODEL_CACHE=1`).
pub fn model_cache_enabled() -> bool {
    std::env::var(MODEL_CACHE_ENV).is_ok_and(|v| v.trim() == "1")
}

/// Holds a machine-wide lock on compiling the artifact `key` (released when the file is
/// dropped), so that two processes never write its blob into the shared model cache at once.
/// `None` when the model cache is off (then no process writes a blob).
pub(crate) fn compile_lock(key: &str) -> Result<Option<std::fs::File>> {
    if !model_cache_enabled() {
        return Ok(None);
    }
    let dir = crate::paths::openvino_cache_dir().join("locks");
    std::fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
    let path = dir.join(format!("{key}.lock"));
    let file = std::fs::File::create(&path).map_err(Error::io("create lock", &path))?;
    file.lock().map_err(Error::io("lock", &path))?;
    Ok(Some(file))
}

/// Runs `f` with a core of its own (taken from the pool, or a new one), then returns it.
pub(crate) fn with_core<T>(f: impl FnOnce(&mut Core) -> Result<T>) -> Result<T> {
    let pool =
        cores().as_ref().map_err(|reason| Error::HardwareAbsent { hardware: "openvino", reason: reason.clone() })?;
    let idle = pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
    let mut core = match idle {
        Some(core) => core,
        None => new_core().map_err(|reason| Error::HardwareAbsent { hardware: "openvino", reason })?,
    };
    let result = f(&mut core);
    pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(core);
    result
}

/// What detection reports about OpenVINO on this machine.
#[derive(Debug, Clone)]
pub struct Found {
    /// The CPU plugin's full device name.
    pub device: String,
    /// The runtime's version and the precision the CPU plugin runs float32 models in.
    pub version: String,
    /// The devices the runtime sees, the library path and the CPU's bf16/AMX capability.
    pub reason: String,
}

/// Loads the library and asks a core for its devices, once per process (every case asks);
/// `Err` says precisely why not.
pub fn detect() -> std::result::Result<Found, String> {
    static FOUND: OnceLock<std::result::Result<Found, String>> = OnceLock::new();
    FOUND.get_or_init(detect_now).clone()
}

fn detect_now() -> std::result::Result<Found, String> {
    let path = library_path()?;
    let absent = |reason: String| Error::HardwareAbsent { hardware: "openvino", reason };
    let asked = with_core(|core| {
        let devices: Vec<String> = core
            .available_devices()
            .map_err(|e| absent(format!("OpenVINO lists no devices: {e}")))?
            .iter()
            .map(|d| d.as_ref().to_string())
            .collect();
        if !devices.iter().any(|d| d == "CPU") {
            return Err(absent(format!("OpenVINO {} sees no CPU device (devices: {})", version(), devices.join(", "))));
        }
        let device = core.get_property(&DeviceType::CPU, &PropertyKey::DeviceFullName).unwrap_or_else(|_| "CPU".into());
        let precision = core
            .get_property(&DeviceType::CPU, &PropertyKey::Rw(RwPropertyKey::HintInferencePrecision))
            .unwrap_or_else(|e| format!("unknown ({e})"));
        Ok((device, devices, precision))
    });
    let (device, devices, precision) = match asked {
        Ok(found) => found,
        Err(Error::HardwareAbsent { reason, .. }) => return Err(reason),
        Err(other) => return Err(other.to_string()),
    };
    let cpu = cpu_capability();
    Ok(Found {
        device: format!("{device} (OpenVINO CPU plugin)"),
        version: format!("OpenVINO {}, inference precision {precision}", version()),
        reason: format!(
            "{} loaded; devices {}; CPU avx512_bf16 {}, amx_bf16 {} (f32 precision hint set)",
            path.display(),
            devices.join(", "),
            yes_no(cpu.avx512_bf16),
            yes_no(cpu.amx_bf16)
        ),
    })
}

fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

/// The OpenVINO runtime's version (`2026.4.1-...`), once the library is loaded.
pub fn version() -> String {
    if cores().is_err() {
        return "not loaded".into();
    }
    openvino::version().build_number
}

/// The precision the CPU plugin runs float32 models in (`f32` once the hint is set).
pub fn inference_precision() -> Result<String> {
    with_core(|core| {
        core.get_property(&DeviceType::CPU, &PropertyKey::Rw(RwPropertyKey::HintInferencePrecision))
            .map_err(engine_error)
    })
}

/// Whether the CPU has bf16 instructions: where it does, OpenVINO's CPU plugin would run
/// float32 models in bf16 without the f32 hint.
#[derive(Debug, Clone, Copy)]
pub struct CpuCapability {
    /// AVX512_BF16.
    pub avx512_bf16: bool,
    /// AMX with bf16 tiles.
    pub amx_bf16: bool,
}

/// The CPU's bf16 and AMX flags from `/proc/cpuinfo` (both false where it cannot be read).
pub fn cpu_capability() -> CpuCapability {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.split_whitespace().collect())
        .unwrap_or_default();
    CpuCapability { avx512_bf16: flags.contains(&"avx512_bf16"), amx_bf16: flags.contains(&"amx_bf16") }
}
