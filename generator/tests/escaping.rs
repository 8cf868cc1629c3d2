//! Values from YAML reach Rust source only escaped; unsafe identifiers are rejected.

mod common;

use generator::metadata::Metadata;
use generator::render::Renderer;
use generator::{output_set, Selection};

const HOSTILE: &str = "Evil \"); evil(); // \\ back\\slash\nnew line\r\t tab \u{0} nul {{ tera }} {% raw %} */ /*";

fn string_field(file: &syn::File, constant: &str, field: &str) -> String {
    for item in &file.items {
        let syn::Item::Static(item) = item else { continue };
        if item.ident != constant {
            continue;
        }
        let syn::Expr::Struct(init) = &*item.expr else { panic!("{constant} is not a struct literal") };
        for value in &init.fields {
            if matches!(&value.member, syn::Member::Named(name) if name == field) {
                if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(text), .. }) = &value.expr {
                    return text.value();
                }
            }
        }
    }
    panic!("{constant}.{field} not found")
}

#[test]
fn hostile_strings_stay_literal_and_code_stays_valid() {
    let (dir, ws) = common::scratch();
    let path = dir.path().join("metadata/models/bert.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    let hostile_yaml = serde_yaml::to_string(HOSTILE).unwrap();
    let yaml = yaml
        .replace("display_name: BERT", &format!("display_name: {}", hostile_yaml.trim()))
        .replace("checkpoint: google-bert/bert-base-uncased", &format!("checkpoint: {}", hostile_yaml.trim()))
        .replace("task: feature-extraction", "task: \"a\\\"b\"");
    std::fs::write(&path, yaml).unwrap();

    let metadata = Metadata::load(&ws.root).unwrap();
    assert_eq!(metadata.models.iter().find(|f| f.model.model_type == "bert").unwrap().model.display_name, HOSTILE);
    let (store, _) = ws.synced_store().unwrap();
    let renderer = Renderer::new(store.list().unwrap()).unwrap();
    let files =
        output_set(&ws, &metadata, &renderer, &Selection { models: vec!["bert".into()], hardware: vec!["cpu".into()] })
            .unwrap();
    let module = &files["generated/src/cpu/bert.rs"];
    syn::parse_file(module).expect("hostile metadata must still render a valid hardware module");
    let code = &files["generated/src/models/bert.rs"];
    let parsed = syn::parse_file(code).expect("hostile metadata must still render valid Rust");
    assert_eq!(string_field(&parsed, "SPEC", "display_name"), HOSTILE);
    assert_eq!(string_field(&parsed, "SPEC", "checkpoint"), HOSTILE);
    assert_eq!(string_field(&parsed, "SPEC", "task"), "a\"b");
    assert!(!code.contains("evil();\n") && !module.contains("evil();\n"), "the payload must not become a statement");
}

#[test]
fn unsafe_model_types_and_names_are_rejected() {
    for (bad, expect) in [
        ("bert\\\"); evil(); //", "does not make a safe Rust module name"),
        ("fn", "does not make a safe Rust module name"),
        ("bert large", "does not make a safe Rust module name"),
    ] {
        let (dir, ws) = common::scratch();
        let path = dir.path().join("metadata/models/bert.yaml");
        let yaml =
            std::fs::read_to_string(&path).unwrap().replace("model_type: bert", &format!("model_type: \"{bad}\""));
        std::fs::write(&path, yaml).unwrap();
        let message = Metadata::load(&ws.root).unwrap_err().to_string();
        assert!(message.contains(expect), "{bad}: {message}");
        assert!(message.contains("metadata/models/bert.yaml:1:1"), "{message}");
    }
    let (dir, ws) = common::scratch();
    let path = dir.path().join("metadata/models/bert.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap().replace("name: attention_mask", "name: \"mask); drop(x\"");
    std::fs::write(&path, yaml).unwrap();
    let message = Metadata::load(&ws.root).unwrap_err().to_string();
    assert!(message.contains("input name `mask); drop(x` is not a safe identifier"), "{message}");
}
