//! scripts/phases.sh, which times the test command and the main job: a phase past its budget
//! fails the script when it ends (naming the phase and both times), after every phase ran; a
//! failure of the script keeps its own status; a phase without a budget is only timed.

use std::process::Command;

/// Runs `body` in bash after sourcing scripts/phases.sh; returns (exit code, stderr).
fn run(body: &str) -> (i32, String) {
    let phases = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/phases.sh");
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("source '{}'\n{body}", phases.display()))
        .output()
        .expect("bash runs");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_phase_past_its_budget_fails_the_script_and_is_named() {
    let (code, stderr) = run("phase 'slow one' 0.2; sleep 0.5; phase 'fast one' 30; true");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("phase times (bash, exit 1)"), "{stderr}");
    assert!(stderr.contains("slow one  OVER ITS BUDGET OF 0.2 s"), "{stderr}");
    assert!(stderr.contains("fast one  (budget 30 s)"), "{stderr}");
    assert!(stderr.contains("error: 1 phase(s) ran past their budget"), "{stderr}");
}

#[test]
fn phases_within_budget_or_without_one_pass_and_a_failure_keeps_its_status() {
    let (code, stderr) = run("phase 'quick' 30; phase 'untimed'; true");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("quick  (budget 30 s)") && !stderr.contains("error:"), "{stderr}");
    let (code, stderr) = run("phase 'slow one' 0.1; sleep 0.3; exit 3");
    assert_eq!(code, 3, "the script's own failure wins: {stderr}");
    assert!(stderr.contains("OVER ITS BUDGET"), "{stderr}");
}
