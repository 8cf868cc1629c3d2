//! What generated tests call: evaluate a case, record the outcome, print it, and fail the
//! test exactly when the outcome is a failure.
//!
//! Outcomes: passed; failed (diff or error); skipped (hardware absent, loud, and a failure
//! when `HFZOO_REQUIRE_HARDWARE` names the hardware); unsupported (expected by metadata; an
//! unexpected pass fails and says to update the metadata).

use std::io::Write;

use crate::artifact_check::{Checked, Failure};
use crate::artifacts::{Artifact, ArtifactCache, Parity};
use crate::backend::Backend;
use crate::backend::{detect, detection_fault};
use crate::check;
use crate::error::{Error, Result};
use crate::forward_guard::{checked_run, guarded};
use crate::hardware::{Detection, REQUIRE_ENV};
use crate::measure::{self, now_ms, Measurement};
use crate::paths;
use crate::results::record::{cell_result_id, run_info, ModelInfo, OutcomeKind, Record};
use crate::results::spool;
use crate::route::RouteCheck;
use crate::session::{backend_for, Session};
use crate::spec::{Case, CellKind, DimRef, Expected, InputSet};
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

/// Measurements and timed samples of a case that ran and matched.
type Measured = (Vec<Measurement>, Vec<f64>);

/// Times the artifact the case's route checked ([`crate::route::check`]): what the check
/// measured, then the steady-state latencies and the peak memory.
fn timed(case: &Case, backend: &dyn Backend, checked: Checked) -> std::result::Result<Measured, Failure> {
    let Checked { session, inputs, mut measurements, limit } = checked;
    let batch = inputs.first().and_then(|t| t.shape().first().copied()).unwrap_or(1);
    // (A seeded case draws random numbers in every run, so its timed runs hold the generator too.)
    let seeded = case.spec.run_seed().is_some();
    let delay = measure::injected_delay(case.spec.model_type);
    let timed = measure::steady_state(batch, || {
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        guarded(backend, seeded, None, || session.run_slice(&inputs).map(|_| session.synchronize()))
    })
    .map_err(|e| Failure::new(limit, e))?;
    measurements.extend(timed.measurements);
    if let Some(mib) = measure::process_peak_rss_mib() {
        measurements.push(Measurement::new("process_peak_rss_mib", mib, "MiB"));
    }
    Ok((measurements, timed.samples))
}

/// Runs a case for real with artifacts from `cache` and decides its outcome (records nothing).
///
/// Strict both ways: an unexpected failure fails; so does an unexpected pass, and an expected
/// `unsupported` whose error falls in another category than the metadata records.
pub fn evaluate_in(cache: &ArtifactCache, case: &Case) -> Evaluation {
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
    let (artifact_key, route, checked) = match backend_for(case) {
        Err(error) => (None, None, Err(Failure::new(FailureCategory::Environment, error))),
        Ok(backend) if case.kind() == CellKind::Generate => {
            let crate::generation::Evaluated { artifact_key, route, checked } =
                crate::generation::evaluate(cache, case, backend);
            (artifact_key, route, checked.map(|measurements| (measurements, Vec::new())))
        }
        Ok(backend) => {
            let RouteCheck { artifact_key, route, checked } = crate::route::check(cache, case, backend);
            (artifact_key, route, checked.and_then(|checked| timed(case, backend, checked)))
        }
    };
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
    let spec = &case.spec;
    let kind = case.kind();
    Record {
        result_id: cell_result_id(&run.run_id, spec.model_type, case.hardware.id(), kind),
        kind,
        run,
        hardware: evaluation.detection.clone(),
        model: ModelInfo {
            model_type: spec.model_type.into(),
            display_name: spec.display_name.into(),
            family: spec.family.into(),
            modality: spec.modality.join(","),
            task: spec.task.into(),
            model_class: spec.model_class.to_string(),
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
    failed_record(case, all, crate::crash::PROVISIONAL.to_string(), Category::Crash)
}

/// The record of a cell that failed in `category` without an evaluation (its process died in
/// it, or it ran past its limit).
fn failed_record(case: &Case, all: &[&Case], reason: String, category: Category) -> Record {
    let evaluation = Evaluation {
        outcome: Outcome::Failed(reason),
        detection: detect(case.hardware),
        artifact_key: None,
        route: None,
        observed: Some(category.into()),
        measurements: Vec::new(),
        samples: Vec::new(),
    };
    record(case, all, &evaluation)
}

/// Watches the cell against [`crate::cell_limit`]: past the limit its record says `timeout`
/// and the process ends, so that the column resumes after it.
fn limit_cell(case: &Case, all: &[&Case]) -> crate::cell_limit::Watch {
    let Some(limit) = crate::cell_limit::limit() else { return crate::cell_limit::Watch::off() };
    let label = format!("{} on {}", case.spec.model_type, case.hardware.id());
    let reason = format!(
        "still running after {} s, the limit of a cell ({} sets it): the process ended itself so that its column went on",
        limit.as_secs(),
        crate::cell_limit::SECONDS_ENV
    );
    let timeout = failed_record(case, all, reason, Category::Timeout);
    let results = paths::results_dir();
    crate::cell_limit::watch(label, move || {
        let _ = spool::write(&results, &timeout);
    })
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
fn reuse_stored(case: &Case, all: &[&'static Case], digest: Option<&str>) -> bool {
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
pub fn assert_case(case: &Case, all: &[&'static Case]) {
    let started = std::time::Instant::now();
    crate::progress::started();
    // Until the cell's outcome replaces it (the same spool file), the record says the process
    // died in it: an abort or a segfault in engine code then leaves this, never a hole. Written
    // first: computing the digest may export the model already.
    keep(case, &provisional_crash(case, all));
    crate::crash::inject_abort(case.spec.model_type, case.hardware.id());
    let _limit = limit_cell(case, all);
    let cache = ArtifactCache::default();
    let digest = verdict::inputs_for(&cache, case).map(|inputs| inputs.digest());
    if reuse_stored(case, all, digest.as_deref()) {
        return;
    }
    let evaluation = evaluate_in(&cache, case);
    // A route the engine had not decided before is decided now: the check kept its verdict.
    let digest = digest.or_else(|| verdict::inputs_for(&cache, case).map(|inputs| inputs.digest()));
    let mut record = record(case, all, &evaluation);
    record.measurements.push(Measurement::new(measure::CELL_SECONDS, started.elapsed().as_secs_f64(), "s"));
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
    let name = match case.kind() {
        CellKind::Forward => format!("{} on {}", case.spec.model_type, case.hardware.id()),
        kind => format!("{} on {} ({})", case.spec.model_type, case.hardware.id(), kind.id()),
    };
    if let Some(line) = crate::progress::finished(evaluation.outcome.kind(), all.len()) {
        say(&line);
    }
    match &evaluation.outcome {
        Outcome::Passed if case.kind() == CellKind::Generate => say(&format!(
            "PASSED      {name}: greedy ids equal transformers' generate with and without the cache on both prompts"
        )),
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
fn remember_check(case: &Case, check: &str) {
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
fn ready(case: &Case, check: &str) -> Option<(&'static dyn Backend, Artifact, Parity)> {
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
pub fn assert_skill(case: &Case, run: fn(NamedTensors) -> Result<Vec<HostTensor>>) {
    let name = format!("{} on {}", case.spec.model_type, case.hardware.id());
    // No record of its own to mark: past the limit the process only ends, naming the test.
    let _limit = crate::cell_limit::watch(format!("{name} (typed skill)"), || {});
    let Some((backend, artifact, parity)) = ready(case, "typed skill") else { return };
    let outcome = (|| {
        let named = read_safetensors(&artifact.inputs(InputSet::A))?;
        let outputs = checked_run(case, backend, || run(NamedTensors(named)))?;
        let reference = read_safetensors(&artifact.reference(InputSet::A))?;
        check::compare(&case.spec, InputSet::A, &outputs, &reference, &parity)
    })();
    if let Err(error) = outcome {
        panic!("FAILED {name} (typed skill): {error}");
    }
    remember_check(case, "typed skill");
}

/// A generation cell ([`crate::generation`]): evaluated, recorded and asserted as every cell is
/// ([`assert_case`]), under its own record id and verdict digest.
pub fn assert_generation(cell: &crate::generation::GenerationCase, all: &[&'static Case]) {
    assert_case(&cell.to_case(), all);
}

/// Decoder causality: the first output's values for a prefix must not change when the
/// sequence is cut after that prefix. Needs a dynamic `seq` dimension.
pub fn assert_causal(case: &Case) {
    let Some((backend, artifact, parity)) = ready(case, "causality") else { return };
    let name = format!("{} on {}", case.spec.model_type, case.hardware.id());
    let outcome = (|| {
        let spec = &case.spec;
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
            .map(|(input, t)| narrow_seq(&input.shape, t, keep))
            .collect::<Result<Vec<_>>>()?;
        let short = checked_run(case, backend, || session.run_slice(&cut))?;
        let output = &spec.outputs[0];
        let want = narrow_seq(&output.shape, &full[0], keep)?;
        if short[0].shape() != want.shape() {
            return Err(Error::Mismatch(format!(
                "prefix output has shape {:?}, expected {:?}",
                short[0].shape(),
                want.shape()
            )));
        }
        let tolerance = parity
            .outputs
            .get(&*output.name)
            .ok_or_else(|| Error::Mismatch(format!("no tolerance for `{}`", output.name)))?;
        check::diff(&output.name, &short[0], &want, tolerance, InputSet::A).map(|_| ())
    })();
    if let Err(error) = outcome {
        panic!("FAILED {name} (causality: logits of the first tokens changed when later tokens were removed): {error}");
    }
    remember_check(case, "causality");
}

fn narrow_seq(shape: &[DimRef], tensor: &HostTensor, keep: i64) -> Result<HostTensor> {
    match shape.iter().position(|d| matches!(d, DimRef::Named("seq"))) {
        Some(axis) => Ok(tensor.narrow(axis, keep)?),
        None => Ok(tensor.clone()),
    }
}
