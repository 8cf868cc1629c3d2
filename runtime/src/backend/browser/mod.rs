//! The browser backend: WebGPU and WebNN for real, through onnxruntime-web in headless
//! Chromium. It runs the ONNX artifacts the OpenVINO and QNN backends use (WebNN takes the
//! static-shape variant, one graph per input set). The browser itself is driven by the
//! `browser-driver` crate (`browser/`: launch, the loopback server, the page, one browser per
//! process, tensors on the wire, node placement, each re-exported here); this folder holds the
//! backend (artifacts in, verdict-ready outputs out) and `probe`: the adapter and WebNN's
//! contexts, as detection reports them.
//!
//! Traps that would give a wrong pass are errors naming the trap: every compute node falling
//! back to wasm, int64 values the WebGPU path narrows to 32 bits, float16 on an adapter without
//! `shader-f16`.

pub mod probe;

pub use browser_driver::{driver, launch, placement, server, wire};

/// onnxruntime-web's `dist` folder for this checkout ([`driver::ort_dir`]).
pub fn ort_dir() -> std::path::PathBuf {
    driver::ort_dir(&crate::paths::root())
}

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Backend, LoadedModel};
use crate::artifacts::{Artifact, ArtifactFormat, StaticGraph};
use crate::error::{Error, Result};
use crate::hardware::Detection;
use crate::measure::Measurement;
use crate::tensor::{DType, HostTensor};
use crate::Hardware;
use driver::PageModel;
use placement::Placement;

/// onnxruntime-web in headless Chromium, for one web API.
pub struct BrowserBackend {
    hardware: Hardware,
}

/// The backend of `webgpu`.
pub static WEBGPU: BrowserBackend = BrowserBackend { hardware: Hardware::Webgpu };

/// The backend of `webnn`.
pub static WEBNN: BrowserBackend = BrowserBackend { hardware: Hardware::Webnn };

/// The backend serving `hardware`, if the browser serves it.
pub fn for_hardware(hardware: Hardware) -> Option<&'static BrowserBackend> {
    match hardware {
        Hardware::Webgpu => Some(&WEBGPU),
        Hardware::Webnn => Some(&WEBNN),
        _ => None,
    }
}

fn engine(message: String) -> Error {
    Error::Engine { engine: browser_driver::ENGINE, message }
}

/// A model loaded on the page.
pub struct BrowserModel {
    page: PageModel,
    hardware: Hardware,
    input_names: Vec<String>,
    /// For static graphs (WebNN): each graph and the input shapes it takes (empty: one dynamic graph).
    graphs: Vec<StaticGraph>,
    /// The page's session this model runs when it has no static graphs (a step of several on one page).
    session: usize,
    placement: Option<Placement>,
    software_adapter: bool,
    shader_f16: bool,
}

impl Backend for BrowserBackend {
    fn name(&self) -> &'static str {
        "browser"
    }

    fn formats(&self) -> &'static [ArtifactFormat] {
        if self.hardware.static_shapes() {
            &[ArtifactFormat::OnnxStatic]
        } else {
            &[ArtifactFormat::Onnx]
        }
    }

    fn generation_formats(&self) -> &'static [ArtifactFormat] {
        // Each step is an ONNX graph of dynamic length; WebNN's static shapes have no such graph.
        if self.hardware.static_shapes() {
            &[]
        } else {
            &[ArtifactFormat::OnnxGenerate]
        }
    }

    fn detect(&self, hardware: Hardware) -> Detection {
        match probe::probe() {
            Ok(found) => found.detection(hardware),
            Err(why) => Detection::new(hardware, false, "", "", why.to_string()),
        }
    }

    fn detection_fault(&self, _hardware: Hardware) -> Option<String> {
        match probe::probe() {
            Err(probe::ProbeError::Failed(why)) => Some(why.clone()),
            _ => None,
        }
    }

    fn load(&self, hardware: Hardware, artifact: &Artifact, input_names: &[&str]) -> Result<Box<dyn LoadedModel>> {
        let graphs = if artifact.format == ArtifactFormat::OnnxStatic {
            self.check_format(hardware, artifact)?;
            artifact.static_graphs(input_names)?
        } else {
            Vec::new()
        };
        let mut models = self.open(hardware, &[(artifact, input_names)], graphs)?;
        Ok(Box::new(models.remove(0)))
    }

    /// One page holds every step, each its own session: alternating between them (prefill, then
    /// a decode step per token) never moves the browser to a fresh page.
    fn load_steps(&self, hardware: Hardware, steps: &[(&Artifact, &[&str])]) -> Result<Vec<Box<dyn LoadedModel>>> {
        let models = self.open(hardware, steps, Vec::new())?;
        Ok(models.into_iter().map(|m| Box::new(m) as Box<dyn LoadedModel>).collect())
    }

    fn settings(&self) -> Vec<Measurement> {
        vec![Measurement::new("browser_wasm_threads", 1.0, "count")]
    }
}

impl BrowserBackend {
    /// An error unless `artifact` is of a format this backend loads on `hardware`.
    fn check_format(&self, hardware: Hardware, artifact: &Artifact) -> Result<()> {
        if hardware != self.hardware {
            return Err(Error::HardwareAbsent {
                hardware: hardware.id(),
                reason: format!("the {} backend serves {}", self.hardware.id(), self.hardware.id()),
            });
        }
        if !self.formats().contains(&artifact.format) {
            return Err(Error::Artifact {
                path: artifact.dir.clone(),
                message: format!(
                    "the {} backend loads {} artifacts, not {}",
                    hardware.id(),
                    self.format().id(),
                    artifact.format.id()
                ),
            });
        }
        Ok(())
    }

    /// Loads `parts` (each an artifact and the inputs a caller feeds it) onto one fresh page, a
    /// session each, and returns a model per part. `graphs`: a single part's static graphs (its
    /// sessions, chosen by input shapes), empty otherwise.
    fn open(
        &self,
        hardware: Hardware,
        parts: &[(&Artifact, &[&str])],
        graphs: Vec<StaticGraph>,
    ) -> Result<Vec<BrowserModel>> {
        for (artifact, _) in parts {
            self.check_format(hardware, artifact)?;
        }
        let found = probe::probe()
            .as_ref()
            .map_err(|why| Error::HardwareAbsent { hardware: hardware.id(), reason: why.to_string() })?;
        let (provider, adapter) = match hardware {
            Hardware::Webnn => {
                let device = found
                    .webnn
                    .as_ref()
                    .map_err(|why| Error::HardwareAbsent { hardware: "webnn", reason: why.clone() })?;
                (serde_json::json!({"name": "webnn", "deviceType": device}), None)
            }
            _ => (
                serde_json::json!("webgpu"),
                Some(
                    found
                        .webgpu
                        .as_ref()
                        .map_err(|why| Error::HardwareAbsent { hardware: "webgpu", reason: why.clone() })?,
                ),
            ),
        };
        let files = if graphs.is_empty() {
            parts.iter().map(|(artifact, _)| artifact.model()).collect()
        } else {
            graphs.iter().map(|g| g.file.clone()).collect()
        };
        static TOKENS: AtomicU64 = AtomicU64::new(1);
        let page = PageModel { token: TOKENS.fetch_add(1, Ordering::Relaxed), files, provider };
        let loaded = driver::with_browser(&ort_dir(), |browser| browser.open(&page))?;
        // The page names the first session's inputs; a later step's missing input is the page's
        // own error when it runs.
        let (first, first_names) = parts[0];
        for name in &loaded.inputs {
            if !first_names.contains(&name.as_str()) {
                return Err(engine(format!(
                    "model input `{name}` of {} is none of the spec's inputs ({})",
                    first.model().display(),
                    first_names.join(", ")
                )));
            }
        }
        let placement = Placement::parse(loaded.placement.iter().map(String::as_str));
        if let Some(why) = placement.as_ref().and_then(Placement::all_compute_fell_back) {
            return Err(engine(format!("not a {} run: {why}", hardware.name())));
        }
        let shared_graphs = graphs;
        Ok(parts
            .iter()
            .enumerate()
            .map(|(index, (_, names))| BrowserModel {
                page: page.clone(),
                hardware,
                input_names: names.iter().map(|s| s.to_string()).collect(),
                graphs: if parts.len() == 1 { shared_graphs.clone() } else { Vec::new() },
                session: index,
                placement: placement.clone(),
                software_adapter: adapter.is_some_and(|a| a.fallback),
                shader_f16: adapter.is_some_and(|a| a.shader_f16()),
            })
            .collect())
    }
}

impl BrowserModel {
    /// The first input that would make a run wrong rather than fail: float16 without
    /// `shader-f16`, or int64 values outside 32 bits on WebGPU.
    fn trap(&self, inputs: &[HostTensor]) -> Option<String> {
        for (name, tensor) in self.input_names.iter().zip(inputs) {
            if self.hardware == Hardware::Webgpu && tensor.dtype() == DType::Float16 && !self.shader_f16 {
                return Some(format!("input `{name}` is float16 and the WebGPU adapter has no shader-f16"));
            }
            if self.hardware == Hardware::Webgpu {
                if let Some(value) =
                    tensor.as_i64().and_then(|values| values.iter().find(|v| i32::try_from(**v).is_err()))
                {
                    return Some(format!(
                        "input `{name}` holds the int64 value {value}, which WebGPU narrows to 32 bits"
                    ));
                }
            }
        }
        None
    }

    /// The graph whose shapes the inputs have (one graph unless static).
    fn graph(&self, inputs: &[HostTensor]) -> Result<usize> {
        if self.graphs.is_empty() {
            return Ok(self.session);
        }
        self.graphs.iter().position(|graph| graph.fits(inputs)).ok_or_else(|| {
            Error::Mismatch(format!(
                "{} takes static shapes: no graph of this artifact was exported for input shapes {:?}",
                self.hardware.name(),
                inputs.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>()
            ))
        })
    }
}

impl LoadedModel for BrowserModel {
    fn forward(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>> {
        if let Some(trap) = self.trap(inputs) {
            return Err(engine(format!("unsupported on {}: {trap}", self.hardware.name())));
        }
        let graph = self.graph(inputs)?;
        let named: Vec<(&str, &HostTensor)> = self.input_names.iter().map(String::as_str).zip(inputs).collect();
        let outputs = driver::with_browser(&ort_dir(), |browser| browser.run(&self.page, graph, &named))?;
        Ok(outputs.into_iter().map(|(_, tensor)| tensor).collect())
    }

    fn load_facts(&self) -> Vec<Measurement> {
        let mut facts =
            vec![Measurement::new("browser_software_adapter", f64::from(u8::from(self.software_adapter)), "flag")];
        if let Some(placement) = &self.placement {
            facts.push(Measurement::new("browser_accelerated_nodes", placement.accelerated() as f64, "count"));
            facts.push(Measurement::new("browser_fallback_nodes", placement.fallback() as f64, "count"));
            facts.push(Measurement::new(
                "browser_compute_fallback_nodes",
                placement.compute_fallback() as f64,
                "count",
            ));
        }
        facts
    }
}
