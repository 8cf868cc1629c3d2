//! A stateful generation model (`openvino-generate`): one compiled IR whose keys and values are
//! model state. The prefill step starts a new infer request (an empty cache) and the decode step
//! continues it, so the cache never leaves the engine between steps.

use std::sync::{Arc, Mutex};

use openvino::{CompiledModel, DeviceType, InferRequest};

use super::{engine_error, library};
use crate::artifacts::Artifact;
use crate::backend::LoadedModel;
use crate::error::{Error, Result};
use crate::tensor::HostTensor;

/// The compiled model and the request whose state is the current decoding's cache.
struct Session {
    compiled: CompiledModel,
    request: Option<InferRequest>,
    /// For each model input port (in port order), the index of the step input it takes.
    inputs: Vec<usize>,
}

/// One step of a stateful model: `starts` (the prefill) opens a new request, the other continues.
pub struct StatefulStep {
    session: Arc<Mutex<Session>>,
    starts: bool,
}

/// The prefill and decode steps of a stateful IR, sharing one compiled model; both take `names`
/// (the ids and the mask), mapped onto the IR's inputs by name.
pub fn load_pair(artifact: &Artifact, names: &[&str]) -> Result<Vec<Box<dyn LoadedModel>>> {
    let xml = artifact.model();
    let weights = artifact.dir.join("model.bin");
    let _compiling = library::compile_lock(&artifact.key)?;
    let session = library::with_core(|core| {
        let model = core
            .read_model_from_file(&xml.display().to_string(), &weights.display().to_string())
            .map_err(engine_error)?;
        let mut compiled = core.compile_model(&model, DeviceType::CPU).map_err(engine_error)?;
        let inputs = super::input_positions(&mut compiled, None, names, &xml)?;
        Ok(Session { compiled, request: None, inputs })
    })?;
    let session = Arc::new(Mutex::new(session));
    Ok(vec![
        Box::new(StatefulStep { session: Arc::clone(&session), starts: true }),
        Box::new(StatefulStep { session, starts: false }),
    ])
}

impl LoadedModel for StatefulStep {
    fn forward(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>> {
        let mut session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Session { compiled, request, inputs: ports } = &mut *session;
        if self.starts {
            *request = Some(compiled.create_infer_request().map_err(engine_error)?);
        }
        let request = request
            .as_mut()
            .ok_or_else(|| Error::Mismatch("a decode step before any prefill: no cache to continue".into()))?;
        super::infer(compiled, request, ports, inputs)
    }
}
