//! The spool: one JSON file per result, written atomically, so nothing is lost when tests run
//! as threads or processes or a process dies. Ingestion (hfzoo) moves files to `ingested/`.

use std::path::{Path, PathBuf};

use super::record::Record;
use crate::error::{Error, Result};

/// The spool directory under a results folder.
pub fn spool_dir(results: &Path) -> PathBuf {
    results.join("spool")
}

/// Writes a record as `<spool>/<result_id>.json` (temp file + rename).
pub fn write(results: &Path, record: &Record) -> Result<PathBuf> {
    let dir = spool_dir(results);
    std::fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
    let path = dir.join(format!("{}.json", record.result_id));
    let tmp = dir.join(format!(".{}.{}.tmp", record.result_id, std::process::id()));
    let text = serde_json::to_string_pretty(record)
        .map_err(|source| Error::Json { context: "serialise result".into(), source })?;
    write_durably(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))?;
    sync_dir(&dir);
    Ok(path)
}

/// Writes `bytes` to `path` and flushes them to the disk before returning, so a rename that
/// follows never publishes a file whose contents a power cut could still lose.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(Error::io("create", path))?;
    file.write_all(bytes).map_err(Error::io("write", path))?;
    file.sync_all().map_err(Error::io("flush to disk", path))
}

/// Flushes a directory's entries (a rename into it) to the disk; best effort.
pub fn sync_dir(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}
