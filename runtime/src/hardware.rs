//! What hardware detection finds: available or not, device, version, and the reason. The
//! hardware table itself ([`Hardware`]) is generated from `metadata/hardware.yaml` into the
//! contract crate; each engine detects the hardware it serves (`backend::detection`).

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
pub fn cpu_name() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for hw in Hardware::ALL {
            assert_eq!(Hardware::from_id(hw.id()), Some(hw));
        }
    }
}
