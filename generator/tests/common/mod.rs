//! Shared helpers: a scratch copy of the repository's inputs for tests that write.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> PathBuf {
    generator::Workspace::default_root()
}

/// Copies `from` into `to` recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A temp root holding metadata/, templates/, generated/Cargo.toml and .config/nextest.toml from the repository
/// (no generated sources), plus a store path inside it.
pub fn scratch() -> (tempfile::TempDir, generator::Workspace) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("metadata"), &dir.path().join("metadata"));
    copy_dir(&repo().join("templates"), &dir.path().join("templates"));
    std::fs::create_dir_all(dir.path().join("generated/src")).unwrap();
    std::fs::copy(repo().join("generated/Cargo.toml"), dir.path().join("generated/Cargo.toml")).unwrap();
    std::fs::create_dir_all(dir.path().join(".config")).unwrap();
    std::fs::copy(repo().join(".config/nextest.toml"), dir.path().join(".config/nextest.toml")).unwrap();
    let ws = generator::Workspace::new(dir.path(), Some(dir.path().join("store.duckdb")));
    (dir, ws)
}
