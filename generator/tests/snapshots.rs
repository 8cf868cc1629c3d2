//! insta snapshots reviewers read: every model's resolved plan, the rendered modules of the
//! key models on every generated hardware, and the error messages for broken metadata.

mod common;

use generator::metadata::Metadata;
use generator::render::Renderer;
use generator::{plans, Selection, Workspace};

macro_rules! in_snapshots {
    ($body:block) => {
        insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false, omit_expression => true }, $body)
    };
}

#[test]
fn plan_of_every_key_model() {
    // Harvested models are reviewed through generated/ itself (checked in, `--check`ed); the
    // curated key models also get plan snapshots.
    let metadata = Metadata::load(&common::repo()).unwrap();
    for file in metadata.models.iter().filter(|f| f.model.key_model) {
        let model = &file.model.model_type;
        let selection = Selection { models: vec![model.clone()], hardware: vec![] };
        let plans = plans(&metadata, &selection).unwrap();
        in_snapshots!({
            insta::assert_yaml_snapshot!(format!("plan__{model}"), plans);
        });
    }
}

#[test]
fn rendered_modules_of_key_models() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::new(common::repo(), Some(dir.path().join("store.duckdb")));
    let metadata = Metadata::load(&ws.root).unwrap();
    let (store, _) = ws.synced_store().unwrap();
    let renderer = Renderer::new(store.list().unwrap()).unwrap();
    let key: Vec<String> =
        metadata.models.iter().filter(|f| f.model.key_model).map(|f| f.model.model_type.clone()).collect();
    assert_eq!(key.len(), 13, "the 13 key models: {key:?}");
    let mut specs = std::collections::BTreeSet::new();
    for plan in plans(&metadata, &Selection { models: key, hardware: vec![] }).unwrap() {
        if specs.insert(plan.model_type.clone()) {
            let spec = renderer.render_spec(&plan).unwrap();
            in_snapshots!({
                insta::assert_snapshot!(format!("spec__{}", plan.model_type), spec);
            });
        }
        let code = renderer.render(&plan).unwrap();
        in_snapshots!({
            insta::assert_snapshot!(format!("module__{}__{}", plan.hardware.id, plan.model_type), code);
        });
    }
}

#[test]
fn errors_for_broken_metadata() {
    insta::glob!("fixtures/broken/*.yaml", |path| {
        let (dir, _) = common::scratch();
        let models = dir.path().join("metadata/models");
        std::fs::remove_dir_all(&models).unwrap();
        std::fs::create_dir_all(&models).unwrap();
        std::fs::copy(path, models.join(path.file_name().unwrap())).unwrap();
        let error = Metadata::load(dir.path()).expect_err("broken metadata must not load");
        in_snapshots!({
            insta::assert_snapshot!(error.to_string());
        });
    });
}

#[test]
fn every_snapshot_file_is_referenced() {
    // The equivalent of `cargo insta test --unreferenced=reject`, without installing cargo-insta.
    let metadata = Metadata::load(&common::repo()).unwrap();
    let mut expected = std::collections::BTreeSet::new();
    for file in &metadata.models {
        if file.model.key_model {
            expected.insert(format!("plan__{}.snap", file.model.model_type));
            expected.insert(format!("spec__{}.snap", file.model.model_type));
            for hw in metadata.generated_hardware() {
                expected.insert(format!("module__{}__{}.snap", hw.id, file.model.model_type));
            }
        }
    }
    for fixture in std::fs::read_dir(common::repo().join("generator/tests/fixtures/broken")).unwrap() {
        expected.insert(format!("errors_for_broken_metadata@{}.snap", fixture.unwrap().file_name().to_string_lossy()));
    }
    let found: std::collections::BTreeSet<String> = std::fs::read_dir(common::repo().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let orphans: Vec<&String> = found.difference(&expected).collect();
    let missing: Vec<&String> = expected.difference(&found).collect();
    assert!(
        orphans.is_empty() && missing.is_empty(),
        "unreferenced snapshots {orphans:?}; missing snapshots {missing:?}"
    );
}
