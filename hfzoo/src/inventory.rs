//! What the shared artifact cache holds, and pruning what no current request uses
//! (`hfzoo cache info` / `hfzoo cache prune`).
//!
//! An entry is a directory `<model>-<format>-<device>-<key>`; an entry is *used* when one of
//! the current requests, in some format on some export device, resolves to that very name.
//! Leftovers of an exporter that died (`*.tmp-<pid>*` directories, `*.started` markers) are
//! stale whenever the export lock is held, so pruning (which holds it) removes them too.
//!
//! Other checkouts and running tests share the cache and may use entries this checkout's
//! requests do not: pruning removes an unused entry only when no reader anywhere has used it
//! for a stated time (`hfzoo cache prune --unused-days N`, default 7). Every reader marks its
//! use (`ArtifactCache::ready` sets the entry's `.used` time, at most once an hour), so a
//! checkout that reads an entry keeps it from being pruned under it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use runtime::artifacts::{ArtifactCache, ArtifactFormat, LOCKS_DIR, LOCK_FILE, USED_MARK};
use runtime::error::{Error, Result};
use runtime::Hardware;

/// One directory or file of the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its path.
    pub path: PathBuf,
    /// Bytes on disk (files summed recursively).
    pub bytes: u64,
    /// What it is.
    pub kind: EntryKind,
    /// When a reader last used it (its `.used` mark, else its manifest's or its own time).
    pub last_used: Option<std::time::SystemTime>,
}

/// How the inventory classifies an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// An artifact some current request resolves to.
    Used,
    /// An artifact no current request resolves to (another commit's, an old exporter's).
    Unused,
    /// A temporary directory or marker an interrupted exporter left.
    Leftover,
}

/// The cache's entries, classified against a set of requests.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Every entry, sorted by path.
    pub entries: Vec<Entry>,
}

impl Inventory {
    /// Entries of one kind: (count, bytes).
    pub fn total(&self, kind: EntryKind) -> (usize, u64) {
        self.entries.iter().filter(|e| e.kind == kind).fold((0, 0), |(n, b), e| (n + 1, b + e.bytes))
    }

    /// Every entry's bytes.
    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.bytes).sum()
    }
}

/// The directory names the requests resolve to, in every format on every export device.
pub fn used_names<'a>(
    cache: &ArtifactCache,
    requests: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeSet<String> {
    let devices: BTreeSet<Hardware> = {
        let mut seen = BTreeSet::new();
        Hardware::ALL.iter().copied().filter(|hw| seen.insert(hw.export_device())).collect()
    };
    let mut names = BTreeSet::new();
    for (model, request) in requests {
        for format in ArtifactFormat::ALL {
            for hardware in &devices {
                let artifact = cache.locate_request(model, request, format, *hardware);
                if let Some(name) = artifact.dir.file_name().and_then(|n| n.to_str()) {
                    names.insert(name.to_string());
                }
            }
        }
    }
    names
}

/// Reads the cache directory and classifies every entry against `used` (from [`used_names`]).
/// A cache directory that does not exist yet is an empty inventory.
pub fn inventory(dir: &Path, used: &BTreeSet<String>) -> Result<Inventory> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Inventory::default()),
        Err(error) => return Err(Error::io("read directory", dir)(error)),
    };
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(Error::io("read directory", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == LOCK_FILE || name == LOCKS_DIR {
            continue;
        }
        let path = entry.path();
        let kind = if name.contains(".tmp-") || name.ends_with(".started") {
            EntryKind::Leftover
        } else if used.contains(&name) {
            EntryKind::Used
        } else {
            EntryKind::Unused
        };
        entries.push(Entry { bytes: size_of(&path), last_used: last_used(&path), path, kind });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Inventory { entries })
}

/// Bytes of a file, or of every file under a directory (links not followed).
pub fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).into_iter().flatten().flatten().map(|entry| size_of(&entry.path())).sum()
}

/// When an entry was last used: its use mark, else its manifest's or its own modification time.
fn last_used(path: &Path) -> Option<std::time::SystemTime> {
    let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    time(&path.join(USED_MARK)).or_else(|| time(&path.join("manifest.json"))).or_else(|| time(path))
}

/// Whether an unused entry has gone unused for at least `unused_for` (read again now: a reader
/// may have marked it since the inventory).
fn idle(entry: &Entry, unused_for: std::time::Duration) -> bool {
    last_used(&entry.path).and_then(|t| t.elapsed().ok()).is_some_and(|age| age >= unused_for)
}

/// Removes every leftover, and every unused entry no reader has used for `unused_for`; call
/// with the export lock held. Returns the entries removed.
pub fn prune(inventory: &Inventory, unused_for: std::time::Duration) -> Result<Vec<Entry>> {
    let mut removed = Vec::new();
    let removable = |e: &&Entry| e.kind == EntryKind::Leftover || (e.kind == EntryKind::Unused && idle(e, unused_for));
    for entry in inventory.entries.iter().filter(removable) {
        let result =
            if entry.path.is_dir() { std::fs::remove_dir_all(&entry.path) } else { std::fs::remove_file(&entry.path) };
        match result {
            Ok(()) => removed.push(entry.clone()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(Error::io("remove", &entry.path)(error)),
        }
    }
    Ok(removed)
}

/// `1.2 GiB`, `340.0 MiB`, `12 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, bytes: usize) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![0u8; bytes]).unwrap();
    }

    #[test]
    fn classifies_used_unused_and_leftovers_and_prunes_all_but_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path().to_path_buf());
        let request = r#"{"model_type":"bert"}"#;
        let used_dir = cache.locate_request("bert", request, ArtifactFormat::Onnx, Hardware::Openvino).dir;
        write(&used_dir.join("model.onnx"), 100);
        write(&used_dir.join("manifest.json"), 10);
        // The same model under an older request: another key, so unused.
        let old = cache
            .locate_request("bert", r#"{"model_type":"bert","old":1}"#, ArtifactFormat::Onnx, Hardware::Openvino)
            .dir;
        write(&old.join("model.onnx"), 50);
        let tmp = PathBuf::from(format!("{}.tmp-4242", used_dir.display()));
        write(&tmp.join("model.onnx"), 7);
        write(&PathBuf::from(format!("{}.started", used_dir.display())), 3);
        write(&dir.path().join(LOCK_FILE), 0);
        write(&dir.path().join(LOCKS_DIR).join("bert-onnx-cpu-0123.lock"), 0);

        let used = used_names(&cache, [("bert", request)]);
        assert!(used.contains(used_dir.file_name().unwrap().to_str().unwrap()));
        let found = inventory(dir.path(), &used).unwrap();
        assert_eq!(found.entries.len(), 4, "the lock files are not entries: {found:?}");
        runtime::artifacts::mark_used(&old);
        assert!(old.join(USED_MARK).is_file(), "a reader's use leaves its mark");
        assert_eq!(found.total(EntryKind::Used), (1, 110));
        assert_eq!(found.total(EntryKind::Unused), (1, 50));
        assert_eq!(found.total(EntryKind::Leftover), (2, 10));
        assert_eq!(found.bytes(), 170);

        // Used elsewhere a moment ago (another checkout's request): kept however long it waits.
        let recent = prune(&found, std::time::Duration::from_secs(3600)).unwrap();
        assert_eq!(recent.len(), 2, "only the leftovers: {recent:?}");
        assert!(old.join("model.onnx").is_file(), "an entry used within the stated time is kept");
        let found = inventory(dir.path(), &used).unwrap();
        let removed = prune(&found, std::time::Duration::ZERO).unwrap();
        assert_eq!(removed.len(), 1);
        assert!(used_dir.join("model.onnx").is_file(), "a used artifact survives pruning");
        assert!(!old.exists() && !tmp.exists());
        assert!(dir.path().join(LOCK_FILE).exists() && dir.path().join(LOCKS_DIR).is_dir());
        let again = inventory(dir.path(), &used).unwrap();
        assert_eq!(again.total(EntryKind::Used), (1, 110));
        assert_eq!(again.entries.len(), 1);
    }

    #[test]
    fn a_missing_cache_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let found = inventory(&dir.path().join("absent"), &BTreeSet::new()).unwrap();
        assert!(found.entries.is_empty());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
