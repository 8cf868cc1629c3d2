//! The harvester's rule tables hold on recorded error text: runs `generator/harvester/test_rules.py`
//! (Python's unittest, in the project's venv) so the README's test command covers them.

mod common;

#[test]
fn harvester_rules_pass_their_recorded_cases() {
    let root = common::repo();
    let python = root.join(".venv/bin/python");
    assert!(python.is_file(), "{} not found: run `bash scripts/setup.sh`", python.display());
    let output = std::process::Command::new(&python)
        .args(["-m", "unittest", "discover", "-s", "generator/harvester", "-p", "test_*.py", "-v"])
        .current_dir(&root)
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the harvester's rule tests failed:\n{stderr}");
    assert!(
        stderr.contains("test_each_case_is_proposed_by_its_row_and_only_with_it (test_rules.RetryRules"),
        "the rule tests did not run: {stderr}"
    );
    assert!(stderr.trim_end().ends_with("OK"), "{stderr}");
}

/// The 13 key models, re-harvested from scratch in a copy of the repository, come back exactly
/// as committed: the harvester's rules (inputs, repairs, shrinking) reproduce the metadata.
#[test]
fn re_harvesting_the_key_models_reproduces_their_committed_metadata() {
    let root = common::repo();
    let python = root.join(".venv/bin/python");
    assert!(python.is_file(), "{} not found: run `bash scripts/setup.sh`", python.display());
    let (dir, ws) = common::scratch();
    for folder in ["generator/harvester", "runtime/exporter"] {
        common::copy_dir(&root.join(folder), &dir.path().join(folder));
    }
    std::env::set_var("HFZOO_PYTHON", &python);
    let metadata = generator::metadata::Metadata::load(&ws.root).unwrap();
    let key: Vec<String> =
        metadata.models.iter().filter(|f| f.model.key_model).map(|f| f.model.model_type.clone()).collect();
    assert_eq!(key.len(), 13, "{key:?}");
    let hardware = generator::metadata::Metadata::load_hardware(&ws.root).unwrap();
    let report = generator::harvest::harvest(
        &ws.root,
        &hardware,
        &generator::harvest::HarvestOptions { only: key.clone(), workers: Some(1) },
    )
    .unwrap();
    assert!(report.created.is_empty(), "created {:?}", report.created);
    assert!(report.updated.is_empty(), "the re-harvest changed committed metadata: {:?}", report.updated);
    assert_eq!(report.unchanged, 13);
    for model in &key {
        let path = format!("metadata/models/{model}.yaml");
        let committed = std::fs::read_to_string(root.join(&path)).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(&path)).unwrap(),
            committed,
            "{path} differs after the re-harvest"
        );
    }
}
