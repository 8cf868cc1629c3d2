//! What generated tests call: evaluate a case, record the outcome, print it, and fail the
//! test exactly when the outcome is a failure.
//!
//! Outcomes: passed; failed (diff or error); skipped (hardware absent, loud, and a failure
//! when `HFZOO_REQUIRE_HARDWARE` names the hardware); unsupported (expected by metadata; an
//! unexpected pass fails and says to update the metadata).

use std::io::Write;
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use tch::Tensor;

use crate::artifacts::{Artifact, ArtifactCache};
use crate::check;
use crate::error::{Error, Result};
use crate::hardware::{detect, Detection, REQUIRE_ENV};
use crate::measure::{self, Measurement};
use crate::results::record::{now_ms, result_id, run_info, ModelInfo, Record};
use crate::results::{db_path, spool, ResultsDb};
use crate::session::Session;
use crate::spec::{Case, DimRef, Expected};
use crate::paths;

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
    /// `passed`, `failed`, `skipped` or `unsupported`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "failed",
            Outcome::Skipped(_) => "skipped",
            Outcome::Unsupported { .. } => "unsupported",
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
    /// Measurements (only when checks passed).
    pub measurements: Vec<Measurement>,
}

/// Named tensors of an input set, taken by name when building typed inputs.
pub struct NamedTensors(Vec<(String, Tensor)>);

impl NamedTensors {
    /// Removes and returns the tensor called `name`.
    pub fn take(&mut self, name: &str) -> Result<Tensor> {
        let index = self.0.iter().position(|(n, _)| n == name).ok_or_else(|| Error::Mismatch(format!("input set has no tensor `{name}`")))?;
        Ok(self.0.remove(index).1)
    }
}

fn say(line: &str) {
    // Written to the real stderr, not the test harness's capture: skips must be seen.
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn absent_outcome(case: &Case, detection: &Detection) -> Outcome {
    if case.hardware.is_required() {
        Outcome::Failed(format!("{} is required ({REQUIRE_ENV}) but absent: {}", case.hardware.id(), detection.reason))
    } else {
        Outcome::Skipped(detection.reason.clone())
    }
}

/// Reads one input set in the spec's order.
pub fn read_inputs(case: &Case, artifact: &Artifact, set: char) -> Result<Vec<Tensor>> {
    let path = artifact.inputs(set);
    let mut named = Tensor::read_safetensors(&path)?;
    case.spec
        .inputs
        .iter()
        .map(|input| {
            let index = named.iter().position(|(n, _)| n == input.name).ok_or_else(|| Error::Artifact {
                path: path.clone(),
                message: format!("has no input `{}`; delete {} to rebuild", input.name, artifact.dir.display()),
            })?;
            Ok(named.remove(index).1)
        })
        .collect()
}

/// Guards torch's global random generator across the test threads of one process: a case
/// with a `run_seed` runs alone (exclusive), every other forward runs beside the others
/// (shared). A seeded case's draws then never interleave with another forward's, whether
/// that one is checked or only measured.
static GENERATOR: RwLock<()> = RwLock::new(());

/// Runs `forward` under the generator guard; `seed` re-seeds the generator first (checked
/// runs of a seeded case), `None` leaves it as it is (measured runs, unseeded cases).
fn guarded<T>(exclusive: bool, seed: Option<i64>, forward: impl FnOnce() -> T) -> T {
    if exclusive {
        let _guard = GENERATOR.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(seed) = seed {
            tch::manual_seed(seed);
        }
        forward()
    } else {
        let _guard = GENERATOR.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        forward()
    }
}

/// Runs a checked forward: a seeded case after seeding torch's global generator with its
/// `run_seed`, alone; any other case beside the others.
fn checked_run<T>(case: &Case, forward: impl FnOnce() -> T) -> T {
    let seed = case.spec.run_seed();
    guarded(seed.is_some(), seed, forward)
}

fn shallow(tensors: &[Tensor]) -> Vec<Tensor> {
    tensors.iter().map(Tensor::shallow_clone).collect()
}

fn run_checks(cache: &ArtifactCache, case: &'static Case, all: &[&'static Case], key: &mut Option<String>) -> Result<Vec<Measurement>> {
    let artifact = cache.ensure(case, all)?;
    *key = Some(artifact.key.clone());
    let threads = torch_threads();
    let started = Instant::now();
    let session = Session::load(case, &artifact.model())?;
    let mut measurements = vec![
        Measurement::new("load_ms", measure::ms(started.elapsed()), "ms"),
        Measurement::new("torch_threads", threads as f64, "count"),
        Measurement::new("jit_profiling_executor", f64::from(u8::from(crate::backend::torch::profiling_executor())), "flag"),
    ];
    let sets = [('a', read_inputs(case, &artifact, 'a')?), ('b', read_inputs(case, &artifact, 'b')?)];
    for (set, inputs) in &sets {
        let started = Instant::now();
        let outputs = checked_run(case, || session.run_vec(shallow(inputs)))?;
        if *set == 'a' {
            measurements.push(Measurement::new("first_inference_ms", measure::ms(started.elapsed()), "ms"));
        }
        let reference = Tensor::read_safetensors(artifact.reference(*set))?;
        for diff in check::compare(case.spec, *set, &outputs, &reference)? {
            measurements.push(Measurement::new(&format!("max_abs_diff_{set}_{}", diff.name), diff.max_abs, "abs"));
        }
    }
    let inputs = &sets[0].1;
    let batch = inputs.first().and_then(|t| t.size().first().copied()).unwrap_or(1);
    // (A seeded case draws random numbers in every run, so its timed runs hold the generator too.)
    let seeded = case.spec.run_seed().is_some();
    measurements.extend(measure::steady_state(batch, || guarded(seeded, None, || session.run_vec(shallow(inputs)).map(|_| session.synchronize())))?);
    if let Some(mib) = measure::process_peak_rss_mib() {
        measurements.push(Measurement::new("process_peak_rss_mib", mib, "MiB"));
    }
    Ok(measurements)
}

/// Runs a case for real with the default artifact cache and decides its outcome (records nothing).
pub fn evaluate(case: &'static Case, all: &[&'static Case]) -> Evaluation {
    evaluate_in(&ArtifactCache::default(), case, all)
}

/// Runs a case for real with artifacts from `cache` and decides its outcome (records nothing).
pub fn evaluate_in(cache: &ArtifactCache, case: &'static Case, all: &[&'static Case]) -> Evaluation {
    let detection = detect(case.hardware);
    if !detection.available {
        return Evaluation { outcome: absent_outcome(case, &detection), detection, artifact_key: None, measurements: Vec::new() };
    }
    let mut artifact_key = None;
    let checked = run_checks(cache, case, all, &mut artifact_key);
    let source = case.spec.source;
    let (outcome, measurements) = match (case.expected, checked) {
        (Expected::Pass, Ok(measurements)) => (Outcome::Passed, measurements),
        (Expected::Pass, Err(error)) => (Outcome::Failed(error.to_string()), Vec::new()),
        (Expected::Unsupported { reason, .. }, Err(error)) => (Outcome::Unsupported { reason: reason.into(), error: error.to_string() }, Vec::new()),
        (Expected::Unsupported { reason, .. }, Ok(measurements)) => (
            Outcome::Failed(format!(
                "expected unsupported ({reason}) but it ran and matched: update {source}: set hardware.{}.expected to pass",
                case.hardware.id()
            )),
            measurements,
        ),
    };
    Evaluation { outcome, detection, artifact_key, measurements }
}

/// Builds the spool record for an evaluation.
pub fn record(case: &Case, all: &[&Case], evaluation: &Evaluation) -> Record {
    let mut features: Vec<&str> = all.iter().map(|c| c.hardware.id()).collect();
    features.sort();
    features.dedup();
    let run = run_info(&features.join(","));
    let spec = case.spec;
    Record {
        result_id: result_id(&run.run_id, spec.model_type, case.hardware.id()),
        run,
        hardware: evaluation.detection.clone(),
        model: ModelInfo {
            model_type: spec.model_type.into(),
            display_name: spec.display_name.into(),
            family: spec.family.into(),
            task: spec.task.into(),
            model_class: spec.model_class.into(),
            key_model: spec.key_model,
        },
        outcome: evaluation.outcome.label().into(),
        expected: match case.expected {
            Expected::Pass => "pass".into(),
            Expected::Unsupported { reason, .. } => format!("unsupported: {reason}"),
        },
        category: match case.expected {
            Expected::Pass => None,
            Expected::Unsupported { category, .. } => Some(category.into()),
        },
        detail: evaluation.outcome.detail(),
        artifact_key: evaluation.artifact_key.clone(),
        measurements: evaluation.measurements.clone(),
        recorded_at_ms: now_ms(),
    }
}

/// Ingests pending spool files unless another process holds the database (then they wait
/// in the spool for the next ingestion). Serialised within the process.
pub fn ingest_pending() -> Result<usize> {
    let _guard = INGEST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let results = paths::results_dir();
    let mut db = ResultsDb::open(&db_path(&results))?;
    Ok(db.ingest(&results)?.ingested)
}

static INGEST: Mutex<()> = Mutex::new(());

/// Least time between two ingestions from one test process: opening DuckDB per test would cost
/// more than the tiny models' inference. Records in between wait in the spool (nothing is lost)
/// and the next ingestion, `runtime report`, `runs` or `ingest` takes them.
const INGEST_EVERY: Duration = Duration::from_secs(10);

/// Ingests pending spool files when no ingestion ran in this process for `INGEST_EVERY` and
/// none is running now; otherwise leaves them in the spool.
fn ingest_now_and_then() -> Result<usize> {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    {
        let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_some_and(|at| at.elapsed() < INGEST_EVERY) {
            return Ok(0);
        }
        *last = Some(Instant::now());
    }
    ingest_pending()
}

/// Intra-op threads libtorch uses in this process (`HFZOO_TORCH_THREADS`, default 1).
///
/// The test harness already runs one case per core; libtorch's default of one thread per core
/// on top of that oversubscribes the machine and spends the time spinning in OpenMP. Set once
/// per process, before the first inference, and recorded with every measurement.
pub fn torch_threads() -> i64 {
    static THREADS: OnceLock<i64> = OnceLock::new();
    *THREADS.get_or_init(|| {
        let threads = std::env::var(TORCH_THREADS_ENV).ok().and_then(|v| v.parse().ok()).filter(|n: &i64| *n > 0).unwrap_or(1);
        tch::set_num_threads(threads as i32);
        threads
    })
}

/// Environment variable that sets libtorch's intra-op threads for the suite.
pub const TORCH_THREADS_ENV: &str = "HFZOO_TORCH_THREADS";

/// Evaluates, records (spool, then best-effort ingestion), prints, and panics on failure.
pub fn assert_case(case: &'static Case, all: &[&'static Case]) {
    let evaluation = evaluate(case, all);
    let record = record(case, all, &evaluation);
    let results = paths::results_dir();
    if let Err(error) = spool::write(&results, &record) {
        panic!("could not record the result of {} on {}: {error}", case.spec.model_type, case.hardware.id());
    }
    match ingest_now_and_then() {
        Ok(_) | Err(Error::DatabaseLocked { .. }) => {}
        Err(error) => say(&format!("warning: result kept in the spool, not yet in the database: {error}")),
    }
    let name = format!("{} on {}", case.spec.model_type, case.hardware.id());
    match &evaluation.outcome {
        Outcome::Passed => {
            let p50 = evaluation.measurements.iter().find(|m| m.metric == "latency_p50_ms").map(|m| m.value).unwrap_or(f64::NAN);
            say(&format!("PASSED      {name}: matched the eager reference on both input sets, p50 {p50:.2} ms"));
        }
        Outcome::Skipped(reason) => say(&format!("SKIPPED     {name}: hardware absent: {reason}")),
        Outcome::Unsupported { reason, .. } => say(&format!("UNSUPPORTED {name}: as expected by {}: {reason}", case.spec.source)),
        Outcome::Failed(detail) => panic!("FAILED {name}: {detail}"),
    }
}

/// Shared gate of the extra checks: `None` when the case is skipped or expected unsupported.
fn ready(case: &'static Case, all: &[&'static Case], check: &str) -> Option<Artifact> {
    let detection = detect(case.hardware);
    let name = format!("{} on {}", case.spec.model_type, case.hardware.id());
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
    torch_threads();
    match ArtifactCache::default().ensure(case, all) {
        Ok(artifact) => Some(artifact),
        Err(error) => panic!("FAILED {name} ({check}): {error}"),
    }
}

/// Feeds reference input set a through the typed skill (`run`) and compares its outputs.
pub fn assert_skill(case: &'static Case, all: &[&'static Case], run: impl FnOnce(NamedTensors) -> Result<Vec<Tensor>>) {
    let Some(artifact) = ready(case, all, "typed skill") else { return };
    let name = format!("{} on {}", case.spec.model_type, case.hardware.id());
    let outcome = (|| {
        let named = Tensor::read_safetensors(artifact.inputs('a'))?;
        let outputs = checked_run(case, || run(NamedTensors(named)))?;
        let reference = Tensor::read_safetensors(artifact.reference('a'))?;
        check::compare(case.spec, 'a', &outputs, &reference)
    })();
    if let Err(error) = outcome {
        panic!("FAILED {name} (typed skill): {error}");
    }
}

/// Decoder causality: the first output's values for a prefix must not change when the
/// sequence is cut after that prefix. Needs a dynamic `seq` dimension.
pub fn assert_causal(case: &'static Case, all: &[&'static Case]) {
    let Some(artifact) = ready(case, all, "causality") else { return };
    let name = format!("{} on {}", case.spec.model_type, case.hardware.id());
    let outcome = (|| {
        let spec = case.spec;
        let seq = spec.dim("seq").filter(|d| d.varied.is_some()).ok_or_else(|| Error::Mismatch(format!("{} needs a dynamic `seq` dimension for the causality check", spec.source)))?;
        let keep = (seq.size - 2).max(1);
        let session = Session::load(case, &artifact.model())?;
        let inputs = read_inputs(case, &artifact, 'a')?;
        let full = checked_run(case, || session.run_vec(shallow(&inputs)))?;
        let cut: Vec<Tensor> = spec.inputs.iter().zip(&inputs).map(|(input, t)| narrow_seq(input.shape, t, keep)).collect();
        let short = checked_run(case, || session.run_vec(cut))?;
        let output = &spec.outputs[0];
        let want = narrow_seq(output.shape, &full[0], keep).to_device(tch::Device::Cpu).to_kind(tch::Kind::Double);
        let got = short[0].to_device(tch::Device::Cpu).to_kind(tch::Kind::Double);
        if got.size() != want.size() {
            return Err(Error::Mismatch(format!("prefix output has shape {:?}, expected {:?}", got.size(), want.size())));
        }
        check::diff(output.name, &got, &want, spec.tolerance, 'a').map(|_| ())
    })();
    if let Err(error) = outcome {
        panic!("FAILED {name} (causality: logits of the first tokens changed when later tokens were removed): {error}");
    }
}

fn narrow_seq(shape: &[DimRef], tensor: &Tensor, keep: i64) -> Tensor {
    match shape.iter().position(|d| matches!(d, DimRef::Named("seq"))) {
        Some(axis) => tensor.narrow(axis as i64, 0, keep),
        None => tensor.shallow_clone(),
    }
}
