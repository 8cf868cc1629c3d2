include!("../build-support/native_libs.rs");
include!("../build-support/code_digest.rs");

fn main() {
    // libtorch only: the results database (DuckDB) is the hfzoo crate's (hfzoo/build.rs).
    expose_native_dir("LIBTORCH", "lib", "torch-lib");
    check_code_digest();
}

/// Sets `HFZOO_CHECK_CODE_DIGEST` (`build-support/code_digest.rs` says what it covers), one
/// input of each cell's verdict digest (`src/verdict.rs`).
fn check_code_digest() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = root.parent().expect("the runtime sits in the workspace");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let (digest, watched) = code_digest(workspace, &version);
    for path in watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rustc-env=HFZOO_CHECK_CODE_DIGEST={digest:016x}");
}
