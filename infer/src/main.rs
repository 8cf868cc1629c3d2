//! `infer`: a skill on a real checkpoint, from raw text, image or audio files to what the task means,
//! printed as JSON with the load and inference times.
//!
//! `cargo run -p infer -- --model bert --checkpoint DIR --text "a sentence" [--hardware openvino]`.
//! The checkpoint is a directory `save_pretrained` wrote, or a hub id held in the local
//! Hugging Face cache; nothing is downloaded. Its artifact is exported on first use and cached
//! by the checkpoint's content.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use runtime::Hardware;
use skills::preprocess::text::Overflow;
use skills::{pooling, Input, Options, Pooling, Skill};

/// Runs a model's skill on a local checkpoint and prints the task's output as JSON.
#[derive(Parser)]
#[command(name = "infer", version)]
struct Args {
    /// Model type (`bert`, `llama`, `t5`, ...): the generated skill to use.
    #[arg(long, required_unless_present = "preprocessing")]
    model: Option<String>,
    /// A checkpoint directory, or a hub id (`owner/name[@revision]`) in the local Hugging Face cache.
    #[arg(long, required_unless_present = "preprocessing")]
    checkpoint: Option<String>,
    /// Input text (repeat for a batch).
    #[arg(long = "text")]
    texts: Vec<String>,
    /// Input image file, PNG or JPEG (repeat for a batch).
    #[arg(long = "image")]
    images: Vec<std::path::PathBuf>,
    /// Input audio file, WAV at the model's sample rate (repeat for a batch).
    #[arg(long = "audio")]
    audio: Vec<std::path::PathBuf>,
    /// Input video: a folder of its frames as PNG or JPEG files, in name order, as many as the
    /// model's `num_frames` (repeat for a batch).
    #[arg(long = "video")]
    videos: Vec<std::path::PathBuf>,
    /// Instead of running: list every model type with the preprocessing its skill gets on a
    /// checkpoint, or why it has none yet (tab-separated).
    #[arg(long)]
    preprocessing: bool,
    /// Hardware to run on (`cpu`, `openvino`, `qnn`, `webgpu`, `webnn`).
    #[arg(long, default_value = "cpu")]
    hardware: String,
    /// Cut texts longer than the model takes instead of refusing them.
    #[arg(long)]
    truncate: bool,
    /// Pooling of embeddings instead of what the checkpoint declares (`mean`, `cls`, `max`, `mean-sqrt-len`).
    #[arg(long)]
    pooling: Option<String>,
    /// Scale embeddings to unit length (with `--pooling`).
    #[arg(long, requires = "pooling")]
    normalize: bool,
    /// Only the k best labels.
    #[arg(long)]
    top_k: Option<usize>,
    /// The most tokens generated per text.
    #[arg(long, default_value_t = 20)]
    max_new_tokens: usize,
    /// The least score a detected object keeps (detection heads).
    #[arg(long, default_value_t = skills::DEFAULT_THRESHOLD)]
    threshold: f32,
}

/// Every model type, tab-separated: type, task, preprocessing (`text` or `none`), why not.
fn list_preprocessing() {
    let mut seen = std::collections::BTreeMap::new();
    for case in generated::registry::cases() {
        seen.entry(case.spec.model_type).or_insert(&case.spec);
    }
    println!("model_type\ttask\tpreprocessing\twhy_not");
    for (model_type, spec) in seen {
        match skills::preprocessing(spec) {
            Ok(kind) => println!("{model_type}\t{}\t{kind}\t", spec.task),
            Err(why) => println!("{model_type}\t{}\tnone\t{why}", spec.task),
        }
    }
}

fn run(args: Args) -> Result<serde_json::Value, String> {
    let (Some(model), Some(source)) = (args.model.clone(), args.checkpoint.clone()) else {
        return Err("--model and --checkpoint are required".into());
    };
    let hardware = Hardware::from_id(&args.hardware).ok_or_else(|| {
        format!("unknown hardware `{}` (one of: {})", args.hardware, Hardware::ALL.map(|h| h.id()).join(", "))
    })?;
    let cases = generated::registry::cases();
    let case = skills::case::find(&cases, &model, hardware)?;
    let pooling = match &args.pooling {
        Some(name) => {
            let mode = pooling::Mode::from_name(name)
                .ok_or_else(|| format!("unknown pooling `{name}` (cls, mean, max, mean-sqrt-len)"))?;
            Some(Pooling { modes: vec![mode], normalize: args.normalize })
        }
        None => None,
    };
    let options = Options {
        overflow: if args.truncate { Overflow::Truncate } else { Overflow::Refuse },
        pooling,
        top_k: args.top_k,
        max_new_tokens: Some(args.max_new_tokens),
        threshold: Some(args.threshold),
    };
    eprintln!("infer: loading {source} on {} (the first load of a checkpoint exports it)", hardware.id());
    let skill = Skill::load(case, &source).map_err(|e| e.to_string())?;
    let texts: Vec<&str> = args.texts.iter().map(String::as_str).collect();
    let images: Vec<&std::path::Path> = args.images.iter().map(std::path::PathBuf::as_path).collect();
    let audio: Vec<&std::path::Path> = args.audio.iter().map(std::path::PathBuf::as_path).collect();
    let videos: Vec<&std::path::Path> = args.videos.iter().map(std::path::PathBuf::as_path).collect();
    if texts.is_empty() && images.is_empty() && audio.is_empty() && videos.is_empty() {
        return Err(
            "give the input: --text TEXT, --image FILE, --audio FILE or --video FOLDER (each repeatable)".into()
        );
    }
    let started = Instant::now();
    let output = skill
        .run(Input { texts: &texts, images: &images, audio: &audio, videos: &videos }, &options)
        .map_err(|e| e.to_string())?;
    let infer_ms = started.elapsed().as_secs_f64() * 1e3;
    // The device as detected: a software adapter (WebGPU on SwiftShader) says so here.
    let detected = runtime::detect(hardware);
    Ok(serde_json::json!({
        "model": model,
        "hardware": hardware.id(),
        "device": detected.device,
        "engine_version": detected.version,
        "checkpoint": skill.checkpoint().dir,
        "digest": skill.checkpoint().digest,
        "load_ms": skill.load_ms,
        "infer_ms": infer_ms,
        "route": skill.route_note,
        "output": output,
    }))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.preprocessing {
        list_preprocessing();
        return ExitCode::SUCCESS;
    }
    match run(args) {
        Ok(json) => {
            println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
