//! One result as spooled to disk: run, hardware, model, outcome and measurements.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::hardware::Detection;
use crate::measure::{now_ms, Measurement};
use crate::paths;

/// What became of a cell, as its record and the results store name it (`passed`, ...). The
/// evaluation that carries the detail is [`crate::suite::Outcome`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// Ran and matched the reference on both input sets.
    Passed,
    /// Did not run or did not match.
    Failed,
    /// The hardware is absent (the default of a row built field by field: it claims nothing).
    #[default]
    Skipped,
    /// Metadata expects it not to run, and it did not.
    Unsupported,
}

impl OutcomeKind {
    /// Every outcome, in the order reports list them.
    pub const ALL: [OutcomeKind; 4] =
        [OutcomeKind::Passed, OutcomeKind::Failed, OutcomeKind::Unsupported, OutcomeKind::Skipped];

    /// The name in records, the results store and reports.
    pub fn id(self) -> &'static str {
        match self {
            OutcomeKind::Passed => "passed",
            OutcomeKind::Failed => "failed",
            OutcomeKind::Skipped => "skipped",
            OutcomeKind::Unsupported => "unsupported",
        }
    }

    /// The outcome named `id`, if any.
    pub fn from_id(id: &str) -> Option<OutcomeKind> {
        OutcomeKind::ALL.into_iter().find(|kind| kind.id() == id)
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// The run a result belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// `NEXTEST_RUN_ID`, `HFZOO_RUN_ID`, or one id per process.
    pub run_id: String,
    /// When the process started (unix ms).
    pub started_at_ms: i64,
    /// Host name.
    pub host: String,
    /// `git rev-parse HEAD` of the checkout, or `unknown`.
    pub git_commit: String,
    /// torch version (libtorch linked).
    pub torch_version: String,
    /// transformers version in the venv.
    pub transformers_version: String,
    /// Version of this runtime crate.
    pub runtime_version: String,
    /// Hardware features compiled into the generated crate, comma-separated.
    pub features: String,
    /// The CPU's model name (`/proc/cpuinfo`), or `unknown`.
    #[serde(default)]
    pub cpu_model: String,
    /// Logical CPUs this process may use.
    #[serde(default)]
    pub logical_cpus: i64,
    /// Operating system and kernel (`/proc/sys/kernel/ostype` and `osrelease`).
    #[serde(default)]
    pub os: String,
    /// Test-only settings that changed what was measured (e.g. an injected delay); empty in real runs.
    #[serde(default)]
    pub injected: String,
    /// What detection found for every backend on this machine (versions, devices, adapters),
    /// whether or not the run had tests for it.
    #[serde(default)]
    pub backends: Vec<Detection>,
}

/// The model of a result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelInfo {
    /// Model type.
    pub model_type: String,
    /// Display name.
    pub display_name: String,
    /// Family.
    pub family: String,
    /// Modalities its inputs exercise, comma-separated.
    #[serde(default)]
    pub modality: String,
    /// Task.
    pub task: String,
    /// transformers class run.
    pub model_class: String,
    /// Key model flag.
    pub key_model: bool,
}

/// One outcome of one model on one hardware in one run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Unique per (run, model, hardware); re-recording replaces.
    pub result_id: String,
    /// The run.
    pub run: RunInfo,
    /// What detection found.
    pub hardware: Detection,
    /// The model.
    pub model: ModelInfo,
    /// What the cell checked (records from before kinds checked a forward pass; a forward
    /// cell's record does not name it, so those records read and write back unchanged).
    #[serde(default, skip_serializing_if = "crate::spec::CellKind::is_forward")]
    pub kind: crate::spec::CellKind,
    /// `passed`, `failed`, `skipped` or `unsupported`.
    pub outcome: OutcomeKind,
    /// `pass` or `unsupported: <reason>`.
    pub expected: String,
    /// The diff, error or reason.
    pub detail: String,
    /// Category of an expected `unsupported`, or the one a failure failed in (absent in records from before categories).
    #[serde(default)]
    pub category: Option<crate::FailureCategory>,
    /// Artifact key when one was used.
    pub artifact_key: Option<String>,
    /// Measurements with units.
    pub measurements: Vec<Measurement>,
    /// Every timed latency sample in ms, in the order taken.
    #[serde(default)]
    pub samples: Vec<f64>,
    /// When recorded (unix ms).
    pub recorded_at_ms: i64,
    /// Set when this run reused a stored verdict instead of running the cell: the outcome,
    /// detail, measurements and samples are those of the run named here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused: Option<ReusedFrom>,
}

/// Where a reused verdict came from ([`crate::verdict`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReusedFrom {
    /// The run that measured it.
    pub run_id: String,
    /// That run's commit.
    pub git_commit: String,
    /// When that run recorded it (unix ms).
    pub recorded_at_ms: i64,
    /// The cell's verdict digest.
    pub digest: String,
}

/// This process's run information (computed once).
pub fn run_info(features: &str) -> RunInfo {
    static BASE: OnceLock<RunInfo> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        let started_at_ms = now_ms();
        // An explicit id first: shards of one run on many machines share it.
        let run_id = ["HFZOO_RUN_ID", "NEXTEST_RUN_ID"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| format!("{started_at_ms}-{}", std::process::id()));
        RunInfo {
            run_id,
            started_at_ms,
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            git_commit: git_commit(),
            torch_version: paths::torch_version(),
            transformers_version: paths::python_package_version("transformers"),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
            features: String::new(),
            cpu_model: crate::hardware::cpu_name(),
            logical_cpus: std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(0),
            os: os(),
            backends: crate::backend::detect_all(),
            injected: std::env::var(crate::measure::INJECT_DELAY_ENV)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{}={v}", crate::measure::INJECT_DELAY_ENV))
                .unwrap_or_default(),
        }
    });
    RunInfo { features: features.to_string(), ..base.clone() }
}

fn os() -> String {
    let read =
        |name: &str| std::fs::read_to_string(format!("/proc/sys/kernel/{name}")).map(|v| v.trim().to_string()).ok();
    match (read("ostype"), read("osrelease")) {
        (Some(kind), Some(release)) => format!("{kind} {release}"),
        _ => std::env::consts::OS.to_string(),
    }
}

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(paths::root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// File-name-safe id of a cell's record: [`result_id`], with the kind after it for cells other
/// than a forward pass (a type's generation cell beside its forward cell on one hardware).
pub fn cell_result_id(run_id: &str, model_type: &str, hardware: &str, kind: crate::spec::CellKind) -> String {
    match kind {
        crate::spec::CellKind::Forward => result_id(run_id, model_type, hardware),
        kind => format!("{}__{}", result_id(run_id, model_type, hardware), kind.id()),
    }
}

/// File-name-safe id from the run, model and hardware.
pub fn result_id(run_id: &str, model_type: &str, hardware: &str) -> String {
    let clean = |s: &str| {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect::<String>()
    };
    format!("{}__{}__{}", clean(run_id), clean(model_type), clean(hardware))
}
