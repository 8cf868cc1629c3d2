//! The Python side of the benchmark (`runtime/exporter/bench_peers.py`): real-size
//! checkpoints, FLOP counts and the peers' timings, one JSON job per call.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::stats::Rule;
use runtime::error::{Error, Result};
use runtime::paths;

/// The script.
pub fn script() -> PathBuf {
    paths::root().join("runtime/exporter/bench_peers.py")
}

/// The script of the generation peers that run from their own environment
/// (`runtime/exporter/generate_peers.py`).
pub fn peers_script() -> PathBuf {
    paths::root().join("runtime/exporter/generate_peers.py")
}

/// The interpreter of the peers' environment, made by scripts/setup-peers.sh.
pub fn peers_python() -> PathBuf {
    paths::root().join(".venv-peers/bin/python")
}

/// Runs one job of bench_peers.py in the exporter's environment.
fn call(job: &Value) -> Result<Value> {
    call_script(&paths::python(), &script(), job)
}

/// Runs one job of `script` under `python`; the script's progress goes to this process's stderr.
fn call_script(python: &Path, script: &Path, job: &Value) -> Result<Value> {
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            Error::Exporter(format!(
                "cannot start {} {}: {e} (run scripts/setup.sh)",
                python.display(),
                script.display()
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(job.to_string().as_bytes())
            .map_err(|e| Error::Exporter(format!("cannot send the benchmark job: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Error::Exporter(format!("the benchmark's Python side did not finish: {e}")))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let answer: Value = text
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'))
        .ok_or_else(|| {
            Error::Exporter(format!("{} answered nothing ({}); its errors are above", script.display(), output.status))
        })
        .and_then(|line| {
            serde_json::from_str(line)
                .map_err(|source| Error::Json { context: format!("the answer of {}", script.display()), source })
        })?;
    if let Some(error) = answer.get("error").and_then(Value::as_str) {
        return Err(Error::Exporter(format!(
            "{} ({}): {error}",
            script.display(),
            job.get("command").and_then(Value::as_str).unwrap_or("?")
        )));
    }
    Ok(answer)
}

/// Writes `config_class`'s defaults (with `config`'s fields changed) and seeded random weights
/// of `model_class` to `out` (save_pretrained, safetensors); returns the parameter count.
/// A model whose float32 weights exceed `max_weight_bytes` is refused before anything is allocated.
pub fn make_checkpoint(
    config_class: &str,
    model_class: &str,
    config: &Value,
    out: &Path,
    max_weight_bytes: Option<u64>,
) -> Result<u64> {
    let answer = call(
        &json!({"command": "checkpoint", "config_class": config_class, "model_class": model_class, "config": config, "out": out, "seed": 0, "max_weight_bytes": max_weight_bytes}),
    )?;
    Ok(answer.get("parameters").and_then(Value::as_u64).unwrap_or(0))
}

/// The parameter count of each (config class, model class, config fields), built on PyTorch's
/// meta device: nothing is allocated, whatever the size.
pub fn count_parameters(models: &[(&str, &str, &Value)]) -> Result<Vec<u64>> {
    let models: Vec<Value> = models
        .iter()
        .map(|(config_class, model_class, config)| {
            json!({"config_class": config_class, "model_class": model_class, "config": config})
        })
        .collect();
    let answer = call(&json!({"command": "parameters", "models": models}))?;
    answer
        .get("parameters")
        .and_then(Value::as_array)
        .map(|counts| counts.iter().filter_map(Value::as_u64).collect::<Vec<_>>())
        .filter(|counts| counts.len() == models.len())
        .ok_or_else(|| Error::Exporter(format!("{} answered no parameter counts: {answer}", script().display())))
}

/// transformers' `generate` on a generation cell's checkpoint and prompt, as the script answers:
/// raw timings, or why it was not timed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateAnswer {
    /// `ok`, or `mismatch` (its ids are not the reference's: not timed).
    pub status: String,
    /// Why not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Timed prefills of the prompt, ms.
    #[serde(default)]
    pub prefill_ms: Vec<f64>,
    /// Timed whole generations, ms.
    #[serde(default)]
    pub generate_ms: Vec<f64>,
    /// Package versions.
    #[serde(default)]
    pub versions: Value,
    /// The engine's settings (threads, precision, how its model was made), where it has any.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub settings: Value,
    /// The ms it took to make the peer's own model from the checkpoint (0 when it was made
    /// before), where it makes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_ms: Option<f64>,
    /// The peer process's peak resident memory, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<f64>,
}

/// The generation peers beside transformers' `generate`, each from its own environment
/// (generate_peers.py under .venv-peers).
pub const ENVIRONMENT_PEERS: [&str; 3] = ["optimum-intel", "openvino-genai", "onnxruntime-genai"];

/// Runs one generation peer of [`ENVIRONMENT_PEERS`] on a generation cell's prompt (`inputs`):
/// its own model of `checkpoint` is made once into `work`, its ids compared with the
/// reference's, then it is timed under `rule`. Without .venv-peers, an error naming the script
/// that makes it.
pub fn environment_peer(
    peer: &str,
    checkpoint: &Path,
    work: &Path,
    inputs: &Path,
    reference: &Path,
    threads: i64,
    rule: &Rule,
) -> Result<GenerateAnswer> {
    let python = peers_python();
    if !python.exists() {
        return Err(Error::InvalidArgument(format!(
            "skipped: {} is absent (the peers' own environment): run `bash scripts/setup-peers.sh`",
            python.display()
        )));
    }
    let answer = call_script(
        &python,
        &peers_script(),
        &json!({
            "peer": peer, "checkpoint": checkpoint, "work": work, "inputs": inputs,
            "reference": reference, "threads": threads, "rule": rule,
        }),
    )?;
    serde_json::from_value(answer)
        .map_err(|source| Error::Json { context: format!("the answer of {}", peers_script().display()), source })
}

/// Runs transformers' `generate` on a generation cell's prompt (`inputs`) and compares its ids
/// with the cell's reference before timing it under `rule`.
pub fn generate_peer(
    checkpoint: &Path,
    digest: &str,
    request: &str,
    inputs: &Path,
    reference: &Path,
    threads: i64,
    rule: &Rule,
) -> Result<GenerateAnswer> {
    let request: Value = serde_json::from_str(request)
        .map_err(|source| Error::Json { context: "the generation request".into(), source })?;
    let answer = call(&json!({
        "command": "generate", "checkpoint": checkpoint, "digest": digest, "request": request,
        "inputs": inputs, "reference": reference, "threads": threads, "rule": rule,
    }))?;
    serde_json::from_value(answer)
        .map_err(|source| Error::Json { context: format!("the answer of {}", script().display()), source })
}

/// Where the model and its inputs are: the checkpoint, the exporter request it was exported
/// under and the cell's input set.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    /// The checkpoint directory.
    pub checkpoint: &'a Path,
    /// Its content digest (the request names it).
    pub digest: &'a str,
    /// The exporter request (JSON) of the cell.
    pub request: &'a str,
    /// The cell's inputs (`inputs_a.safetensors` of its artifact).
    pub inputs: &'a Path,
}

impl Model<'_> {
    fn job(&self, command: &str) -> Result<Value> {
        let request: Value = serde_json::from_str(self.request)
            .map_err(|source| Error::Json { context: "the cell's exporter request".into(), source })?;
        Ok(
            json!({"command": command, "checkpoint": self.checkpoint, "digest": self.digest, "request": request, "inputs": self.inputs}),
        )
    }
}

/// Floating-point operations of one forward as PyTorch's FLOP counter sees them (matrix
/// products, convolutions, attention), and the weights' size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flops {
    /// FLOPs of one forward on the cell's inputs (a multiply-add counts 2).
    pub flops: u64,
    /// FLOPs per operator (`aten.mm`, `aten.bmm`, ...).
    pub by_operator: std::collections::BTreeMap<String, u64>,
    /// Bytes of the weights.
    pub weight_bytes: u64,
    /// Parameters.
    pub parameters: u64,
}

/// Counts the FLOPs of one eager forward of `model` on its inputs.
pub fn flops(model: &Model<'_>) -> Result<Flops> {
    let answer = call(&model.job("flops")?)?;
    serde_json::from_value(answer).map_err(|source| Error::Json { context: "the FLOP count".into(), source })
}

/// How a peer's cell ended, as `runtime/exporter/bench_peers.py` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerStatus {
    /// Ran and matched eager PyTorch: its samples count.
    Ok,
    /// Ran and did not match eager PyTorch (the error says how).
    FailedParity,
    /// Could not run this model (the error says why).
    Unsupported,
    /// Not a peer the bench knows, or its run broke (the error says which).
    Error,
}

impl PeerStatus {
    /// The id the answer writes (`failed-parity`).
    pub fn id(self) -> &'static str {
        match self {
            PeerStatus::Ok => "ok",
            PeerStatus::FailedParity => "failed-parity",
            PeerStatus::Unsupported => "unsupported",
            PeerStatus::Error => "error",
        }
    }
}

/// One peer's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerRun {
    /// How it ended.
    pub status: PeerStatus,
    /// Timed samples, ms (status `ok`).
    #[serde(default)]
    pub samples: Vec<f64>,
    /// Warm-up runs before them.
    #[serde(default)]
    pub warmup_runs: usize,
    /// Load (or compile) time, ms.
    #[serde(default)]
    pub load_ms: Option<f64>,
    /// First inference, ms.
    #[serde(default)]
    pub first_ms: Option<f64>,
    /// The settings it ran with (threads, optimisation level, hints, versions).
    #[serde(default)]
    pub settings: Value,
    /// Why it did not run or match.
    #[serde(default)]
    pub error: Option<String>,
    /// The Python process's peak resident memory after it, MiB (the process's, so it includes the peers before).
    #[serde(default)]
    pub peak_rss_mib: Option<f64>,
}

/// The peers' answer for one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerAnswer {
    /// The FLOP count of the cell.
    pub flops: Flops,
    /// Each peer by name.
    pub peers: std::collections::BTreeMap<String, PeerRun>,
}

/// Files the file-based peers run: the ONNX file (ONNX Runtime) and what OpenVINO runs.
#[derive(Debug, Clone, Default)]
pub struct PeerFiles {
    /// The ONNX file.
    pub onnx: Option<PathBuf>,
    /// The file the runtime's OpenVINO cell loaded (ONNX or IR).
    pub openvino: Option<PathBuf>,
}

/// Runs `peers` (eager, compile, onnxruntime, openvino) on the cell, each compared with the
/// eager reference (`reference`, under `manifest`'s tolerances) before it is timed by `rule`.
pub fn run_peers(
    model: &Model<'_>,
    reference: &Path,
    manifest: &Path,
    files: &PeerFiles,
    peers: &[String],
    threads: i64,
    rule: &Rule,
) -> Result<PeerAnswer> {
    let mut job = model.job("peers")?;
    job["reference"] = json!(reference);
    job["manifest"] = json!(manifest);
    job["files"] = json!({"onnx": files.onnx, "openvino": files.openvino});
    job["peers"] = json!(peers);
    job["threads"] = json!(threads);
    job["rule"] =
        serde_json::to_value(rule).map_err(|source| Error::Json { context: "the timing rule".into(), source })?;
    let answer = call(&job)?;
    serde_json::from_value(answer).map_err(|source| Error::Json { context: "the peers' answer".into(), source })
}
