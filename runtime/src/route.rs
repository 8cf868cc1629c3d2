//! Which artifact a case runs on its engine. The first of the backend's formats whose export
//! succeeded, unless the engine failed that file (could not load or run it, or its outputs
//! missed the reference) while a later format exists: then the later one. OpenVINO reads an
//! ONNX file first and its own IR (OpenVINO's PyTorch frontend) second; where OpenVINO's ONNX
//! frontend computes something else from a file that ONNX Runtime runs correctly (the
//! exporter checked it there), the IR route is the engine's own way to run the model.
//!
//! The engine's verdict on a file is kept beside it (`engine-<hardware>.json`, with the engine
//! version), so every check and skill of the case takes the same route, in any process, without
//! running the file again; another engine version decides again.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::artifact_check::{self, Checked, Failure};
use crate::artifacts::{Artifact, ArtifactCache, ArtifactFormat};
use crate::backend::detect;
use crate::backend::Backend;
use crate::check;
use crate::error::{Error, Result};
use crate::session::{backend_for, Session};
use crate::spec::Case;
use crate::Category;

/// The artifact a case runs and, where an earlier route was left, why.
#[derive(Debug, Clone)]
pub struct Route {
    /// The artifact to run.
    pub artifact: Artifact,
    /// The earlier route's failure on this engine (`onnx route: ...`), when one was left.
    pub left: Option<String>,
}

/// What an engine did with one artifact, kept in the artifact's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineVerdict {
    /// The engine version that ran it (a verdict of another version is not reused).
    pub engine_version: String,
    /// The first line of the engine's failure; `None` when it ran and matched on both sets.
    pub failure: Option<String>,
}

fn verdict_path(artifact: &Artifact, case: &Case) -> PathBuf {
    artifact.dir.join(format!("engine-{}.json", case.hardware.id()))
}

/// The engine verdict kept for `artifact`, when one of this engine version is there.
pub fn kept(artifact: &Artifact, case: &Case, engine_version: &str) -> Option<EngineVerdict> {
    let text = std::fs::read_to_string(verdict_path(artifact, case)).ok()?;
    let verdict: EngineVerdict = serde_json::from_str(&text).ok()?;
    (verdict.engine_version == engine_version).then_some(verdict)
}

/// Keeps the engine's verdict on `artifact` (through a sibling file and a rename: a reader never
/// sees half of it); a verdict already kept as it is stays untouched. Callers keep one only
/// where the backend has a later route: there the verdict decides the route.
pub fn keep(artifact: &Artifact, case: &Case, verdict: &EngineVerdict) -> Result<()> {
    if kept(artifact, case, &verdict.engine_version).as_ref() == Some(verdict) {
        return Ok(());
    }
    // A name of this process and this call: two test threads checking one artifact at once
    // (its cell and its typed skill) each rename their own file.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = verdict_path(artifact, case);
    let tmp = artifact.dir.join(format!(".engine-{}.json.tmp-{}-{call}", case.hardware.id(), std::process::id()));
    let text = serde_json::to_string_pretty(verdict)
        .map_err(|source| Error::Json { context: "an engine verdict".into(), source })?;
    std::fs::write(&tmp, text + "\n").map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))
}

/// The backend's formats after `format`, in order of preference.
pub fn later_formats(backend: &dyn Backend, format: ArtifactFormat) -> &'static [ArtifactFormat] {
    let formats = backend.formats();
    match formats.iter().position(|f| *f == format) {
        Some(index) => &formats[index + 1..],
        None => &[],
    }
}

/// The formats a case runs on `backend`: its generation formats for a generation cell.
pub fn formats(case: &Case, backend: &dyn Backend) -> &'static [ArtifactFormat] {
    match case.kind() {
        crate::CellKind::Forward => backend.formats(),
        crate::CellKind::Generate => backend.generation_formats(),
    }
}

/// The first line of an error, as a kept verdict and a route's reason word it.
pub fn first_line(error: &Error) -> String {
    error.to_string().lines().next().unwrap_or_default().chars().take(400).collect()
}

/// What the kept facts say of a case's route, without loading or running anything.
enum Known {
    /// The route.
    Route(Route),
    /// The first route, on which the engine's verdict is not kept yet.
    Undecided(Artifact),
}

/// The route as far as the exported artifacts and the kept engine verdicts decide it.
fn decided(cache: &ArtifactCache, case: &Case, backend: &dyn Backend) -> Result<Known> {
    let first = cache.ensure_first(case, formats(case, backend))?;
    let later = later_formats(backend, first.format);
    if later.is_empty() || check::verdict(&first.parity()?).is_some() {
        return Ok(Known::Route(Route { artifact: first, left: None }));
    }
    Ok(match kept(&first, case, &detect(case.hardware).version) {
        Some(verdict) => Known::Route(follow(cache, case, backend, first, verdict)),
        None => Known::Undecided(first),
    })
}

/// The route an engine verdict on the first artifact gives: the first when the engine ran it
/// and matched, else the first later format that exports (the first again when none does: it
/// runs, and fails as it does).
fn follow(cache: &ArtifactCache, case: &Case, backend: &dyn Backend, first: Artifact, verdict: EngineVerdict) -> Route {
    let Some(failure) = verdict.failure else {
        return Route { artifact: first, left: None };
    };
    for format in later_formats(backend, first.format) {
        if let Ok(artifact) = cache.ensure(case, *format) {
            return Route { artifact, left: Some(format!("{} route: {failure}", first.format.id())) };
        }
    }
    Route { artifact: first, left: None }
}

/// The route of `case` on `backend` as the kept facts decide it, never loading or running a
/// model (the verdict digest's view): `None` while the engine's verdict on the first route is
/// not kept yet; the suite's check and [`choose`] keep it.
pub fn known(cache: &ArtifactCache, case: &Case, backend: &dyn Backend) -> Result<Option<Route>> {
    Ok(match decided(cache, case, backend)? {
        Known::Route(route) => Some(route),
        Known::Undecided(_) => None,
    })
}

/// The route of `case` on `backend`: the first exported format, or a later one when the
/// engine failed the first (checked once per artifact and engine version, by [`check`]).
pub fn choose(cache: &ArtifactCache, case: &Case, backend: &dyn Backend) -> Result<Route> {
    if let Known::Route(route) = decided(cache, case, backend)? {
        return Ok(route);
    }
    // Checking the route keeps the engine's verdict on the first artifact, which decides it;
    // where none could be kept (the machine failed, not the engine), the first route runs.
    drop(check(cache, case, backend));
    Ok(match decided(cache, case, backend)? {
        Known::Route(route) => route,
        Known::Undecided(first) => Route { artifact: first, left: None },
    })
}

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

/// What checking a case's route gave.
pub struct RouteCheck {
    /// The key of the artifact the verdict speaks of, once one was exported.
    pub artifact_key: Option<String>,
    /// Its format and exporter (`onnx via torchscript-opset17`), and why an earlier route was
    /// left where one was.
    pub route: Option<String>,
    /// The check of that artifact.
    pub checked: std::result::Result<Checked, Failure>,
}

/// Decides and checks the route of `case` on `backend`, the one policy every caller follows:
/// the first exported format is checked; where the engine fails that file and the backend has
/// a later format, the later one is, and the engine's verdict on the first is kept beside it
/// so that skills, the other checks and the verdict digest take the same route.
pub fn check(cache: &ArtifactCache, case: &Case, backend: &dyn Backend) -> RouteCheck {
    let first = match cache.ensure_first(case, formats(case, backend)) {
        Ok(first) => first,
        Err(error) => return RouteCheck { artifact_key: None, route: None, checked: Err(Failure::of_export(error)) },
    };
    let on_first =
        |checked| RouteCheck { artifact_key: Some(first.key.clone()), route: Some(route_of(&first)), checked };
    let checked = artifact_check::check(case, backend, &first);
    let later = later_formats(backend, first.format);
    if later.is_empty() || matches!(&checked, Err(failure) if !failure.category.is(Category::Backend)) {
        return on_first(checked);
    }
    let failure = checked.as_ref().err().map(|failure| first_line(&failure.error));
    let verdict = EngineVerdict { engine_version: detect(case.hardware).version, failure: failure.clone() };
    if let Err(error) = keep(&first, case, &verdict) {
        // Written to the real stderr, not the test harness's capture.
        let _ = writeln!(
            std::io::stderr(),
            "warning: the engine's verdict on {} was not kept: {error}",
            first.dir.display()
        );
    }
    let Some(failure) = failure else { return on_first(checked) };
    // The exporter checks every ONNX file on ONNX Runtime: a failure here is the engine's.
    let runs_on_onnx_runtime = matches!(first.format, ArtifactFormat::Onnx | ArtifactFormat::OnnxStatic);
    let and_ort = if runs_on_onnx_runtime { " where ONNX Runtime ran it and matched" } else { "" };
    let mut later_failures = String::new();
    for format in later {
        let outcome = cache
            .ensure(case, *format)
            .map_err(Failure::of_export)
            .and_then(|artifact| artifact_check::check(case, backend, &artifact).map(|checked| (artifact, checked)));
        match outcome {
            Ok((artifact, checked)) => {
                let ran = route_of(&artifact);
                let route =
                    format!("{ran}, after the {} route failed on this engine ({failure}){and_ort}", first.format.id());
                return RouteCheck { artifact_key: Some(artifact.key), route: Some(route), checked: Ok(checked) };
            }
            Err(later_failure) => {
                later_failures +=
                    &format!("; then the {} route: {} [{}]", format.id(), later_failure.error, later_failure.category)
            }
        }
    }
    // Every route failed: the first route's failure is the verdict, saying that ONNX Runtime
    // ran the same file and what the later routes did.
    on_first(match checked {
        Err(Failure { category, error }) if runs_on_onnx_runtime => {
            Err(Failure { category, error: Error::EngineOnly { error: Box::new(error), later: later_failures } })
        }
        other => other,
    })
}

/// Loads the case's tiny random-weight model on the route [`choose`] gives, exporting its
/// artifact if missing.
pub fn load_tiny(case: &Case) -> Result<Session> {
    let backend = backend_for(case)?;
    Session::load(case, &choose(&ArtifactCache::default(), case, backend)?.artifact)
}
