//! HFZOO_REQUIRE_HARDWARE turns absence into failure (its own process: it sets the variable).

mod common;

use runtime::suite::{evaluate_in, Outcome};

#[test]
fn required_but_absent_hardware_fails() {
    // SAFETY of the process environment: this binary has this one test and sets it first.
    std::env::set_var(runtime::hardware::REQUIRE_ENV, "rocm,cuda,qnn");
    let cache = runtime::artifacts::ArtifactCache::new(tempfile::tempdir().unwrap().path().to_path_buf());
    for (case, hardware) in [(&common::CUDA, runtime::Hardware::Cuda), (&common::QNN, runtime::Hardware::Qnn)] {
        if runtime::detect(hardware).available {
            continue;
        }
        let Outcome::Failed(detail) = evaluate_in(&cache, case).outcome else { panic!("{hardware:?} must fail") };
        assert!(
            detail.starts_with(&format!("{} is required (HFZOO_REQUIRE_HARDWARE) but absent:", hardware.id())),
            "{detail}"
        );
    }
}
