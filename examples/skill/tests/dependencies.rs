//! A program that only wants a typed skill links no database and no preprocessing: `cargo tree`
//! of this example (the generated crate with `cpu`, and the runtime under it) lists no duckdb,
//! arrow or plotters, none of the skills' tokenizers, image, hound or realfft, and no engine its
//! hardware does not need.

use std::process::Command;

/// The example's normal (non-dev, non-build) dependency tree, one crate name per line.
fn dependency_names() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "-p", "skill-example", "--edges", "normal", "--prefix", "none", "--format", "{p}", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_skill_example_links_no_results_store_no_preprocessing_and_only_its_engine() {
    let names = dependency_names();
    assert!(names.iter().any(|n| n == "runtime"), "the tree lists the runtime: {names:?}");
    assert!(names.iter().any(|n| n == "tch"), "the cpu feature turns on the torch engine: {names:?}");
    for banned in [
        "duckdb",
        "libduckdb-sys",
        "plotters",
        "hfzoo",
        "openvino",
        "ort",
        "skills",
        "bench-core",
        "tokenizers",
        "image",
        "hound",
        "realfft",
    ] {
        assert!(!names.iter().any(|n| n == banned), "{banned} is in the skill example's dependency tree");
    }
    assert!(!names.iter().any(|n| n.starts_with("arrow")), "arrow is in the skill example's dependency tree");
}

#[test]
fn the_skill_example_runs_the_tiny_model_and_prints_its_output_shapes() {
    let output = Command::new(env!("CARGO_BIN_EXE_skill-example")).output().expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "skill-example failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("last_hidden_state [2, 7, 32]"), "{stdout}");
    assert!(stdout.contains("pooler_output [2, 32]"), "{stdout}");
}
