//! Builds the exporter request document (`export_request::ExportRequest`) from metadata: an
//! explicit mapping, so the document's shape never follows the schema's serde by accident.

use export_request::{
    ConstantValue, ExportRequest, InputFill, Prefix, RequestDim, RequestInput, RequestOutput, VERSION,
};

use crate::metadata::schema::{self, yaml_name, InputKind, ModelMetadata};

/// How an input is filled; `Err` names the field validation should have caught.
fn fill(input: &schema::Input) -> Result<InputFill, String> {
    let range = || input.range.ok_or_else(|| format!("input `{}` has no range", input.name));
    let value = || input.value.clone().ok_or_else(|| format!("input `{}` has no value", input.name));
    Ok(match input.kind {
        InputKind::TokenIds => InputFill::TokenIds {
            range: range()?,
            prefix: input.prefix.map(|p| Prefix { token: p.token, count: p.count }),
        },
        InputKind::Mask => InputFill::Mask,
        InputKind::Uniform => InputFill::Uniform { range: range()? },
        InputKind::Normal => InputFill::Normal,
        InputKind::Boxes => InputFill::Boxes { range: range()? },
        InputKind::Constant => InputFill::Constant { value: value()? },
        InputKind::GridPositions => match value()? {
            ConstantValue::Row(row) => InputFill::GridPositions { value: row },
            ConstantValue::Scalar(_) => {
                return Err(format!("grid_positions input `{}` needs [width, height]", input.name))
            }
        },
    })
}

/// The exporter request of a model (validated metadata always converts).
pub fn export_request(model: &ModelMetadata) -> Result<ExportRequest, String> {
    Ok(ExportRequest {
        version: VERSION,
        model_type: model.model_type.clone(),
        config_class: model.hf.config_class.clone(),
        model_class: model.hf.model_class.clone().unwrap_or_default(),
        seed: 0,
        run_seed: model.run_seed,
        test_config: model.test_config.clone(),
        dims: model
            .dimensions
            .iter()
            .map(|(name, d)| (name.clone(), RequestDim { size: d.size, varied: d.varied }))
            .collect(),
        inputs: model
            .inputs
            .iter()
            .map(|input| {
                Ok(RequestInput {
                    name: input.name.clone(),
                    dtype: yaml_name(&input.dtype),
                    shape: input.shape.clone(),
                    fill: fill(input)?,
                })
            })
            .collect::<Result<_, String>>()?,
        outputs: model.outputs.iter().map(|o| RequestOutput { name: o.name.clone(), shape: o.shape.clone() }).collect(),
        checkpoint: None,
        generate: None,
    })
}

/// A model's request and its canonical JSON, built once for every plan and `requests.json`.
#[derive(Debug, Clone)]
pub struct BuiltRequest {
    /// The request document.
    pub request: ExportRequest,
    /// Its canonical JSON (what modules carry and artifact keys hash).
    pub json: String,
    /// The generation request's canonical JSON, where the metadata has a `generation` section.
    pub generation: Option<String>,
}

/// The request and its canonical JSON, with the model type in the error.
pub fn built_request(model: &ModelMetadata) -> crate::Result<BuiltRequest> {
    let at = |e: String| crate::Error::Selection(format!("metadata/models/{}.yaml: {e}", model.model_type));
    let request = export_request(model).map_err(at)?;
    let generation = match &model.generation {
        Some(generation) => Some(
            request
                .generation(&generation.model_class, export_request::GENERATION_NEW_TOKENS)
                .map_err(|e| at(format!("generation: {e}")))?
                .to_canonical_json(),
        ),
        None => None,
    };
    Ok(BuiltRequest { json: request.to_canonical_json(), request, generation })
}
