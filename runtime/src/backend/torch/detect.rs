//! Detection of the hardware libtorch serves: cpu, cuda, rocm (a HIP build of libtorch) and mps.

use crate::hardware::{cpu_name, Detection};
use crate::paths;
use crate::Hardware;

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// The model names of the NVIDIA GPUs the driver lists (`/proc/driver/nvidia/gpus/*/information`,
/// its `Model:` line), sorted: part of the detection, so a verdict follows the GPU it ran on.
fn nvidia_models() -> Vec<String> {
    let mut models: Vec<String> = std::fs::read_dir("/proc/driver/nvidia/gpus")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|gpu| std::fs::read_to_string(gpu.path().join("information")).ok())
        .filter_map(|text| text.lines().find_map(|line| line.strip_prefix("Model:").map(|m| m.trim().to_string())))
        .collect();
    models.sort();
    models
}

/// The product names of the AMD GPUs (`/sys/class/drm/card*/device/product_name`), sorted.
fn amd_models() -> Vec<String> {
    let mut models: Vec<String> = std::fs::read_dir("/sys/class/drm")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|card| std::fs::read_to_string(card.path().join("device/product_name")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect();
    models.sort();
    models.dedup();
    models
}

/// `count device(s) of kind: model, model` (the models where the system names them).
fn devices(count: i64, kind: &str, models: &[String]) -> String {
    if models.is_empty() {
        format!("{count} {kind} device(s)")
    } else {
        format!("{count} {kind} device(s): {}", models.join(", "))
    }
}

fn nvidia_driver() -> Option<String> {
    let text = read_trimmed("/proc/driver/nvidia/version")?;
    text.lines()
        .next()
        .map(|line| line.split_whitespace().skip_while(|w| *w != "Module").nth(1).unwrap_or(line).to_string())
}

/// Detects one of the torch engine's hardware. Never panics; absence carries a concrete reason.
pub(super) fn detect(hw: Hardware) -> Detection {
    let torch = paths::torch_version();
    let detection = |available, device: String, version: String, reason: String| {
        Detection::new(hw, available, device, version, reason)
    };
    match hw {
        Hardware::Cpu => detection(true, cpu_name(), format!("libtorch {torch}"), format!("{} logical cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))),
        Hardware::Cuda => {
            if paths::torch_hip_version().is_some() {
                return detection(false, String::new(), format!("libtorch {torch}"), "the linked libtorch is a ROCm (HIP) build, not CUDA".into());
            }
            let count = tch::Cuda::device_count();
            if tch::Cuda::is_available() && count > 0 {
                detection(true, devices(count, "CUDA", &nvidia_models()), format!("driver {}, libtorch {torch}", nvidia_driver().unwrap_or_else(|| "unknown".into())), "libtorch reports CUDA available".into())
            } else if let Some(driver) = nvidia_driver() {
                detection(false, String::new(), format!("driver {driver}"), format!("NVIDIA driver {driver} present but libtorch {torch} sees no CUDA device"))
            } else {
                detection(false, String::new(), format!("libtorch {torch}"), "no NVIDIA GPU: /proc/driver/nvidia/version is absent and libtorch sees 0 CUDA devices".into())
            }
        }
        Hardware::Rocm => match paths::torch_hip_version() {
            None => detection(false, String::new(), format!("libtorch {torch}"), format!("the linked libtorch {torch} is not a ROCm build (torch/version.py: hip = None); ROCm needs a HIP build of torch 2.13.0")),
            Some(hip) if !std::path::Path::new("/dev/kfd").exists() => detection(false, String::new(), format!("HIP {hip}"), "no AMD GPU: /dev/kfd is absent".into()),
            Some(hip) if tch::Cuda::is_available() => detection(true, devices(tch::Cuda::device_count(), "ROCm", &amd_models()), format!("HIP {hip}"), "HIP libtorch sees a device".into()),
            Some(hip) => detection(false, String::new(), format!("HIP {hip}"), "HIP libtorch sees no device".into()),
        },
        Hardware::Mps => {
            if cfg!(target_os = "macos") && tch::utils::has_mps() {
                detection(true, "Apple GPU".into(), format!("libtorch {torch}"), "tch reports MPS".into())
            } else {
                detection(false, String::new(), format!("libtorch {torch}"), format!("MPS needs macOS on Apple silicon; this host is {} {}", std::env::consts::OS, std::env::consts::ARCH))
            }
        }
        other => detection(false, String::new(), String::new(), format!("the torch engine does not serve {}", other.id())),
    }
}
