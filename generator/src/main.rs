//! `generator` command line: generate, check, validate metadata, inspect the template store.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use generator::metadata::Metadata;
use generator::{generate, Selection, Workspace};

/// Renders one Rust test/skill module per model x hardware into `generated/`.
#[derive(Parser)]
#[command(name = "generator", version)]
struct Cli {
    /// Render every model on every generated hardware (the default when nothing is selected).
    #[arg(long)]
    all: bool,
    /// Render only this model type (repeatable).
    #[arg(long = "model", value_name = "MODEL_TYPE")]
    models: Vec<String>,
    /// Render only this hardware id (repeatable).
    #[arg(long = "hardware", value_name = "HW")]
    hardware: Vec<String>,
    /// Write nothing; exit non-zero listing stale, missing or orphan files.
    #[arg(long)]
    check: bool,
    /// Print the wall time of each phase (hash, load, sync, render, write).
    #[arg(long)]
    timings: bool,
    /// Repository root (default: the checkout this binary was built from).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Template store database (default: <root>/.cache/template-store.duckdb).
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Metadata commands.
    Metadata {
        #[command(subcommand)]
        action: MetadataAction,
    },
    /// Template store commands.
    Templates {
        #[command(subcommand)]
        action: TemplateAction,
    },
}

#[derive(Subcommand)]
enum MetadataAction {
    /// Parse and check every metadata file; report every problem at once.
    Validate,
    /// Read transformers' registries, probe every model type tiny, write metadata/models/*.yaml.
    Harvest {
        /// Only these model types (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Probe worker processes (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Write one hardware's expectations from its own run (`hfzoo expectations --hardware H`).
    Expect {
        /// The hardware id whose expectations to write (`openvino`).
        #[arg(long)]
        hardware: String,
        /// JSON lines from `cargo run -p hfzoo -- expectations --hardware H`.
        #[arg(long)]
        from: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum TemplateAction {
    /// List templates in the store (after syncing from templates/).
    List,
    /// Print one template's current body.
    Show { name: String },
    /// Print one template's versions.
    History { name: String },
    /// Sync templates/ into the store and report what changed.
    Sync,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ws = Workspace::new(cli.root.clone().unwrap_or_else(Workspace::default_root), cli.store.clone());
    match run(cli, &ws) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, ws: &Workspace) -> generator::Result<()> {
    match cli.command {
        Some(Command::Metadata { action: MetadataAction::Validate }) => {
            let metadata = Metadata::load(&ws.root)?;
            println!(
                "metadata ok: {} model file(s), {} hardware entries",
                metadata.models.len(),
                metadata.hardware.hardware.len()
            );
            Ok(())
        }
        Some(Command::Metadata { action: MetadataAction::Expect { hardware, from } }) => {
            let table = generator::metadata::Metadata::load_hardware(&ws.root)?;
            if !table.hardware.iter().any(|h| h.id == hardware) {
                let known: Vec<&str> = table.hardware.iter().map(|h| h.id.as_str()).collect();
                return Err(generator::error::Error::Selection(format!(
                    "--hardware {hardware}: not in metadata/hardware.yaml ({})",
                    known.join(", ")
                )));
            }
            let text = std::fs::read_to_string(&from)
                .map_err(|e| generator::error::Error::Harvest(format!("read {}: {e}", from.display())))?;
            let observed = generator::expect::parse(&text, &from)?;
            let report = generator::expect::apply(&ws.root, &hardware, &observed)?;
            for path in &report.changed {
                println!("updated {path}: hardware.{hardware}");
            }
            for path in &report.curated {
                println!("kept    {path}: curates `hardware`; edit it by hand if the run disagrees");
            }
            for model in &report.unknown {
                println!("unknown {model}: no metadata/models/{model}.yaml");
            }
            println!(
                "hardware.{hardware}: {} updated, {} unchanged, {} curated, {} unknown",
                report.changed.len(),
                report.unchanged,
                report.curated.len(),
                report.unknown.len()
            );
            Ok(())
        }
        Some(Command::Metadata { action: MetadataAction::Harvest { only, workers } }) => {
            let started = Instant::now();
            let hardware = generator::metadata::Metadata::load_hardware(&ws.root)?;
            let report = generator::harvest::harvest(
                &ws.root,
                &hardware,
                &generator::harvest::HarvestOptions { only, workers },
            )?;
            for path in &report.created {
                println!("created {path}");
            }
            for (path, fields) in &report.updated {
                println!("updated {path}: {}", fields.join(", "));
            }
            for stem in &report.stale {
                println!(
                    "stale   metadata/models/{stem}.yaml: transformers {} has no such model type (left in place)",
                    report.transformers
                );
            }
            for (outcome, count) in &report.counts {
                println!("probe   {outcome}: {count}");
            }
            println!(
                "harvested transformers {}: {} created, {} updated, {} unchanged in {:.1?}",
                report.transformers,
                report.created.len(),
                report.updated.len(),
                report.unchanged,
                started.elapsed()
            );
            Ok(())
        }
        Some(Command::Templates { action }) => templates(ws, action),
        None => {
            let _ = cli.all; // --all is the default; the flag documents intent in scripts.
            let selection = Selection { models: cli.models, hardware: cli.hardware };
            let started = Instant::now();
            let summary = generate(ws, &selection, cli.check)?;
            if cli.timings {
                for (phase, took) in &summary.timings {
                    eprintln!("timing  {phase}: {took:.2?}");
                }
            }
            let sync = &summary.sync;
            if !(sync.added.is_empty() && sync.changed.is_empty() && sync.removed.is_empty()) {
                eprintln!(
                    "templates synced: {} added, {} changed, {} removed",
                    sync.added.len(),
                    sync.changed.len(),
                    sync.removed.len()
                );
            }
            match summary.write {
                None if summary.shortcut => println!(
                    "generated code is fresh: nothing changed since the last complete run ({} file(s)) in {:.2?}",
                    summary.files,
                    started.elapsed()
                ),
                None => {
                    println!("generated code is fresh: {} file(s) checked in {:.2?}", summary.files, started.elapsed())
                }
                Some(report) => {
                    for path in &report.written {
                        println!("wrote   {path}");
                    }
                    for path in &report.removed {
                        println!("removed {path} (orphan)");
                    }
                    println!(
                        "{} file(s): {} written, {} unchanged, {} orphan(s) removed in {:.2?}",
                        summary.files,
                        report.written.len(),
                        report.unchanged,
                        report.removed.len(),
                        started.elapsed()
                    );
                }
            }
            Ok(())
        }
    }
}

fn templates(ws: &Workspace, action: TemplateAction) -> generator::Result<()> {
    let (store, report) = ws.synced_store()?;
    match action {
        TemplateAction::Sync => {
            for name in &report.added {
                println!("added   {name}");
            }
            for name in &report.changed {
                println!("changed {name}");
            }
            for name in &report.removed {
                println!("removed {name}");
            }
            println!("{} unchanged", report.unchanged);
        }
        TemplateAction::List => {
            println!("{:<40} {:<16} {:>7}  {:<8}  updated", "name", "kind", "version", "sha256");
            for t in store.list()? {
                println!("{:<40} {:<16} {:>7}  {:<8}  {}", t.name, t.kind, t.version, &t.sha256[..8], t.updated_at);
            }
        }
        TemplateAction::Show { name } => print!("{}", store.get(&name)?.body),
        TemplateAction::History { name } => {
            for entry in store.history(&name)? {
                let sha = entry.sha256.get(..8).unwrap_or("");
                println!("v{:<4} {:<8} {:<8} {}", entry.version, entry.change, sha, entry.recorded_at);
            }
        }
    }
    Ok(())
}
