//! The smoke tier resolved from the repository's metadata: what it must cover, and that it
//! depends on nothing but the metadata.

mod common;

use std::collections::BTreeSet;

use generator::metadata::schema::yaml_name;
use generator::metadata::tiers::{nextest_toml, resolve_smoke, SmokeProfile, NEXTEST_MARKER};
use generator::metadata::{Metadata, ModelFile};

fn metadata() -> Metadata {
    Metadata::load(&common::repo()).expect("repository metadata is valid")
}

#[test]
fn smoke_set_holds_every_key_model_a_sample_of_sixty_and_covers_every_family_and_modality() {
    let metadata = metadata();
    let smoke: BTreeSet<String> = metadata.smoke_set().into_iter().collect();
    let modelled: Vec<&ModelFile> = metadata.modelled().collect();
    let keys: Vec<&str> = modelled.iter().filter(|f| f.model.key_model).map(|f| f.model.model_type.as_str()).collect();
    assert_eq!(keys.len(), 13);
    for key in &keys {
        assert!(smoke.contains(*key), "key model {key} is missing from the smoke set");
    }
    assert!(smoke.len() >= keys.len() + 60, "{} types", smoke.len());
    let in_smoke = |f: &&&ModelFile| smoke.contains(&f.model.model_type);
    let families = |files: &mut dyn Iterator<Item = &&ModelFile>| {
        files.map(|f| yaml_name(&f.model.family)).collect::<BTreeSet<_>>()
    };
    assert_eq!(
        families(&mut modelled.iter().filter(in_smoke)),
        families(&mut modelled.iter()),
        "every family present in the zoo"
    );
    let modalities = |files: &mut dyn Iterator<Item = &&ModelFile>| {
        files.flat_map(|f| f.model.modality.iter().map(yaml_name)).collect::<BTreeSet<_>>()
    };
    assert_eq!(
        modalities(&mut modelled.iter().filter(in_smoke)),
        modalities(&mut modelled.iter()),
        "every modality present in the zoo"
    );
}

/// A slow mark keeps one cell out: the model stays in the smoke set and runs on every other
/// hardware; the profile's filter drops only its slow hardware's tests.
#[test]
fn a_slow_cell_leaves_the_smoke_tier_on_its_hardware_only() {
    let metadata = metadata();
    let slow = metadata.slow_cells();
    assert!(!slow.is_empty(), "metadata/tiers.yaml has slow marks");
    let toml = std::fs::read_to_string(common::repo().join(".config/nextest.toml")).unwrap();
    let profile = metadata.smoke_profile(&metadata.smoke_set());
    for cell in &slow {
        let (hardware, module) = cell.split_once("::").unwrap();
        let selected = if metadata.tiers.smoke.key_models_only.iter().any(|id| id == hardware) {
            &profile.key_modules
        } else {
            &profile.modules
        };
        let listed = toml.contains(&format!("|{cell}|"))
            || toml.contains(&format!("({cell}|"))
            || toml.contains(&format!("|{cell})"))
            || toml.contains(&format!("({cell})"));
        assert_eq!(
            listed,
            selected.iter().any(|m| m == module),
            "the smoke profile's filter drops {cell} exactly when the rest of it selects that cell:\n{toml}"
        );
    }
    let existing = format!("{NEXTEST_MARKER}\n");
    let profile = SmokeProfile {
        modules: vec!["bert".into(), "vit".into()],
        slow_cells: vec!["webgpu::vit".into()],
        ..SmokeProfile::default()
    };
    let toml = nextest_toml(&existing, &profile).unwrap();
    assert!(
        toml.contains("default-filter = \"not package(generated) | (test(/^[a-z0-9_]+::(bert|vit)::/) & not test(/^(webgpu::vit)::/))\""),
        "{toml}"
    );
}

/// A key-models-only hardware runs the key models' tests there and the whole set elsewhere; a
/// slow mark of a model it does not run there adds nothing to the filter.
#[test]
fn a_key_models_only_hardware_runs_the_key_models_there_and_the_whole_set_elsewhere() {
    let metadata = metadata();
    assert_eq!(metadata.tiers.smoke.key_models_only, ["webgpu"], "metadata/tiers.yaml");
    assert_eq!(metadata.tiers.smoke.without_typed_skill, ["webgpu"], "metadata/tiers.yaml");
    assert_eq!(metadata.tiers.smoke.without_generation, ["webgpu"], "metadata/tiers.yaml");
    let profile = metadata.smoke_profile(&metadata.smoke_set());
    assert_eq!(profile.key_modules.len(), 13);
    assert!(profile.key_modules.iter().all(|m| profile.modules.contains(m)));
    let profile = SmokeProfile {
        modules: vec!["bert".into(), "bamba".into(), "vit".into()],
        key_modules: vec!["bert".into(), "vit".into()],
        key_models_only: vec!["webgpu".into()],
        slow_cells: vec!["webgpu::bamba".into(), "webgpu::vit".into(), "openvino::bamba".into()],
        ..SmokeProfile::default()
    };
    assert_eq!(
        profile.filter(),
        "(((not test(/^(webgpu)::/) & test(/^[a-z0-9_]+::(bert|bamba|vit)::/)) | test(/^(webgpu)::(bert|vit)::/)) & not test(/^(webgpu::vit|openvino::bamba)::/))"
    );
}

/// A hardware without the typed-skill test keeps its other tests in the smoke tier.
#[test]
fn a_hardware_without_the_typed_skill_test_keeps_its_engine_checks() {
    let profile = SmokeProfile {
        modules: vec!["bert".into()],
        without_typed_skill: vec!["webgpu".into()],
        ..SmokeProfile::default()
    };
    assert_eq!(
        profile.filter(),
        "(test(/^[a-z0-9_]+::(bert)::/) & not test(/^(webgpu)::[a-z0-9_]+::tests::typed_skill_matches_reference$/))"
    );
}

/// A hardware without the generation test keeps its forward checks and typed skill.
#[test]
fn a_hardware_without_the_generation_test_keeps_its_other_tests() {
    let profile = SmokeProfile {
        modules: vec!["llama".into()],
        without_typed_skill: vec!["webgpu".into()],
        without_generation: vec!["webgpu".into(), "webnn".into()],
        ..SmokeProfile::default()
    };
    assert_eq!(
        profile.filter(),
        "((test(/^[a-z0-9_]+::(llama)::/) & not test(/^(webgpu)::[a-z0-9_]+::tests::typed_skill_matches_reference$/)) & not test(/^(webgpu|webnn)::[a-z0-9_]+::tests::generates_as_transformers$/))"
    );
}

#[test]
fn smoke_set_is_stable_in_order_and_changes_with_the_salt() {
    let metadata = metadata();
    let mut modelled: Vec<&ModelFile> = metadata.modelled().collect();
    let first = resolve_smoke(&metadata.tiers, &modelled);
    modelled.reverse();
    assert_eq!(resolve_smoke(&metadata.tiers, &modelled), first, "input order must not matter");
    let mut other = metadata.tiers.clone();
    other.smoke.salt.push_str("-other");
    let second = resolve_smoke(&other, &modelled);
    assert_eq!(second.len(), first.len());
    assert_ne!(second, first, "another salt draws another sample");
    let mut bigger = metadata.tiers.clone();
    bigger.smoke.sample += 10;
    let grown = resolve_smoke(&bigger, &modelled);
    assert_eq!(grown.len(), first.len() + 10);
    assert!(first.iter().all(|m| grown.contains(m)), "a larger sample keeps the smaller one");
}

#[test]
fn nextest_profile_keeps_the_header_and_filters_the_smoke_modules() {
    let existing = format!("# hand-written\n[profile.ci]\nfail-fast = false\n\n{NEXTEST_MARKER}\nstale = true\n");
    let profile = SmokeProfile { modules: vec!["bert".into(), "xlm_roberta".into()], ..SmokeProfile::default() };
    let toml = nextest_toml(&existing, &profile).unwrap();
    assert!(toml.starts_with("# hand-written\n[profile.ci]"));
    assert!(!toml.contains("stale"));
    assert!(
        toml.contains("default-filter = \"not package(generated) | test(/^[a-z0-9_]+::(bert|xlm_roberta)::/)\""),
        "{toml}"
    );
    let err = nextest_toml("[profile.ci]\n", &SmokeProfile::default()).unwrap_err();
    assert!(err.contains("lacks the marker line"), "{err}");
}

#[test]
fn a_slow_mark_for_an_unknown_model_or_hardware_is_reported_with_file_and_field() {
    let (dir, _ws) = common::scratch();
    let path = dir.path().join("metadata/tiers.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}  no_such_model:\n    tpu:\n      seconds: 0\n      why: test\n")).unwrap();
    let error = Metadata::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("metadata/tiers.yaml"), "{error}");
    assert!(error.contains("slow mark for `no_such_model`, which has no metadata"), "{error}");
    assert!(error.contains("unknown hardware `tpu`"), "{error}");
    assert!(error.contains("seconds must be a measured time"), "{error}");
    std::fs::write(&path, "smoke: {sample: 5, salt: x, key_models_only: [cpu, tpu], without_typed_skill: [gpu]}\n")
        .unwrap();
    let error = Metadata::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("smoke.key_models_only[1]") && error.contains("unknown hardware `tpu`"), "{error}");
    assert!(error.contains("smoke.without_typed_skill[0]") && error.contains("unknown hardware `gpu`"), "{error}");
    std::fs::write(&path, "smoke: {sample: 5, salt: x, extra: 1}\n").unwrap();
    let error = Metadata::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("unknown field `extra`"), "{error}");
}
