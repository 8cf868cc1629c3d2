//! Everything one report shows, read from the database once: the scope, its cells, and the
//! environment of every machine that produced them.

use runtime::results::record::OutcomeKind;
use serde::Serialize;

use super::db::ResultsDb;
use super::plan::{self, PlannedCell};
use super::query::{Cell, Environment, HardwareRow, Scope};
use crate::error::Result;

/// The data behind one report (markdown, JSON or HTML).
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    /// What the report covers, in words (`run 1764-123` or `latest result per cell across 3 runs`).
    pub scope: String,
    /// The runs its cells came from.
    pub runs: Vec<String>,
    /// One environment per run and machine.
    pub environments: Vec<Environment>,
    /// What detection found per hardware.
    pub hardware: Vec<HardwareRow>,
    /// The cells, sorted by model then hardware.
    pub cells: Vec<Cell>,
    /// Cells the run planned that have no record (it ended before them, or lost their
    /// process without a trace); empty across runs or where no plan was written.
    pub missing: Vec<PlannedCell>,
    /// The generation cells of the same scope (greedy decoding with the cache), sorted by
    /// model then hardware.
    pub generation: Vec<Cell>,
}

impl ReportData {
    /// Reads the cells of `scope` and their environment.
    pub fn load(db: &ResultsDb, scope: &Scope) -> Result<Self> {
        let cells = db.cells(scope)?;
        let generation = db.cells_of(scope, runtime::CellKind::Generate)?;
        let scope_is_run = matches!(scope, Scope::Run(_));
        let mut runs: Vec<String> = cells.iter().chain(&generation).map(|c| c.run_id.clone()).collect();
        runs.sort();
        runs.dedup();
        let scope = match scope {
            Scope::Latest => format!("latest result per cell across {} run(s)", runs.len()),
            Scope::Run(_) => match runs.first() {
                Some(run) => format!("run {run}"),
                None => "no run recorded".to_string(),
            },
        };
        let missing = match (scope_is_run, runs.as_slice(), db.path().parent()) {
            (true, [run], Some(results)) => missing(&cells, plan::of_run(results, run)?),
            _ => Vec::new(),
        };
        Ok(Self {
            scope,
            environments: db.environments(&runs)?,
            hardware: db.hardware_rows(&runs)?,
            runs,
            cells,
            missing,
            generation,
        })
    }

    /// Counts of (passed, failed, unsupported, skipped) of the generation cells on one hardware.
    pub fn generation_totals(&self, hardware: &str) -> [usize; 4] {
        let on = |outcome: OutcomeKind| {
            self.generation.iter().filter(|c| c.hardware == hardware && c.outcome == outcome).count()
        };
        [on(OutcomeKind::Passed), on(OutcomeKind::Failed), on(OutcomeKind::Unsupported), on(OutcomeKind::Skipped)]
    }

    /// Planned cells without a record on one hardware.
    pub fn missing_on<'a>(&'a self, hardware: &'a str) -> impl Iterator<Item = &'a PlannedCell> + 'a {
        self.missing.iter().filter(move |c| c.hardware == hardware)
    }

    /// Hardware ids that have cells or planned cells, in the canonical order.
    pub fn columns(&self) -> Vec<&'static str> {
        runtime::Hardware::ALL
            .iter()
            .map(|h| h.id())
            .filter(|id| {
                self.cells.iter().chain(&self.generation).any(|c| c.hardware == *id)
                    || self.missing.iter().any(|c| c.hardware == *id)
            })
            .collect()
    }

    /// Cells of one hardware.
    pub fn on<'a>(&'a self, hardware: &'a str) -> impl Iterator<Item = &'a Cell> + 'a {
        self.cells.iter().filter(move |c| c.hardware == hardware)
    }

    /// Counts of (passed, failed, unsupported, skipped) on one hardware.
    pub fn totals(&self, hardware: &str) -> [usize; 4] {
        let count = |outcome: OutcomeKind| self.on(hardware).filter(|c| c.outcome == outcome).count();
        [
            count(OutcomeKind::Passed),
            count(OutcomeKind::Failed),
            count(OutcomeKind::Unsupported),
            count(OutcomeKind::Skipped),
        ]
    }
}

/// The cells of `plan` with no recorded cell. A plan names a cell by its module (`sew_d`), a
/// record by its model type (`sew-d`): compared as module names.
fn missing(cells: &[Cell], plan: Option<plan::Plan>) -> Vec<PlannedCell> {
    let recorded: std::collections::BTreeSet<(&str, String)> =
        cells.iter().map(|c| (c.hardware.as_str(), plan::module_name(&c.model_type))).collect();
    plan.map(|p| p.cells)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !recorded.contains(&(c.hardware.as_str(), plan::module_name(&c.model_type))))
        .collect()
}

/// The command that reproduces one cell.
pub fn reproduce(cell: &Cell) -> String {
    let test = match cell.kind {
        runtime::CellKind::Forward => "",
        runtime::CellKind::Generate => "tests::generates_as_transformers",
    };
    format!(
        "cargo test -p generated --features {hw} {hw}::{model}::{test}",
        hw = cell.hardware,
        model = cell.model_type
    )
}
