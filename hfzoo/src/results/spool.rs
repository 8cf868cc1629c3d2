//! The spool as ingestion reads it: the files waiting in it and their move to `ingested/` or
//! `rejected/`. Writing a record is the runtime's ([`runtime::results::spool`]).

use std::path::{Path, PathBuf};

use runtime::error::{Error, Result};
pub use runtime::results::spool::{spool_dir, sync_dir, write};

/// Pending spool files, sorted.
pub fn pending(results: &Path) -> Vec<PathBuf> {
    pending_in(&spool_dir(results))
}

/// The `.json` files directly in `dir`, sorted (what waits there for ingestion).
pub fn pending_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Moves a spool file into `ingested/` (or `rejected/`), replacing an older copy.
pub fn archive(results: &Path, file: &Path, folder: &str) -> Result<()> {
    archive_in(&spool_dir(results), file, folder)
}

/// Moves `file` into `dir/folder/`, replacing an older copy.
pub fn archive_in(dir: &Path, file: &Path, folder: &str) -> Result<()> {
    let dir = dir.join(folder);
    std::fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
    let target = dir.join(file.file_name().unwrap_or_default());
    std::fs::rename(file, &target).map_err(Error::io("move", file))?;
    sync_dir(&dir);
    Ok(())
}
