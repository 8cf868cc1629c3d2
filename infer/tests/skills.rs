//! Skills on checkpoint directories made here as a user has them (random weights saved with
//! `save_pretrained`, a real tokenizer trained and saved beside them, no network;
//! `skill_reference.py`), from raw text to task output, against what Python transformers
//! computes on the same directory and texts: token ids and labels and generated text exactly,
//! vectors within 1e-4. On CPU (libtorch) and OpenVINO.

use std::path::{Path, PathBuf};
use std::process::Command;

use runtime::artifacts::ArtifactCache;
use runtime::preprocess::text::Overflow;
use runtime::skill::{Options, Skill, TaskOutput};
use runtime::Case;
use serde_json::Value;

const TEXTS: [&str; 2] = ["the lazy fox", "every model on every backend runs offline"];

/// Makes the checkpoint of `kind` in `dir` and returns Python's results on [`TEXTS`].
fn python_reference(kind: &str, dir: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/skill_reference.py");
    let output = Command::new(runtime::paths::python()).arg(&script).arg(kind).arg(dir).args(TEXTS).output().expect("the venv's python runs (bash scripts/setup.sh)");
    assert!(output.status.success(), "{} {kind} failed: {}", script.display(), String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the reference script prints JSON")
}

/// A checkpoint of `kind` with its Python results, and an artifact cache of its own.
struct Fixture {
    _temp: tempfile::TempDir,
    checkpoint: PathBuf,
    cache: ArtifactCache,
    expected: Value,
}

fn fixture(kind: &str) -> Fixture {
    let temp = tempfile::tempdir().unwrap();
    let checkpoint = temp.path().join(kind);
    let expected = python_reference(kind, &checkpoint);
    let cache = ArtifactCache::new(temp.path().join("cache"));
    Fixture { _temp: temp, checkpoint, cache, expected }
}

fn load(case: &'static Case, fixture: &Fixture) -> Skill {
    Skill::load_with(case, fixture.checkpoint.to_str().unwrap(), &fixture.cache).unwrap_or_else(|e| panic!("{} on {}: {e}", case.spec.model_type, case.hardware.id()))
}

fn ids(value: &Value) -> Vec<Vec<i64>> {
    serde_json::from_value(value.clone()).unwrap()
}

fn checks_tokens(skill: &Skill, expected: &Value) {
    let encoded = skill.tokenizer().encode(&TEXTS, Overflow::Refuse).unwrap();
    let rows = |t: &runtime::HostTensor| t.as_i64().unwrap().chunks(t.shape()[1] as usize).map(<[i64]>::to_vec).collect::<Vec<_>>();
    assert_eq!(rows(&encoded.input_ids), ids(&expected["input_ids"]), "token ids as Python's tokenizer gives them");
    assert_eq!(rows(&encoded.attention_mask), ids(&expected["attention_mask"]), "attention mask as Python's");
}

#[test]
fn bert_embeddings_match_sentence_transformers_pooling_on_cpu_and_openvino() {
    let fixture = fixture("bert-embed");
    for case in [&generated::cpu::bert::CASE, &generated::openvino::bert::CASE] {
        let skill = load(case, &fixture);
        checks_tokens(&skill, &fixture.expected);
        let TaskOutput::Embeddings { pooling, normalized, vectors } = skill.run(&TEXTS, &Options::default()).unwrap() else { panic!("a BertModel checkpoint embeds") };
        assert_eq!((pooling.as_str(), normalized), ("mean", true), "the checkpoint's modules.json: mean pooling, then Normalize");
        let want: Vec<Vec<f32>> = serde_json::from_value(fixture.expected["vectors"].clone()).unwrap();
        assert_eq!(vectors.len(), want.len());
        for (got, want) in vectors.iter().zip(&want) {
            assert_eq!(got.len(), want.len());
            let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0_f32, f32::max);
            assert!(worst <= 1e-4, "{}: embedding off by {worst}", case.hardware.id());
        }
    }
}

#[test]
fn bert_labels_match_python_on_cpu_and_openvino() {
    let fixture = fixture("bert-classify");
    for case in [&generated::cpu::bert::CASE, &generated::openvino::bert::CASE] {
        let skill = load(case, &fixture);
        let TaskOutput::Labels { labels } = skill.run(&TEXTS, &Options::default()).unwrap() else { panic!("a BertForSequenceClassification checkpoint classifies") };
        let names: Vec<Vec<String>> = labels.iter().map(|row| row.iter().map(|l| l.label.clone()).collect()).collect();
        assert_eq!(names, serde_json::from_value::<Vec<Vec<String>>>(fixture.expected["labels"].clone()).unwrap(), "{}", case.hardware.id());
        let scores: Vec<Vec<f32>> = serde_json::from_value(fixture.expected["scores"].clone()).unwrap();
        for (row, want) in labels.iter().zip(&scores) {
            for (label, want) in row.iter().zip(want) {
                assert!((label.score - want).abs() <= 1e-4, "{}: {} scored {} against {want}", case.hardware.id(), label.label, label.score);
            }
        }
    }
}

fn checks_generation(kind: &str, cases: [&'static Case; 2]) {
    let fixture = fixture(kind);
    let max_new_tokens = fixture.expected["max_new_tokens"].as_u64().unwrap() as usize;
    for case in cases {
        let skill = load(case, &fixture);
        for (text, want) in TEXTS.iter().zip(fixture.expected["generated"].as_array().unwrap()) {
            let generated = skill.generate(text, max_new_tokens, Overflow::Refuse).unwrap();
            let tokens: Vec<i64> = serde_json::from_value(want["tokens"].clone()).unwrap();
            assert_eq!(generated.tokens, tokens, "{kind} on {}: greedy tokens as Python's generate", case.hardware.id());
            assert_eq!(generated.text, want["text"].as_str().unwrap(), "{kind} on {}: decoded text", case.hardware.id());
        }
    }
}

#[test]
fn llama_greedy_text_matches_python_generate() {
    checks_generation("llama-generate", [&generated::cpu::llama::CASE, &generated::openvino::llama::CASE]);
}

#[test]
fn t5_greedy_text_matches_python_generate() {
    checks_generation("t5-generate", [&generated::cpu::t5::CASE, &generated::openvino::t5::CASE]);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let fixture = fixture("bert-embed");
    let case = &generated::cpu::bert::CASE;
    let message = |source: &str| Skill::load_with(case, source, &fixture.cache).err().expect("refused").to_string();

    // A text longer than the model takes (model_max_length 64): refused, or truncated on request.
    let skill = load(case, &fixture);
    let long = "every model on every backend ".repeat(20);
    let refused = skill.run(&[&long], &Options::default()).unwrap_err().to_string();
    assert!(refused.contains("the model takes at most 64") && refused.contains("truncat"), "{refused}");
    let truncated = skill.tokenizer().encode(&[&long], Overflow::Truncate).unwrap();
    assert_eq!(truncated.input_ids.shape(), [1, 64]);
    assert!(skill.run(&[&long], &Options { overflow: Overflow::Truncate, ..Options::default() }).is_ok());

    // A checkpoint of another model type.
    let other = tempfile::tempdir().unwrap();
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    };
    let renamed = other.path().join("renamed");
    copy(&fixture.checkpoint, &renamed);
    let config = std::fs::read_to_string(renamed.join("config.json")).unwrap().replace("\"model_type\": \"bert\"", "\"model_type\": \"roberta\"");
    std::fs::write(renamed.join("config.json"), config).unwrap();
    let wrong_type = message(renamed.to_str().unwrap());
    assert!(wrong_type.contains("is a `roberta` model") && wrong_type.contains("config.json"), "{wrong_type}");

    // A tokenizer of another model (a 300-token BPE beside a 128-token BERT).
    let foreign = other.path().join("foreign");
    copy(&fixture.checkpoint, &foreign);
    let llama = other.path().join("llama");
    python_reference("llama-generate", &llama);
    std::fs::copy(llama.join("tokenizer.json"), foreign.join("tokenizer.json")).unwrap();
    let tokenizer = message(foreign.to_str().unwrap());
    assert!(tokenizer.contains("tokenizer.json") && tokenizer.contains("belongs to another model"), "{tokenizer}");

    // Missing and malformed config.json, no tokenizer, nothing there at all.
    std::fs::write(foreign.join("config.json"), "{ \"model_type\": ").unwrap();
    let malformed = message(foreign.to_str().unwrap());
    assert!(malformed.contains("config.json") && malformed.contains("not valid JSON"), "{malformed}");
    std::fs::remove_file(foreign.join("config.json")).unwrap();
    let missing = message(foreign.to_str().unwrap());
    assert!(missing.contains("config.json") && missing.contains("missing"), "{missing}");
    std::fs::remove_file(renamed.join("tokenizer.json")).unwrap();
    std::fs::write(renamed.join("config.json"), std::fs::read(fixture.checkpoint.join("config.json")).unwrap()).unwrap();
    let no_tokenizer = message(renamed.to_str().unwrap());
    assert!(no_tokenizer.contains("tokenizer.json") && no_tokenizer.contains("missing"), "{no_tokenizer}");
    let absent = message(other.path().join("no/such/dir").to_str().unwrap());
    assert!(absent.contains("no such directory"), "{absent}");
    let hub = message("nobody/no-such-model-here");
    assert!(hub.contains("models--nobody--no-such-model-here") || hub.contains("Hugging Face cache"), "{hub}");

    // A model whose inputs are not text yet.
    let image = Skill::load_with(&generated::cpu::vit::CASE, fixture.checkpoint.to_str().unwrap(), &fixture.cache).err().expect("refused").to_string();
    assert!(image.contains("pixel_values") && image.contains("text only"), "{image}");
}
