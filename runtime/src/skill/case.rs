//! The case of a checkpoint: the skill's spec with the checkpoint's exporter request (the
//! model class of its task, the checkpoint's directory and digest, no tiny configuration).

use serde_json::{json, Value};

use super::task::{Task, Traced};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::spec::{Case, DimRef, Expected, ModelSpec, TensorSpec};
use export_request::shape::ANY;

/// The exporter request of `checkpoint` for `spec`: the spec's inputs and dimensions (the
/// exporter's input sets: token ids inside every vocabulary), `traced`'s model class and
/// output, and the checkpoint's digest, which keys the artifact.
/// `fixed` gives inputs whose trailing axes take the checkpoint's processor's sizes
/// (`pixel_values`: height and width; `input_features`: mel bins and frames).
pub fn request(spec: &ModelSpec, checkpoint: &Checkpoint, traced: &Traced, fixed: &[(&str, Vec<usize>)]) -> Result<String> {
    let mut request: Value = serde_json::from_str(spec.request_json).map_err(|source| Error::Json { context: format!("the exporter request of `{}`", spec.model_type), source })?;
    let object = request.as_object_mut().ok_or_else(|| Error::Mismatch(format!("the exporter request of `{}` is not an object", spec.model_type)))?;
    object.remove("test_config");
    object.insert("model_class".into(), json!(traced.model_class));
    // The digest alone: the exporter finds the directory by it (`DIRS_ENV`), so the same
    // content in another folder reuses its artifacts.
    object.insert("checkpoint".into(), json!({"digest": checkpoint.digest}));
    if let Some(inputs) = object.get_mut("inputs").and_then(Value::as_array_mut) {
        for input in inputs.iter_mut() {
            let name = input.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let Some((_, sizes)) = fixed.iter().find(|(n, _)| *n == name) else { continue };
            if let Some(shape) = input.get_mut("shape").and_then(Value::as_array_mut).filter(|s| s.len() >= sizes.len()) {
                let first = shape.len() - sizes.len();
                for (slot, size) in shape[first..].iter_mut().zip(sizes) {
                    *slot = json!(size);
                }
            }
        }
    }
    let shape = output_shape(&Value::Object(object.clone()), traced);
    object.insert("outputs".into(), json!([{"name": traced.output, "shape": shape}]));
    Ok(request.to_string())
}

/// The traced output's shape in the request's terms: the request's where it declares that
/// output, else the shape of the ids it scores with a trailing class or vocabulary axis.
/// Every fixed size is the tiny model's, so each becomes `_` (any size: the checkpoint's).
fn output_shape(request: &Value, traced: &Traced) -> Value {
    let shape_of = |list: &str, name: &str| request.get(list).and_then(Value::as_array).and_then(|l| l.iter().find(|e| e.get("name").and_then(Value::as_str) == Some(name))).and_then(|e| e.get("shape")).cloned();
    let any_size = |shape: Vec<Value>| Value::Array(shape.into_iter().map(|d| if d.is_string() { d } else { json!(ANY) }).collect());
    if let Some(shape) = shape_of("outputs", traced.output).and_then(|s| s.as_array().cloned()) {
        return any_size(shape);
    }
    // A CTC head scores each frame of the base model's states: [batch, frames, vocabulary].
    if let Some(shape) = shape_of("outputs", "last_hidden_state").and_then(|s| s.as_array().cloned()).filter(|_| traced.task == Task::Transcribe) {
        return any_size(shape);
    }
    let ids = match traced.task {
        Task::Generate { encoder_decoder: true } => "decoder_input_ids",
        _ => "input_ids",
    };
    let mut shape = shape_of("inputs", ids).and_then(|s| s.as_array().cloned()).unwrap_or_else(|| vec![json!("batch")]);
    if traced.task == Task::Classify {
        shape.truncate(1);
    }
    shape.push(json!(ANY));
    any_size(shape)
}

/// The variable naming, for the checkpoint exporter, each checkpoint's directory by its digest
/// (a JSON object); kept out of the request so that the artifact key is the content's alone.
pub const DIRS_ENV: &str = "HFZOO_CHECKPOINT_DIRS";

/// The image input whose last two axes follow the checkpoint's image processor.
pub const PIXELS: &str = "pixel_values";

/// A `'static` case for the checkpoint (sessions and the artifact cache take one): the
/// skill's spec with the checkpoint's request and output. Made once per load and kept for the
/// process's life (a few hundred bytes).
pub fn leak(base: &'static Case, request_json: String, traced: &Traced, fixed: &[(&str, Vec<usize>)]) -> Result<&'static Case> {
    let request: Value = serde_json::from_str(&request_json).map_err(|source| Error::Json { context: "the checkpoint's exporter request".into(), source })?;
    let declared = request.get("outputs").and_then(|o| o.get(0)).and_then(|o| o.get("shape")).and_then(Value::as_array).cloned().unwrap_or_default();
    // A named axis stays named where an input has it (the caller sets it); one the tiny model
    // derived (audio frames from samples) is the checkpoint's own, so any.
    let in_inputs = |name: &str| base.spec.inputs.iter().any(|input| input.shape.iter().any(|d| d.name() == Some(name)));
    let shape: Vec<DimRef> = declared
        .iter()
        .map(|entry| match base.spec.dims.iter().find(|dim| Some(dim.name) == entry.as_str() && in_inputs(dim.name)) {
            Some(dim) => DimRef::Named(dim.name),
            None => DimRef::Any,
        })
        .collect();
    let shape: &'static [DimRef] = Box::leak(shape.into_boxed_slice());
    let output: &'static [TensorSpec] = Box::leak(Box::new([TensorSpec { name: traced.output, dtype: None, shape }]));
    let model_class: &'static str = Box::leak(traced.model_class.clone().into_boxed_str());
    let inputs: Vec<TensorSpec> = base
        .spec
        .inputs
        .iter()
        .map(|input| {
            let shape = match fixed.iter().find(|(name, _)| *name == input.name) {
                Some((_, sizes)) if input.shape.len() >= sizes.len() => {
                    let mut shape = input.shape.to_vec();
                    let first = shape.len() - sizes.len();
                    for (slot, size) in shape[first..].iter_mut().zip(sizes) {
                        *slot = DimRef::Fixed(*size as u32);
                    }
                    &*Box::leak(shape.into_boxed_slice())
                }
                _ => input.shape,
            };
            TensorSpec { name: input.name, dtype: input.dtype, shape }
        })
        .collect();
    let inputs: &'static [TensorSpec] = Box::leak(inputs.into_boxed_slice());
    let spec: &'static ModelSpec = Box::leak(Box::new(ModelSpec { model_class, inputs, outputs: output, request_json: Box::leak(request_json.into_boxed_str()), ..*base.spec }));
    Ok(Box::leak(Box::new(Case { spec, hardware: base.hardware, expected: Expected::Pass })))
}
