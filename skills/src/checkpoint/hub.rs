//! Resolves a hub id (`google-bert/bert-base-uncased`, optionally `@revision`) to a snapshot
//! directory of the local Hugging Face cache, laid out as `huggingface_hub` writes it. Never
//! touches the network: what is not in the cache is an error naming what would put it there.

use std::path::{Path, PathBuf};

use runtime::error::{Error, Result};

/// The hub cache directory: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
/// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub` (huggingface_hub's order).
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    cache_dir_from(var("HF_HUB_CACHE"), var("HF_HOME"), var("XDG_CACHE_HOME"), var("HOME"))
}

/// [`cache_dir`] from explicit variables (tests pass their own).
pub fn cache_dir_from(
    hub_cache: Option<PathBuf>,
    hf_home: Option<PathBuf>,
    xdg_cache: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    hub_cache
        .or_else(|| hf_home.map(|home| home.join("hub")))
        .or_else(|| xdg_cache.map(|cache| cache.join("huggingface/hub")))
        .or_else(|| home.map(|home| home.join(".cache/huggingface/hub")))
}

/// Whether `source` reads as a hub id (`name`, `owner/name`, each with an optional
/// `@revision`) rather than a path: letters, digits, `-`, `_`, `.`, at most one `/`, not
/// starting with `.` or `/`.
pub fn looks_like_id(source: &str) -> bool {
    let (id, revision) = split_revision(source);
    let valid = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let parts: Vec<&str> = id.split('/').collect();
    parts.len() <= 2 && parts.iter().all(|p| valid(p)) && revision.is_none_or(valid)
}

fn split_revision(source: &str) -> (&str, Option<&str>) {
    match source.split_once('@') {
        Some((id, revision)) => (id, Some(revision)),
        None => (source, None),
    }
}

/// The snapshot directory of `id` (`owner/name[@revision]`, revision `main` by default) in
/// the hub cache `cache`: `models--owner--name/snapshots/<commit>`, where `<commit>` is
/// `refs/<revision>`'s content, or the revision itself when it is a commit held in the cache.
pub fn resolve(id: &str, cache: &Path) -> Result<PathBuf> {
    let (name, revision) = split_revision(id);
    let revision = revision.unwrap_or("main");
    // Both are joined into paths: a `..` or an absolute path would leave the cache.
    let escapes = |part: &str| {
        part.is_empty() || part.starts_with('/') || part.split('/').any(|segment| segment == ".." || segment == ".")
    };
    if escapes(name) || escapes(revision) {
        return Err(Error::Checkpoint {
            path: cache.to_path_buf(),
            message: format!(
                "`{id}` is no hub id: give `owner/name` or `owner/name@revision`, with no `..` or leading `/`"
            ),
        });
    }
    let repo = cache.join(format!("models--{}", name.replace('/', "--")));
    let fetch_hint = format!("put it there with `huggingface-cli download {name}` on a machine with network (or copy the folder), or pass the checkpoint directory itself");
    if !repo.is_dir() {
        return Err(Error::Checkpoint {
            path: repo,
            message: format!("`{name}` is not in the local Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub; nothing is downloaded): {fetch_hint}"),
        });
    }
    let reference = repo.join("refs").join(revision);
    let commit = match std::fs::read_to_string(&reference) {
        Ok(text) => text.trim().to_string(),
        Err(_) if repo.join("snapshots").join(revision).is_dir() => revision.to_string(),
        Err(_) => {
            return Err(Error::Checkpoint { path: reference, message: format!("revision `{revision}` of `{name}` is not in the cache (no such ref, and no snapshot of that commit): {fetch_hint}") });
        }
    };
    // A ref file holds a commit hash; anything else (a path) is not followed.
    if reference.is_file() && (commit.is_empty() || !commit.chars().all(|c| c.is_ascii_alphanumeric())) {
        return Err(Error::Checkpoint {
            path: reference,
            message: format!(
                "holds `{}`, not a commit hash: the cache is damaged; download `{name}` again",
                commit.escape_debug()
            ),
        });
    }
    let snapshot = repo.join("snapshots").join(&commit);
    if !snapshot.is_dir() {
        return Err(Error::Checkpoint {
            path: snapshot,
            message: format!("`{name}`@{revision} points to commit {commit}, whose snapshot is missing: {fetch_hint}"),
        });
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_huggingface_hubs_order_of_variables() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(cache_dir_from(p("/hub"), p("/hf"), p("/xdg"), p("/home")), p("/hub"));
        assert_eq!(cache_dir_from(None, p("/hf"), p("/xdg"), p("/home")), p("/hf/hub"));
        assert_eq!(cache_dir_from(None, None, p("/xdg"), p("/home")), p("/xdg/huggingface/hub"));
        assert_eq!(cache_dir_from(None, None, None, p("/home")), p("/home/.cache/huggingface/hub"));
        assert_eq!(cache_dir_from(None, None, None, None), None);
    }

    #[test]
    fn tells_ids_from_paths() {
        for id in ["bert-base-uncased", "google-bert/bert-base-uncased", "org/model@v1.0", "Qwen/Qwen2.5-0.5B"] {
            assert!(looks_like_id(id), "{id}");
        }
        for path in ["./ckpt", "/abs/dir", "a/b/c", "../up", "org/", "with space/x", "x@"] {
            assert!(!looks_like_id(path), "{path}");
        }
    }

    #[test]
    fn resolves_refs_and_commits_and_names_what_is_missing() {
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--org--tiny");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/abc123")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123\n").unwrap();
        assert_eq!(resolve("org/tiny", cache.path()).unwrap(), repo.join("snapshots/abc123"));
        assert_eq!(resolve("org/tiny@abc123", cache.path()).unwrap(), repo.join("snapshots/abc123"));

        let absent = resolve("org/other", cache.path()).unwrap_err().to_string();
        assert!(
            absent.contains("models--org--other") && absent.contains("not in the local Hugging Face cache"),
            "{absent}"
        );
        let revision = resolve("org/tiny@v2", cache.path()).unwrap_err().to_string();
        assert!(revision.contains("revision `v2`"), "{revision}");
        std::fs::write(repo.join("refs/main"), "def456").unwrap();
        let dangling = resolve("org/tiny", cache.path()).unwrap_err().to_string();
        assert!(dangling.contains("def456") && dangling.contains("snapshot is missing"), "{dangling}");
    }

    #[test]
    fn a_ref_or_an_id_that_would_leave_the_cache_is_refused() {
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--org--tiny");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(cache.path().join("outside")).unwrap();
        // A damaged or hostile ref pointing out of the snapshots folder.
        std::fs::write(repo.join("refs/main"), "../../outside").unwrap();
        let error = resolve("org/tiny", cache.path()).unwrap_err().to_string();
        assert!(error.contains("not a commit hash"), "{error}");
        for id in ["org/tiny@../../outside", "../org/tiny", "org/tiny@/etc"] {
            let error = resolve(id, cache.path()).unwrap_err().to_string();
            assert!(error.contains("is no hub id"), "{id}: {error}");
        }
    }
}
