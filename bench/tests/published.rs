//! Published sizes (`bench/published-configs.yaml`): the file reads, every entry names a source and
//! builds with its config class, and `--config` picks one per model or says what is there.

use std::path::Path;

use bench_core::published::{self, PublishedConfigs};
use runtime::Hardware;

fn shipped() -> PublishedConfigs {
    published::read(&published::path()).expect("bench/published-configs.yaml reads")
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_generating_key_models_have_published_sizes_with_their_sources() {
    let configs = shipped();
    for model in ["llama", "qwen2", "t5", "whisper", "llava"] {
        let entries = configs.get(model).unwrap_or_else(|| panic!("{model} has no published size"));
        assert!(!entries.is_empty(), "{model}");
        for entry in entries {
            assert!(
                entry.source.contains('/'),
                "{model} {}: a repository as source, not `{}`",
                entry.name,
                entry.source
            );
        }
    }
    let smollm = published::find(&configs, "llama", "SmolLM2-135M").unwrap();
    assert_eq!(smollm.config["hidden_size"], 576);
    assert_eq!(smollm.config["num_key_value_heads"], 3);
}

#[test]
fn each_model_gets_its_own_name_and_a_wrong_name_lists_the_right_ones() {
    let configs = shipped();
    let models = strings(&["llama", "bert"]);
    let chosen = published::choose(&configs, &models, &strings(&["SmolLM2-135M"])).unwrap();
    assert_eq!(chosen[0].as_ref().map(|c| c.name.as_str()), Some("SmolLM2-135M"));
    assert_eq!(chosen[1], None, "bert keeps its default size");

    let error = published::choose(&configs, &models, &strings(&["Qwen2-0.5B"])).unwrap_err().to_string();
    assert!(error.contains("--config Qwen2-0.5B") && error.contains("llama: SmolLM2-135M"), "{error}");

    let error =
        published::choose(&configs, &strings(&["llama"]), &strings(&["SmolLM2-135M", "TinyLlama-1.1B"])).unwrap_err();
    assert!(error.to_string().contains("2 configurations of `llama`"), "{error}");
}

#[test]
fn a_broken_file_is_refused_naming_the_entry() {
    let path = Path::new("configs.yaml");
    let refused = |text: &str| published::parse(text, path).unwrap_err().to_string();
    let error = refused("llama:\n  - {name: a, source: x/y, parameters: 1M, config: {hidden_size: 8}, extra: 1}\n");
    assert!(error.contains("configs.yaml") && error.contains("extra"), "{error}");
    let error = refused("llama:\n  - {name: a, source: x/y, parameters: 1M, config: {}}\n");
    assert!(error.contains("llama[0]") && error.contains("`config` is empty"), "{error}");
    let error = refused(
        "llama:\n  - {name: a, source: x/y, parameters: 1M, config: {n: 1}}\n  - {name: a, source: x/z, parameters: 2M, config: {n: 2}}\n",
    );
    assert!(error.contains("llama[1]") && error.contains("listed twice"), "{error}");
    let error = refused("llama:\n  - {name: ../up, source: x/y, parameters: 1M, config: {n: 1}}\n");
    assert!(error.contains("names a folder"), "{error}");
}

/// `135M`, `1.1B` as a count.
fn stated(parameters: &str) -> f64 {
    let (number, scale) = parameters.split_at(parameters.len() - 1);
    let scale = match scale {
        "M" => 1e6,
        "B" => 1e9,
        other => panic!("parameters `{parameters}`: M or B, not {other}"),
    };
    number.parse::<f64>().unwrap_or_else(|_| panic!("parameters `{parameters}`")) * scale
}

/// Every entry builds with its model's config and model classes (on the meta device) and has the
/// parameter count its authors state, within 10%: a mistyped field shows as a wrong count.
#[test]
fn every_published_size_builds_with_the_parameters_its_authors_state() {
    let configs = shipped();
    let cases = generated::registry::cases();
    let mut models = Vec::new();
    let mut named = Vec::new();
    for (model, entries) in &configs {
        let case = skills::case::find(&cases, model, Hardware::Cpu).unwrap();
        let request: serde_json::Value = serde_json::from_str(&case.spec.request_json).unwrap();
        let config_class = request["config_class"].as_str().unwrap().to_string();
        for entry in entries {
            let fields = serde_json::Value::Object(entry.config.clone());
            models.push((config_class.clone(), case.spec.model_class.to_string(), fields));
            named.push(format!("{model} {} ({})", entry.name, entry.parameters));
        }
    }
    let jobs: Vec<(&str, &str, &serde_json::Value)> =
        models.iter().map(|(config, class, fields)| (config.as_str(), class.as_str(), fields)).collect();
    let counts = bench_core::python::count_parameters(&jobs).unwrap();
    let stated_counts = configs.values().flatten().map(|entry| stated(&entry.parameters));
    for ((name, counted), stated) in named.iter().zip(&counts).zip(stated_counts) {
        let ratio = *counted as f64 / stated;
        assert!((0.9..=1.1).contains(&ratio), "{name}: {counted} parameters built, {ratio:.3} of the stated count");
    }
}
