//! The DuckDB template store: sync with history, selection by specificity, bad paths.

mod common;

use generator::metadata::Metadata;
use generator::render::Renderer;
use generator::{plans, Selection};

#[test]
fn sync_records_additions_changes_and_removals_in_history() {
    let (dir, ws) = common::scratch();
    let (_, first) = ws.synced_store().unwrap();
    assert!(first.added.contains(&"base.rs.tera".to_string()), "{first:?}");
    let (_, again) = ws.synced_store().unwrap();
    assert!(again.added.is_empty() && again.changed.is_empty() && again.unchanged == first.added.len());

    let family = dir.path().join("templates/family/decoder-only.rs.tera");
    let body = std::fs::read_to_string(&family).unwrap();
    std::fs::write(&family, format!("{body}\n{{# a reviewed change #}}\n")).unwrap();
    let (store, changed) = ws.synced_store().unwrap();
    assert_eq!(changed.changed, vec!["family/decoder-only.rs.tera"]);
    let history = store.history("family/decoder-only.rs.tera").unwrap();
    assert_eq!(
        history.iter().map(|h| (h.version, h.change.as_str())).collect::<Vec<_>>(),
        vec![(1, "added"), (2, "changed")]
    );
    assert_eq!(store.get("family/decoder-only.rs.tera").unwrap().version, 2);
    drop(store);

    std::fs::remove_file(&family).unwrap();
    let (store, removed) = ws.synced_store().unwrap();
    assert_eq!(removed.removed, vec!["family/decoder-only.rs.tera"]);
    assert!(store.get("family/decoder-only.rs.tera").is_err());
    assert_eq!(store.history("family/decoder-only.rs.tera").unwrap().last().unwrap().change, "removed");
}

#[test]
fn selection_prefers_the_most_specific_template() {
    let (dir, ws) = common::scratch();
    let templates = dir.path().join("templates");
    let extend = "{% extends \"base.rs.tera\" %}\n";
    std::fs::create_dir_all(templates.join("model/bert")).unwrap();
    std::fs::create_dir_all(templates.join("family/vision")).unwrap();
    std::fs::create_dir_all(templates.join("hardware")).unwrap();
    std::fs::write(templates.join("model/bert/cpu.rs.tera"), extend).unwrap();
    std::fs::write(templates.join("family/vision/cuda.rs.tera"), extend).unwrap();
    std::fs::write(templates.join("family/vision.rs.tera"), extend).unwrap();
    std::fs::write(templates.join("hardware/mps.rs.tera"), extend).unwrap();
    let (store, _) = ws.synced_store().unwrap();
    let renderer = Renderer::new(store.list().unwrap()).unwrap();
    let metadata = Metadata::load(&ws.root).unwrap();
    let chosen = |model: &str, hw: &str| {
        let plan =
            plans(&metadata, &Selection { models: vec![model.into()], hardware: vec![hw.into()] }).unwrap().remove(0);
        renderer.select(&plan).unwrap().name.clone()
    };
    assert_eq!(chosen("bert", "cpu"), "model/bert/cpu.rs.tera");
    assert_eq!(chosen("bert", "mps"), "hardware/mps.rs.tera");
    assert_eq!(chosen("bert", "cuda"), "base.rs.tera");
    assert_eq!(chosen("vit", "cuda"), "family/vision/cuda.rs.tera");
    assert_eq!(chosen("vit", "rocm"), "family/vision.rs.tera");
    assert_eq!(chosen("llama", "rocm"), "family/decoder-only.rs.tera");
    // A family template that would hide a hardware template's blocks is an error naming the fix.
    let shadowed = |model: &str, hw: &str| {
        let plan =
            plans(&metadata, &Selection { models: vec![model.into()], hardware: vec![hw.into()] }).unwrap().remove(0);
        renderer.select(&plan).expect_err("a family template must not hide a hardware template").to_string()
    };
    let message = shadowed("vit", "mps");
    assert!(
        message.contains("`family/vision.rs.tera` outranks `hardware/mps.rs.tera` for model `vit` on `mps`"),
        "{message}"
    );
    assert!(message.contains("write `family/vision/mps.rs.tera`"), "{message}");
    assert!(shadowed("llama", "mps").contains("`family/decoder-only.rs.tera` outranks `hardware/mps.rs.tera`"));
}

#[test]
fn a_family_template_that_extends_the_hardware_template_keeps_its_blocks() {
    let (dir, ws) = common::scratch();
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(templates.join("hardware")).unwrap();
    let hardware_doc =
        "{% extends \"base.rs.tera\" %}\n{% block module_doc -%}\n//! hardware doc\n{%- endblock module_doc %}\n";
    std::fs::write(templates.join("hardware/mps.rs.tera"), hardware_doc).unwrap();
    std::fs::write(templates.join("family/vision.rs.tera"), "{% extends \"hardware/mps.rs.tera\" %}\n").unwrap();
    let (store, _) = ws.synced_store().unwrap();
    let renderer = Renderer::new(store.list().unwrap()).unwrap();
    let metadata = Metadata::load(&ws.root).unwrap();
    let plan =
        plans(&metadata, &Selection { models: vec!["vit".into()], hardware: vec!["mps".into()] }).unwrap().remove(0);
    assert_eq!(renderer.select(&plan).unwrap().name, "family/vision.rs.tera");
    assert!(renderer.render(&plan).unwrap().contains("hardware doc"));
}

#[test]
fn a_template_in_an_unknown_place_is_an_error_naming_it() {
    let (dir, ws) = common::scratch();
    std::fs::write(dir.path().join("templates/stray.rs.tera"), "x").unwrap();
    let message = ws.synced_store().err().expect("unknown template path must fail").to_string();
    assert!(message.contains("`stray.rs.tera` is not a recognised template path"), "{message}");
}

#[test]
fn the_override_example_in_the_docs_is_the_compiled_decoder_only_template() {
    let docs = std::fs::read_to_string(common::repo().join("docs/templates.md")).unwrap();
    let start = docs.find("```tera\n").expect("docs/templates.md has a ```tera example") + "```tera\n".len();
    let end = start + docs[start..].find("\n```").unwrap();
    let template = std::fs::read_to_string(common::repo().join("templates/family/decoder-only.rs.tera")).unwrap();
    assert_eq!(
        &docs[start..end],
        template.trim_end_matches('\n'),
        "docs/templates.md's example drifted from templates/family/decoder-only.rs.tera; paste the file into the docs"
    );
}
