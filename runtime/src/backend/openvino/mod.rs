//! The OpenVINO backend: ONNX files (or OpenVINO IR from its PyTorch frontend, and a decoder's
//! stateful IR for generation) on the OpenVINO runtime's CPU plugin, loaded at run time from the
//! PyPI wheel's libraries. Everything that names an `openvino` type lives in this folder.
//!
//! Precision: on CPUs with bf16 (AVX512_BF16, AMX) the CPU plugin runs float32 models in bf16
//! unless told otherwise; the backend sets `INFERENCE_PRECISION_HINT=f32` and records the
//! precision the plugin reports, with the CPU's bf16 and AMX capability, on every result.

mod convert;
pub mod library;
mod stateful;

use std::sync::Mutex;

use openvino::{CompiledModel, DeviceType, InferRequest, RwPropertyKey};

use super::{Backend, LoadedModel};
use crate::artifacts::{Artifact, ArtifactFormat};
use crate::error::{Error, Result};
use crate::hardware::Detection;
use crate::measure::Measurement;
use crate::tensor::HostTensor;
use crate::Hardware;

/// OpenVINO through its C API.
pub struct OpenvinoBackend;

/// A model compiled for the CPU plugin, with one infer request.
pub struct OpenvinoModel {
    /// The compiled model and its request (the request runs one inference at a time).
    state: Mutex<(CompiledModel, InferRequest)>,
    /// For each model input port (in port order), the index of the spec input it takes.
    inputs: Vec<usize>,
    /// Whether OpenVINO took the compiled model from its cache (`LOADED_FROM_CACHE`) instead
    /// of compiling it: a load time then measures a cache read.
    loaded_from_cache: bool,
}

/// An OpenVINO error as the runtime's, its message led by what went wrong (see `readable`).
pub(crate) fn engine_error(error: impl std::fmt::Display) -> Error {
    Error::Engine { engine: "openvino", message: readable(&error.to_string()) }
}

/// OpenVINO's messages open with a chain of `Exception from <source file>:<line>:` and
/// `Check '...' failed at <file>:<line>:` lines and state the cause last; a result keeps only
/// its first line, so the cause comes first and the chain after it (nothing is dropped).
fn readable(message: &str) -> String {
    let message = message.trim();
    let (prefix, body) =
        message.strip_prefix("general error: ").map_or(("", message), |rest| ("general error: ", rest));
    let is_chain = |line: &&str| {
        line.starts_with("Exception from ") || (line.starts_with("Check '") && line.contains(" failed at "))
    };
    let (chain, cause): (Vec<&str>, Vec<&str>) =
        body.lines().map(str::trim).filter(|l| !l.is_empty()).partition(is_chain);
    if cause.is_empty() || chain.is_empty() {
        return message.to_string();
    }
    format!("{prefix}{}\n({})", cause.join(" "), chain.join(" "))
}

/// Formats the backend loads, in order of preference: the ONNX file, else (only when no ONNX
/// exporter could write a checked file) the IR of OpenVINO's own PyTorch frontend.
const FORMATS: [ArtifactFormat; 2] = [ArtifactFormat::Onnx, ArtifactFormat::OpenvinoIr];

/// Environment variable that sets the CPU plugin's inference threads (default 1, as for torch).
pub const THREADS_ENV: &str = "HFZOO_OPENVINO_THREADS";

/// Inference threads of the CPU plugin (`HFZOO_OPENVINO_THREADS`, default 1).
pub fn threads() -> u32 {
    std::env::var(THREADS_ENV).ok().and_then(|v| v.parse().ok()).filter(|n: &u32| *n > 0).unwrap_or(1)
}

impl Backend for OpenvinoBackend {
    fn name(&self) -> &'static str {
        "openvino"
    }

    fn formats(&self) -> &'static [ArtifactFormat] {
        &FORMATS
    }

    /// The stateful IR first (the cache stays in the engine), else the ONNX steps.
    fn generation_formats(&self) -> &'static [ArtifactFormat] {
        &[ArtifactFormat::OpenvinoGenerate, ArtifactFormat::OnnxGenerate]
    }

    fn load_steps(&self, hardware: Hardware, steps: &[(&Artifact, &[&str])]) -> Result<Vec<Box<dyn LoadedModel>>> {
        match steps {
            [(artifact, names), (again, _)]
                if artifact.format == ArtifactFormat::OpenvinoGenerate && artifact.dir == again.dir =>
            {
                openvino_only(hardware)?;
                stateful::load_pair(artifact, names)
            }
            _ => steps.iter().map(|(artifact, names)| self.load(hardware, artifact, names)).collect(),
        }
    }

    fn detect(&self, hardware: Hardware) -> Detection {
        match library::detect() {
            Ok(found) => Detection::new(hardware, true, found.device, found.version, found.reason),
            Err(reason) => Detection::new(hardware, false, String::new(), String::new(), reason),
        }
    }

    fn load(&self, hardware: Hardware, artifact: &Artifact, input_names: &[&str]) -> Result<Box<dyn LoadedModel>> {
        openvino_only(hardware)?;
        if !FORMATS.contains(&artifact.format) {
            return Err(Error::Artifact {
                path: artifact.dir.clone(),
                message: format!(
                    "the openvino backend loads onnx or openvino-ir artifacts, not {}",
                    artifact.format.id()
                ),
            });
        }
        let model_path = artifact.model();
        let weights = match artifact.format {
            ArtifactFormat::OpenvinoIr => artifact.dir.join("model.bin").display().to_string(),
            _ => String::new(),
        };
        let spec_inputs = input_names;
        // The port names OpenVINO reports can be internal ones; the exporter recorded the
        // graph's own input names in port order.
        let graph_inputs: Option<Vec<String>> = artifact
            .manifest()?
            .export
            .and_then(|e| e.get("inputs").cloned())
            .and_then(|v| serde_json::from_value(v).ok());
        // OpenVINO's model cache (when on) is safe across threads, not across processes: two
        // test processes compiling the same model would write one blob at once. One compile
        // per artifact at a time, machine-wide; the second then reads the first's blob.
        let _compiling = library::compile_lock(&artifact.key)?;
        let (compiled, request, inputs) = library::with_core(|core| {
            let model = core.read_model_from_file(&model_path.display().to_string(), &weights).map_err(engine_error)?;
            let mut compiled = core.compile_model(&model, DeviceType::CPU).map_err(engine_error)?;
            let inputs = input_positions(&mut compiled, graph_inputs.as_deref(), spec_inputs, &model_path)?;
            let request = compiled.create_infer_request().map_err(engine_error)?;
            Ok((compiled, request, inputs))
        })?;
        let loaded_from_cache = loaded_from_cache(&compiled);
        Ok(Box::new(OpenvinoModel { state: Mutex::new((compiled, request)), inputs, loaded_from_cache }))
    }

    fn settings(&self) -> Vec<Measurement> {
        let mut out = vec![Measurement::new("openvino_threads", f64::from(threads()), "count")];
        out.push(Measurement::new("openvino_model_cache", f64::from(u8::from(library::model_cache_enabled())), "flag"));
        let cpu = library::cpu_capability();
        out.push(Measurement::new("cpu_avx512_bf16", f64::from(u8::from(cpu.avx512_bf16)), "flag"));
        out.push(Measurement::new("cpu_amx_bf16", f64::from(u8::from(cpu.amx_bf16)), "flag"));
        if let Ok(precision) = library::inference_precision() {
            out.push(Measurement::new("openvino_inference_f32", f64::from(u8::from(precision == "f32")), "flag"));
        }
        out
    }
}

/// Refuses hardware other than OpenVINO's.
fn openvino_only(hardware: Hardware) -> Result<()> {
    if hardware == Hardware::Openvino {
        Ok(())
    } else {
        Err(Error::HardwareAbsent { hardware: hardware.id(), reason: "not an OpenVINO backend".into() })
    }
}

/// `LOADED_FROM_CACHE` of a compiled model, read back from OpenVINO (`YES`/`true`); false when
/// the property cannot be read.
fn loaded_from_cache(compiled: &CompiledModel) -> bool {
    let key = openvino::PropertyKey::Other("LOADED_FROM_CACHE".into());
    compiled
        .get_property(&key)
        .is_ok_and(|value| matches!(value.trim().to_ascii_lowercase().as_str(), "yes" | "true" | "1"))
}

impl LoadedModel for OpenvinoModel {
    fn load_facts(&self) -> Vec<Measurement> {
        vec![Measurement::new("openvino_loaded_from_cache", f64::from(u8::from(self.loaded_from_cache)), "flag")]
    }

    fn bare<'a>(&'a self, inputs: &[HostTensor]) -> Result<Option<super::BareCall<'a>>> {
        let tensors = self
            .inputs
            .iter()
            .enumerate()
            .map(|(port, &position)| {
                let tensor = inputs.get(position).ok_or_else(|| {
                    Error::Mismatch(format!("model input {port} takes spec input {position}, which was not given"))
                })?;
                convert::to_openvino(tensor)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Box::new(move || {
            let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let (_, request) = &mut *state;
            for (port, tensor) in tensors.iter().enumerate() {
                request.set_input_tensor_by_index(port, tensor).map_err(engine_error)?;
            }
            request.infer().map_err(engine_error)
        })))
    }

    fn forward(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (compiled, request) = &mut *state;
        infer(compiled, request, &self.inputs, inputs)
    }
}

/// For each input port of `compiled` (in port order), the index in `names` of the input it
/// takes, found by the port's name (`graph_inputs`, the exporter's record, where given: OpenVINO
/// can report internal names).
fn input_positions(
    compiled: &mut CompiledModel,
    graph_inputs: Option<&[String]>,
    names: &[&str],
    path: &std::path::Path,
) -> Result<Vec<usize>> {
    let mut positions = Vec::new();
    for index in 0..compiled.get_input_size().map_err(engine_error)? {
        let name = match graph_inputs.and_then(|given| given.get(index)) {
            Some(name) => name.clone(),
            None => compiled.get_input_by_index(index).and_then(|node| node.get_name()).map_err(engine_error)?,
        };
        let position = names.iter().position(|n| *n == name).ok_or_else(|| Error::Engine {
            engine: "openvino",
            message: format!(
                "model input `{name}` of {} is none of the spec's inputs ({})",
                path.display(),
                names.join(", ")
            ),
        })?;
        positions.push(position);
    }
    Ok(positions)
}

/// One inference: each port given the input `ports` maps it to, then every output copied to the
/// host in port order.
fn infer(
    compiled: &CompiledModel,
    request: &mut InferRequest,
    ports: &[usize],
    inputs: &[HostTensor],
) -> Result<Vec<HostTensor>> {
    for (port, &position) in ports.iter().enumerate() {
        let tensor = inputs.get(position).ok_or_else(|| {
            Error::Mismatch(format!("model input {port} takes spec input {position}, which was not given"))
        })?;
        request.set_input_tensor_by_index(port, &convert::to_openvino(tensor)?).map_err(engine_error)?;
    }
    request.infer().map_err(engine_error)?;
    let count = compiled.get_output_size().map_err(engine_error)?;
    (0..count)
        .map(|index| {
            request.get_output_tensor_by_index(index).map_err(engine_error).and_then(|t| convert::from_openvino(&t))
        })
        .collect()
}

/// The property the plugin is told before compiling: f32 inference and key/value cache (a
/// stateful model's cache is u8 by default), threads, one stream.
pub(crate) fn cpu_properties() -> Vec<(RwPropertyKey, String)> {
    vec![
        (RwPropertyKey::HintInferencePrecision, "f32".into()),
        (RwPropertyKey::Other("KV_CACHE_PRECISION".into()), "f32".into()),
        (RwPropertyKey::InferenceNumThreads, threads().to_string()),
        (RwPropertyKey::NumStreams, "1".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn openvino_messages_lead_with_their_cause() {
        let raw = "general error: Exception from src/inference/src/cpp/core.cpp:117:\nException from src/inference/src/dev/plugin.cpp:54:\nCheck '!shape.rank().is_dynamic()' failed at src/plugins/intel_cpu/src/node.cpp:108:\nUnexpected: CPU plug-in doesn't support Squeeze operation with dynamic rank. Operation name: head/Squeeze\n\n";
        let text = readable(raw);
        assert_eq!(text.lines().next().unwrap(), "general error: Unexpected: CPU plug-in doesn't support Squeeze operation with dynamic rank. Operation name: head/Squeeze");
        assert!(
            text.contains("Check '!shape.rank().is_dynamic()' failed at src/plugins/intel_cpu/src/node.cpp:108:"),
            "{text}"
        );
        assert_eq!(readable("general error: cannot open file"), "general error: cannot open file");
    }
}
