//! A loaded model on a device: validates inputs against the spec, runs, returns outputs.

pub mod shared;

use std::path::Path;

use crate::artifacts::Artifact;
use crate::backend::{self, Backend};
use crate::error::{Error, Result};
use crate::spec::{Case, Constant, DimRef};
use crate::tensor::HostTensor;

/// A model loaded for one case by the backend of its hardware.
pub struct Session {
    case: Case,
    backend: &'static dyn Backend,
    model: shared::SharedModel,
    /// Baked value of each input (spec order), parsed once so runs stay off the JSON parser.
    constants: Vec<Option<Constant>>,
}

/// The backend of a case's hardware, if the hardware is present and this build has one.
pub fn backend_for(case: &Case) -> Result<&'static dyn Backend> {
    let found = backend::detect(case.hardware);
    if !found.available {
        return Err(Error::HardwareAbsent { hardware: case.hardware.id(), reason: found.reason });
    }
    backend::for_hardware(case.hardware).ok_or_else(|| Error::HardwareAbsent {
        hardware: case.hardware.id(),
        reason: "this build has no backend for it yet".into(),
    })
}

impl Session {
    /// Loads an artifact directory exported for this model (its manifest names the format).
    pub fn load_dir(case: &Case, dir: &Path) -> Result<Self> {
        let manifest_path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&manifest_path).map_err(Error::io("read", &manifest_path))?;
        let manifest: crate::artifacts::Manifest = serde_json::from_str(&text)
            .map_err(|source| Error::Json { context: format!("parse {}", manifest_path.display()), source })?;
        let format = manifest.format.ok_or_else(|| Error::Artifact {
            path: manifest_path.clone(),
            message: "the manifest names no artifact format (`format`); export the artifact again".into(),
        })?;
        let artifact = Artifact {
            key: manifest.key,
            dir: dir.to_path_buf(),
            format,
            model_type: case.spec.model_type.to_string(),
        };
        Self::load(case, &artifact)
    }

    /// Loads an artifact onto the case's device; the hardware must be present. The model the
    /// suite loaded for the same artifact is reused while it is still published ([`shared`]).
    pub fn load(case: &Case, artifact: &Artifact) -> Result<Self> {
        let backend = backend_for(case)?;
        let model = match shared::find(&share_key(case, artifact)) {
            Some(model) => model,
            None => load_model(case, backend, artifact)?,
        };
        Ok(Self { case: case.clone(), backend, model, constants: constants(case) })
    }

    /// Loads an artifact anew, whatever is published (the suite measures this load), and
    /// publishes the model for the case's other sessions.
    pub fn load_anew(case: &Case, artifact: &Artifact) -> Result<Self> {
        let backend = backend_for(case)?;
        let publication = shared::announce(&share_key(case, artifact));
        let model = load_model(case, backend, artifact)?;
        publication.finish(model.clone());
        Ok(Self { case: case.clone(), backend, model, constants: constants(case) })
    }

    /// The backend that runs this session.
    pub fn backend(&self) -> &'static dyn Backend {
        self.backend
    }

    /// Checks count, dtype, rank, static dimensions, consistent dynamic dimensions and
    /// baked constant values; explains the first violation.
    pub fn validate(&self, inputs: &[HostTensor]) -> Result<()> {
        validate_against(&self.case, &self.constants, inputs)
    }

    /// Runs the model on inputs in spec order and returns its `N` outputs in spec order.
    pub fn run<const N: usize>(&self, inputs: Vec<HostTensor>) -> Result<[HostTensor; N]> {
        let outputs = self.run_vec(inputs)?;
        let count = outputs.len();
        outputs.try_into().map_err(|_| {
            Error::Mismatch(format!("`{}` returned {count} outputs, the skill expects {N}", self.case.spec.model_type))
        })
    }

    /// Runs the model and returns every output, checking the count against the spec.
    pub fn run_vec(&self, inputs: Vec<HostTensor>) -> Result<Vec<HostTensor>> {
        self.run_slice(&inputs)
    }

    /// Runs the model on borrowed inputs (spec order) and returns every output.
    pub fn run_slice(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>> {
        self.validate(inputs)?;
        let outputs = self.model.forward(inputs)?;
        let expected = self.case.spec.outputs.len();
        if outputs.len() != expected {
            return Err(Error::Mismatch(format!(
                "`{}` returned {} outputs, the spec declares {expected}",
                self.case.spec.model_type,
                outputs.len()
            )));
        }
        Ok(outputs)
    }

    /// Facts of the load behind this session (see [`crate::backend::LoadedModel::load_facts`]).
    pub fn load_facts(&self) -> Vec<crate::measure::Measurement> {
        self.model.load_facts()
    }

    /// The engine's own call on `inputs` (spec order, validated here once), without the
    /// runtime's per-run validation and conversions; `None` where the backend has none.
    pub fn bare<'a>(&'a self, inputs: &[HostTensor]) -> Result<Option<crate::backend::BareCall<'a>>> {
        self.validate(inputs)?;
        self.model.bare(inputs)
    }

    /// Waits for the device to finish queued work (for timing).
    pub fn synchronize(&self) {
        self.model.synchronize();
    }
}

/// What identifies a loaded model: the hardware, the artifact's key and its directory.
fn share_key(case: &Case, artifact: &Artifact) -> String {
    format!("{}|{}|{}", case.hardware.id(), artifact.key, artifact.dir.display())
}

fn load_model(case: &Case, backend: &dyn Backend, artifact: &Artifact) -> Result<shared::SharedModel> {
    if !artifact.model().is_file() {
        return Err(Error::Artifact {
            path: artifact.model(),
            message: format!("no such {} file", artifact.format.id()),
        });
    }
    let names: Vec<&str> = case.spec.inputs.iter().map(|input| &*input.name).collect();
    Ok(backend.load(case.hardware, artifact, &names)?.into())
}

/// Baked (`constant`) value of each input in spec order.
fn constants(case: &Case) -> Vec<Option<Constant>> {
    case.spec.constant_values()
}

fn validate_against(case: &Case, constants: &[Option<Constant>], inputs: &[HostTensor]) -> Result<()> {
    let spec = &case.spec;
    let invalid = |message: String| Error::InvalidInput { model: spec.model_type, message };
    if inputs.len() != spec.inputs.len() {
        return Err(invalid(format!(
            "expected {} inputs ({}), got {}",
            spec.inputs.len(),
            spec.inputs.iter().map(|i| &*i.name).collect::<Vec<_>>().join(", "),
            inputs.len()
        )));
    }
    let mut seen: Vec<(&str, i64)> = Vec::new();
    for ((input, tensor), constant) in spec.inputs.iter().zip(inputs).zip(constants) {
        if let Some(dtype) = input.dtype {
            if tensor.dtype() != dtype {
                return Err(invalid(format!("`{}` must be {dtype:?}, got {:?}", input.name, tensor.dtype())));
            }
        }
        let size = tensor.shape();
        if size.len() != input.shape.len() {
            return Err(invalid(format!(
                "`{}` must have {} dimensions, got shape {size:?}",
                input.name,
                input.shape.len()
            )));
        }
        for (axis, (entry, actual)) in input.shape.iter().zip(size).enumerate() {
            match entry {
                DimRef::Fixed(expected) if i64::from(*expected) != *actual => {
                    return Err(invalid(format!("`{}` axis {axis} must be {expected}, got {actual}", input.name)));
                }
                DimRef::Named(name) => {
                    let dim = spec.dim(name);
                    if let Some(dim) = dim.filter(|d| !d.is_dynamic() && d.size != *actual) {
                        return Err(invalid(format!(
                            "`{}` axis {axis} is the static dimension `{name}` = {} (the trace fixes it; {} declares it static), got {actual}",
                            input.name, dim.size, spec.source
                        )));
                    }
                    match seen.iter().find(|(n, _)| n == name) {
                        Some((_, first)) if first != actual => {
                            return Err(invalid(format!(
                                "dimension `{name}` is {first} in an earlier input but {actual} in `{}`",
                                input.name
                            )));
                        }
                        Some(_) => {}
                        None => seen.push((name, *actual)),
                    }
                }
                _ => {}
            }
        }
        match constant {
            Some(Constant::Scalar(value)) => {
                let matches = tensor.to_f64_vec().iter().all(|v| v == value);
                if !matches {
                    return Err(invalid(format!(
                        "`{}` is baked into the trace as {value} everywhere; other values are rejected",
                        input.name
                    )));
                }
            }
            Some(Constant::Row(row)) => {
                let matches = size.last() == Some(&(row.len() as i64))
                    && tensor.to_f64_vec().chunks(row.len().max(1)).all(|chunk| chunk == &**row);
                if !matches {
                    return Err(invalid(format!(
                        "`{}` is baked into the trace with every row {row:?}; other values are rejected",
                        input.name
                    )));
                }
            }
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Cow, DType, Dim, Expected, ModelSpec, TensorSpec};
    use crate::Hardware;

    static GRID_SPEC: ModelSpec = ModelSpec {
        model_type: "grid_test",
        display_name: "grid test",
        family: "multimodal",
        modality: &["vision"],
        task: "image-text-to-text",
        config_class: "X",
        model_class: Cow::Borrowed("Y"),
        checkpoint: "",
        source: "metadata/models/grid_test.yaml",
        key_model: false,
        dims: Cow::Borrowed(&[Dim::new("batch", 2, None)]),
        inputs: Cow::Borrowed(&[
            TensorSpec::new("image_grid_thw", Some(DType::Int64), &[DimRef::Named("batch"), DimRef::Fixed(3)]),
            TensorSpec::new("image_sizes", Some(DType::Int64), &[DimRef::Named("batch"), DimRef::Fixed(2)]),
        ]),
        outputs: Cow::Borrowed(&[]),
        constants: Cow::Borrowed(&[
            ("image_grid_thw", Constant::Row(Cow::Borrowed(&[1.0, 4.0, 4.0]))),
            ("image_sizes", Constant::Scalar(8.0)),
        ]),
        run_seed: None,
        request_json: Cow::Borrowed(
            r#"{"version":2,"model_type":"grid_test","config_class":"X","model_class":"Y","seed":0,"test_config":{},"dims":{"batch":{"size":2}},"outputs":[],"inputs":[{"name":"image_grid_thw","dtype":"int64","shape":["batch",3],"kind":"constant","value":[1,4,4]},{"name":"image_sizes","dtype":"int64","shape":["batch",2],"kind":"constant","value":8}]}"#,
        ),
    };
    static GRID_CASE: Case =
        Case { spec: Cow::Borrowed(&GRID_SPEC), hardware: Hardware::Cpu, expected: Expected::Pass };

    fn inputs(row: [i64; 3], size: i64) -> Vec<HostTensor> {
        vec![HostTensor::new(&[2, 3], [row, row].concat()).unwrap(), HostTensor::full(&[2, 2], size).unwrap()]
    }

    #[test]
    fn baked_rows_and_scalars_accept_only_their_values() {
        assert_eq!(GRID_SPEC.constant_value("image_grid_thw"), Some(Constant::Row(Cow::Borrowed(&[1.0, 4.0, 4.0]))));
        assert_eq!(GRID_SPEC.constant_value("image_sizes"), Some(Constant::Scalar(8.0)));
        validate_against(&GRID_CASE, &constants(&GRID_CASE), &inputs([1, 4, 4], 8))
            .expect("the baked values are accepted");
        let row = validate_against(&GRID_CASE, &constants(&GRID_CASE), &inputs([1, 4, 6], 8))
            .expect_err("another grid is rejected")
            .to_string();
        assert!(row.contains("image_grid_thw") && row.contains("[1.0, 4.0, 4.0]"), "{row}");
        let scalar = validate_against(&GRID_CASE, &constants(&GRID_CASE), &inputs([1, 4, 4], 9))
            .expect_err("another size is rejected")
            .to_string();
        assert!(scalar.contains("image_sizes") && scalar.contains("baked into the trace as 8"), "{scalar}");
    }
}
