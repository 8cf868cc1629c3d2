//! One artifact checked on its engine: loaded, run on input sets a and b, compared with the
//! eager references; a failure filed under its category. The route ([`crate::route`]) decides
//! which artifacts to check; the suite times the one that matched.

use std::time::Instant;

use crate::artifacts::{Artifact, OutputStatus, Parity, ParityMethod};
use crate::backend::Backend;
use crate::check;
use crate::error::Error;
use crate::forward_guard::checked_run;
use crate::measure::{self, Measurement};
use crate::session::Session;
use crate::spec::{Case, InputSet};
use crate::tensor::{read_safetensors, HostTensor};
use crate::{Category, FailureCategory};

/// A failed check with its category, as the metadata spells categories (`torchscript`,
/// `trace-specialised`, `chaotic`, ...), or `environment` for what the metadata can never
/// expect (no exporter, an unreadable cache, a missing file).
#[derive(Debug)]
pub struct Failure {
    /// The category of what went wrong.
    pub category: FailureCategory,
    /// The error.
    pub error: Error,
}

impl Failure {
    /// A failure in `category`, unless the engine ran out of time (`timeout`, whatever the stage).
    pub fn new(category: impl Into<FailureCategory>, error: Error) -> Self {
        let category = if matches!(error, Error::Timeout { .. }) { Category::Timeout.into() } else { category.into() };
        Self { category, error }
    }

    /// The category of an error from getting the artifact: what the exporter recorded, else
    /// the environment's.
    pub fn of_export(error: Error) -> Self {
        match &error {
            Error::Export { category, .. } => Self::new(*category, error),
            _ => Self::new(FailureCategory::Environment, error),
        }
    }
}

/// An artifact that loaded on its engine and matched its references on both input sets.
pub struct Checked {
    /// The loaded session, ready to be timed.
    pub session: Session,
    /// Input set a, as the timed runs feed it.
    pub inputs: Vec<HostTensor>,
    /// What the check measured: load and first inference time, each output's difference and
    /// tolerance, the engine's settings.
    pub measurements: Vec<Measurement>,
    /// The category a later failure of this artifact on this engine is filed under: the
    /// format's limit on a torch backend, else the backend's.
    pub limit: Category,
}

/// Category of a model that loaded but failed or mismatched on input set `set`, as the
/// harvester's probe names it: on the traced set, a limit of the format; on the varied set,
/// a trace that baked in shapes or routing.
fn run_category(format_limit: Category, set: InputSet) -> Category {
    if set == InputSet::B {
        Category::TraceSpecialised
    } else {
        format_limit
    }
}

/// Loads `artifact` on `backend` and checks it on both input sets against its references.
pub fn check(case: &Case, backend: &dyn Backend, artifact: &Artifact) -> Result<Checked, Failure> {
    let env = |error: Error| Failure::new(FailureCategory::Environment, error);
    let parity = artifact.parity().map_err(env)?;
    if let Some((category, why)) = check::verdict(&parity) {
        return Err(Failure::new(category, Error::Mismatch(why)));
    }
    let parity = check::widened(parity, backend.precision_relative());
    // A torch backend runs the traced module: what fails is the format or the trace. Any other
    // backend runs a file its exporter already checked on both sets: what fails is the backend.
    let blames_format = backend.failure_blames_format();
    let format_limit = if blames_format { artifact.format.limit() } else { Category::Backend };
    let run_category = |set: InputSet| if blames_format { run_category(format_limit, set) } else { Category::Backend };
    let started = Instant::now();
    let session = Session::load_anew(case, artifact).map_err(|e| Failure::new(format_limit, e))?;
    let mut measurements = vec![Measurement::new("load_ms", measure::ms(started.elapsed()), "ms")];
    measurements.extend(session.load_facts());
    measurements.extend(backend.settings());
    let mut inputs_a = Vec::new();
    for set in InputSet::BOTH {
        let inputs = crate::artifacts::read_inputs(case, artifact, set).map_err(env)?;
        let started = Instant::now();
        let outputs = checked_run(case, backend, || session.run_slice(&inputs))
            .map_err(|e| Failure::new(run_category(set), e))?;
        if set == InputSet::A {
            measurements.push(Measurement::new("first_inference_ms", measure::ms(started.elapsed()), "ms"));
        }
        let reference = read_safetensors(&artifact.reference(set)).map_err(|e| env(e.into()))?;
        let diffs = check::compare(&case.spec, set, &outputs, &reference, &parity)
            .map_err(|e| Failure::new(run_category(set), e))?;
        for diff in diffs {
            measurements.push(Measurement::new(&format!("max_abs_diff_{set}_{}", diff.name), diff.max_abs, "abs"));
        }
        if set == InputSet::A {
            inputs_a = inputs;
        }
    }
    measurements.extend(parity_measurements(&parity));
    Ok(Checked { session, inputs: inputs_a, measurements, limit: format_limit })
}

/// The derived tolerance of each output and how many outputs the check could compare.
fn parity_measurements(parity: &Parity) -> Vec<Measurement> {
    let mut out: Vec<Measurement> = parity
        .outputs
        .iter()
        .map(|(name, o)| Measurement::new(&format!("tolerance_abs_{name}"), o.abs, "abs"))
        .collect();
    let compared =
        parity.outputs.values().filter(|o| matches!(o.status, OutputStatus::Checked | OutputStatus::Exact)).count();
    out.push(Measurement::new("outputs_compared", compared as f64, "count"));
    out.push(Measurement::new("outputs_without_signal", (parity.outputs.len() - compared) as f64, "count"));
    out.push(Measurement::new(
        "tolerance_from_float64",
        f64::from(u8::from(parity.method == ParityMethod::Float64)),
        "flag",
    ));
    out
}
