//! What generated tests call: evaluate a case, record the outcome, print it, and fail the
//! test exactly when the outcome is a failure.
//!
//! Outcomes: passed; failed (diff or error); skipped (hardware absent, loud, and a failure
//! when `HFZOO_REQUIRE_HARDWARE` names the hardware); unsupported (expected by metadata; an
//! unexpected pass fails and says to update the metadata).

use std::io::Write;
use std::sync::RwLock;
use std::time::Instant;

use crate::artifacts::{Artifact, ArtifactCache, ArtifactFormat, OutputStatus, Parity, ParityMethod};
use crate::backend::Backend;
use crate::backend::{detect, detection_fault};
use crate::check;
use crate::error::{Error, Result};
use crate::hardware::{Detection, REQUIRE_ENV};
use crate::measure::{self, Measurement};
use crate::paths;
use crate::results::record::{now_ms, result_id, run_info, ModelInfo, OutcomeKind, Record};
use crate::results::spool;
use crate::session::{backend_for, Session};
use crate::spec::{Case, DimRef, Expected, InputSet};
use crate::tensor::{read_safetensors, HostTensor};
use crate::verdict::{self, VerdictStore};
use crate::{Category, FailureCategory};

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Ran and matched the reference on both input sets.
    Passed,
    /// Did not run or did not match (diff or error).
    Failed(String),
    /// Hardware absent (with the detected reason).
    Skipped(String),
    /// Metadata expects it not to run, and it did not.
    Unsupported {
        /// Reason from metadata.
        reason: String,
        /// The error actually seen.
        error: String,
    },
}

impl Outcome {
    /// What it records as: passed, failed, skipped or unsupported.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Passed => OutcomeKind::Passed,
            Outcome::Failed(_) => OutcomeKind::Failed,
            Outcome::Skipped(_) => OutcomeKind::Skipped,
            Outcome::Unsupported { .. } => OutcomeKind::Unsupported,
        }
    }

    /// The diff, error or reason.
    pub fn detail(&self) -> String {
        match self {
            Outcome::Passed => String::new(),
            Outcome::Failed(detail) | Outcome::Skipped(detail) => detail.clone(),
            Outcome::Unsupported { reason, error } => format!("{reason} (seen: {error})"),
        }
    }
}

/// Everything one evaluation produced.
#[derive(Debug)]
pub struct Evaluation {
    /// The outcome.
    pub outcome: Outcome,
    /// What detection found.
    pub detection: Detection,
    /// Artifact key when one was used.
    pub artifact_key: Option<String>,
    /// The artifact's format and exporter when one was used (`onnx via torchscript-opset17`).
    pub route: Option<String>,
    /// The category of the failure the checks saw, if they failed (whatever was expected).
    pub observed: Option<FailureCategory>,
    /// Measurements (only when checks passed).
    pub measurements: Vec<Measurement>,
    /// Every timed latency sample in ms (only when checks passed).
    pub samples: Vec<f64>,
}

/// Named tensors of an input set, taken by name when building typed inputs.
pub struct NamedTensors(Vec<(String, HostTensor)>);

impl NamedTensors {
    /// Removes and returns the tensor called `name`.
    pub fn take(&mut self, name: &str) -> Result<HostTensor> {
        let index = self
            .0
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| Error::Mismatch(format!("input set has no tensor `{name}`")))?;
        Ok(self.0.remove(index).1)
    }
}

fn say(line: &str) {
    // Written to the real stderr, not the test harness's capture: skips must be seen.
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn absent_outcome(case: &Case, detection: &Detection) -> Outcome {
    if crate::hardware::is_required(case.hardware) {
        Outcome::Failed(format!("{} is required ({REQUIRE_ENV}) but absent: {}", case.hardware.id(), detection.reason))
    } else {
        Outcome::Skipped(detection.reason.clone())
    }
}

/// Guards the engine's global random generator across the test threads of one process: a
/// case with a `run_seed` runs alone (exclusive), every other forward runs beside the others
/// (shared). A seeded case's draws then never interleave with another forward's, whether
/// that one is checked or only measured.
static GENERATOR: RwLock<()> = RwLock::new(());

/// Runs `forward` under the generator guard; `seed` re-seeds the generator first (checked
/// runs of a seeded case), `None` leaves it as it is (measured runs, unseeded cases).
fn guarded<T>(backend: &dyn Backend, exclusive: bool, seed: Option<u64>, forward: impl FnOnce() -> T) -> T {
    if exclusive {
        let _guard = GENERATOR.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(seed) = seed {
            backend.seed(seed);
        }
        forward()
    } else {
        let _guard = GENERATOR.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        forward()
    }
}

/// Runs a checked forward: a seeded case after seeding the engine's generator with its
/// `run_seed`, alone; any other case beside the others.
fn checked_run<T>(case: &Case, backend: &dyn Backend, forward: impl FnOnce() -> T) -> T {
    let seed = case.spec.run_seed();
    guarded(backend, seed.is_some(), seed, forward)
}

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
    fn new(category: impl Into<FailureCategory>, error: Error) -> Self {
        let category = if matches!(error, Error::Timeout { .. }) { Category::Timeout.into() } else { category.into() };
        Self { category, error }
    }

    /// The category of an error from getting the artifact: what the exporter recorded, else
    /// the environment's.
    fn of_export(error: Error) -> Self {
        match &error {
            Error::Export { category, .. } => Self::new(*category, error),
            _ => Self::new(FailureCategory::Environment, error),
        }
    }
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

/// Measurements and timed samples of a case that ran and matched.
type Measured = (Vec<Measurement>, Vec<f64>);

/// Which artifact a case ran: its format and, where the manifest names one, the exporter
/// (`onnx via torchscript-opset17`).
fn route_of(artifact: &Artifact) -> String {
    let exporter = artifact
        .manifest()
        .ok()
        .and_then(|m| m.export)
        .and_then(|e| e.get("exporter").and_then(|v| v.as_str()).map(str::to_string));
    match exporter {
        Some(exporter) => format!("{} via {exporter}", artifact.format.id()),
        None => artifact.format.id().to_string(),
    }
}

/// Checks the case on its first exported format; where the engine fails that file and the
/// backend has a later format, on the later one ([`crate::route`]), keeping the engine's verdict
/// on the first so that skills and the other checks take the same route.
fn run_checks(
    cache: &ArtifactCache,
    case: &'static Case,
    key: &mut Option<String>,
    route: &mut Option<String>,
) -> std::result::Result<Measured, Failure> {
    let backend = backend_for(case).map_err(|error| Failure::new(FailureCategory::Environment, error))?;
    let first = cache.ensure_first(case, backend.formats()).map_err(Failure::of_export)?;
    let later = crate::route::later_formats(backend, first.format);
    let checked = check_artifact(case, backend, &first, key, route);
    if later.is_empty() || matches!(&checked, Err(failure) if !failure.category.is(Category::Backend)) {
        return checked;
    }
    let failure = checked.as_ref().err().map(|failure| crate::route::first_line(&failure.error));
    let verdict =
        crate::route::EngineVerdict { engine_version: detect(case.hardware).version, failure: failure.clone() };
    if let Err(error) = crate::route::keep(&first, case, &verdict) {
        say(&format!("warning: the engine's verdict on {} was not kept: {error}", first.dir.display()));
    }
    let Some(failure) = failure else { return checked };
    // The exporter checks every ONNX file on ONNX Runtime: a failure here is the engine's.
    let runs_on_onnx_runtime = matches!(first.format, ArtifactFormat::Onnx | ArtifactFormat::OnnxStatic);
    let and_ort = if runs_on_onnx_runtime { " where ONNX Runtime ran it and matched" } else { "" };
    let mut later_failures = String::new();
    for format in later {
        let outcome = cache
            .ensure(case, *format)
            .map_err(Failure::of_export)
            .and_then(|artifact| check_artifact(case, backend, &artifact, key, route));
        match outcome {
            Ok(measured) => {
                *route = route.take().map(|ran| {
                    format!("{ran}, after the {} route failed on this engine ({failure}){and_ort}", first.format.id())
                });
                return Ok(measured);
            }
            Err(later_failure) => {
                later_failures +=
                    &format!("; then the {} route: {} [{}]", format.id(), later_failure.error, later_failure.category)
            }
        }
    }
    // Every route failed: the first route's failure is the verdict, saying that ONNX Runtime
    // ran the same file and what the later routes did.
    *key = Some(first.key.clone());
    *route = Some(route_of(&first));
    match checked {
        Err(Failure { category, error }) if runs_on_onnx_runtime => {
            Err(Failure { category, error: Error::EngineOnly { error: Box::new(error), later: later_failures } })
        }
        other => other,
    }
}

/// Loads `artifact` on `backend` and checks it on both input sets, then times it.
fn check_artifact(
    case: &'static Case,
    backend: &'static dyn Backend,
    artifact: &Artifact,
    key: &mut Option<String>,
    route: &mut Option<String>,
) -> std::result::Result<Measured, Failure> {
    let env = |error: Error| Failure::new(FailureCategory::Environment, error);
    *key = Some(artifact.key.clone());
    *route = Some(route_of(artifact));
    let parity = artifact.parity().map_err(env)?;
    if let Some((category, why)) = check::verdict(&parity) {
        return Err(Failure::new(category, Error::Mismatch(why)));
    }
    let parity = check::widened(parity, backend.precision_relative());
    // A torch backend runs the traced module: what fails is the format or the trace. Any other
    // backend runs a file its exporter already checked on both sets: what fails is the backend.
    let blames_format = backend.failure_blames_format();
    let format_limit = if blames_format { artifact.format.limit() } else { Category::Backend };
    let run_category = |format_limit: Category, set: InputSet| {
        if blames_format {
            run_category(format_limit, set)
        } else {
            Category::Backend
        }
    };
    let started = Instant::now();
    let session = Session::load_anew(case, artifact).map_err(|e| Failure::new(format_limit, e))?;
    let mut measurements = vec![Measurement::new("load_ms", measure::ms(started.elapsed()), "ms")];
    measurements.extend(session.load_facts());
    measurements.extend(backend.settings());
    let sets = [
        (InputSet::A, crate::artifacts::read_inputs(case, artifact, InputSet::A).map_err(env)?),
        (InputSet::B, crate::artifacts::read_inputs(case, artifact, InputSet::B).map_err(env)?),
    ];
    for (set, inputs) in &sets {
        let started = Instant::now();
        let outputs = checked_run(case, backend, || session.run_slice(inputs))
            .map_err(|e| Failure::new(run_category(format_limit, *set), e))?;
        if *set == InputSet::A {
            measurements.push(Measurement::new("first_inference_ms", measure::ms(started.elapsed()), "ms"));
        }
        let reference = read_safetensors(&artifact.reference(*set)).map_err(env)?;
        let diffs = check::compare(case.spec, *set, &outputs, &reference, &parity)
            .map_err(|e| Failure::new(run_category(format_limit, *set), e))?;
        for diff in diffs {
            measurements.push(Measurement::new(&format!("max_abs_diff_{set}_{}", diff.name), diff.max_abs, "abs"));
        }
    }
    measurements.extend(parity_measurements(&parity));
    let inputs = &sets[0].1;
    let batch = inputs.first().and_then(|t| t.shape().first().copied()).unwrap_or(1);
    // (A seeded case draws random numbers in every run, so its timed runs hold the generator too.)
    let seeded = case.spec.run_seed().is_some();
    let delay = measure::injected_delay(case.spec.model_type);
    let timed = measure::steady_state(batch, || {
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        guarded(backend, seeded, None, || session.run_slice(inputs).map(|_| session.synchronize()))
    })
    .map_err(|e| Failure::new(format_limit, e))?;
    measurements.extend(timed.measurements);
    if let Some(mib) = measure::process_peak_rss_mib() {
        measurements.push(Measurement::new("process_peak_rss_mib", mib, "MiB"));
    }
    Ok((measurements, timed.samples))
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

/// Runs a case for real with artifacts from `cache` and decides its outcome (records nothing).
///
/// Strict both ways: an unexpected failure fails; so does an unexpected pass, and an expected
/// `unsupported` whose error falls in another category than the metadata records.
pub fn evaluate_in(cache: &ArtifactCache, case: &'static Case) -> Evaluation {
    let detection = detect(case.hardware);
    if !detection.available {
        // Software that is there but failed (a browser that would not start) is no absence.
        let (outcome, observed) = match detection_fault(case.hardware) {
            Some(fault) => {
                let environment = FailureCategory::Environment;
                (Outcome::Failed(format!("{fault} [{environment}]")), Some(environment))
            }
            None => (absent_outcome(case, &detection), None),
        };
        return Evaluation {
            outcome,
            detection,
            artifact_key: None,
            route: None,
            observed,
            measurements: Vec::new(),
            samples: Vec::new(),
        };
    }
    let mut artifact_key = None;
    let mut route = None;
    let checked = run_checks(cache, case, &mut artifact_key, &mut route);
    let source = case.spec.source;
    let hardware = case.hardware.id();
    let observed = checked.as_ref().err().map(|failure| failure.category);
    let (outcome, (measurements, samples)) = match (case.expected, checked) {
        (Expected::Pass, Ok(measured)) => (Outcome::Passed, measured),
        (Expected::Pass, Err(failure)) => (Outcome::Failed(format!("{} [{}]", failure.error, failure.category)), Measured::default()),
        (Expected::Unsupported { category, reason }, Err(failure)) if failure.category.is(category) => {
            (Outcome::Unsupported { reason: reason.into(), error: failure.error.to_string() }, Measured::default())
        }
        (Expected::Unsupported { category, reason }, Err(failure)) => (
            Outcome::Failed(format!(
                "{} [{}]: expected unsupported as `{category}` ({reason}) but it failed as `{}`; fix that, or if it is the new truth set hardware.{hardware}.category to {} in {source}",
                failure.error, failure.category, failure.category, failure.category
            )),
            Measured::default(),
        ),
        (Expected::Unsupported { reason, .. }, Ok(measured)) => (
            Outcome::Failed(format!("expected unsupported ({reason}) but it ran and matched: update {source}: set hardware.{hardware}.expected to pass")),
            measured,
        ),
    };
    Evaluation { outcome, detection, artifact_key, route, observed, measurements, samples }
}

/// This process's run, its features being the hardware of every compiled case.
fn run_of(all: &[&Case]) -> crate::results::record::RunInfo {
    let mut features: Vec<&str> = all.iter().map(|c| c.hardware.id()).collect();
    features.sort();
    features.dedup();
    run_info(&features.join(","))
}

/// Builds the spool record for an evaluation.
pub fn record(case: &Case, all: &[&Case], evaluation: &Evaluation) -> Record {
    let run = run_of(all);
    let spec = case.spec;
    Record {
        result_id: result_id(&run.run_id, spec.model_type, case.hardware.id()),
        run,
        hardware: evaluation.detection.clone(),
        model: ModelInfo {
            model_type: spec.model_type.into(),
            display_name: spec.display_name.into(),
            family: spec.family.into(),
            modality: spec.modality.join(","),
            task: spec.task.into(),
            model_class: spec.model_class.into(),
            key_model: spec.key_model,
        },
        outcome: evaluation.outcome.kind(),
        expected: match case.expected {
            Expected::Pass => "pass".into(),
            Expected::Unsupported { reason, .. } => format!("unsupported: {reason}"),
        },
        // A failure records the category it failed in; anything else the expected one.
        category: match (&evaluation.outcome, case.expected) {
            (Outcome::Failed(_), _) => evaluation.observed,
            (_, Expected::Pass) => None,
            (_, Expected::Unsupported { category, .. }) => Some(category.into()),
        },
        // A pass says which artifact route ran (the format and its exporter).
        detail: match (&evaluation.outcome, &evaluation.route) {
            (Outcome::Passed, Some(route)) => format!("ran {route}"),
            _ => evaluation.outcome.detail(),
        },
        artifact_key: evaluation.artifact_key.clone(),
        measurements: evaluation.measurements.clone(),
        samples: evaluation.samples.clone(),
        recorded_at_ms: now_ms(),
        reused: None,
    }
}

/// The record a cell leaves if its process dies while it runs: `failed` in category `crash`.
/// (`hfzoo crashes --junit` adds the signal and the last lines the test runner kept.)
fn provisional_crash(case: &Case, all: &[&Case]) -> Record {
    let evaluation = Evaluation {
        outcome: Outcome::Failed(crate::crash::PROVISIONAL.to_string()),
        detection: detect(case.hardware),
        artifact_key: None,
        route: None,
        observed: Some(Category::Crash.into()),
        measurements: Vec::new(),
        samples: Vec::new(),
    };
    record(case, all, &evaluation)
}

/// Spools a record (one file, written atomically); panics when it cannot be kept. The test path
/// writes the spool only: `cargo run -p hfzoo -- ingest`, `report` or `runs` move it into the
/// results database, so no test process opens a database.
fn keep(case: &Case, record: &Record) {
    if let Err(error) = spool::write(&paths::results_dir(), record) {
        panic!("could not record the result of {} on {}: {error}", case.spec.model_type, case.hardware.id());
    }
}

/// Records a stored verdict of this cell as reused in this run, when reuse is on and one
/// with the cell's digest exists; true when it did.
fn reuse_stored(case: &'static Case, all: &[&'static Case], digest: Option<&str>) -> bool {
    let Some(digest) = digest.filter(|_| verdict::reuse_enabled()) else { return false };
    let Some(source) = VerdictStore::default().find(case, digest) else { return false };
    let record = verdict::reused_record(source, run_of(all), digest);
    keep(case, &record);
    if let Some(line) = crate::progress::finished(record.outcome, all.len()) {
        say(&line);
    }
    let from = record.reused.as_ref().expect("a reused record names its source");
    let commit = from.git_commit.get(..10).unwrap_or(&from.git_commit);
    say(&format!(
        "REUSED      {} on {}: {} in run {} (commit {commit}); digest {digest} unchanged",
        case.spec.model_type,
        case.hardware.id(),
        record.outcome,
        from.run_id
    ));
    true
}

/// Evaluates (or, with `HFZOO_REUSE_VERDICTS=1`, reuses a stored verdict of the same digest),
/// records (a spool file), prints, and panics on failure. A fresh verdict
/// that is not a failure is stored under its digest for later runs ([`verdict`]).
pub fn assert_case(case: &'static Case, all: &[&'static Case]) {
    crate::progress::started();
    // Until the cell's outcome replaces it (the same spool file), the record says the process
    // died in it: an abort or a segfault in engine code then leaves this, never a hole. Written
    // first: computing the digest may export the model already.
    keep(case, &provisional_crash(case, all));
    crate::crash::inject_abort(case.spec.model_type, case.hardware.id());
    let cache = ArtifactCache::default();
    let digest = verdict::inputs_for(&cache, case).map(|inputs| inputs.digest());
    if reuse_stored(case, all, digest.as_deref()) {
        return;
    }
    let evaluation = evaluate_in(&cache, case);
    // A route the engine had not decided before is decided now: the check kept its verdict.
    let digest = digest.or_else(|| verdict::inputs_for(&cache, case).map(|inputs| inputs.digest()));
    let record = record(case, all, &evaluation);
    keep(case, &record);
    // A verdict measured under a test-only setting (an injected delay) is never kept for reuse:
    // a later run would show its numbers without the setting's warning.
    if let Some(injected) = measure::injected_setting() {
        say(&format!(
            "NOT STORED  the verdict of {} on {}: {injected} is set",
            case.spec.model_type,
            case.hardware.id()
        ));
    } else if let Some(digest) = &digest {
        if let Err(error) = VerdictStore::default().save(case, digest, &record) {
            say(&format!(
                "warning: the verdict of {} on {} was not stored for reuse: {error}",
                case.spec.model_type,
                case.hardware.id()
            ));
        }
    }
    let name = format!("{} on {}", case.spec.model_type, case.hardware.id());
    if let Some(line) = crate::progress::finished(evaluation.outcome.kind(), all.len()) {
        say(&line);
    }
    match &evaluation.outcome {
        Outcome::Passed => {
            let p50 = evaluation
                .measurements
                .iter()
                .find(|m| m.metric == "latency_p50_ms")
                .map(|m| m.value)
                .unwrap_or(f64::NAN);
            say(&format!("PASSED      {name}: matched the eager reference on both input sets, p50 {p50:.2} ms"));
        }
        Outcome::Skipped(reason) => say(&format!("SKIPPED     {name}: hardware absent: {reason}")),
        Outcome::Unsupported { reason, .. } => {
            say(&format!("UNSUPPORTED {name}: as expected by {}: {reason}", case.spec.source))
        }
        Outcome::Failed(detail) => panic!("FAILED {name}: {detail}"),
    }
}

/// An extra check's name in the verdict store (`typed skill` -> `typed-skill`).
fn check_id(check: &str) -> String {
    check.replace(' ', "-")
}

/// Records that an extra check of the cell passed in this run, under the cell's digest.
fn remember_check(case: &'static Case, check: &str) {
    let Some(digest) = verdict::inputs_for(&ArtifactCache::default(), case).map(|i| i.digest()) else { return };
    if let Err(error) = VerdictStore::default().save_check(case, &digest, &check_id(check), &run_info("").run_id) {
        say(&format!(
            "warning: the {check} verdict of {} on {} was not stored for reuse: {error}",
            case.spec.model_type,
            case.hardware.id()
        ));
    }
}

/// Shared gate of the extra checks: `None` when the case is skipped or expected unsupported,
/// or (with `HFZOO_REUSE_VERDICTS=1`) when this check passed before under the same digest.
fn ready(case: &'static Case, check: &str) -> Option<(&'static dyn Backend, Artifact, Parity)> {
    let name = format!("{} on {}", case.spec.model_type, case.hardware.id());
    if verdict::reuse_enabled() {
        if let Some(digest) = verdict::inputs_for(&ArtifactCache::default(), case).map(|i| i.digest()) {
            if let Some(run) = VerdictStore::default().check_passed(case, &digest, &check_id(check)) {
                say(&format!("REUSED      {name} ({check}): passed in run {run}; digest {digest} unchanged"));
                return None;
            }
        }
    }
    let detection = detect(case.hardware);
    if let Some(fault) = detection_fault(case.hardware).filter(|_| !detection.available) {
        panic!("FAILED {name} ({check}): {fault} [{}]", FailureCategory::Environment);
    }
    if !detection.available {
        match absent_outcome(case, &detection) {
            Outcome::Failed(detail) => panic!("FAILED {name} ({check}): {detail}"),
            _ => say(&format!("SKIPPED     {name} ({check}): hardware absent: {}", detection.reason)),
        }
        return None;
    }
    if let Expected::Unsupported { reason, .. } = case.expected {
        say(&format!("SKIPPED     {name} ({check}): expected unsupported: {reason}"));
        return None;
    }
    let prepared = backend_for(case).and_then(|backend| {
        let artifact = crate::route::choose(&ArtifactCache::default(), case, backend)?.artifact;
        let parity = artifact.parity()?;
        Ok((backend, artifact, parity))
    });
    match prepared {
        Ok(ready) => Some(ready),
        Err(error) => panic!("FAILED {name} ({check}): {error}"),
    }
}

/// Feeds reference input set a through the typed skill (`run`) and compares its outputs.
/// (`run` is a plain function, not a generic closure: this body is compiled once, in the
/// runtime, not once per generated test.)
pub fn assert_skill(case: &'static Case, run: fn(NamedTensors) -> Result<Vec<HostTensor>>) {
    let Some((backend, artifact, parity)) = ready(case, "typed skill") else { return };
    let name = format!("{} on {}", case.spec.model_type, case.hardware.id());
    let outcome = (|| {
        let named = read_safetensors(&artifact.inputs(InputSet::A))?;
        let outputs = checked_run(case, backend, || run(NamedTensors(named)))?;
        let reference = read_safetensors(&artifact.reference(InputSet::A))?;
        check::compare(case.spec, InputSet::A, &outputs, &reference, &parity)
    })();
    if let Err(error) = outcome {
        panic!("FAILED {name} (typed skill): {error}");
    }
    remember_check(case, "typed skill");
}

/// Decoder causality: the first output's values for a prefix must not change when the
/// sequence is cut after that prefix. Needs a dynamic `seq` dimension.
pub fn assert_causal(case: &'static Case) {
    let Some((backend, artifact, parity)) = ready(case, "causality") else { return };
    let name = format!("{} on {}", case.spec.model_type, case.hardware.id());
    let outcome = (|| {
        let spec = case.spec;
        let seq = spec.dim("seq").filter(|d| d.is_dynamic()).ok_or_else(|| {
            Error::Mismatch(format!("{} needs a dynamic `seq` dimension for the causality check", spec.source))
        })?;
        let keep = (seq.size - 2).max(1);
        let session = Session::load(case, &artifact)?;
        let inputs = crate::artifacts::read_inputs(case, &artifact, InputSet::A)?;
        let full = checked_run(case, backend, || session.run_slice(&inputs))?;
        let cut = spec
            .inputs
            .iter()
            .zip(&inputs)
            .map(|(input, t)| narrow_seq(input.shape, t, keep))
            .collect::<Result<Vec<_>>>()?;
        let short = checked_run(case, backend, || session.run_slice(&cut))?;
        let output = &spec.outputs[0];
        let want = narrow_seq(output.shape, &full[0], keep)?;
        if short[0].shape() != want.shape() {
            return Err(Error::Mismatch(format!(
                "prefix output has shape {:?}, expected {:?}",
                short[0].shape(),
                want.shape()
            )));
        }
        let tolerance = parity
            .outputs
            .get(output.name)
            .ok_or_else(|| Error::Mismatch(format!("no tolerance for `{}`", output.name)))?;
        check::diff(output.name, &short[0], &want, tolerance, InputSet::A).map(|_| ())
    })();
    if let Err(error) = outcome {
        panic!("FAILED {name} (causality: logits of the first tokens changed when later tokens were removed): {error}");
    }
    remember_check(case, "causality");
}

fn narrow_seq(shape: &[DimRef], tensor: &HostTensor, keep: i64) -> Result<HostTensor> {
    match shape.iter().position(|d| matches!(d, DimRef::Named("seq"))) {
        Some(axis) => tensor.narrow(axis, keep),
        None => Ok(tensor.clone()),
    }
}
