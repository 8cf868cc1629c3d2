//! Metadata-driven code generator: metadata + template store -> one Rust module per model x hardware.
//!
//! Data flows one way: `metadata/` and `templates/` in, `generated/` out. The generator never
//! depends on the runtime or on what it generates.

pub mod emit;
pub mod error;
pub mod expect;
pub mod fingerprint;
pub mod harvest;
pub mod metadata;
pub mod plan;
pub mod render;
pub mod request;
pub mod store;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use error::{Error, Result};
use metadata::{HardwareEntry, Metadata};
use plan::Plan;
use render::Renderer;
use store::TemplateStore;

/// Which modules to produce; empty lists mean all.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Model types to render.
    pub models: Vec<String>,
    /// Hardware ids to render.
    pub hardware: Vec<String>,
}

impl Selection {
    /// True when nothing is filtered out (then orphans may be pruned).
    pub fn is_all(&self) -> bool {
        self.models.is_empty() && self.hardware.is_empty()
    }
}

/// The repository layout the generator reads and writes.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Repository root.
    pub root: PathBuf,
    /// DuckDB template store file.
    pub store: PathBuf,
}

impl Workspace {
    /// Layout rooted at `root` with the store in `.cache/template-store.duckdb` unless given.
    pub fn new(root: impl Into<PathBuf>, store: Option<PathBuf>) -> Self {
        let root = root.into();
        let store = store.unwrap_or_else(|| root.join(".cache/template-store.duckdb"));
        Self { root, store }
    }

    /// The repository root this crate was built in (`generator/..`).
    pub fn default_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("generator lives in the workspace").to_path_buf()
    }

    /// Opens the store and syncs it from `templates/`.
    pub fn synced_store(&self) -> Result<(TemplateStore, store::SyncReport)> {
        let mut store = TemplateStore::open(&self.store)?;
        let report = store.sync(&self.root.join("templates"))?;
        Ok((store, report))
    }
}

/// The exporter request (canonical JSON) of each modelled type in `models` (empty: every
/// one), built once per type, in parallel.
fn requests(metadata: &Metadata, models: &[String]) -> Result<BTreeMap<String, request::BuiltRequest>> {
    let files: Vec<_> =
        metadata.modelled().filter(|f| models.is_empty() || models.contains(&f.model.model_type)).collect();
    files.par_iter().map(|f| Ok((f.model.model_type.clone(), request::built_request(&f.model)?))).collect()
}

/// The resolved plans for a selection, in (hardware, model) order.
pub fn plans(metadata: &Metadata, selection: &Selection) -> Result<Vec<Plan>> {
    plans_with(metadata, selection, &requests(metadata, &selection.models)?)
}

/// [`plans`] with the requests already built: at least those of the selected models.
fn plans_with(
    metadata: &Metadata,
    selection: &Selection,
    requests: &BTreeMap<String, request::BuiltRequest>,
) -> Result<Vec<Plan>> {
    for model in &selection.models {
        if !metadata.models.iter().any(|f| &f.model.model_type == model) {
            return Err(Error::Selection(format!(
                "no metadata for model `{model}` (expected metadata/models/{model}.yaml)"
            )));
        }
    }
    let hardware: Vec<&HardwareEntry> = metadata.generated_hardware().collect();
    for id in &selection.hardware {
        if !hardware.iter().any(|hw| &hw.id == id) {
            let known: Vec<&str> = hardware.iter().map(|hw| hw.id.as_str()).collect();
            return Err(Error::Selection(format!(
                "hardware `{id}` has no generated modules (generated: {})",
                known.join(", ")
            )));
        }
    }
    let files: Vec<_> = metadata
        .modelled()
        .filter(|f| selection.models.is_empty() || selection.models.contains(&f.model.model_type))
        .collect();
    let mut out = Vec::new();
    for hw in hardware.iter().filter(|hw| selection.hardware.is_empty() || selection.hardware.contains(&hw.id)) {
        for file in &files {
            out.push(Plan::new(file, hw, &requests[&file.model.model_type]));
        }
    }
    Ok(out)
}

/// The folder of the exporter requests, one `<model_type>.json` each, relative to the root.
pub const REQUESTS_DIR: &str = "generated/requests";

/// Path of a model x hardware module, relative to the repository root.
pub fn module_path(plan: &Plan) -> String {
    format!("generated/src/{}/{}.rs", plan.hardware.id, plan.module)
}

/// Path of a model's one spec module, relative to the repository root.
pub fn spec_path(plan: &Plan) -> String {
    format!("generated/src/models/{}.rs", plan.module)
}

/// Every file the generator owns for a selection, rendered: path -> contents.
pub fn output_set(
    ws: &Workspace,
    metadata: &Metadata,
    renderer: &Renderer,
    selection: &Selection,
) -> Result<BTreeMap<String, String>> {
    // Every type's request: the selected ones' plans and `generated/requests/`, which holds all.
    let requests = requests(metadata, &[])?;
    let plans = plans_with(metadata, selection, &requests)?;
    // One spec module per model (from its first plan), one module per model x hardware.
    let mut first_of_model = std::collections::BTreeSet::new();
    let specs: Vec<&Plan> = plans.iter().filter(|plan| first_of_model.insert(plan.module.clone())).collect();
    let rendered: Vec<Result<(String, String)>> = specs
        .par_iter()
        .map(|plan| renderer.render_spec(plan).map(|code| (spec_path(plan), code)))
        .chain(plans.par_iter().map(|plan| renderer.render(plan).map(|code| (module_path(plan), code))))
        .collect();
    let mut files = BTreeMap::new();
    let mut errors = Vec::new();
    for result in rendered {
        match result {
            Ok((path, code)) => {
                files.insert(path, code);
            }
            Err(error) => errors.push(error.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Selection(format!("{}\n{} module(s) failed to render", errors.join("\n"), errors.len())));
    }
    let hardware: Vec<&HardwareEntry> = metadata.generated_hardware().collect();
    let model_types: Vec<String> = metadata.modelled().map(|f| f.model.module_name()).collect();
    files.insert("request/src/hardware.rs".into(), emit::hardware_table(&metadata.hardware.hardware));
    files.insert(
        "runtime/exporter/contract.json".into(),
        serde_json::to_string_pretty(&export_request::contract_document()).expect("the contract serialises") + "\n",
    );
    files.insert("generated/src/lib.rs".into(), emit::lib_rs(&hardware));
    files.insert("generated/src/registry.rs".into(), emit::registry(&hardware));
    files.insert("generated/src/models/mod.rs".into(), emit::models_index(&model_types));
    for hw in &hardware {
        files.insert(format!("generated/src/{}/mod.rs", hw.id), emit::hardware_index(hw, &model_types));
    }
    // One file per request, byte for byte the JSON an artifact's key hashes: the spec module
    // includes it, the batch exporter reads the folder.
    for (model, built) in &requests {
        files.insert(format!("{REQUESTS_DIR}/{}", plan::request_file(model)), built.json.clone());
        if let Some(generation) = &built.generation {
            files.insert(format!("{REQUESTS_DIR}/{}", plan::generation_request_file(model)), generation.clone());
        }
    }
    let smoke = metadata.smoke_set();
    files.insert("generated/tiers.json".into(), metadata::tiers::tiers_json(&smoke));
    let profile = metadata.smoke_profile(&smoke);
    let nextest_path = ws.root.join(".config/nextest.toml");
    let existing = std::fs::read_to_string(&nextest_path).map_err(Error::io("read", &nextest_path))?;
    files.insert(
        ".config/nextest.toml".into(),
        metadata::tiers::nextest_toml(&existing, &profile).map_err(Error::Selection)?,
    );
    let manifest_path = ws.root.join("generated/Cargo.toml");
    let existing = std::fs::read_to_string(&manifest_path).map_err(Error::io("read", &manifest_path))?;
    files.insert("generated/Cargo.toml".into(), emit::cargo_toml(&existing, &hardware).map_err(Error::Selection)?);
    Ok(files)
}

/// Result of a generate or check run.
#[derive(Debug)]
pub struct Summary {
    /// Template sync report.
    pub sync: store::SyncReport,
    /// Files considered.
    pub files: usize,
    /// What was written (None in check mode).
    pub write: Option<write::WriteReport>,
    /// True when nothing the generator reads or wrote had changed since its last complete
    /// run, so nothing was rendered ([`fingerprint`]).
    pub shortcut: bool,
    /// Wall time of each phase, for `--timings`.
    pub timings: Vec<(&'static str, std::time::Duration)>,
}

/// Loads metadata, syncs the store, renders, then writes (or checks, failing on stale files).
/// A full selection first asks [`fingerprint`] whether anything changed since the last
/// complete run; when nothing did, it renders nothing.
pub fn generate(ws: &Workspace, selection: &Selection, check: bool) -> Result<Summary> {
    let mut clock = Clock { last: Some(std::time::Instant::now()), laps: Vec::new() };
    let inputs = selection.is_all().then(|| fingerprint::inputs(&ws.root));
    clock.lap("hash inputs");
    if let Some(files) =
        inputs.as_deref().and_then(|inputs| fingerprint::is_fresh(&ws.root, inputs, &write::existing_sources(&ws.root)))
    {
        clock.lap("compare outputs");
        let write = (!check).then(|| write::WriteReport { unchanged: files, ..Default::default() });
        return Ok(Summary { sync: store::SyncReport::default(), files, write, shortcut: true, timings: clock.laps });
    }
    let metadata = Metadata::load(&ws.root)?;
    clock.lap("load metadata");
    let (store, sync) = ws.synced_store()?;
    let renderer = Renderer::new(store.list()?)?;
    drop(store);
    clock.lap("sync template store");
    let files = output_set(ws, &metadata, &renderer, selection)?;
    clock.lap("render");
    let remember = |files: &BTreeMap<String, String>| {
        if let (Some(inputs), Some(outputs)) = (inputs.clone(), fingerprint::stamp(&ws.root, files.keys().cloned())) {
            fingerprint::save(&ws.root, &fingerprint::State { inputs, outputs });
        }
    };
    if check {
        let mut stale = write::check(&ws.root, &files);
        if !selection.is_all() {
            stale.retain(|line| !line.starts_with("  orphan"));
        }
        if !stale.is_empty() {
            return Err(Error::Stale(stale));
        }
        remember(&files);
        clock.lap("compare");
        return Ok(Summary { sync, files: files.len(), write: None, shortcut: false, timings: clock.laps });
    }
    let report = write::write(&ws.root, &files, selection.is_all())?;
    remember(&files);
    clock.lap("write");
    Ok(Summary { sync, files: files.len(), write: Some(report), shortcut: false, timings: clock.laps })
}

/// Phase timings.
struct Clock {
    last: Option<std::time::Instant>,
    laps: Vec<(&'static str, std::time::Duration)>,
}

impl Clock {
    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        let since = self.last.get_or_insert(now);
        self.laps.push((name, now - *since));
        self.last = Some(now);
    }
}
