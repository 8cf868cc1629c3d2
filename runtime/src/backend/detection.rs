//! Detection through the engines: each hardware is detected by the backend that serves it,
//! and a hardware whose engine this build lacks is absent with the cargo feature that adds it.

use super::{for_hardware, ENGINE_FOLDERS};
use crate::hardware::{Detection, Hardware};

/// Detects one hardware through the engine that serves it. Never panics; absence always
/// carries a concrete reason, also when this build lacks the engine.
pub fn detect(hw: Hardware) -> Detection {
    match for_hardware(hw) {
        Some(backend) => backend.detect(hw),
        None => Detection::new(hw, false, "", "", engine_absent(hw)),
    }
}

/// Why detecting `hw` failed although its software is there (see `Backend::detection_fault`).
pub fn detection_fault(hw: Hardware) -> Option<String> {
    for_hardware(hw).and_then(|backend| backend.detection_fault(hw))
}

/// Why a hardware has no backend in this build.
fn engine_absent(hw: Hardware) -> String {
    let engine = hw.engine();
    if ENGINE_FOLDERS.contains(&engine) {
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
    fn cpu_is_always_available() {
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
