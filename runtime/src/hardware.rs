//! Hardware ids and detection: available or not, device, version, and the reason.

use serde::{Deserialize, Serialize};

use crate::paths;

/// Every backend the project knows (see metadata/hardware.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hardware {
    /// CPU through libtorch.
    Cpu,
    /// NVIDIA CUDA through libtorch.
    Cuda,
    /// AMD ROCm through a HIP build of libtorch.
    Rocm,
    /// Apple Metal Performance Shaders through libtorch.
    Mps,
    /// Intel OpenVINO runtime.
    Openvino,
    /// Qualcomm QNN through ONNX Runtime.
    Qnn,
    /// WebNN in a headless browser.
    Webnn,
    /// WebGPU in a headless browser.
    Webgpu,
}

/// Environment variable listing hardware ids (or `all`) whose absence is a failure.
pub const REQUIRE_ENV: &str = "HFZOO_REQUIRE_HARDWARE";

impl Hardware {
    /// All eight, in table order.
    pub const ALL: [Hardware; 8] = [
        Hardware::Cpu,
        Hardware::Cuda,
        Hardware::Rocm,
        Hardware::Mps,
        Hardware::Openvino,
        Hardware::Qnn,
        Hardware::Webnn,
        Hardware::Webgpu,
    ];

    /// Short id (`cpu`).
    pub fn id(self) -> &'static str {
        match self {
            Hardware::Cpu => "cpu",
            Hardware::Cuda => "cuda",
            Hardware::Rocm => "rocm",
            Hardware::Mps => "mps",
            Hardware::Openvino => "openvino",
            Hardware::Qnn => "qnn",
            Hardware::Webnn => "webnn",
            Hardware::Webgpu => "webgpu",
        }
    }

    /// Parses an id.
    pub fn from_id(id: &str) -> Option<Hardware> {
        Hardware::ALL.into_iter().find(|hw| hw.id() == id)
    }

    /// The device string the exporter traces on.
    pub fn export_device(self) -> &'static str {
        match self {
            Hardware::Cuda | Hardware::Rocm => "cuda",
            Hardware::Mps => "mps",
            _ => "cpu",
        }
    }

    /// True when `HFZOO_REQUIRE_HARDWARE` names this hardware (or `all`).
    pub fn is_required(self) -> bool {
        std::env::var(REQUIRE_ENV)
            .map(|v| v.split(',').map(str::trim).any(|item| item == "all" || item == self.id()))
            .unwrap_or(false)
    }
}

/// What detection found for one hardware.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Detection {
    /// Hardware id.
    pub hardware: String,
    /// Usable now.
    pub available: bool,
    /// Device name when known.
    pub device: String,
    /// Driver or runtime version when known.
    pub version: String,
    /// Why it is (un)available.
    pub reason: String,
}

fn detection(hw: Hardware, available: bool, device: impl Into<String>, version: impl Into<String>, reason: impl Into<String>) -> Detection {
    Detection { hardware: hw.id().into(), available, device: device.into(), version: version.into(), reason: reason.into() }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// The CPU's model name from `/proc/cpuinfo` (the architecture when unknown).
pub(crate) fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| text.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn nvidia_driver() -> Option<String> {
    let text = read_trimmed("/proc/driver/nvidia/version")?;
    text.lines().next().map(|line| line.split_whitespace().skip_while(|w| *w != "Module").nth(1).unwrap_or(line).to_string())
}

/// Detects one hardware. Never panics; absence always carries a concrete reason.
pub fn detect(hw: Hardware) -> Detection {
    let torch = paths::torch_version();
    match hw {
        Hardware::Cpu => detection(hw, true, cpu_name(), format!("libtorch {torch}"), format!("{} logical cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))),
        Hardware::Cuda => {
            if paths::torch_hip_version().is_some() {
                return detection(hw, false, "", format!("libtorch {torch}"), "the linked libtorch is a ROCm (HIP) build, not CUDA");
            }
            let count = crate::backend::torch::cuda_device_count();
            if crate::backend::torch::cuda_available() && count > 0 {
                detection(hw, true, format!("{count} CUDA device(s)"), format!("driver {}, libtorch {torch}", nvidia_driver().unwrap_or_else(|| "unknown".into())), "crate::backend::torch::cuda_available()")
            } else if let Some(driver) = nvidia_driver() {
                detection(hw, false, "", format!("driver {driver}"), format!("NVIDIA driver {driver} present but libtorch {torch} sees no CUDA device"))
            } else {
                detection(hw, false, "", format!("libtorch {torch}"), "no NVIDIA GPU: /proc/driver/nvidia/version is absent and libtorch sees 0 CUDA devices")
            }
        }
        Hardware::Rocm => match paths::torch_hip_version() {
            None => detection(hw, false, "", format!("libtorch {torch}"), format!("the linked libtorch {torch} is not a ROCm build (torch/version.py: hip = None); ROCm needs a HIP build of torch 2.13.0")),
            Some(hip) if !std::path::Path::new("/dev/kfd").exists() => detection(hw, false, "", format!("HIP {hip}"), "no AMD GPU: /dev/kfd is absent"),
            Some(hip) if crate::backend::torch::cuda_available() => detection(hw, true, format!("{} ROCm device(s)", crate::backend::torch::cuda_device_count()), format!("HIP {hip}"), "HIP libtorch sees a device"),
            Some(hip) => detection(hw, false, "", format!("HIP {hip}"), "HIP libtorch sees no device"),
        },
        Hardware::Mps => {
            if cfg!(target_os = "macos") && crate::backend::torch::has_mps() {
                detection(hw, true, "Apple GPU", format!("libtorch {torch}"), "tch reports MPS")
            } else {
                detection(hw, false, "", format!("libtorch {torch}"), format!("MPS needs macOS on Apple silicon; this host is {} {}", std::env::consts::OS, std::env::consts::ARCH))
            }
        }
        Hardware::Openvino => match crate::backend::openvino::library::detect() {
            Ok(found) => detection(hw, true, found.device, found.version, found.reason),
            Err(reason) => detection(hw, false, "", "", reason),
        },
        Hardware::Qnn => match crate::backend::onnxruntime::library::detect() {
            Ok((device, version)) => detection(hw, true, device, version, "a Qualcomm HTP device, QNN's HTP backend and ONNX Runtime are present"),
            Err(reason) => detection(hw, false, "", "", reason),
        },
        Hardware::Webnn | Hardware::Webgpu => {
            let browser = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].into_iter().find(|p| std::path::Path::new(p).exists());
            let reason = match browser {
                Some(path) => format!("Chromium found at {path} but this build has no browser backend yet"),
                None => "no headless browser: Debian's chromium is not installed".to_string(),
            };
            detection(hw, false, "", "", reason)
        }
    }
}

/// Detects all eight backends.
pub fn detect_all() -> Vec<Detection> {
    Hardware::ALL.into_iter().map(detect).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_cpu_is_always_available() {
        for hw in Hardware::ALL {
            assert_eq!(Hardware::from_id(hw.id()), Some(hw));
        }
        let cpu = detect(Hardware::Cpu);
        assert!(cpu.available);
        assert!(cpu.version.starts_with("libtorch 2.13.0"), "{}", cpu.version);
    }

    #[test]
    fn absent_hardware_always_has_a_reason() {
        for found in detect_all().into_iter().filter(|d| !d.available) {
            assert!(!found.reason.is_empty(), "{} has no reason", found.hardware);
        }
    }
}
