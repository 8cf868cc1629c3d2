//! The case of a checkpoint: the skill's spec with the checkpoint's exporter request (the
//! model class of its task, the checkpoint's directory and digest, no tiny configuration).

use super::task::{Task, Traced};
use crate::checkpoint::Checkpoint;
use export_request::{
    CheckpointRef, ConstantValue, DimRef, ExportRequest, InputFill, Prefix, RequestDim, RequestDimRef, RequestOutput,
};
use runtime::error::{Error, Result};
use runtime::spec::{Case, Constant, Cow, Dim, DimRef as SpecDimRef, Expected, ModelSpec, TensorSpec};

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
/// output, and the checkpoint's digest, which keys the artifact; no tiny configuration.
/// `shaping` gives inputs whose trailing axes take the checkpoint's processor's sizes
/// (`pixel_values`: height and width; `input_features`: mel bins and frames), the image
/// placeholders (id, count per image) that lead the ids of a LLaVA-style prompt, and the rows of
/// baked inputs. A generating model whose batch the trace fixes runs one prompt at a time: batch 1.
pub fn request(spec: &ModelSpec, checkpoint: &Checkpoint, traced: &Traced, shaping: &Shaping) -> Result<ExportRequest> {
    let mut request = ExportRequest::parse(&spec.request_json)
        .map_err(|why| Error::Mismatch(format!("the exporter request of `{}`: {why}", spec.model_type)))?;
    request.test_config.clear();
    request.model_class = traced.model_class.clone();
    // The digest alone: the exporter finds the directory by it (`DIRS_ENV`), so the same
    // content in another folder reuses its artifacts.
    request.checkpoint = Some(CheckpointRef { digest: checkpoint.digest.clone() });
    for input in request.inputs.iter_mut() {
        if let Some((_, row)) = shaping.constants.iter().find(|(n, _)| *n == input.name) {
            if let InputFill::Constant { value } = &mut input.fill {
                *value = ConstantValue::Row(row.clone());
            }
        }
        let Some((_, axes)) = shaping.sized.iter().find(|(n, _)| *n == input.name) else { continue };
        let Some(first) = input.shape.len().checked_sub(axes.len()) else { continue };
        for (slot, axis) in input.shape[first..].iter_mut().zip(axes) {
            *slot = match *axis {
                Axis::Fixed(size) => DimRef::Fixed(size as u32),
                Axis::Varies { name, size, varied } => {
                    request.dims.insert(name.into(), RequestDim { size: size as u32, varied: Some(varied as u32) });
                    DimRef::Named(name.into())
                }
            };
        }
    }
    if let Some((token, count)) = shaping.image_tokens {
        image_prefix(&mut request, token, count as u32);
    }
    if matches!(traced.task, Task::Generate { .. }) {
        if let Some(batch) = request.dims.get_mut("batch").filter(|batch| !batch.is_dynamic()) {
            batch.size = 1;
        }
    }
    let outputs = traced
        .outputs
        .iter()
        .map(|output| RequestOutput { name: output.to_string(), shape: output_shape(&request, traced, output) })
        .collect();
    request.outputs = outputs;
    Ok(request)
}

/// Sets the image-token prefix of the exporter's ids to `count` tokens `token` (the tiny
/// request's is the tiny model's), and lengthens the sequence dimension by as many more, so
/// that text still follows the image.
fn image_prefix(request: &mut ExportRequest, token: i64, count: u32) {
    let mut grown = Vec::new();
    for input in request.inputs.iter_mut() {
        let InputFill::TokenIds { prefix: Some(prefix), .. } = &mut input.fill else { continue };
        let tiny = prefix.count;
        *prefix = Prefix { token, count };
        if let Some(DimRef::Named(seq)) = input.shape.last() {
            grown.push((seq.clone(), tiny));
        }
    }
    for (seq, tiny) in grown {
        let grow = |size: u32| size - tiny.min(size) + count;
        let dim = match request.dims.get(&seq) {
            Some(dim) => RequestDim { size: grow(dim.size), varied: dim.varied.map(grow) },
            None => RequestDim { size: count + 1, varied: None },
        };
        request.dims.insert(seq, dim);
    }
}

/// The traced output's shape in the request's terms: the request's where it declares that
/// output, else the shape of the ids it scores with a trailing class or vocabulary axis.
/// Every fixed size is the tiny model's, so each becomes `_` (any size: the checkpoint's).
fn output_shape(request: &ExportRequest, traced: &Traced, output: &str) -> Vec<RequestDimRef> {
    let any_size = |shape: &[RequestDimRef]| -> Vec<RequestDimRef> {
        shape.iter().map(|d| if matches!(d, DimRef::Fixed(_)) { DimRef::Any } else { d.clone() }).collect()
    };
    let declared = |name: &str| request.outputs.iter().find(|o| o.name == name).map(|o| o.shape.as_slice());
    if let Some(shape) = declared(output) {
        return any_size(shape);
    }
    // A CTC head scores each frame of the base model's states: [batch, frames, vocabulary].
    if let Some(shape) = declared("last_hidden_state").filter(|_| traced.task == Task::Transcribe) {
        return any_size(shape);
    }
    let ids = match traced.task {
        Task::Generate { encoder_decoder: true } => "decoder_input_ids",
        _ => "input_ids",
    };
    let mut shape = request
        .inputs
        .iter()
        .find(|input| input.name == ids)
        .map(|input| input.shape.clone())
        .unwrap_or_else(|| vec![DimRef::Named("batch".into())]);
    if traced.task == Task::Classify {
        shape.truncate(1);
    }
    shape.push(DimRef::Any);
    any_size(&shape)
}

/// The variable naming, for the checkpoint exporter, each checkpoint's directory by its digest
/// (a JSON object); kept out of the request so that the artifact key is the content's alone.
pub const DIRS_ENV: &str = "HFZOO_CHECKPOINT_DIRS";

/// The image input whose last two axes follow the checkpoint's image processor.
pub const PIXELS: &str = "pixel_values";

/// The checkpoint's case (sessions and the artifact cache take one): the skill's spec with the
/// checkpoint's request, outputs and sized inputs, owned by whoever loads it.
pub fn checkpoint_case(base: &Case, request: &ExportRequest, traced: &Traced, shaping: &Shaping) -> Case {
    let sized = &shaping.sized;
    // The request's dimensions: the spec's, resized where the checkpoint needs it, and the
    // dynamic axes of sized inputs.
    let dims: Vec<Dim> = request
        .dims
        .iter()
        .map(|(name, dim)| Dim {
            name: Cow::Owned(name.clone()),
            size: i64::from(dim.size),
            varied: dim.varied.map(i64::from),
        })
        .collect();
    // A named axis stays named where an input has it (the caller sets it); one the tiny model
    // derived (audio frames from samples) is the checkpoint's own, so any.
    let input_axis = |name: &str| {
        base.spec.inputs.iter().flat_map(|input| input.shape.iter()).find_map(|entry| match entry {
            SpecDimRef::Named(named) if *named == name => Some(*named),
            _ => None,
        })
    };
    let outputs: Vec<TensorSpec> = traced
        .outputs
        .iter()
        .map(|output| {
            let shape =
                request.outputs.iter().find(|o| o.name == *output).map(|o| o.shape.as_slice()).unwrap_or_default();
            let shape: Vec<SpecDimRef> = shape
                .iter()
                .map(|entry| {
                    match entry.name().filter(|name| dims.iter().any(|dim| dim.name == *name)).and_then(input_axis) {
                        Some(name) => SpecDimRef::Named(name),
                        None => SpecDimRef::Any,
                    }
                })
                .collect();
            TensorSpec { name: Cow::Owned(output.to_string()), dtype: None, shape: Cow::Owned(shape) }
        })
        .collect();
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
                            Axis::Fixed(size) => SpecDimRef::Fixed(size as u32),
                            Axis::Varies { name, .. } => SpecDimRef::Named(name),
                        };
                    }
                    Cow::Owned(shape)
                }
                _ => input.shape.clone(),
            };
            TensorSpec { name: input.name.clone(), dtype: input.dtype, shape }
        })
        .collect();
    let constants: Vec<(&'static str, Constant)> = base
        .spec
        .constants
        .iter()
        .map(|(name, value)| match shaping.constants.iter().find(|(n, _)| n == name) {
            Some((_, row)) => (*name, Constant::Row(Cow::Owned(row.clone()))),
            None => (*name, value.clone()),
        })
        .collect();
    let spec = ModelSpec {
        model_class: Cow::Owned(traced.model_class.clone()),
        dims: Cow::Owned(dims),
        inputs: Cow::Owned(inputs),
        outputs: Cow::Owned(outputs),
        constants: Cow::Owned(constants),
        request_json: Cow::Owned(request.to_canonical_json()),
        ..(*base.spec).clone()
    };
    Case { spec: Cow::Owned(spec), hardware: base.hardware, expected: Expected::Pass }
}
