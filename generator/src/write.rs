//! Writes the output set: only changed files, orphans removed; or checks it (`--check`).

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

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

/// The folders whose files of one extension the generator owns whole: a file there that it did
/// not render is an orphan.
const OWNED: [(&str, &str); 2] = [("generated/src", "rs"), (crate::REQUESTS_DIR, "json")];

/// Whether `relative` (a path relative to the root) lies in a folder the generator owns whole.
pub fn is_owned_source(relative: &str) -> bool {
    OWNED.iter().any(|(dir, extension)| {
        relative.starts_with(&format!("{dir}/")) && relative.ends_with(&format!(".{extension}"))
    })
}

/// Generated files (relative to `root`), sorted: the `.rs` files under `generated/src` and the
/// requests under `generated/requests`.
pub fn existing_sources(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<_> = OWNED.iter().map(|(dir, extension)| (root.join(dir), *extension)).collect();
    while let Some((dir, extension)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push((path, extension));
            } else if path.extension().is_some_and(|ext| ext == extension) {
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
    // Files are independent: compared and written in parallel, then reported in path order.
    let outcomes: Vec<Result<Option<String>>> = files
        .par_iter()
        .map(|(relative, contents)| {
            let path = root.join(relative);
            match std::fs::read(&path) {
                Ok(old) if old == contents.as_bytes() => return Ok(None),
                // An existing file is replaced through a sibling and a rename, so an
                // interrupted run never leaves it half-written.
                Ok(_) => {
                    let tmp = path.with_file_name(format!(
                        ".{}.tmp",
                        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
                    ));
                    std::fs::write(&tmp, contents).map_err(Error::io("write", &tmp))?;
                    std::fs::rename(&tmp, &path).map_err(Error::io("rename", &path))?;
                }
                // A new file is written in place: cut short, it differs from what the next
                // run renders, which rewrites it (and `--check` names it meanwhile).
                Err(_) => {
                    if let Some(parent) = path.parent().filter(|p| !p.is_dir()) {
                        std::fs::create_dir_all(parent).map_err(Error::io("create directory", parent))?;
                    }
                    std::fs::write(&path, contents).map_err(Error::io("write", &path))?;
                }
            }
            Ok(Some(relative.clone()))
        })
        .collect();
    for outcome in outcomes {
        match outcome? {
            Some(written) => report.written.push(written),
            None => report.unchanged += 1,
        }
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
