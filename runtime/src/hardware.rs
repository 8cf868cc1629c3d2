//! Hardware detection: available or not, device, version, and the reason. The hardware table
//! itself ([`Hardware`]) is generated from `metadata/hardware.yaml` into the contract crate;
//! each engine detects the hardware it serves ([`crate::backend::Backend::detect`]).

use serde::{Deserialize, Serialize};

pub use export_request::{Engine, Hardware};

/// Environment variable listing hardware ids (or `all`) whose absence is a failure.
pub const REQUIRE_ENV: &str = "HFZOO_REQUIRE_HARDWARE";

/// True when `HFZOO_REQUIRE_HARDWARE` names this hardware (or `all`).
pub fn is_required(hw: Hardware) -> bool {
    std::env::var(REQUIRE_ENV)
        .map(|v| v.split(',').map(str::trim).any(|item| item == "all" || item == hw.id()))
        .unwrap_or(false)
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

impl Detection {
    /// A detection of `hw`.
    pub fn new(
        hw: Hardware,
        available: bool,
        device: impl Into<String>,
        version: impl Into<String>,
        reason: impl Into<String>,
    ) -> Detection {
        Detection {
            hardware: hw.id().into(),
            available,
            device: device.into(),
            version: version.into(),
            reason: reason.into(),
        }
    }
}

/// The CPU's model name from `/proc/cpuinfo` (the architecture when unknown).
pub(crate) fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Detects one hardware through the engine that serves it. Never panics; absence always
/// carries a concrete reason, also when this build lacks the engine.
pub fn detect(hw: Hardware) -> Detection {
    match crate::backend::for_hardware(hw) {
        Some(backend) => backend.detect(hw),
        None => Detection::new(hw, false, "", "", engine_absent(hw)),
    }
}

/// Why detecting `hw` failed although its software is there (see `Backend::detection_fault`).
pub fn detection_fault(hw: Hardware) -> Option<String> {
    crate::backend::for_hardware(hw).and_then(|backend| backend.detection_fault(hw))
}

/// Why a hardware has no backend in this build.
fn engine_absent(hw: Hardware) -> String {
    let engine = hw.engine();
    if crate::backend::ENGINE_FOLDERS.contains(&engine) {
        format!("this build of the runtime lacks the `{engine}` engine: turn on the runtime's cargo feature `{engine}` (the generated crate's feature `{}` does)", hw.feature())
    } else {
        format!("the runtime has no `{engine}` engine yet (no runtime/src/backend/{engine}/ folder)")
    }
}

/// Detects every hardware of the table.
pub fn detect_all() -> Vec<Detection> {
    Hardware::ALL.into_iter().map(detect).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "torch")]
    fn ids_round_trip_and_cpu_is_always_available() {
        for hw in Hardware::ALL {
            assert_eq!(Hardware::from_id(hw.id()), Some(hw));
        }
        let cpu = detect(Hardware::Cpu);
        assert!(cpu.available, "{cpu:?}");
        assert!(cpu.version.starts_with("libtorch 2.13.0"), "{}", cpu.version);
    }

    #[test]
    fn absent_hardware_always_has_a_reason() {
        for found in detect_all().into_iter().filter(|d| !d.available) {
            assert!(!found.reason.is_empty(), "{} has no reason", found.hardware);
        }
    }

    #[test]
    fn a_hardware_whose_engine_is_not_built_says_which_feature_turns_it_on() {
        #[cfg(not(feature = "browser"))]
        {
            let browser = detect(Hardware::Webgpu);
            assert!(!browser.available);
            assert!(browser.reason.contains("cargo feature `browser`"), "{}", browser.reason);
        }
        assert!(
            engine_absent(Hardware::Openvino).contains("cargo feature `openvino`"),
            "{}",
            engine_absent(Hardware::Openvino)
        );
    }
}
