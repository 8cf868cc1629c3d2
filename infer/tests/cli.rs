//! The `infer` command line: its model-type listing, its errors, and the skills page whose
//! example is the compiled `examples/embed_checkpoint.rs`.

use std::process::Command;

fn infer(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_infer")).args(args).output().expect("the infer binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn lists_the_preprocessing_of_every_model_type() {
    let (ok, listing, _) = infer(&["--preprocessing"]);
    assert!(ok);
    let rows: Vec<Vec<&str>> = listing.lines().skip(1).map(|line| line.split('\t').collect()).collect();
    assert!(rows.len() > 700, "every model type with a model class: {}", rows.len());
    let row = |model: &str| rows.iter().find(|r| r[0] == model).unwrap_or_else(|| panic!("{model} listed")).clone();
    assert_eq!(row("bert")[2], "text");
    assert_eq!(row("llama")[2], "text");
    assert_eq!(row("vit")[2], "image");
    assert_eq!(row("clip")[2], "text+image");
    assert_eq!(row("whisper")[2], "log-mel (Whisper's or CLAP's extractor)");
    assert_eq!(row("clap")[2], "text+log-mel (Whisper's or CLAP's extractor)");
    assert_eq!(row("xclip")[2], "text+video (frame folders)");
    assert_eq!(row("detr")[2], "image (padded, with pixel_mask)");
    assert_eq!(row("llava_next")[2], "text+image (any-resolution tiles)");
    let grids = row("qwen2_vl");
    assert_eq!(grids[2], "none");
    assert!(grids[3].contains("needs"), "{grids:?}");
    assert_eq!(row("wav2vec2")[2], "audio");
}

#[test]
fn refuses_unknown_models_hardware_and_checkpoints_with_the_reason() {
    let (ok, _, stderr) = infer(&["--model", "no_such_model", "--checkpoint", "x", "--text", "hi"]);
    assert!(!ok && stderr.contains("unknown model type `no_such_model`"), "{stderr}");
    let (ok, _, stderr) = infer(&["--model", "bert", "--checkpoint", "x", "--text", "hi", "--hardware", "tpu"]);
    assert!(!ok && stderr.contains("unknown hardware `tpu`"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = infer(&["--model", "bert", "--checkpoint", dir.path().to_str().unwrap(), "--text", "hi"]);
    assert!(!ok && stderr.contains("config.json") && stderr.contains("missing"), "{stderr}");
}

#[test]
fn the_skills_page_shows_the_compiled_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("examples/embed_checkpoint.rs")).unwrap();
    let page = std::fs::read_to_string(root.join("../docs/skills.md")).unwrap();
    assert!(
        page.contains(&format!("```rust\n{example}```")),
        "docs/skills.md must show examples/embed_checkpoint.rs as it is (copy it in)"
    );
}
