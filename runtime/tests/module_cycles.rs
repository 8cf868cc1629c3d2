//! No circles between modules: in each hand-written library crate, the graph of its top-level
//! modules (an edge where a module's non-test code names `crate::other`, or `super::other` where
//! `super` is the crate root) has no cycle. Checked on scratch crates first, so a circle added
//! anywhere is seen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module -> the top-level modules its non-test code names.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The code of a file without its `#[cfg(test)]` tail (tests may name any module) and without
/// comment lines (a doc link names a module without using it).
fn code_of(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    code.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The names that follow the crate root in `text`: `crate::a::b` gives `a`, `crate::{a, b::c}`
/// gives `a` and `b`; in a module `depth` levels below the root, so does `super::` repeated
/// `depth` times (`super::a` in `src/x.rs` or `src/x/mod.rs`).
fn crate_paths(text: &str, depth: usize) -> Vec<String> {
    let mut names = Vec::new();
    let root_by_super = "super::".repeat(depth);
    let mut rest = text;
    while let Some((at, root)) = ["crate::", root_by_super.as_str()]
        .into_iter()
        .filter(|root| !root.is_empty())
        .filter_map(|root| rest.find(root).map(|at| (at, root)))
        .min()
    {
        let preceded_by_ident =
            rest[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        rest = &rest[at + root.len()..];
        if preceded_by_ident || rest.starts_with("super::") {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                names.push(name);
            }
        } else {
            names.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    names.into_iter().filter(|name| !name.is_empty()).collect()
}

/// The graph of the crate whose sources are in `src` (`lib.rs` and one file or folder per
/// module). A capitalised name (`crate::Hardware`) is resolved through `lib.rs`'s `pub use`.
fn graph(src: &Path) -> Graph {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let mut reexports = BTreeMap::new();
    for line in lib.lines().map(str::trim).filter_map(|line| line.strip_prefix("pub use ")) {
        let Some((module, items)) = line.split_once("::") else { continue };
        for item in items.trim_end_matches(';').trim_matches(|c| c == '{' || c == '}').split(',') {
            reexports.insert(item.trim().to_string(), module.to_string());
        }
    }
    let mut graph = Graph::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path == src.join("lib.rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let module =
                relative.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
            let depth = relative.components().count() - usize::from(path.ends_with("mod.rs"));
            let text = std::fs::read_to_string(&path).unwrap();
            let targets = graph.entry(module.clone()).or_default();
            for name in crate_paths(&code_of(&text), depth) {
                let target = reexports.get(&name).cloned().unwrap_or(name);
                if target != module {
                    targets.insert(target);
                }
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    graph.values_mut().for_each(|targets| targets.retain(|t| modules.contains(t)));
    graph
}

/// The graph's cycles: every strongly connected set of more than one module (or a module that
/// names itself), each sorted.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = graph[from].iter().map(String::as_str).collect();
        while let Some(next) = stack.pop() {
            if seen.insert(next.to_string()) {
                stack.extend(graph[next].iter().map(String::as_str));
            }
        }
        seen
    };
    let reachable: BTreeMap<&str, BTreeSet<String>> = graph.keys().map(|m| (m.as_str(), reach(m))).collect();
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    for (module, seen) in &reachable {
        let set: Vec<String> =
            seen.iter().filter(|other| reachable[other.as_str()].contains(*module)).cloned().collect();
        if !set.is_empty() {
            found.insert(set);
        }
    }
    found.into_iter().collect()
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_circle_between_modules_is_found_and_test_code_and_one_way_uses_are_not_circles() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    write(src, "lib.rs", "pub mod a;\npub mod b;\npub mod c;\npub use c::{Thing, Other};\n");
    write(src, "a.rs", "use crate::b::f;\n");
    write(src, "b/mod.rs", "pub mod inner;\n");
    write(src, "b/inner.rs", "use crate::{c::g, Thing};\n#[cfg(test)]\nmod tests { use crate::a; }\n");
    write(src, "c.rs", "pub struct Thing; pub struct Other;\n");
    assert_eq!(cycles(&graph(src)), Vec::<Vec<String>>::new(), "a -> b -> c, and b's tests name a");
    write(src, "c.rs", "pub struct Thing; pub struct Other;\nfn h() { crate::a::x(); }\n");
    assert_eq!(cycles(&graph(src)), vec![vec!["a".to_string(), "b".into(), "c".into()]], "c -> a closes a circle");
    write(src, "c.rs", "pub struct Thing;\n");
    write(src, "a.rs", "use crate::Other;\n");
    write(src, "lib.rs", "pub mod a;\npub mod c;\npub use a::Other;\npub use c::Thing;\n");
    assert!(cycles(&graph(src)).is_empty(), "a name re-exported by lib.rs resolves to its module");
    write(src, "c.rs", "pub struct Thing;\nuse super::b::inner;\n");
    assert_eq!(cycles(&graph(src)).len(), 1, "`super::` in a top-level module is the crate root");
    write(src, "c.rs", "pub struct Thing;\n/// Like [`crate::a::Other`].\n// crate::a\n");
    assert!(cycles(&graph(src)).is_empty(), "comments name no module");
    std::fs::remove_file(src.join("c.rs")).unwrap();
    write(src, "c/mod.rs", "pub mod deep;\npub struct Thing;\n");
    write(src, "c/deep.rs", "use super::super::b::inner;\nuse super::Thing;\n");
    assert_eq!(
        cycles(&graph(src)).len(),
        1,
        "`super::super::` two levels down is the crate root; `super::` there is c"
    );
}

#[test]
fn no_circle_between_modules_in_any_library_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for krate in [
        "runtime/src",
        "hfzoo/src",
        "skills/src",
        "bench/core/src",
        "generator/src",
        "request/src",
        "tensor/src",
        "browser/src",
    ] {
        let found = cycles(&graph(&root.join(krate)));
        assert!(found.is_empty(), "{krate}: modules in a circle: {found:?}");
    }
}
