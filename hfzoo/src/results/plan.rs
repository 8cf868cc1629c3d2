//! What a run planned and what became of cells whose process died: the plan (every cell the
//! run's test list holds) is kept beside the spool, so a report compares it with the records
//! and names each planned cell without one instead of a pass share over a truncated column;
//! and a cell left with its provisional `crash` record gets the signal and the last lines its
//! test runner kept (nextest's JUnit report).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::spool;
use crate::error::{Error, Result};
use runtime::results::record::Record;

/// A cell a run planned: hardware and model type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlannedCell {
    /// Hardware id (`openvino`).
    pub hardware: String,
    /// Model type (`parakeet_tdt`).
    pub model_type: String,
}

/// One run's plan, as written beside the spool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The run.
    pub run_id: String,
    /// Its cells, sorted.
    pub cells: Vec<PlannedCell>,
}

/// A model type as the generator names its module (`xlm-roberta` -> `xlm_roberta`): lowercase,
/// every character but letters and digits as `_` (generator/src/metadata/schema.rs).
pub fn module_name(model_type: &str) -> String {
    model_type.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// The name of the test that records a cell (`cpu::bert::tests::matches_reference`).
const CELL_TEST: &str = "::tests::matches_reference";

/// The cell a test name records, if it is a cell's test.
pub fn cell_of_test(name: &str) -> Option<PlannedCell> {
    let path = name.strip_suffix(CELL_TEST)?;
    let (hardware, model_type) = path.split_once("::")?;
    (runtime::Hardware::from_id(hardware).is_some() && !model_type.is_empty() && !model_type.contains("::"))
        .then(|| PlannedCell { hardware: hardware.to_string(), model_type: model_type.to_string() })
}

/// The cells of `cargo nextest list --message-format json` whose tests the filter selected.
pub fn cells_from_nextest_list(json: &str) -> Result<Vec<PlannedCell>> {
    let list: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        Error::InvalidArgument(format!("not the JSON of `cargo nextest list --message-format json`: {e}"))
    })?;
    let suites = list.get("rust-suites").and_then(|s| s.as_object()).ok_or_else(|| {
        Error::InvalidArgument(
            "the test list has no `rust-suites` (use `cargo nextest list --message-format json`)".into(),
        )
    })?;
    let mut cells = BTreeSet::new();
    for suite in suites.values() {
        for (name, case) in suite.get("testcases").and_then(|t| t.as_object()).into_iter().flatten() {
            let selected = case.pointer("/filter-match/status").and_then(|s| s.as_str()) == Some("matches");
            if let Some(cell) = cell_of_test(name).filter(|_| selected) {
                cells.insert(cell);
            }
        }
    }
    Ok(cells.into_iter().collect())
}

/// The plans folder under a results folder.
pub fn plans_dir(results: &Path) -> PathBuf {
    results.join("plans")
}

/// Adds `cells` to the plan of `run_id` (a run's phases each add theirs), written atomically.
pub fn add(results: &Path, run_id: &str, cells: Vec<PlannedCell>) -> Result<Plan> {
    if run_id.is_empty() || !run_id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Error::InvalidArgument(format!("run id `{run_id}`: use letters, digits, `-`, `_` and `.` only")));
    }
    let dir = plans_dir(results);
    std::fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
    let path = dir.join(format!("{run_id}.json"));
    let mut all: BTreeSet<PlannedCell> = read(&path)?.map(|plan| plan.cells.into_iter().collect()).unwrap_or_default();
    all.extend(cells);
    let plan = Plan { run_id: run_id.to_string(), cells: all.into_iter().collect() };
    let tmp = dir.join(format!(".{run_id}.{}.tmp", std::process::id()));
    let text = serde_json::to_string_pretty(&plan).map_err(|e| Error::InvalidArgument(format!("plan: {e}")))?;
    std::fs::write(&tmp, text).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))?;
    Ok(plan)
}

/// The plan of `run_id`, if one was written.
pub fn of_run(results: &Path, run_id: &str) -> Result<Option<Plan>> {
    read(&plans_dir(results).join(format!("{run_id}.json")))
}

fn read(path: &Path) -> Result<Option<Plan>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::InvalidArgument(format!("{}: not a plan: {e}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Error::io("read", path)(error)),
    }
}

/// The cells of run `run_id` with a record waiting in the spool, sorted; with `provisional`,
/// only those still in their provisional `crash` state (their process died while they ran).
pub fn spooled(results: &Path, run_id: &str, provisional: bool) -> Vec<PlannedCell> {
    let mut cells: BTreeSet<PlannedCell> = BTreeSet::new();
    for file in spool::pending(results) {
        let Some(record) = std::fs::read_to_string(&file).ok().and_then(|t| serde_json::from_str::<Record>(&t).ok())
        else {
            continue;
        };
        if record.run.run_id == run_id && (!provisional || record.detail == runtime::crash::PROVISIONAL) {
            cells.insert(PlannedCell {
                hardware: record.hardware.hardware,
                model_type: module_name(&record.model.model_type),
            });
        }
    }
    cells.into_iter().collect()
}

/// nextest's JUnit report, as far as a crash needs it.
#[derive(Debug, Deserialize)]
struct TestSuites {
    #[serde(rename = "testsuite", default)]
    suites: Vec<TestSuite>,
}

#[derive(Debug, Deserialize)]
struct TestSuite {
    #[serde(rename = "testcase", default)]
    cases: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
struct TestCase {
    #[serde(rename = "@name")]
    name: String,
    #[serde(default)]
    failure: Option<Failure>,
    #[serde(rename = "system-err", default)]
    stderr: Option<String>,
    #[serde(rename = "system-out", default)]
    stdout: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Failure {
    #[serde(rename = "@message", default)]
    message: Option<String>,
    #[serde(rename = "@type", default)]
    kind: Option<String>,
}

/// How many of the last lines of a dead cell's output its record keeps.
const LAST_LINES: usize = 12;

/// Gives every spooled record of run `run_id` still in its provisional `crash` state, whose
/// test failed in the JUnit report at `junit`, the runner's reason (the signal) and the last
/// lines of its output; a test the runner ended at its time limit becomes a `timeout` (a fact
/// of the machine's load), not a crash. Returns the cells amended.
pub fn amend_crashes(results: &Path, junit: &Path, run_id: &str) -> Result<Vec<PlannedCell>> {
    let text = std::fs::read_to_string(junit).map_err(Error::io("read", junit))?;
    let report: TestSuites = quick_xml::de::from_str(&text)
        .map_err(|e| Error::InvalidArgument(format!("{}: not a JUnit report: {e}", junit.display())))?;
    let mut failed: std::collections::BTreeMap<PlannedCell, (String, bool)> = std::collections::BTreeMap::new();
    for case in report.suites.iter().flat_map(|s| &s.cases) {
        let (Some(cell), Some(failure)) = (cell_of_test(&case.name), &case.failure) else { continue };
        let reason = failure
            .message
            .clone()
            .or_else(|| failure.kind.clone())
            .unwrap_or_else(|| "the test runner gives no reason".into());
        let output =
            [case.stdout.as_deref(), case.stderr.as_deref()].into_iter().flatten().collect::<Vec<_>>().join("\n");
        let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        let last = lines[lines.len().saturating_sub(LAST_LINES)..].join("\n");
        let timed_out = [failure.kind.as_deref(), failure.message.as_deref()]
            .into_iter()
            .flatten()
            .any(|t| t.contains("timeout") || t.contains("timed out"));
        let detail = if timed_out {
            format!("{reason}: the test runner ended it at its time limit (nextest profile `zoo`, slow-timeout); its last lines:\n{last}")
        } else {
            format!("{reason}: {}; its last lines:\n{last}", runtime::crash::PROVISIONAL)
        };
        failed.insert(cell, (detail, timed_out));
    }
    let mut amended = Vec::new();
    if failed.is_empty() {
        return Ok(amended);
    }
    for file in spool::pending(results) {
        let Some(mut record) =
            std::fs::read_to_string(&file).ok().and_then(|t| serde_json::from_str::<Record>(&t).ok())
        else {
            continue;
        };
        if record.detail != runtime::crash::PROVISIONAL || record.run.run_id != run_id {
            continue;
        }
        let cell = PlannedCell {
            hardware: record.hardware.hardware.clone(),
            model_type: module_name(&record.model.model_type),
        };
        if let Some((detail, timed_out)) = failed.get(&cell) {
            record.detail = detail.clone();
            if *timed_out {
                record.category = Some(runtime::Category::Timeout.into());
            }
            spool::write(results, &record)?;
            amended.push(cell);
        }
    }
    Ok(amended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_types_compare_as_the_generator_names_their_modules() {
        assert_eq!(module_name("sew-d"), "sew_d");
        assert_eq!(module_name("kosmos-2.5"), "kosmos_2_5");
        assert_eq!(module_name("bert"), "bert");
    }

    #[test]
    fn only_cell_tests_of_known_hardware_are_cells() {
        assert_eq!(
            cell_of_test("openvino::parakeet_tdt::tests::matches_reference"),
            Some(PlannedCell { hardware: "openvino".into(), model_type: "parakeet_tdt".into() })
        );
        assert_eq!(cell_of_test("cpu::bert::tests::typed_skill_matches_reference"), None);
        assert_eq!(cell_of_test("tpu::bert::tests::matches_reference"), None);
        assert_eq!(cell_of_test("cpu::a::b::tests::matches_reference"), None);
    }

    #[test]
    fn a_plan_takes_the_selected_cell_tests_of_a_nextest_list() {
        let list = serde_json::json!({"rust-suites": {"generated": {"testcases": {
            "cpu::bert::tests::matches_reference": {"filter-match": {"status": "matches"}},
            "cpu::bert::tests::typed_skill_matches_reference": {"filter-match": {"status": "matches"}},
            "webgpu::bert::tests::matches_reference": {"filter-match": {"status": "mismatch", "reason": "expression"}},
            "openvino::gpt2::tests::matches_reference": {"filter-match": {"status": "matches"}}
        }}}});
        let cells = cells_from_nextest_list(&list.to_string()).unwrap();
        let names: Vec<String> = cells.iter().map(|c| format!("{}/{}", c.hardware, c.model_type)).collect();
        assert_eq!(names, ["cpu/bert", "openvino/gpt2"]);
        assert!(cells_from_nextest_list("{}").unwrap_err().to_string().contains("rust-suites"));
    }

    /// A spooled provisional record of `model` on cpu in `run`.
    fn provisional(results: &Path, run: &str, model: &str) {
        let mut info = runtime::results::record::run_info("cpu");
        info.run_id = run.into();
        let record = Record {
            result_id: runtime::results::record::result_id(run, model, "cpu"),
            kind: runtime::CellKind::Forward,
            run: info,
            hardware: runtime::Detection {
                hardware: "cpu".into(),
                available: true,
                device: "cpu".into(),
                version: "v".into(),
                reason: String::new(),
            },
            model: runtime::results::record::ModelInfo {
                model_type: model.into(),
                display_name: model.into(),
                family: "f".into(),
                modality: "text".into(),
                task: "t".into(),
                model_class: "C".into(),
                key_model: false,
            },
            outcome: runtime::results::record::OutcomeKind::Failed,
            expected: "pass".into(),
            detail: runtime::crash::PROVISIONAL.into(),
            category: Some(runtime::Category::Crash.into()),
            artifact_key: None,
            measurements: Vec::new(),
            samples: Vec::new(),
            recorded_at_ms: 0,
            reused: None,
        };
        spool::write(results, &record).unwrap();
    }

    /// nextest's JUnit report as it writes one (an abort, a time-out and a pass).
    const JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="2">
    <testsuite name="generated" tests="3" failures="2">
        <testcase name="cpu::bert::tests::matches_reference" classname="generated" time="0.394"/>
        <testcase name="cpu::llama::tests::matches_reference" classname="generated" time="0.245">
            <failure message="process aborted with signal 6 (SIGABRT)" type="test abort">process aborted with signal 6 (SIGABRT)</failure>
            <system-out>
running 1 test
</system-out>
            <system-err>loading &lt;llama&gt;
thread panicked: unsafe precondition(s) violated
</system-err>
        </testcase>
        <testcase name="cpu::vit::tests::matches_reference" classname="generated" time="1200.0">
            <failure message="test timed out" type="test timeout"/>
        </testcase>
    </testsuite>
</testsuites>"#;

    #[test]
    fn a_dead_cell_gets_its_signal_and_last_lines_and_one_ended_at_its_limit_a_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let junit = dir.path().join("junit.xml");
        std::fs::write(&junit, JUNIT).unwrap();
        for model in ["llama", "vit"] {
            provisional(dir.path(), "run-1", model);
        }
        // An older run's leftover record of the same cell is not this run's to amend.
        provisional(dir.path(), "run-0", "llama");
        let amended = amend_crashes(dir.path(), &junit, "run-1").unwrap();
        assert_eq!(amended.len(), 2, "{amended:?}");
        let read = |run: &str, model: &str| -> Record {
            let path = spool::spool_dir(dir.path())
                .join(format!("{}.json", runtime::results::record::result_id(run, model, "cpu")));
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let llama = read("run-1", "llama");
        assert!(
            llama.detail.starts_with("process aborted with signal 6 (SIGABRT): the test process died"),
            "{}",
            llama.detail
        );
        assert!(
            llama.detail.contains("loading <llama>") && llama.detail.contains("unsafe precondition"),
            "the last lines: {}",
            llama.detail
        );
        assert_eq!(llama.category, Some(runtime::Category::Crash.into()));
        let vit = read("run-1", "vit");
        assert_eq!(vit.category, Some(runtime::Category::Timeout.into()), "{}", vit.detail);
        assert!(vit.detail.contains("time limit"), "{}", vit.detail);
        assert_eq!(read("run-0", "llama").detail, runtime::crash::PROVISIONAL);
        let names = |cells: Vec<PlannedCell>| cells.into_iter().map(|c| c.model_type).collect::<Vec<_>>();
        assert_eq!(names(spooled(dir.path(), "run-1", false)), ["llama", "vit"]);
        assert!(spooled(dir.path(), "run-1", true).is_empty(), "both amended");
        assert_eq!(names(spooled(dir.path(), "run-0", true)), ["llama"]);
        std::fs::write(&junit, "<testsuites><oops").unwrap();
        assert!(amend_crashes(dir.path(), &junit, "run-1").unwrap_err().to_string().contains("not a JUnit report"));
    }

    #[test]
    fn phases_add_to_one_plan_and_hostile_run_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cell = |hw: &str, m: &str| PlannedCell { hardware: hw.into(), model_type: m.into() };
        add(dir.path(), "main-1", vec![cell("cpu", "bert")]).unwrap();
        add(dir.path(), "main-1", vec![cell("webgpu", "bert"), cell("cpu", "bert")]).unwrap();
        assert_eq!(
            of_run(dir.path(), "main-1").unwrap().unwrap().cells,
            vec![cell("cpu", "bert"), cell("webgpu", "bert")]
        );
        assert_eq!(of_run(dir.path(), "other").unwrap(), None);
        assert!(add(dir.path(), "../escape", vec![]).is_err());
    }
}
