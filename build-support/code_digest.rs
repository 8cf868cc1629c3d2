// The runtime's check-code digest (included by runtime/build.rs and by the runtime's test of it).

/// Crates whose version decides what an engine computes: their `Cargo.lock` entries are part
/// of the check-code digest (a change of any other dependency re-runs nothing).
const ENGINE_CRATES: [&str; 8] = ["tch", "torch-sys", "openvino", "openvino-sys", "openvino-finder", "ort", "ort-sys", "safetensors"];

/// A hash of everything built into the runtime that can change a verdict: every source file of
/// the runtime (all of `runtime/src` but the results store), of the host tensor
/// (`tensor/src`) and of the browser driver (`browser/src`, whatever the extension: `page.js` is
/// included into it), the contract crate's sources (`request/src`), the `Cargo.lock` entries
/// of the engine bindings, and the compiler's version. FNV-1a over sorted (path, contents): no
/// build dependency, and the same inputs give the same value everywhere.
/// Also returns the files and folders it read (for `rerun-if-changed`).
fn code_digest(workspace: &std::path::Path, compiler_version: &str) -> (u64, Vec<std::path::PathBuf>) {
    let mut files = Vec::new();
    let mut watched = Vec::new();
    for (base, skip) in [("runtime/src", Some("runtime/src/results")), ("request/src", None), ("tensor/src", None), ("browser/src", None)] {
        let mut stack = vec![workspace.join(base)];
        while let Some(dir) = stack.pop() {
            watched.push(dir.clone());
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let relative = path.strip_prefix(workspace).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                if skip == Some(relative.as_str()) {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push((relative, path));
                }
            }
        }
    }
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes.iter().chain([0u8].iter()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (relative, path) in &files {
        feed(relative.as_bytes());
        feed(&std::fs::read(path).unwrap_or_default());
    }
    let lock = workspace.join("Cargo.lock");
    feed(engine_lock_entries(&std::fs::read_to_string(&lock).unwrap_or_default()).as_bytes());
    feed(compiler_version.as_bytes());
    watched.extend(files.into_iter().map(|(_, path)| path));
    watched.push(lock);
    (hash, watched)
}

/// The `[[package]]` entries of the engine crates in `Cargo.lock`, in file order.
fn engine_lock_entries(lock: &str) -> String {
    lock.split("[[package]]")
        .filter(|entry| entry.lines().any(|line| ENGINE_CRATES.iter().any(|name| line.trim() == format!("name = \"{name}\""))))
        .collect::<Vec<_>>()
        .join("[[package]]")
}
