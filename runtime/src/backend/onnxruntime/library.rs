//! Finding ONNX Runtime and QNN's HTP backend library, loading ONNX Runtime once per process,
//! building QNN sessions that refuse a CPU fallback, and what detection reports.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::ep::QNN;
use ort::session::Session;

use super::engine_error;
use crate::error::{Error, Result};
use crate::paths;

/// Environment variable naming the `libonnxruntime.so*` to load instead of the venv's.
pub const LIBRARY_ENV: &str = "HFZOO_ONNXRUNTIME_LIB";

/// The `capi` folder of the venv's onnxruntime wheel (`onnxruntime` or `onnxruntime-qnn`).
fn capi_dir() -> std::result::Result<PathBuf, String> {
    let site = paths::libtorch()
        .and_then(|dir| dir.parent().map(Path::to_path_buf))
        .ok_or("the project venv is unknown (LIBTORCH unset at build time)")?;
    Ok(site.join("onnxruntime/capi"))
}

fn find_in(dir: &Path, prefix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
        .min()
}

/// The ONNX Runtime library: `HFZOO_ONNXRUNTIME_LIB`, else the wheel's `libonnxruntime.so.<version>`.
pub fn library_path() -> std::result::Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(LIBRARY_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() { Ok(path) } else { Err(format!("{LIBRARY_ENV}={} is not a file", path.display())) };
    }
    let capi = capi_dir()?;
    find_in(&capi, "libonnxruntime.so").ok_or_else(|| format!("ONNX Runtime not installed: no libonnxruntime.so* in {} (`bash scripts/setup.sh` installs the onnxruntime wheel)", capi.display()))
}

/// The Qualcomm HTP device nodes present (`/dev/fastrpc-*`, the Hexagon DSP's RPC channels).
pub fn htp_devices() -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir("/dev")
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("fastrpc"))
        .map(|n| format!("/dev/{n}"))
        .collect();
    found.sort();
    found
}

/// QNN's HTP backend library (`libQnnHtp.so`), shipped beside ONNX Runtime by `onnxruntime-qnn`.
pub fn htp_backend() -> std::result::Result<PathBuf, String> {
    let capi = match std::env::var_os(LIBRARY_ENV) {
        Some(path) => PathBuf::from(path).parent().map(Path::to_path_buf).unwrap_or_default(),
        None => capi_dir()?,
    };
    find_in(&capi, "libQnnHtp.so").ok_or_else(|| format!("no QNN HTP backend library (libQnnHtp.so) beside ONNX Runtime in {}: the plain onnxruntime wheel has no QNN execution provider; install onnxruntime-qnn on a Snapdragon machine", capi.display()))
}

/// Loads ONNX Runtime (once per process) and commits its environment.
pub fn environment() -> Result<&'static ort::environment::Environment> {
    static ENV: OnceLock<std::result::Result<ort::environment::Environment, String>> = OnceLock::new();
    let env = ENV.get_or_init(|| {
        let path = library_path()?;
        let builder = ort::init_from(&path).map_err(|e| format!("cannot load {}: {e}", path.display()))?;
        builder.with_name("hfzoo").build().map_err(|e| format!("ONNX Runtime environment from {}: {e}", path.display()))
    });
    env.as_ref().map_err(|reason| Error::HardwareAbsent { hardware: "qnn", reason: reason.clone() })
}

/// The session options of every QNN session: the QNN execution provider on `htp_library`,
/// registration failure an error (never silently skipped), fp16 on the HTP, and CPU fallback
/// disabled, so a graph with any node QNN cannot take fails to build instead of running on CPU.
pub fn qnn_session(model: &Path, htp_library: &Path) -> Result<Session> {
    let env = environment()?;
    let provider = QNN::default()
        .with_backend_path(htp_library.display())
        .with_htp_fp16_precision(true)
        .build()
        .error_on_failure();
    let mut builder = Session::builder(env)
        .map_err(engine_error)?
        .with_config_entry("session.disable_cpu_ep_fallback", "1")
        .map_err(engine_error)?
        .with_intra_threads(1)
        .map_err(engine_error)?
        .with_execution_providers([provider])
        .map_err(|e| engine_error(format!("QNN execution provider not registered: {e}")))?;
    builder.commit_from_file(model).map_err(|e| {
        engine_error(format!("QNN cannot take {} entirely (CPU fallback is disabled): {e}", model.display()))
    })
}

/// Why QNN is or is not usable here: `Ok(device description)` only with a Qualcomm HTP device,
/// its backend library and ONNX Runtime all present.
pub fn detect() -> std::result::Result<(String, String), String> {
    let devices = htp_devices();
    let runtime = library_path();
    let htp = htp_backend();
    if devices.is_empty() {
        let mut reason = format!("no Qualcomm HTP device: no /dev/fastrpc-* on this {} host (QNN's HTP is a Snapdragon NPU; a CPU fallback never counts as QNN)", std::env::consts::ARCH);
        if let Err(why) = &htp {
            reason.push_str(&format!("; also {why}"));
        }
        return Err(reason);
    }
    let htp = htp?;
    let runtime = runtime?;
    environment().map_err(|e| e.to_string())?;
    Ok((
        format!("Qualcomm HTP ({})", devices.join(", ")),
        format!("ONNX Runtime {} with {}", runtime.display(), htp.display()),
    ))
}
