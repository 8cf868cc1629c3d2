//! The check-code digest (runtime/build.rs) follows every input that can change a verdict and
//! nothing else: run on a scratch workspace, one change at a time.

include!("../../build-support/code_digest.rs");

use std::path::Path;

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const LOCK: &str = "version = 4\n\n[[package]]\nname = \"tch\"\nversion = \"0.26.0\"\n\n[[package]]\nname = \"plotters\"\nversion = \"0.3.7\"\n";

#[test]
fn every_verdict_input_changes_the_check_code_digest_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "runtime/src/lib.rs", "pub fn f() {}");
    write(root, "browser/src/page.js", "run();");
    write(root, "tensor/src/lib.rs", "pub struct HostTensor;");
    write(root, "runtime/src/results/spool.rs", "// the results store");
    write(root, "request/src/lib.rs", "pub struct Request;");
    write(root, "skills/src/lib.rs", "// a skill on checkpoints");
    write(root, "bench/core/src/run.rs", "// the benchmark");
    write(root, "hfzoo/src/results/bench_page.rs", "// the benchmark's page");
    write(root, "Cargo.lock", LOCK);
    let digest = || code_digest(root, "rustc 1.95.0").0;
    let base = digest();
    assert_eq!(digest(), base, "a pure function of its inputs");
    let changes: [(&str, &str, &str); 5] = [
        ("the page's script (included with include_str!)", "browser/src/page.js", "run(); run();"),
        ("the host tensor", "tensor/src/lib.rs", "pub struct HostTensor(u8);"),
        ("a runtime source", "runtime/src/lib.rs", "pub fn g() {}"),
        ("the contract crate", "request/src/lib.rs", "pub struct Request2;"),
        ("an engine binding's lock entry", "Cargo.lock", &LOCK.replace("0.26.0", "0.27.0")),
    ];
    for (what, file, text) in changes {
        let before = std::fs::read_to_string(root.join(file)).unwrap();
        write(root, file, text);
        assert_ne!(digest(), base, "a change of {what} must change the digest");
        write(root, file, &before);
        assert_eq!(digest(), base);
    }
    assert_ne!(code_digest(root, "rustc 1.96.0").0, base, "the compiler's version");
    write(root, "runtime/src/results/spool.rs", "// edited");
    write(root, "Cargo.lock", &LOCK.replace("0.3.7", "0.3.8"));
    assert_eq!(digest(), base, "the results store and other dependencies decide no verdict");
    write(root, "skills/src/lib.rs", "// a skill's preprocessing, edited");
    write(root, "bench/core/src/run.rs", "// the benchmark, edited");
    write(root, "hfzoo/src/results/bench_page.rs", "// the benchmark's page, edited");
    assert_eq!(digest(), base, "skills, the benchmark and its page decide no verdict");
}

/// On this workspace: the digest reads the runtime's, the host tensor's, the browser driver's and
/// the contract's sources and the lock file, and not one file of the skills, the benchmark or
/// the results store, so editing a skill or the benchmark's page leaves every stored verdict
/// of the zoo reused.
#[test]
fn the_real_digest_reads_no_skill_benchmark_or_page_file() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let (_, watched) = code_digest(workspace, "rustc");
    let outside: Vec<String> = watched
        .iter()
        .map(|path| path.strip_prefix(workspace).unwrap().to_string_lossy().replace('\\', "/"))
        .filter(|relative| {
            !["runtime/src", "request/src", "tensor/src", "browser/src"].iter().any(|base| relative.starts_with(base))
                && relative != "Cargo.lock"
        })
        .collect();
    assert!(outside.is_empty(), "the digest reads files outside the verdict's code: {outside:?}");
    for kept_out in [
        "skills/src/lib.rs",
        "skills/src/preprocess/image.rs",
        "bench/core/src/run.rs",
        "hfzoo/src/results/bench_page.rs",
    ] {
        assert!(workspace.join(kept_out).is_file(), "{kept_out} moved: update this test");
        assert!(!watched.iter().any(|path| path.ends_with(kept_out)), "{kept_out} is part of the verdict digest");
    }
    for runtime_file in ["runtime/src/suite.rs", "runtime/src/check.rs", "tensor/src/lib.rs", "browser/src/page.js"] {
        assert!(
            watched.iter().any(|path| path.ends_with(runtime_file)),
            "{runtime_file} decides verdicts and must be digested"
        );
    }
}
