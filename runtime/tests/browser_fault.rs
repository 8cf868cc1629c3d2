//! A browser that is found but fails to start is a failure of the cell in category
//! `environment`, never an absence (`skipped`) and never a stored verdict. The probe runs once
//! per process, so the test runs itself again as a child with a Chromium that exits at once.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use runtime::artifacts::ArtifactCache;
use runtime::suite::{evaluate_in, Outcome};

const CHILD_ENV: &str = "HFZOO_TEST_BROKEN_BROWSER_CHILD";

#[test]
fn a_browser_that_fails_to_start_fails_the_cell_in_environment() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let dir = tempfile::tempdir().unwrap();
        let evaluation = evaluate_in(&ArtifactCache::new(dir.path().join("artifacts")), &common::WEBGPU);
        let Outcome::Failed(detail) = &evaluation.outcome else {
            panic!("a browser that does not start is no absence: {:?}", evaluation.outcome)
        };
        assert!(
            detail.contains("was found but could not be started or probed") && detail.ends_with("[environment]"),
            "{detail}"
        );
        assert_eq!(evaluation.observed, Some(runtime::FailureCategory::Environment));
        println!("CHILD-CHECKED");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let chromium = dir.path().join("chromium");
    std::fs::write(&chromium, "#!/bin/sh\necho 'this Chromium is broken' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&chromium, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_browser_that_fails_to_start_fails_the_cell_in_environment",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, "1")
        .env("HFZOO_CHROMIUM", &chromium)
        .env("HFZOO_CACHE_DIR", dir.path().join("cache"))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && text.contains("CHILD-CHECKED"), "{text}");
}
