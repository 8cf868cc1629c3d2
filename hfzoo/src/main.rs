//! `hfzoo` command line: detect hardware, export artifacts, manage the cache, ingest results, print the matrix, compare runs, carry shards.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hfzoo::export_batch::BatchJob;
use hfzoo::results::data::ReportData;
use hfzoo::results::{compare, db_path, html, plan, report, shard, ResultsDb, Scope};
use runtime::artifacts::{ArtifactCache, ExportJob};
use runtime::{paths, Hardware};

/// Writes to standard output; a reader that went away (`| head`) ends the program quietly
/// instead of a panic.
fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(error) = std::io::stdout().write_fmt(args) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {error}");
        std::process::exit(1);
    }
}

/// `print!` without the panic on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => { write_stdout(format_args!($($arg)*)) };
}

/// `println!` without the panic on a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => { write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Hardware detection, artifact export, results ingestion and reports.
#[derive(Parser)]
#[command(name = "hfzoo", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect the eight backends: available or not, device, version, reason.
    Detect,
    /// Build missing artifacts for the generated models in exporter processes (HFZOO_EXPORT_PROCESSES, default one per CPU up to 4).
    Export {
        /// Only this model type (repeatable; default all).
        #[arg(long = "model")]
        models: Vec<String>,
        /// Only the models of this tier (`smoke`: what the README's test command runs), as
        /// the generator resolved it from metadata/tiers.yaml into generated/tiers.json.
        #[arg(long, conflicts_with = "models")]
        tier: Option<String>,
        /// Hardware whose artifacts to build, comma-separated (`cpu,openvino`): every format
        /// their backends load, each model built once per export device.
        #[arg(long, default_value = "cpu")]
        hardware: String,
        /// Folder of the requests emitted by the generator, one `<model_type>.json` each (default generated/requests).
        #[arg(long)]
        requests: Option<PathBuf>,
        /// Also rebuild artifacts whose export failed before (cached failures).
        #[arg(long)]
        retry_failed: bool,
        /// Only the artifacts of these cell kinds, comma-separated (`forward`, `generate`; default both).
        #[arg(long, default_value = "forward,generate")]
        kinds: String,
    },
    /// Move spooled results into the DuckDB results database (idempotent).
    Ingest,
    /// Add the cells of a test list (`cargo nextest list --message-format json`, on standard
    /// input or `--from`) to a run's plan, so its report names every planned cell without a record.
    Plan {
        /// The run (`HFZOO_RUN_ID` of the suites that record it).
        #[arg(long)]
        run: String,
        /// The test list's JSON file (default: standard input).
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Print the cells of a run that the spool holds a record of (`<hardware>::<model>`, one a
    /// line): with `--provisional`, only those whose process died while they ran.
    Spooled {
        /// The run (`HFZOO_RUN_ID`).
        #[arg(long)]
        run: String,
        /// Only cells still in their provisional `crash` state.
        #[arg(long)]
        provisional: bool,
    },
    /// Give each cell whose test process died (still `failed` in category `crash` with no
    /// outcome) the signal and the last lines from nextest's JUnit report.
    Crashes {
        /// The run whose cells ran (`HFZOO_RUN_ID`).
        #[arg(long)]
        run: String,
        /// The JUnit report (`target/nextest/<profile>/junit.xml`).
        #[arg(long)]
        junit: PathBuf,
    },
    /// Ingest, then report one run (default the latest) as markdown, JSON or one HTML file.
    Report {
        #[command(flatten)]
        scope: ScopeArg,
        #[command(flatten)]
        out: OutputArg,
        #[command(flatten)]
        db: DbArg,
    },
    /// Ingest, then print one hardware's observed expectations as JSON lines, for
    /// `cargo run -p generator -- metadata expect --hardware H --from FILE`.
    Expectations {
        /// The hardware id (`openvino`).
        #[arg(long)]
        hardware: String,
        /// The cells' kind: `forward` (default) or `generate` (lines say so; the generator
        /// writes them into `generation.hardware`).
        #[arg(long, default_value = "forward")]
        kind: String,
        #[command(flatten)]
        scope: ScopeArg,
        #[command(flatten)]
        db: DbArg,
    },
    /// Ingest, then show one benchmark run of `cargo run -p bench` (default the latest) as a
    /// Markdown table, its JSON document or its HTML page.
    BenchReport {
        /// The benchmark run's id (`bench-<ms>-<pid>`; default the latest).
        #[arg(long)]
        bench: Option<String>,
        #[command(flatten)]
        out: OutputArg,
        #[command(flatten)]
        db: DbArg,
    },
    /// Ingest, then list runs with their result counts by outcome.
    Runs {
        #[command(flatten)]
        db: DbArg,
    },
    /// Compare two runs: outcome changes, parity drift, latency beyond noise; exit 1 on a regression.
    Compare {
        /// The base run id (or `previous`, `latest`).
        base: String,
        /// The new run id (or `latest`).
        new: String,
        #[command(flatten)]
        out: OutputArg,
        #[command(flatten)]
        db: DbArg,
    },
    /// Results that travel between machines: Parquet shards.
    Results {
        #[command(subcommand)]
        command: ResultsCommand,
    },
    /// The user-level cache every checkout shares (HFZOO_CACHE_DIR, else ~/.cache/hfzoo).
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Where the cache is, its size, its entries, and which no current request uses.
    Info {
        #[command(flatten)]
        requests: RequestsArg,
        /// Also list every unused entry and leftover.
        #[arg(long)]
        verbose: bool,
    },
    /// Remove the artifacts no current request uses (another commit's, an old exporter's) and
    /// what interrupted exporters left; with --compiled, OpenVINO's compiled-model cache too.
    /// Another checkout at another commit rebuilds what it needs on its next run.
    Prune {
        #[command(flatten)]
        requests: RequestsArg,
        /// Also empty OpenVINO's compiled-model cache (rebuilt on the next compile).
        #[arg(long)]
        compiled: bool,
        /// Say what would go, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Remove an entry no current request uses only when no reader (any checkout, any
        /// test) has used it for this many days (0: at once).
        #[arg(long, default_value_t = 7.0)]
        unused_days: f64,
    },
}

/// The requests that decide which artifacts are in use.
#[derive(clap::Args)]
struct RequestsArg {
    /// Folder of the requests emitted by the generator, one `<model_type>.json` each (default generated/requests).
    #[arg(long)]
    requests: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ResultsCommand {
    /// Write one run (default the latest) as Parquet, one file per table, into DIR.
    Export {
        /// The directory to write (created; existing shard files are replaced).
        dir: PathBuf,
        /// The run (default: the latest).
        #[arg(long)]
        run: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Validate shards and merge them into the database, each whole or not at all.
    Import {
        /// Shard directories written by `results export`.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Rows that must match however the suite was split (outcomes, categories, metric names).
    Rows {
        #[command(flatten)]
        scope: ScopeArg,
        #[command(flatten)]
        db: DbArg,
    },
}

/// Which database a command reads.
#[derive(clap::Args)]
struct DbArg {
    /// A database file other than results/results.duckdb (then the spool is not ingested).
    #[arg(long)]
    db: Option<PathBuf>,
}

impl DbArg {
    /// Opens the named database, or the default one after ingesting its spool.
    fn open(&self) -> hfzoo::Result<ResultsDb> {
        match &self.db {
            Some(path) => ResultsDb::open(path),
            None => {
                let results = paths::results_dir();
                let mut db = ResultsDb::open(&db_path(&results))?;
                let ingested = db.ingest(&results)?;
                if ingested.ingested > 0 {
                    eprintln!("ingested {} new result(s)", ingested.ingested);
                }
                if ingested.benchmarks > 0 {
                    eprintln!("ingested {} benchmark run(s)", ingested.benchmarks);
                }
                for entry in &ingested.rejected {
                    eprintln!("warning: {entry}; moved to rejected/ beside it");
                }
                for entry in &ingested.deferred {
                    eprintln!("warning: could not read {entry}; left in the spool for the next ingest");
                }
                Ok(db)
            }
        }
    }
}

/// Output formats.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Markdown.
    Md,
    /// JSON.
    Json,
    /// One self-contained HTML file.
    Html,
}

/// Which results a report covers.
#[derive(clap::Args)]
struct ScopeArg {
    /// The run (default: the latest; `runs` lists them).
    #[arg(long, conflicts_with = "latest")]
    run: Option<String>,
    /// The latest result of every cell across all runs, naming the run of each.
    #[arg(long)]
    latest: bool,
}

impl ScopeArg {
    fn scope(self) -> Scope {
        if self.latest {
            Scope::Latest
        } else {
            Scope::Run(self.run)
        }
    }
}

/// How and where a report is written.
#[derive(clap::Args)]
struct OutputArg {
    /// `md`, `json` or `html`.
    #[arg(long, default_value = "md")]
    format: Format,
    /// Write to this file instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

/// Writes `text` to `output` (temp file + rename) or standard output.
fn emit(text: &str, output: Option<&PathBuf>) -> hfzoo::Result<()> {
    match output {
        None => {
            out!("{text}");
            Ok(())
        }
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(hfzoo::Error::io("create directory", parent))?;
            }
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, text).map_err(hfzoo::Error::io("write", &tmp))?;
            std::fs::rename(&tmp, path).map_err(hfzoo::Error::io("rename", path))?;
            eprintln!("wrote {}", path.display());
            Ok(())
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> hfzoo::Result<String> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|source| hfzoo::Error::Json { context: "serialise report".into(), source })
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(hfzoo::Error::Regression(_)) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> hfzoo::Result<()> {
    match command {
        Command::Detect => {
            outln!("| hardware | available | device | version | reason |\n|---|---|---|---|---|");
            for found in runtime::backend::detect_all() {
                outln!(
                    "| {} | {} | {} | {} | {} |",
                    found.hardware,
                    if found.available { "yes" } else { "no" },
                    found.device,
                    found.version,
                    found.reason
                );
            }
            Ok(())
        }
        Command::Export { models, tier, hardware, requests, retry_failed, kinds } => {
            let models = match tier {
                Some(tier) => tier_models(&tier)?,
                None => models,
            };
            let chosen = kinds
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(|id| cell_kind("--kinds", id))
                .collect::<hfzoo::Result<Vec<_>>>()?;
            export(models, &hardware, requests, retry_failed, &chosen)
        }
        Command::Ingest => {
            let results = paths::results_dir();
            let report = ResultsDb::open(&db_path(&results))?.ingest(&results)?;
            outln!(
                "ingested {} result(s) and {} benchmark run(s) into {}",
                report.ingested,
                report.benchmarks,
                db_path(&results).display()
            );
            for entry in &report.rejected {
                eprintln!("warning: {entry}; moved to spool/rejected/");
            }
            for entry in &report.deferred {
                eprintln!("warning: could not read {entry}; left in the spool for the next ingest");
            }
            Ok(())
        }
        Command::Plan { run, from } => {
            let json = match &from {
                Some(path) => std::fs::read_to_string(path).map_err(hfzoo::Error::io("read", path))?,
                None => {
                    std::io::read_to_string(std::io::stdin()).map_err(hfzoo::Error::io("read", "standard input"))?
                }
            };
            let cells = plan::cells_from_nextest_list(&json)?;
            let added = cells.len();
            let plan = plan::add(&paths::results_dir(), &run, cells)?;
            outln!("plan of run {run}: {added} cell(s) added, {} in all", plan.cells.len());
            Ok(())
        }
        Command::Spooled { run, provisional } => {
            for cell in plan::spooled(&paths::results_dir(), &run, provisional) {
                outln!("{}::{}", cell.hardware, cell.model_type);
            }
            Ok(())
        }
        Command::Crashes { run, junit } => {
            let amended = plan::amend_crashes(&paths::results_dir(), &junit, &run)?;
            for cell in &amended {
                eprintln!(
                    "crash: {} on {}: its process died; its record now names the signal and its last lines",
                    cell.model_type, cell.hardware
                );
            }
            outln!("{} cell(s) whose process died", amended.len());
            Ok(())
        }
        Command::BenchReport { bench, out, db } => {
            let db = db.open()?;
            let run = db.bench_run(bench.as_deref())?.ok_or_else(|| match &bench {
                Some(id) => {
                    hfzoo::Error::InvalidArgument(format!("no benchmark run `{id}` in {}", db.path().display()))
                }
                None => hfzoo::Error::InvalidArgument(format!(
                    "no benchmark run in {} yet: run `cargo run -p bench -- --model bert`",
                    db.path().display()
                )),
            })?;
            let text = match out.format {
                Format::Md => hfzoo::results::bench_table::markdown(&run),
                Format::Json => json(&run)?,
                Format::Html => hfzoo::results::bench_page::html(&run),
            };
            emit(&text, out.output.as_ref())
        }
        Command::Runs { db } => {
            let db = db.open()?;
            outln!("| run | started (UTC) | host | commit | features | passed | failed | skipped | unsupported |\n|---|---|---|---|---|---|---|---|---|");
            for run in db.runs()? {
                let [passed, failed, skipped, unsupported] = run.counts;
                let commit = run.git_commit.get(..10).unwrap_or(&run.git_commit);
                outln!(
                    "| {} | {} | {} | {commit} | {} | {passed} | {failed} | {skipped} | {unsupported} |",
                    run.run_id,
                    run.started_at,
                    run.host,
                    run.features
                );
            }
            Ok(())
        }
        Command::Report { scope, out, db } => {
            let db = db.open()?;
            let data = ReportData::load(&db, &scope.scope())?;
            let text = match out.format {
                Format::Md => report::markdown_report(&data),
                Format::Json => json(&data)?,
                Format::Html => html::report(&data),
            };
            emit(&text, out.output.as_ref())
        }
        Command::Expectations { hardware, kind, scope, db } => {
            let kind = cell_kind("--kind", &kind)?;
            if Hardware::from_id(&hardware).is_none() {
                return Err(hfzoo::Error::InvalidArgument(format!(
                    "--hardware {hardware}: unknown (one of {})",
                    Hardware::ALL.iter().map(|h| h.id()).collect::<Vec<_>>().join(", ")
                )));
            }
            let db = db.open()?;
            let cells = db.cells_of(&scope.scope(), kind)?;
            let mut written = 0;
            for cell in cells.iter().filter(|c| c.hardware == hardware) {
                if let Some(mut line) = hfzoo::results::expectations::line(cell) {
                    if kind != runtime::CellKind::Forward {
                        line["kind"] = kind.id().into();
                    }
                    outln!("{line}");
                    written += 1;
                }
            }
            eprintln!(
                "{written} expectation(s) for {hardware} from {} result(s)",
                cells.iter().filter(|c| c.hardware == hardware).count()
            );
            Ok(())
        }
        Command::Compare { base, new, out, db } => {
            let db = db.open()?;
            let comparison = compare::compare(&db, &base, &new)?;
            let text = match out.format {
                Format::Md => compare::markdown(&comparison),
                Format::Json => json(&comparison)?,
                Format::Html => html::comparison(&comparison),
            };
            emit(&text, out.output.as_ref())?;
            let regressions = comparison.regressions();
            if regressions > 0 {
                eprintln!("{regressions} regression(s) from {} to {}", comparison.base, comparison.new);
                return Err(hfzoo::Error::Regression(regressions));
            }
            Ok(())
        }
        Command::Results { command } => results_command(command),
        Command::Cache { command } => cache_command(command),
    }
}

fn cache_command(command: CacheCommand) -> hfzoo::Result<()> {
    use hfzoo::inventory::{self, human_bytes, EntryKind};
    let (requests, verbose, prune) = match command {
        CacheCommand::Info { requests, verbose } => (requests, verbose, None),
        CacheCommand::Prune { requests, compiled, dry_run, unused_days } => {
            if !(unused_days.is_finite() && unused_days >= 0.0) {
                return Err(hfzoo::Error::InvalidArgument(format!(
                    "--unused-days {unused_days}: give a number of days, 0 or more"
                )));
            }
            (requests, true, Some((compiled, dry_run, std::time::Duration::from_secs_f64(unused_days * 86_400.0))))
        }
    };
    let (path, all) = read_requests(requests.requests)?;
    let cache = ArtifactCache::default();
    let used = inventory::used_names(&cache, all.iter().map(|(m, r)| (m.as_str(), r.as_str())));
    // Pruning holds the export lock, so no exporter is writing while entries go.
    let _lock = match prune {
        Some((_, false, _)) => Some(cache.lock("pruning the cache (hfzoo cache prune)")?),
        _ => None,
    };
    let found = inventory::inventory(cache.dir(), &used)?;
    let compiled_dir = paths::openvino_cache_dir();
    let compiled_bytes = inventory::size_of(&compiled_dir);
    outln!("cache root: {} ({} moves it)", paths::cache_root().display(), paths::CACHE_ENV);
    outln!("artifacts: {} in {} entries at {}", human_bytes(found.bytes()), found.entries.len(), cache.dir().display());
    for (kind, what) in [
        (EntryKind::Used, "used by a current request"),
        (EntryKind::Unused, "used by no current request"),
        (EntryKind::Leftover, "left by an interrupted exporter"),
    ] {
        let (count, bytes) = found.total(kind);
        outln!("  {count} {what}: {}", human_bytes(bytes));
    }
    outln!("  (current requests: {} models in {})", all.len(), path.display());
    outln!("openvino compiled models: {} at {}", human_bytes(compiled_bytes), compiled_dir.display());
    let verdicts = paths::cache_root().join("verdicts");
    outln!(
        "stored verdicts: {} at {} (small; `--full` main jobs refresh them)",
        human_bytes(inventory::size_of(&verdicts)),
        verdicts.display()
    );
    if verbose {
        for entry in found.entries.iter().filter(|e| e.kind != EntryKind::Used) {
            let what = if entry.kind == EntryKind::Unused { "unused" } else { "leftover" };
            outln!("  {what} {} ({})", entry.path.display(), human_bytes(entry.bytes));
        }
    }
    let Some((compiled, dry_run, unused_for)) = prune else { return Ok(()) };
    let idle = |e: &&inventory::Entry| e.last_used.and_then(|t| t.elapsed().ok()).is_some_and(|age| age >= unused_for);
    let unused =
        found.entries.iter().filter(|e| e.kind == EntryKind::Unused).filter(idle).map(|e| e.bytes).sum::<u64>()
            + found.total(EntryKind::Leftover).1;
    let kept = found.entries.iter().filter(|e| e.kind == EntryKind::Unused).filter(|e| !idle(e)).count();
    if kept > 0 {
        outln!("keeping {kept} unused entr{} some reader used within {:.1} day(s) (another checkout's, or a running test's; --unused-days sets how long)", if kept == 1 { "y" } else { "ies" }, unused_for.as_secs_f64() / 86_400.0);
    }
    if dry_run {
        outln!(
            "dry run: pruning would free {}{}",
            human_bytes(unused),
            if compiled { format!(" plus {} of compiled models", human_bytes(compiled_bytes)) } else { String::new() }
        );
        return Ok(());
    }
    let removed = inventory::prune(&found, unused_for)?;
    let mut freed: u64 = removed.iter().map(|e| e.bytes).sum();
    if compiled && compiled_dir.exists() {
        std::fs::remove_dir_all(&compiled_dir).map_err(hfzoo::Error::io("remove", &compiled_dir))?;
        freed += compiled_bytes;
    }
    outln!(
        "pruned {} entr{}, freed {}",
        removed.len(),
        if removed.len() == 1 { "y" } else { "ies" },
        human_bytes(freed)
    );
    Ok(())
}

/// The generator's requests (`generated/requests/` unless another folder is named): its path
/// and model type -> canonical request JSON, read from `<model_type>.json` byte for byte (the
/// bytes an artifact's key hashes).
/// The cell kind an option names, or an error listing the kinds.
fn cell_kind(option: &str, id: &str) -> hfzoo::Result<runtime::CellKind> {
    runtime::CellKind::from_id(id).ok_or_else(|| {
        let known: Vec<&str> = runtime::CellKind::ALL.iter().map(|k| k.id()).collect();
        hfzoo::Error::InvalidArgument(format!("{option} {id}: unknown (one of {})", known.join(", ")))
    })
}

fn read_requests(path: Option<PathBuf>) -> hfzoo::Result<(PathBuf, BTreeMap<String, String>)> {
    let path = path.unwrap_or_else(|| paths::root().join("generated/requests"));
    let entries = std::fs::read_dir(&path)
        .map_err(hfzoo::Error::io("read the requests folder (written by `cargo run -p generator -- --all`)", &path))?;
    let mut all = BTreeMap::new();
    for entry in entries {
        let file = entry.map_err(hfzoo::Error::io("list", &path))?.path();
        let Some(model) = file.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).map_err(hfzoo::Error::io("read", &file))?;
        serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|source| hfzoo::Error::Json { context: format!("parse {}", file.display()), source })?;
        all.insert(model.to_string(), text);
    }
    Ok((path, all))
}

/// The model types of a tier, as the generator resolved it into `generated/tiers.json`.
fn tier_models(tier: &str) -> hfzoo::Result<Vec<String>> {
    let path = paths::root().join("generated/tiers.json");
    let text = std::fs::read_to_string(&path).map_err(hfzoo::Error::io("read", &path))?;
    let tiers: BTreeMap<String, Vec<String>> = serde_json::from_str(&text)
        .map_err(|source| hfzoo::Error::Json { context: format!("parse {}", path.display()), source })?;
    tiers.get(tier).cloned().ok_or_else(|| {
        hfzoo::Error::InvalidArgument(format!(
            "--tier {tier}: {} defines {} (tiers come from metadata/tiers.yaml)",
            path.display(),
            tiers.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })
}

fn results_command(command: ResultsCommand) -> hfzoo::Result<()> {
    match command {
        ResultsCommand::Export { dir, run, db } => {
            let db = db.open()?;
            let manifest = shard::export(&db, run.as_deref(), &dir)?;
            let rows: Vec<String> = manifest.rows.iter().map(|(table, n)| format!("{table} {n}")).collect();
            outln!("wrote run {} to {} ({})", manifest.run_id, dir.display(), rows.join(", "));
            Ok(())
        }
        ResultsCommand::Import { dirs, db } => {
            let mut db = db.open()?;
            let mut rejected = 0;
            for dir in &dirs {
                match shard::import(&mut db, dir) {
                    Ok(done) => {
                        outln!("imported {}: run {}, {} new result(s)", dir.display(), done.run_id, done.new_results)
                    }
                    Err(error) => {
                        rejected += 1;
                        eprintln!("error: {error}");
                    }
                }
            }
            if rejected > 0 {
                return Err(hfzoo::Error::InvalidArgument(format!(
                    "{rejected} of {} shard(s) rejected (see above); the others were imported into {}",
                    dirs.len(),
                    db.path().display()
                )));
            }
            Ok(())
        }
        ResultsCommand::Rows { scope, db } => {
            let db = db.open()?;
            for row in shard::comparable_rows(&db, &scope.scope())? {
                outln!("{row}");
            }
            Ok(())
        }
    }
}

fn export(
    models: Vec<String>,
    hardware: &str,
    requests: Option<PathBuf>,
    retry_failed: bool,
    kinds: &[runtime::CellKind],
) -> hfzoo::Result<()> {
    let known = || {
        Hardware::ALL
            .iter()
            .filter(|hw| runtime::backend::for_hardware(**hw).is_some())
            .map(|hw| hw.id())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut backends = Vec::new();
    for id in hardware.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        let hardware = Hardware::from_id(id).ok_or_else(|| {
            hfzoo::Error::InvalidArgument(format!(
                "--hardware {id}: unknown (with a backend in this build: {})",
                known()
            ))
        })?;
        let backend = runtime::backend::for_hardware(hardware).ok_or_else(|| {
            hfzoo::Error::InvalidArgument(format!(
                "--hardware {}: this build has no backend for it yet (with one: {})",
                hardware.id(),
                known()
            ))
        })?;
        backends.push((hardware, backend));
    }
    let (path, all) = read_requests(requests)?;
    // The generation cells' requests (`generate/`), exported where a backend has a generation route.
    let generation = match path.join("generate") {
        folder if folder.is_dir() => read_requests(Some(folder))?.1,
        _ => BTreeMap::new(),
    };
    for model in &models {
        if !all.contains_key(model) {
            return Err(hfzoo::Error::InvalidArgument(format!("--model {model}: no request in {} (is metadata/models/{model}.yaml generated? run `cargo run -p generator -- --all`)", path.display())));
        }
    }
    let cache = ArtifactCache::default();
    let _lock = cache.lock("exporting a batch (hfzoo export)")?;
    // One job per export device and model, holding every format the named backends load:
    // the exporter builds each model once for all of them.
    let mut jobs: BTreeMap<&str, BTreeMap<String, ExportJob<'_>>> = BTreeMap::new();
    let (mut present, mut failed) = (0, 0);
    let forward_kind = kinds.contains(&runtime::CellKind::Forward);
    let generation = if kinds.contains(&runtime::CellKind::Generate) { generation } else { BTreeMap::new() };
    let all = if forward_kind { all } else { BTreeMap::new() };
    let cells = backends.iter().flat_map(|(hardware, backend)| {
        let forward = all.iter().map(move |(m, r)| (*hardware, backend.formats(), m, r, m.clone()));
        let generate = generation
            .iter()
            .map(move |(m, r)| (*hardware, backend.generation_formats(), m, r, format!("{m} (generate)")));
        forward.chain(generate)
    });
    for (hardware, formats, model, request, job_name) in cells {
        if formats.is_empty() || !(models.is_empty() || models.contains(model)) {
            continue;
        }
        let artifacts: Vec<_> =
            formats.iter().map(|format| cache.locate_request(model, request, *format, hardware)).collect();
        let cached_failure = |a: &runtime::artifacts::Artifact| {
            a.exists() && a.manifest().is_ok_and(|m| m.status != runtime::artifacts::ManifestStatus::Ok)
        };
        let needs = |a: &runtime::artifacts::Artifact| cache.needs_export(a) || (retry_failed && cached_failure(a));
        // Fallback formats matter only where the preferred one failed.
        let (first, fallbacks) = artifacts.split_first().expect("a backend loads at least one format");
        if !(needs(first) || (cached_failure(first) && fallbacks.iter().any(needs))) {
            present += 1;
            failed += usize::from(cached_failure(first));
            continue;
        }
        // Only what is missing (or asked again): a published artifact is never rebuilt.
        let job = ExportJob::for_formats(request.as_str(), artifacts).only(needs);
        match jobs.entry(hardware.export_device()).or_default().entry(job_name) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(job);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => slot.get_mut().merge(job),
        }
    }
    let retry = if failed > 0 && !retry_failed {
        format!(" ({failed} of them recorded failures; --retry-failed rebuilds those)")
    } else {
        String::new()
    };
    let building: usize = jobs.values().map(BTreeMap::len).sum();
    outln!(
        "{present} artifact set(s) already cached in {}{retry}; building {building} model(s)",
        cache.dir().display()
    );
    for (device, jobs) in jobs {
        cache.export(device, jobs.into_values().collect())?;
    }
    Ok(())
}
