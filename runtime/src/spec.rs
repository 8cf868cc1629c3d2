//! Model specifications as generated modules carry them (all `'static` constants).

/// A model as the generator resolved it from metadata.
#[derive(Debug)]
pub struct ModelSpec {
    /// HuggingFace model type.
    pub model_type: &'static str,
    /// Human-readable name.
    pub display_name: &'static str,
    /// Architecture family.
    pub family: &'static str,
    /// Modalities the inputs exercise.
    pub modality: &'static [&'static str],
    /// Task name.
    pub task: &'static str,
    /// transformers config class.
    pub config_class: &'static str,
    /// transformers model class the suite runs.
    pub model_class: &'static str,
    /// Default public checkpoint.
    pub checkpoint: &'static str,
    /// Metadata file it came from.
    pub source: &'static str,
    /// One of the key models.
    pub key_model: bool,
    /// Named dimensions.
    pub dims: &'static [Dim],
    /// Inputs in forward order.
    pub inputs: &'static [TensorSpec],
    /// Outputs in order.
    pub outputs: &'static [TensorSpec],
    /// Allowed difference from the reference.
    pub tolerance: Tolerance,
    /// The exporter request (canonical JSON); also the artifact key's main ingredient.
    pub request_json: &'static str,
}

/// The baked value of a `constant` input.
#[derive(Debug, Clone, PartialEq)]
pub enum Constant {
    /// Every element equals this number.
    Scalar(f64),
    /// Every row of the last dimension equals this list.
    Row(Vec<f64>),
}

/// A named dimension.
#[derive(Debug, Clone, Copy)]
pub struct Dim {
    /// Name.
    pub name: &'static str,
    /// Size in input set a.
    pub size: i64,
    /// Size in input set b; `None` means static (other sizes are rejected).
    pub varied: Option<i64>,
}

/// Element type of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 64-bit integers.
    Int64,
    /// 32-bit floats.
    Float32,
    /// Booleans.
    Bool,
}

impl DType {
    /// The tch kind.
    pub fn kind(self) -> tch::Kind {
        match self {
            DType::Int64 => tch::Kind::Int64,
            DType::Float32 => tch::Kind::Float,
            DType::Bool => tch::Kind::Bool,
        }
    }
}

/// A shape entry.
#[derive(Debug, Clone, Copy)]
pub enum DimRef {
    /// A named dimension.
    Named(&'static str),
    /// A fixed size.
    Fixed(i64),
    /// Any size (outputs only): the reference decides.
    Any,
}

/// An input or output tensor.
#[derive(Debug)]
pub struct TensorSpec {
    /// Name.
    pub name: &'static str,
    /// Element type (inputs only).
    pub dtype: Option<DType>,
    /// Shape.
    pub shape: &'static [DimRef],
}

/// |actual - reference| <= abs + rel * |reference|, element-wise.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    /// Absolute part.
    pub abs: f64,
    /// Relative part.
    pub rel: f64,
}

/// What the metadata expects on a hardware.
#[derive(Debug, Clone, Copy)]
pub enum Expected {
    /// Runs and matches.
    Pass,
    /// Cannot run, for this reason; an unexpected pass fails.
    Unsupported {
        /// Category (`torchscript`, `model-inputs`, ...), for grouping in reports.
        category: &'static str,
        /// The first error line the metadata records.
        reason: &'static str,
    },
}

/// One model on one hardware: the unit a test checks and a result row records.
#[derive(Debug)]
pub struct Case {
    /// The model.
    pub spec: &'static ModelSpec,
    /// The hardware.
    pub hardware: crate::Hardware,
    /// Expected outcome.
    pub expected: Expected,
}

impl ModelSpec {
    /// The declared dimension called `name`.
    pub fn dim(&self, name: &str) -> Option<&Dim> {
        self.dims.iter().find(|d| d.name == name)
    }

    /// Resolves a shape for input set a (`varied = false`) or b; `-1` stands for any size.
    pub fn resolve(&self, shape: &[DimRef], varied: bool) -> Vec<i64> {
        shape
            .iter()
            .map(|entry| match entry {
                DimRef::Fixed(size) => *size,
                DimRef::Any => -1,
                DimRef::Named(name) => self.dim(name).map(|d| if varied { d.varied.unwrap_or(d.size) } else { d.size }).unwrap_or(-1),
            })
            .collect()
    }

    /// Value of a `constant` input, read from the exporter request (baked into traces).
    pub fn constant_value(&self, input: &str) -> Option<Constant> {
        let request: serde_json::Value = serde_json::from_str(self.request_json).ok()?;
        let value = &request["inputs"].as_array()?.iter().find(|i| i["name"] == input && i["kind"] == "constant")?["value"];
        match value {
            serde_json::Value::Array(row) => row.iter().map(|v| v.as_f64()).collect::<Option<Vec<f64>>>().map(Constant::Row),
            other => other.as_f64().map(Constant::Scalar),
        }
    }

    /// Seed of torch's global generator before each checked forward (`run_seed` in the
    /// exporter request), for models that draw random numbers in their forward.
    pub fn run_seed(&self) -> Option<i64> {
        let request: serde_json::Value = serde_json::from_str(self.request_json).ok()?;
        request["run_seed"].as_i64()
    }
}
