//! The case of a checkpoint: the skill's spec with the checkpoint's exporter request (the
//! model class of its task, the checkpoint's directory and digest, no tiny configuration).

use serde_json::{json, Value};

use super::task::{Task, Traced};
use crate::checkpoint::Checkpoint;
use export_request::shape::ANY;
use runtime::error::{Error, Result};
use runtime::spec::{Case, Constant, Dim, DimRef, Expected, ModelSpec, TensorSpec};

/// The case of `model` on `hardware` among `cases` (a build's registry), or why it has none:
/// an unknown model type, or a hardware whose feature this build left out.
pub fn find(
    cases: &[&'static Case],
    model: &str,
    hardware: runtime::Hardware,
) -> std::result::Result<&'static Case, String> {
    cases.iter().copied().find(|c| c.spec.model_type == model && c.hardware == hardware).ok_or_else(|| {
        if cases.iter().any(|c| c.spec.model_type == model) {
            format!(
                "this build has no `{model}` case on {} (build the generated crate with its feature)",
                hardware.id()
            )
        } else {
            format!("unknown model type `{model}` (metadata/models/ lists them)")
        }
    })
}

/// The size a checkpoint's processor gives one trailing axis of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Always this size (an image processor's crop, a feature extractor's mel bins).
    Fixed(usize),
    /// A size that varies from batch to batch (a padded canvas): a dynamic dimension, exported
    /// at `size` and checked at `varied`.
    Varies {
        /// The dimension's name (inputs sharing it must agree).
        name: &'static str,
        /// Its size in the exporter's first input set.
        size: usize,
        /// Its size in the second.
        varied: usize,
    },
}

/// How a checkpoint's processors shape its export, beyond the tiny request.
#[derive(Debug, Clone, Default)]
pub struct Shaping {
    /// Inputs whose trailing axes take sizes from the checkpoint's processors.
    pub sized: Vec<(&'static str, Vec<Axis>)>,
    /// The image placeholder's id and count per image that lead the ids (LLaVA-style prompts).
    pub image_tokens: Option<(i64, usize)>,
    /// Inputs the trace bakes in, with the checkpoint's row (LLaVA-NeXT's `image_sizes`).
    pub constants: Vec<(&'static str, Vec<f64>)>,
}

/// The exporter request of `checkpoint` for `spec`: the spec's inputs and dimensions (the
/// exporter's input sets: token ids inside every vocabulary), `traced`'s model class and
/// output, and the checkpoint's digest, which keys the artifact.
/// `shaping` gives inputs whose trailing axes take the checkpoint's processor's sizes
/// (`pixel_values`: height and width; `input_features`: mel bins and frames), the image
/// placeholders (id, count per image) that lead the ids of a LLaVA-style prompt, and the rows of
/// baked inputs. A generating model whose batch the trace fixes runs one prompt at a time: batch 1.
pub fn request(spec: &ModelSpec, checkpoint: &Checkpoint, traced: &Traced, shaping: &Shaping) -> Result<String> {
    let sized = &shaping.sized;
    let mut request: Value = serde_json::from_str(spec.request_json)
        .map_err(|source| Error::Json { context: format!("the exporter request of `{}`", spec.model_type), source })?;
    let object = request
        .as_object_mut()
        .ok_or_else(|| Error::Mismatch(format!("the exporter request of `{}` is not an object", spec.model_type)))?;
    object.remove("test_config");
    object.insert("model_class".into(), json!(traced.model_class));
    // The digest alone: the exporter finds the directory by it (`DIRS_ENV`), so the same
    // content in another folder reuses its artifacts.
    object.insert("checkpoint".into(), json!({"digest": checkpoint.digest}));
    let mut dims = Vec::new();
    if let Some(inputs) = object.get_mut("inputs").and_then(Value::as_array_mut) {
        for input in inputs.iter_mut() {
            let name = input.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            if let Some((_, row)) = shaping.constants.iter().find(|(n, _)| *n == name) {
                input["value"] = json!(row);
            }
            let Some((_, axes)) = sized.iter().find(|(n, _)| *n == name) else { continue };
            if let Some(shape) = input.get_mut("shape").and_then(Value::as_array_mut).filter(|s| s.len() >= axes.len())
            {
                let first = shape.len() - axes.len();
                for (slot, axis) in shape[first..].iter_mut().zip(axes) {
                    *slot = match *axis {
                        Axis::Fixed(size) => json!(size),
                        Axis::Varies { name, size, varied } => {
                            dims.push((name.to_string(), json!({"size": size, "varied": varied})));
                            json!(name)
                        }
                    };
                }
            }
        }
    }
    if let Some((token, count)) = shaping.image_tokens {
        dims.extend(image_prefix(object, token, count));
    }
    if let Some(declared) = object.get_mut("dims").and_then(Value::as_object_mut) {
        for (name, dim) in dims {
            declared.insert(name, dim);
        }
        let generates = matches!(traced.task, Task::Generate { .. });
        if let Some(batch) = declared
            .get_mut("batch")
            .and_then(Value::as_object_mut)
            .filter(|batch| generates && !batch.contains_key(export_request::DYNAMIC_FIELD))
        {
            batch.insert("size".into(), json!(1));
        }
    }
    let request_value = Value::Object(object.clone());
    let outputs: Vec<Value> = traced
        .outputs
        .iter()
        .map(|output| json!({"name": output, "shape": output_shape(&request_value, traced, output)}))
        .collect();
    object.insert("outputs".into(), Value::Array(outputs));
    Ok(request.to_string())
}

/// Sets the image-token prefix of the exporter's ids to `count` tokens `token` (the tiny
/// request's is the tiny model's), and lengthens the sequence dimension by as many more, so
/// that text still follows the image. Returns the new sequence dimension.
fn image_prefix(request: &mut serde_json::Map<String, Value>, token: i64, count: usize) -> Vec<(String, Value)> {
    let mut changed = Vec::new();
    let dims = request.get("dims").cloned().unwrap_or(Value::Null);
    for input in request.get_mut("inputs").and_then(Value::as_array_mut).into_iter().flatten() {
        let Some(tiny) = input.get("prefix").and_then(|p| p.get("count")).and_then(Value::as_u64) else { continue };
        input["prefix"] = json!({"count": count, "token": token});
        let Some(seq) = input
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|shape| shape.last())
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            continue;
        };
        let grow = |key: &str| {
            dims.get(&seq)
                .and_then(|d| d.get(key))
                .and_then(Value::as_u64)
                .map(|size| size - tiny.min(size) + count as u64)
        };
        let mut dim = json!({"size": grow("size").unwrap_or(count as u64 + 1)});
        if let Some(varied) = grow(export_request::DYNAMIC_FIELD) {
            dim[export_request::DYNAMIC_FIELD] = json!(varied);
        }
        changed.push((seq, dim));
    }
    changed
}

/// The traced output's shape in the request's terms: the request's where it declares that
/// output, else the shape of the ids it scores with a trailing class or vocabulary axis.
/// Every fixed size is the tiny model's, so each becomes `_` (any size: the checkpoint's).
fn output_shape(request: &Value, traced: &Traced, output: &str) -> Value {
    let shape_of = |list: &str, name: &str| {
        request
            .get(list)
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|e| e.get("name").and_then(Value::as_str) == Some(name)))
            .and_then(|e| e.get("shape"))
            .cloned()
    };
    let any_size = |shape: Vec<Value>| {
        Value::Array(shape.into_iter().map(|d| if d.is_string() { d } else { json!(ANY) }).collect())
    };
    if let Some(shape) = shape_of("outputs", output).and_then(|s| s.as_array().cloned()) {
        return any_size(shape);
    }
    // A CTC head scores each frame of the base model's states: [batch, frames, vocabulary].
    if let Some(shape) = shape_of("outputs", "last_hidden_state")
        .and_then(|s| s.as_array().cloned())
        .filter(|_| traced.task == Task::Transcribe)
    {
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
/// skill's spec with the checkpoint's request, outputs and sized inputs. Made once per load and
/// kept for the process's life (a few hundred bytes).
pub fn leak(base: &'static Case, request_json: String, traced: &Traced, shaping: &Shaping) -> Result<&'static Case> {
    let sized = &shaping.sized;
    let request: Value = serde_json::from_str(&request_json)
        .map_err(|source| Error::Json { context: "the checkpoint's exporter request".into(), source })?;
    // The request's dimensions: the spec's, resized where the checkpoint needs it, and the
    // dynamic axes of sized inputs.
    let static_name = |name: &str| -> &'static str {
        let known = base.spec.dims.iter().map(|dim| dim.name).chain(
            sized.iter().flat_map(|(_, axes)| axes.iter()).filter_map(|axis| match axis {
                Axis::Varies { name, .. } => Some(*name),
                Axis::Fixed(_) => None,
            }),
        );
        known.into_iter().find(|known| *known == name).unwrap_or_else(|| Box::leak(name.to_string().into_boxed_str()))
    };
    let dims: Vec<Dim> = request
        .get("dims")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, dim)| Dim {
            name: static_name(name),
            size: dim.get("size").and_then(Value::as_i64).unwrap_or(1),
            varied: dim.get(export_request::DYNAMIC_FIELD).and_then(Value::as_i64),
        })
        .collect();
    let dims: &'static [Dim] = Box::leak(dims.into_boxed_slice());
    // A named axis stays named where an input has it (the caller sets it); one the tiny model
    // derived (audio frames from samples) is the checkpoint's own, so any.
    let in_inputs =
        |name: &str| base.spec.inputs.iter().any(|input| input.shape.iter().any(|d| d.name() == Some(name)));
    let declared = request.get("outputs").and_then(Value::as_array).cloned().unwrap_or_default();
    let outputs: Vec<TensorSpec> = traced
        .outputs
        .iter()
        .map(|output| {
            let shape = declared
                .iter()
                .find(|o| o.get("name").and_then(Value::as_str) == Some(output))
                .and_then(|o| o.get("shape"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let shape: Vec<DimRef> = shape
                .iter()
                .map(|entry| match dims.iter().find(|dim| Some(dim.name) == entry.as_str() && in_inputs(dim.name)) {
                    Some(dim) => DimRef::Named(dim.name),
                    None => DimRef::Any,
                })
                .collect();
            TensorSpec { name: output, dtype: None, shape: Box::leak(shape.into_boxed_slice()) }
        })
        .collect();
    let outputs: &'static [TensorSpec] = Box::leak(outputs.into_boxed_slice());
    let model_class: &'static str = Box::leak(traced.model_class.clone().into_boxed_str());
    let inputs: Vec<TensorSpec> = base
        .spec
        .inputs
        .iter()
        .map(|input| {
            let shape = match sized.iter().find(|(name, _)| *name == input.name) {
                Some((_, axes)) if input.shape.len() >= axes.len() => {
                    let mut shape = input.shape.to_vec();
                    let first = shape.len() - axes.len();
                    for (slot, axis) in shape[first..].iter_mut().zip(axes) {
                        *slot = match *axis {
                            Axis::Fixed(size) => DimRef::Fixed(size as u32),
                            Axis::Varies { name, .. } => DimRef::Named(name),
                        };
                    }
                    &*Box::leak(shape.into_boxed_slice())
                }
                _ => input.shape,
            };
            TensorSpec { name: input.name, dtype: input.dtype, shape }
        })
        .collect();
    let inputs: &'static [TensorSpec] = Box::leak(inputs.into_boxed_slice());
    let constants: Vec<(&'static str, Constant)> = base
        .spec
        .constants
        .iter()
        .map(|(name, value)| match shaping.constants.iter().find(|(n, _)| n == name) {
            Some((_, row)) => (*name, Constant::Row(Box::leak(row.clone().into_boxed_slice()))),
            None => (*name, *value),
        })
        .collect();
    let constants: &'static [(&'static str, Constant)] = Box::leak(constants.into_boxed_slice());
    let spec: &'static ModelSpec = Box::leak(Box::new(ModelSpec {
        model_class,
        dims,
        inputs,
        outputs,
        constants,
        request_json: Box::leak(request_json.into_boxed_str()),
        ..*base.spec
    }));
    Ok(Box::leak(Box::new(Case { spec, hardware: base.hardware, expected: Expected::Pass })))
}
