// Shared by the build scripts of `generator` and `runtime` (included with `include!`).
// Makes a prebuilt native library directory visible to the loader for `cargo run` and
// `cargo test`: cargo puts link-search directories that lie inside the target dir on the
// loader path, so the directory is symlinked into OUT_DIR. An rpath covers binaries that
// are started outside cargo.

/// Links the directory named by `env_var` (plus `suffix`) into OUT_DIR/`alias` and prints
/// it as a native link-search path and an rpath.
fn expose_native_dir(env_var: &str, suffix: &str, alias: &str) {
    println!("cargo:rerun-if-env-changed={env_var}");
    let Ok(value) = std::env::var(env_var) else {
        panic!("{env_var} is not set: run `bash scripts/setup.sh` from the repository root (it is set in .cargo/config.toml)");
    };
    let dir = std::path::Path::new(&value).join(suffix);
    if !dir.is_dir() {
        panic!(
            "{} does not exist ({env_var}={value}): run `bash scripts/setup.sh` from the repository root",
            dir.display()
        );
    }
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let link = out_dir.join(alias);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&dir, &link).expect("symlink native library directory into OUT_DIR");
    println!("cargo:rustc-link-search=native={}", link.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
}
