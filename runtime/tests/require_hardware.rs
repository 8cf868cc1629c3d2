//! HFZOO_REQUIRE_HARDWARE turns absence into failure (its own process: it sets the variable).

mod common;

use runtime::suite::{evaluate_in, Outcome};

#[test]
fn required_but_absent_hardware_fails() {
    if runtime::detect(runtime::Hardware::Cuda).available {
        return;
    }
    // SAFETY of the process environment: this binary has this one test and sets it first.
    std::env::set_var(runtime::hardware::REQUIRE_ENV, "rocm,cuda");
    let cache = runtime::artifacts::ArtifactCache::new(tempfile::tempdir().unwrap().path().to_path_buf());
    let Outcome::Failed(detail) = evaluate_in(&cache, &common::CUDA).outcome else { panic!("must fail") };
    assert!(detail.starts_with("cuda is required (HFZOO_REQUIRE_HARDWARE) but absent:"), "{detail}");
}
