//! Writes the output set: only changed files, orphans removed; or checks it (`--check`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// What a write changed.
#[derive(Debug, Default)]
pub struct WriteReport {
    /// Files written because they were new or differed.
    pub written: Vec<String>,
    /// Files already identical (not touched, so cargo does not rebuild).
    pub unchanged: usize,
    /// Orphans deleted.
    pub removed: Vec<String>,
}

/// Generated `.rs` files under `generated/src` (relative to `root`), sorted.
fn existing_sources(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("generated/src")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(crate::metadata::display_path(root, &path));
            }
        }
    }
    out.sort();
    out
}

/// Writes `files` (paths relative to `root`); deletes orphans when `prune` is set.
pub fn write(root: &Path, files: &BTreeMap<String, String>, prune: bool) -> Result<WriteReport> {
    let mut report = WriteReport::default();
    for (relative, contents) in files {
        let path = root.join(relative);
        if std::fs::read_to_string(&path).is_ok_and(|old| &old == contents) {
            report.unchanged += 1;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io("create directory", parent))?;
        }
        // Write to a sibling then rename, so an interrupted run never leaves half a file.
        let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("file")));
        std::fs::write(&tmp, contents).map_err(Error::io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))?;
        report.written.push(relative.clone());
    }
    if prune {
        for orphan in existing_sources(root).into_iter().filter(|f| !files.contains_key(f)) {
            let path = root.join(&orphan);
            std::fs::remove_file(&path).map_err(Error::io("remove orphan", &path))?;
            if let Some(parent) = path.parent() {
                // Remove the folder of a hardware that no longer has modules; ignore non-empty.
                let _ = std::fs::remove_dir(parent);
            }
            report.removed.push(orphan);
        }
    }
    Ok(report)
}

/// Lists files that are missing, differ, or are orphans; empty means fresh.
pub fn check(root: &Path, files: &BTreeMap<String, String>) -> Vec<String> {
    let mut stale = Vec::new();
    for (relative, contents) in files {
        match std::fs::read_to_string(root.join(relative)) {
            Ok(old) if &old == contents => {}
            Ok(_) => stale.push(format!("  differs: {relative}")),
            Err(_) => stale.push(format!("  missing: {relative}")),
        }
    }
    for orphan in existing_sources(root).into_iter().filter(|f| !files.contains_key(f)) {
        stale.push(format!("  orphan:  {orphan}"));
    }
    stale
}
