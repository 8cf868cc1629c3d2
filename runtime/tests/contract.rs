//! The Python side reads the contract (`runtime/exporter/contract.json`, written from the
//! `export-request` crate) instead of keeping copies: its categories, probe stages and the
//! dynamic-dimension rule agree with the Rust ones, and every category the Python sources
//! raise is in the one list.

use export_request::Category;

fn python_sources() -> Vec<(String, String)> {
    let root = runtime::paths::root();
    let mut files = Vec::new();
    for dir in ["runtime/exporter", "generator/harvester"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "py") {
                files.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    files
}

#[test]
fn the_python_contract_agrees_with_the_rust_one() {
    let python = runtime::paths::python();
    assert!(python.is_file(), "{} not found: run `bash scripts/setup.sh`", python.display());
    let script = runtime::paths::root().join("runtime/exporter/contract.py");
    let cases = [
        export_request::RequestDim { size: 2, varied: None },
        export_request::RequestDim { size: 2, varied: Some(3) },
        export_request::RequestDim { size: 1, varied: Some(1) },
    ];
    let output = std::process::Command::new(&python)
        .arg(&script)
        .arg("--self-test")
        .arg(serde_json::to_string(&cases).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let said: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(said["request_version"], serde_json::json!(export_request::VERSION));
    let ids: Vec<&str> = Category::ALL.iter().map(|c| c.id()).collect();
    assert_eq!(said["categories"], serde_json::json!(ids));
    let mut staged: Vec<Category> = Category::ALL.into_iter().filter(|c| c.probe_stage().is_some()).collect();
    staged.sort_by_key(|c| c.probe_stage());
    assert_eq!(said["stage_order"], serde_json::json!(staged.iter().map(|c| c.id()).collect::<Vec<_>>()));
    let mut last: Vec<&str> = Category::ALL.iter().filter(|c| c.final_for_probe()).map(|c| c.id()).collect();
    last.sort();
    assert_eq!(said["final"], serde_json::json!(last));
    assert_eq!(said["dynamic"], serde_json::json!(cases.iter().map(|d| d.is_dynamic()).collect::<Vec<_>>()));
}

#[test]
fn every_category_the_python_sources_name_is_in_the_contract() {
    let mut seen = 0;
    for (path, text) in python_sources() {
        for literal in RAISING_CALLS.iter().flat_map(|prefix| literals_after(&text, prefix)) {
            seen += 1;
            assert!(
                Category::from_id(&literal).is_some(),
                "{path} raises category {literal:?}, which request/src/category.rs does not list"
            );
        }
        assert!(
            !text.contains("STAGE_ORDER = [") && !text.contains("def classify_build_error")
                || path.ends_with("contract.py"),
            "{path} keeps its own copy of the probe stages or of classify_build_error; use contract.py"
        );
    }
    assert!(seen >= 20, "the scan found only {seen} category literals: did the raising code change?");
}

/// The calls that take a category as their first argument (`ExportFailure("` is found through
/// `Failure("` as well).
const RAISING_CALLS: [&str; 3] = ["Failure(\"", "Unsupported(\"", "category(\""];

/// The string literals that follow `prefix` in `text`.
fn literals_after(text: &str, prefix: &str) -> Vec<String> {
    text.match_indices(prefix)
        .filter_map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .collect()
}
