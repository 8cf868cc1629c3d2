//! The comparison rule's Python side agrees with the shared cases the Rust side is tested on
//! (`runtime/exporter/parity_cases.json`): one rule, two implementations, one set of cases.

#[test]
fn the_python_side_of_the_parity_rule_passes_the_shared_cases() {
    let python = runtime::paths::python();
    assert!(python.is_file(), "{} not found: run `bash scripts/setup.sh`", python.display());
    let script = runtime::paths::root().join("runtime/exporter/parity.py");
    let output = std::process::Command::new(&python).arg(&script).arg("--self-test").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
