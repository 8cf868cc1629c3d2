//! Finding and loading OpenVINO's C library from the project venv's `openvino` wheel, one
//! `Core` per process, and what detection reports: device, version, precision, bf16/AMX.

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
    let site = paths::libtorch().and_then(|dir| dir.parent().map(|p| p.to_path_buf())).ok_or("the project venv is unknown (LIBTORCH unset at build time)")?;
    let libs = site.join("openvino/libs");
    let found = std::fs::read_dir(&libs)
        .map_err(|e| format!("OpenVINO runtime not installed: {} ({e}); `bash scripts/setup.sh` installs the openvino wheel", libs.display()))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libopenvino_c.so")))
        .min();
    found.ok_or_else(|| format!("{} has no libopenvino_c.so*: reinstall the openvino wheel (`bash scripts/setup.sh`)", libs.display()))
}

/// The process's OpenVINO core, its CPU plugin configured (or why there is none).
fn core() -> &'static std::result::Result<Mutex<Core>, String> {
    static CORE: OnceLock<std::result::Result<Mutex<Core>, String>> = OnceLock::new();
    CORE.get_or_init(|| {
        let path = library_path()?;
        openvino_sys::library::load_from(&path).map_err(|e| format!("cannot load {}: {e}", path.display()))?;
        let mut core = Core::new().map_err(|e| format!("OpenVINO Core::new failed with {}: {e}", path.display()))?;
        for (key, value) in super::cpu_properties() {
            core.set_property(&DeviceType::CPU, &key, &value).map_err(|e| format!("cannot set {} = {value} on the CPU plugin: {e}", key.as_ref()))?;
        }
        Ok(Mutex::new(core))
    })
}

/// Runs `f` with the process's core (compiling is serialised; inference is not).
pub(crate) fn with_core<T>(f: impl FnOnce(&mut Core) -> Result<T>) -> Result<T> {
    let core = core().as_ref().map_err(|reason| Error::HardwareAbsent { hardware: "openvino", reason: reason.clone() })?;
    let mut core = core.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut core)
}

/// What detection reports about OpenVINO on this machine.
pub struct Found {
    /// The CPU plugin's full device name.
    pub device: String,
    /// The runtime's version and the precision the CPU plugin runs float32 models in.
    pub version: String,
    /// The devices the runtime sees, the library path and the CPU's bf16/AMX capability.
    pub reason: String,
}

/// Loads the library and asks the core for its devices; `Err` says precisely why not.
pub fn detect() -> std::result::Result<Found, String> {
    let path = library_path()?;
    let (device, devices, precision) = {
        let core = core().as_ref().map_err(Clone::clone)?;
        let core = core.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let devices = core.available_devices().map_err(|e| format!("OpenVINO lists no devices: {e}"))?;
        let devices: Vec<String> = devices.iter().map(|d| d.as_ref().to_string()).collect();
        if !devices.iter().any(|d| d == "CPU") {
            return Err(format!("OpenVINO {} sees no CPU device (devices: {})", version(), devices.join(", ")));
        }
        let device = core.get_property(&DeviceType::CPU, &PropertyKey::DeviceFullName).unwrap_or_else(|_| "CPU".into());
        let precision = core.get_property(&DeviceType::CPU, &PropertyKey::Rw(RwPropertyKey::HintInferencePrecision)).unwrap_or_else(|e| format!("unknown ({e})"));
        (device, devices, precision)
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
    if core().is_err() {
        return "not loaded".into();
    }
    openvino::version().build_number
}

/// The precision the CPU plugin runs float32 models in (`f32` once the hint is set).
pub fn inference_precision() -> Result<String> {
    with_core(|core| core.get_property(&DeviceType::CPU, &PropertyKey::Rw(RwPropertyKey::HintInferencePrecision)).map_err(engine_error))
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
    let flags: Vec<&str> = text.lines().find(|l| l.starts_with("flags")).and_then(|l| l.split_once(':')).map(|(_, v)| v.split_whitespace().collect()).unwrap_or_default();
    CpuCapability { avx512_bf16: flags.contains(&"avx512_bf16"), amx_bf16: flags.contains(&"amx_bf16") }
}
