include!("../build-support/native_libs.rs");

fn main() {
    // libtorch only: the results database (DuckDB) is the hfzoo crate's (hfzoo/build.rs).
    expose_native_dir("LIBTORCH", "lib", "torch-lib");
    check_code_digest();
}

/// Sets `HFZOO_CHECK_CODE_DIGEST`: a hash of every source file of the runtime that can change
/// a verdict (all of `src/` but the results store and the command line), one input of each
/// cell's verdict digest (`src/verdict.rs`). FNV-1a over sorted (path, contents): no build
/// dependency, and the same sources give the same value on every machine.
fn check_code_digest() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        println!("cargo:rerun-if-changed={}", dir.display());
        for entry in std::fs::read_dir(&dir).expect("read runtime/src").flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).expect("under the crate").to_string_lossy().replace('\\', "/");
            if relative == "src/results" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if relative.ends_with(".rs") {
                files.push((relative, path));
            }
        }
    }
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (relative, path) in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let contents = std::fs::read(&path).expect("read a runtime source file");
        for byte in relative.as_bytes().iter().chain([0u8].iter()).chain(contents.iter()).chain([0u8].iter()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=HFZOO_CHECK_CODE_DIGEST={hash:016x}");
}
