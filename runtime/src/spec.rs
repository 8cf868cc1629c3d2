//! Model specifications as generated modules carry them (`'static` constants), and as a skill
//! builds them for a checkpoint at run time (owned): the parts a checkpoint changes are
//! [`Cow`]s, borrowed in a generated module and owned in a checkpoint's case.

pub use std::borrow::Cow;

pub use crate::tensor::DType;
use export_request::{Category, ConstantValue};

/// A model as the generator resolved it from metadata.
#[derive(Debug, Clone)]
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
    pub model_class: Cow<'static, str>,
    /// Default public checkpoint.
    pub checkpoint: &'static str,
    /// Metadata file it came from.
    pub source: &'static str,
    /// One of the key models.
    pub key_model: bool,
    /// Named dimensions.
    pub dims: Cow<'static, [Dim]>,
    /// Inputs in forward order.
    pub inputs: Cow<'static, [TensorSpec]>,
    /// Outputs in order.
    pub outputs: Cow<'static, [TensorSpec]>,
    /// The baked value of every `constant` input, by input name (typed: never parsed at run time).
    pub constants: Cow<'static, [(&'static str, Constant)]>,
    /// Seed of torch's global generator before each checked forward, for models that draw
    /// random numbers in their forward.
    pub run_seed: Option<u64>,
    /// The exporter request (canonical JSON) the runtime sends to the exporter; also the
    /// artifact key's main ingredient.
    pub request_json: Cow<'static, str>,
}

/// The baked value of a `constant` input: the contract's [`ConstantValue`] with its row.
pub type Constant = ConstantValue<Cow<'static, [f64]>>;

/// A named dimension.
#[derive(Debug, Clone)]
pub struct Dim {
    /// Name.
    pub name: Cow<'static, str>,
    /// Size in input set a.
    pub size: i64,
    /// Size in input set b; `None` means static (other sizes are rejected).
    pub varied: Option<i64>,
}

impl Dim {
    /// A dimension with a static name (how generated modules write one).
    pub const fn new(name: &'static str, size: i64, varied: Option<i64>) -> Self {
        Self { name: Cow::Borrowed(name), size, varied }
    }

    /// Whether other sizes are accepted (the contract's rule, [`export_request::is_dynamic`]).
    pub fn is_dynamic(&self) -> bool {
        export_request::is_dynamic(self.varied)
    }

    /// The size in input set b (`varied_set`) or a.
    pub fn size_in(&self, varied_set: bool) -> i64 {
        match self.varied {
            Some(varied) if varied_set && self.is_dynamic() => varied,
            _ => self.size,
        }
    }
}

/// A shape entry of generated constants: the contract's [`export_request::DimRef`] with
/// static names.
pub type DimRef = export_request::DimRef<&'static str>;

/// An input or output tensor.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    /// Name.
    pub name: Cow<'static, str>,
    /// Element type (inputs only).
    pub dtype: Option<DType>,
    /// Shape.
    pub shape: Cow<'static, [DimRef]>,
}

impl TensorSpec {
    /// A tensor with a static name and shape (how generated modules write one).
    pub const fn new(name: &'static str, dtype: Option<DType>, shape: &'static [DimRef]) -> Self {
        Self { name: Cow::Borrowed(name), dtype, shape: Cow::Borrowed(shape) }
    }
}

/// What the metadata expects on a hardware.
#[derive(Debug, Clone, Copy)]
pub enum Expected {
    /// Runs and matches.
    Pass,
    /// Cannot run, for this reason; an unexpected pass fails.
    Unsupported {
        /// Why, as one of the contract's categories.
        category: Category,
        /// The first error line the metadata records.
        reason: &'static str,
    },
}

/// One model on one hardware: the unit a test checks and a result row records. A generated
/// module's is a `static` that borrows its spec; a checkpoint's owns one.
#[derive(Debug, Clone)]
pub struct Case {
    /// The model.
    pub spec: Cow<'static, ModelSpec>,
    /// The hardware.
    pub hardware: crate::Hardware,
    /// Expected outcome.
    pub expected: Expected,
}

/// What a cell checks: one forward pass (the matrix's first kind), or greedy generation with
/// the cache ([`crate::generation`]). Its id names it in records, the results store and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// One forward pass on both input sets (records from before kinds are these).
    #[default]
    Forward,
    /// Greedy generation with the cache against transformers' `generate`.
    Generate,
}

impl CellKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [CellKind; 2] = [CellKind::Forward, CellKind::Generate];

    /// The kind named `id`, if any.
    pub fn from_id(id: &str) -> Option<CellKind> {
        CellKind::ALL.into_iter().find(|kind| kind.id() == id)
    }

    /// Whether this is the forward kind (records leave it out).
    pub fn is_forward(&self) -> bool {
        *self == CellKind::Forward
    }

    /// The id in records and reports (`forward`, `generate`).
    pub fn id(self) -> &'static str {
        match self {
            CellKind::Forward => "forward",
            CellKind::Generate => "generate",
        }
    }
}

impl Case {
    /// The cell's kind, as its exporter request says: a request with `generate` asks for
    /// generation (the one place the kind is decided).
    pub fn kind(&self) -> CellKind {
        // Canonical JSON names the field once at the top level; parsing confirms it there.
        if !self.spec.request_json.contains("\"generate\":") {
            return CellKind::Forward;
        }
        match export_request::ExportRequest::parse(&self.spec.request_json) {
            Ok(request) if request.generate.is_some() => CellKind::Generate,
            _ => CellKind::Forward,
        }
    }
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
                DimRef::Fixed(size) => i64::from(*size),
                DimRef::Any => -1,
                DimRef::Named(name) => self.dim(name).map(|d| d.size_in(varied)).unwrap_or(-1),
            })
            .collect()
    }

    /// Value of a `constant` input (baked into traces).
    pub fn constant_value(&self, input: &str) -> Option<Constant> {
        self.constants.iter().find(|(name, _)| *name == input).map(|(_, value)| value.clone())
    }

    /// The baked value of every input, in spec order.
    pub fn constant_values(&self) -> Vec<Option<Constant>> {
        self.inputs.iter().map(|input| self.constant_value(&input.name)).collect()
    }

    /// Seed of torch's global generator before each checked forward, if the model needs one.
    pub fn run_seed(&self) -> Option<u64> {
        self.run_seed
    }
}

/// One of the two reference input sets every model is checked on: `A`, and `B`, whose dynamic
/// dimensions differ from A's (so a trace that baked in A's shapes fails on B). Shown as the
/// letter the artifact's files carry (`inputs_a.safetensors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputSet {
    /// The set the model is traced or exported with.
    A,
    /// The set whose dynamic dimensions vary.
    B,
}

impl InputSet {
    /// Both sets, in the order they are checked.
    pub const BOTH: [InputSet; 2] = [InputSet::A, InputSet::B];

    /// The set's letter in file names and messages.
    pub fn letter(self) -> char {
        match self {
            InputSet::A => 'a',
            InputSet::B => 'b',
        }
    }
}

impl std::fmt::Display for InputSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.letter())
    }
}
