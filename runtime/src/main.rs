//! `runtime` command line: detect hardware, export artifacts, ingest results, print the matrix.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runtime::artifacts::{ArtifactCache, ExportJob};
use runtime::results::{db_path, report, ResultsDb};
use runtime::{paths, Hardware};

/// Hardware detection, artifact export, results ingestion and reports.
#[derive(Parser)]
#[command(name = "runtime", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect the eight backends: available or not, device, version, reason.
    Detect,
    /// Build missing artifacts for the generated models in one exporter process.
    Export {
        /// Only this model type (repeatable; default all).
        #[arg(long = "model")]
        models: Vec<String>,
        /// Hardware whose device to export for.
        #[arg(long, default_value = "cpu")]
        hardware: String,
        /// Requests emitted by the generator.
        #[arg(long)]
        requests: Option<PathBuf>,
        /// Also rebuild artifacts whose export failed before (cached failures).
        #[arg(long)]
        retry_failed: bool,
    },
    /// Move spooled results into the DuckDB results database (idempotent).
    Ingest,
    /// Ingest, then print the compatibility matrix (markdown) from recorded results.
    Report,
    /// Ingest, then list runs with their result counts by outcome.
    Runs,
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> runtime::Result<()> {
    match command {
        Command::Detect => {
            println!("| hardware | available | device | version | reason |\n|---|---|---|---|---|");
            for found in runtime::hardware::detect_all() {
                println!("| {} | {} | {} | {} | {} |", found.hardware, if found.available { "yes" } else { "no" }, found.device, found.version, found.reason);
            }
            Ok(())
        }
        Command::Export { models, hardware, requests, retry_failed } => export(models, &hardware, requests, retry_failed),
        Command::Ingest => {
            let results = paths::results_dir();
            let report = ResultsDb::open(&db_path(&results))?.ingest(&results)?;
            println!("ingested {} result(s) into {}", report.ingested, db_path(&results).display());
            for file in &report.rejected {
                eprintln!("warning: {file} is not a valid result record; moved to spool/rejected/");
            }
            Ok(())
        }
        Command::Runs => {
            let results = paths::results_dir();
            let mut db = ResultsDb::open(&db_path(&results))?;
            db.ingest(&results)?;
            println!("| run | started (UTC) | host | commit | features | passed | failed | skipped | unsupported |\n|---|---|---|---|---|---|---|---|---|");
            for run in db.runs()? {
                let [passed, failed, skipped, unsupported] = run.counts;
                let commit = run.git_commit.get(..10).unwrap_or(&run.git_commit);
                println!("| {} | {} | {} | {commit} | {} | {passed} | {failed} | {skipped} | {unsupported} |", run.run_id, run.started_at, run.host, run.features);
            }
            Ok(())
        }
        Command::Report => {
            let results = paths::results_dir();
            let mut db = ResultsDb::open(&db_path(&results))?;
            let ingested = db.ingest(&results)?;
            if ingested.ingested > 0 {
                eprintln!("ingested {} new result(s)", ingested.ingested);
            }
            print!("{}", report::markdown(&db.latest()?));
            Ok(())
        }
    }
}

fn export(models: Vec<String>, hardware: &str, requests: Option<PathBuf>, retry_failed: bool) -> runtime::Result<()> {
    let known = || Hardware::ALL.iter().filter(|hw| runtime::backend::for_hardware(**hw).is_some()).map(|hw| hw.id()).collect::<Vec<_>>().join(", ");
    let hardware = Hardware::from_id(hardware).ok_or_else(|| runtime::Error::InvalidArgument(format!("--hardware {hardware}: unknown (with a backend in this build: {})", known())))?;
    let backend = runtime::backend::for_hardware(hardware).ok_or_else(|| runtime::Error::InvalidArgument(format!("--hardware {}: this build has no backend for it yet (with one: {})", hardware.id(), known())))?;
    let path = requests.unwrap_or_else(|| paths::root().join("generated/requests.json"));
    let text = std::fs::read_to_string(&path).map_err(runtime::Error::io("read", &path))?;
    let all: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|source| runtime::Error::Json { context: format!("parse {}", path.display()), source })?;
    for model in &models {
        if !all.contains_key(model) {
            return Err(runtime::Error::InvalidArgument(format!("--model {model}: no request in {} (is metadata/models/{model}.yaml generated? run `cargo run -p generator -- --all`)", path.display())));
        }
    }
    let cache = ArtifactCache::default();
    let _lock = cache.lock()?;
    let mut jobs = Vec::new();
    let (mut present, mut failed) = (0, 0);
    for (model, request) in all.iter().filter(|(m, _)| models.is_empty() || models.contains(m)) {
        let artifact = cache.locate_request(model, request, backend.format(), hardware);
        let cached_failure = artifact.exists() && artifact.manifest().is_ok_and(|m| m.status != "ok");
        if cache.needs_export(&artifact) || (retry_failed && cached_failure) {
            jobs.push(ExportJob { request_json: request.as_str(), artifacts: vec![artifact] });
        } else {
            present += 1;
            failed += usize::from(cached_failure);
        }
    }
    let retry = if failed > 0 && !retry_failed { format!(" ({failed} of them recorded failures; --retry-failed rebuilds those)") } else { String::new() };
    println!("{present} artifact(s) already cached in {}{retry}; building {}", cache.dir().display(), jobs.len());
    cache.export(hardware.export_device(), jobs)
}
