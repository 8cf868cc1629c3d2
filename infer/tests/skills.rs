//! Skills on checkpoint directories made here as a user has them (random weights saved with
//! `save_pretrained`, a real tokenizer trained and saved beside them, no network;
//! `skill_reference.py`), from raw text to task output, against what Python transformers
//! computes on the same directory and input: token ids, pixel values, labels and generated text
//! exactly, vectors and logits within 1e-4. On CPU (libtorch) and OpenVINO. Python's side is
//! kept in the user's cache, keyed by the script, the inputs and the Python packages.

use std::path::{Path, PathBuf};

use runtime::artifacts::ArtifactCache;
use runtime::Case;
use serde_json::Value;
use skills::preprocess::text::Overflow;
use skills::{Input, Options, Skill, TaskOutput};

const TEXTS: [&str; 2] = ["the lazy fox", "every model on every backend runs offline"];

mod reference;

/// The checkpoint of `kind` in `dir` and Python's results on [`TEXTS`] ([`reference`]).
fn python_reference(kind: &str, dir: &Path) -> Value {
    reference::python_reference(kind, dir, &TEXTS)
}

/// A checkpoint of `kind` with its Python results, and the artifact cache its skills load from.
struct Fixture {
    _temp: tempfile::TempDir,
    checkpoint: PathBuf,
    cache: ArtifactCache,
    expected: Value,
}

/// The checkpoint of `kind` made under `parent` (its Python results left out).
fn fixture_at(kind: &str, parent: &Path) -> PathBuf {
    let dir = parent.join(kind);
    python_reference(kind, &dir);
    dir
}

/// The checkpoint of `kind` with the user's checkpoint cache, which every skill loads from: the
/// script's checkpoints are seeded, so their digests (and artifacts) stay the same from run to
/// run and export once per machine.
fn fixture(kind: &str) -> Fixture {
    fixture_with(kind, |_| ArtifactCache::new(runtime::paths::checkpoint_cache_dir()))
}

/// The checkpoint of `kind` with a cache of its own, empty at first (for tests that count exports).
fn fixture_with(kind: &str, cache: impl FnOnce(&Path) -> ArtifactCache) -> Fixture {
    let temp = tempfile::tempdir().unwrap();
    let checkpoint = temp.path().join(kind);
    let expected = python_reference(kind, &checkpoint);
    let cache = cache(temp.path());
    Fixture { _temp: temp, checkpoint, cache, expected }
}

fn load(case: &'static Case, fixture: &Fixture) -> Skill {
    Skill::load_with(case, fixture.checkpoint.to_str().unwrap(), &fixture.cache)
        .unwrap_or_else(|e| panic!("{} on {}: {e}", case.spec.model_type, case.hardware.id()))
}

fn ids(value: &Value) -> Vec<Vec<i64>> {
    serde_json::from_value(value.clone()).unwrap()
}

/// Asserts `got` has the shape `expected[shape_key]` and values within `tolerance` of
/// `expected[values_key]` (flattened).
fn assert_tensor_close(got: &runtime::HostTensor, expected: &Value, values_key: &str, shape_key: &str, tolerance: f32) {
    let shape: Vec<i64> = serde_json::from_value(expected[shape_key].clone()).unwrap();
    assert_eq!(got.shape(), shape.as_slice(), "{values_key}");
    let want: Vec<f32> = serde_json::from_value(expected[values_key].clone()).unwrap();
    let worst = got.as_f32().unwrap().iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0_f32, f32::max);
    assert!(worst <= tolerance, "{values_key} off Python's by {worst} (tolerance {tolerance})");
}

/// Asserts label names in Python's order exactly and scores within 1e-4.
fn assert_labels(labels: &[Vec<skills::Label>], expected: &Value, hardware: &str) {
    let names: Vec<Vec<String>> = labels.iter().map(|row| row.iter().map(|l| l.label.clone()).collect()).collect();
    assert_eq!(names, serde_json::from_value::<Vec<Vec<String>>>(expected["labels"].clone()).unwrap(), "{hardware}");
    let scores: Vec<Vec<f32>> = serde_json::from_value(expected["scores"].clone()).unwrap();
    for (row, want) in labels.iter().zip(&scores) {
        for (label, want) in row.iter().zip(want) {
            assert!(
                (label.score - want).abs() <= 1e-4,
                "{hardware}: {} scored {} against {want}",
                label.label,
                label.score
            );
        }
    }
}

fn checks_tokens(skill: &Skill, expected: &Value) {
    let encoded = skill.tokenizer().unwrap().encode(&TEXTS, Overflow::Refuse).unwrap();
    let rows = |t: &runtime::HostTensor| {
        t.as_i64().unwrap().chunks(t.shape()[1] as usize).map(<[i64]>::to_vec).collect::<Vec<_>>()
    };
    assert_eq!(rows(&encoded.input_ids), ids(&expected["input_ids"]), "token ids as Python's tokenizer gives them");
    assert_eq!(rows(&encoded.attention_mask), ids(&expected["attention_mask"]), "attention mask as Python's");
}

#[test]
fn bert_embeddings_match_sentence_transformers_pooling_on_cpu_openvino_and_webgpu() {
    let fixture = fixture("bert-embed");
    // WebGPU runs in headless Chromium where the browser is there (the test command installs it).
    let webgpu = runtime::detect(runtime::Hardware::Webgpu);
    let mut cases: Vec<&'static Case> = vec![&generated::cpu::bert::CASE, &generated::openvino::bert::CASE];
    if webgpu.available {
        cases.push(&generated::webgpu::bert::CASE);
    } else {
        eprintln!("webgpu skipped: {}", webgpu.reason);
    }
    for case in cases {
        let skill = load(case, &fixture);
        checks_tokens(&skill, &fixture.expected);
        let TaskOutput::Embeddings { pooling, normalized, vectors } =
            skill.run(Input::text(&TEXTS), &Options::default()).unwrap()
        else {
            panic!("a BertModel checkpoint embeds")
        };
        assert_eq!(
            (pooling.as_str(), normalized),
            ("mean", true),
            "the checkpoint's modules.json: mean pooling, then Normalize"
        );
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
fn a_hub_id_resolves_through_the_local_hugging_face_cache() {
    let fixture = fixture("bert-embed");
    // huggingface_hub's layout: refs/main names the commit whose snapshot holds the files.
    let hub = tempfile::tempdir().unwrap();
    let repo = hub.path().join("models--someone--tiny-bert");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots")).unwrap();
    std::os::unix::fs::symlink(&fixture.checkpoint, repo.join("snapshots/0123abcd")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    // Each test runs in its own process (nextest), so this variable reaches no other test.
    std::env::set_var("HF_HUB_CACHE", hub.path());
    let skill = Skill::load_with(&generated::cpu::bert::CASE, "someone/tiny-bert", &fixture.cache).unwrap();
    assert_eq!(skill.checkpoint().dir, std::fs::canonicalize(&fixture.checkpoint).unwrap());
    let TaskOutput::Embeddings { vectors, .. } = skill.run(Input::text(&TEXTS), &Options::default()).unwrap() else {
        panic!("embeds")
    };
    let want: Vec<Vec<f32>> = serde_json::from_value(fixture.expected["vectors"].clone()).unwrap();
    assert!(vectors.iter().flatten().zip(want.iter().flatten()).all(|(a, b)| (a - b).abs() <= 1e-4));
    let revision = Skill::load_with(&generated::cpu::bert::CASE, "someone/tiny-bert@v9", &fixture.cache)
        .err()
        .expect("no such revision")
        .to_string();
    assert!(revision.contains("revision `v9`"), "{revision}");
}

#[test]
fn artifacts_are_keyed_by_the_checkpoints_content_not_its_folder() {
    let fixture = fixture_with("bert-embed", |temp| ArtifactCache::new(temp.join("cache")));
    let exported = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(fixture.cache.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("bert-"))
            .collect();
        names.sort();
        names
    };
    load(&generated::cpu::bert::CASE, &fixture);
    let first = exported();
    assert_eq!(first.len(), 1, "{first:?}");
    // The same files in another folder: the same artifact, nothing exported again.
    let moved = fixture._temp.path().join("moved");
    std::fs::create_dir_all(&moved).unwrap();
    for entry in std::fs::read_dir(&fixture.checkpoint).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_file() {
            std::fs::copy(entry.path(), moved.join(entry.file_name())).unwrap();
        }
    }
    Skill::load_with(&generated::cpu::bert::CASE, moved.to_str().unwrap(), &fixture.cache).unwrap();
    assert_eq!(exported(), first, "a moved checkpoint reuses its artifact");
    // An edited checkpoint: a new digest, a new artifact.
    let config = std::fs::read_to_string(moved.join("config.json")).unwrap().replacen('{', "{\"edited\": true, ", 1);
    std::fs::write(moved.join("config.json"), config).unwrap();
    Skill::load_with(&generated::cpu::bert::CASE, moved.to_str().unwrap(), &fixture.cache).unwrap();
    assert_eq!(exported().len(), 2, "an edited checkpoint exports again: {:?}", exported());
}

#[test]
fn bert_labels_match_python_on_cpu_and_openvino() {
    let fixture = fixture("bert-classify");
    for case in [&generated::cpu::bert::CASE, &generated::openvino::bert::CASE] {
        let skill = load(case, &fixture);
        let TaskOutput::Labels { labels } = skill.run(Input::text(&TEXTS), &Options::default()).unwrap() else {
            panic!("a BertForSequenceClassification checkpoint classifies")
        };
        assert_labels(&labels, &fixture.expected, case.hardware.id());
    }
}

/// The images the reference script wrote, and checks that the skill's `pixel_values` are the
/// PIL backend's exactly (float32 rounding aside): the same resampling, crop and arithmetic.
fn checks_pixels(skill: &Skill, expected: &Value) -> Vec<PathBuf> {
    let images: Vec<PathBuf> = serde_json::from_value(expected["images"].clone()).unwrap();
    let paths: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
    assert_tensor_close(&skill.pixel_values(&paths).unwrap(), expected, "pixel_values", "pixel_shape", 1e-6);
    // What docs/skills.md states of Python's other backend: within one 8-bit level after resizing.
    let level = 1.0 / 255.0 / 0.26;
    assert!(
        expected["default_backend_max_diff"].as_f64().unwrap() <= level,
        "{}",
        expected["default_backend_max_diff"]
    );
    images
}

#[test]
fn vit_labels_and_pixels_match_python_on_cpu_and_openvino() {
    let fixture = fixture("vit-classify");
    for case in [&generated::cpu::vit::CASE, &generated::openvino::vit::CASE] {
        let skill = load(case, &fixture);
        let images = checks_pixels(&skill, &fixture.expected);
        let paths: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
        let TaskOutput::Labels { labels } = skill.run(Input::images(&paths), &Options::default()).unwrap() else {
            panic!("a ViTForImageClassification checkpoint classifies")
        };
        assert_labels(&labels, &fixture.expected, case.hardware.id());
    }
}

/// Asserts each image's detections are Python's: as many, each matched by its box (within
/// 1e-3 pixels) with the same label and a score within 1e-4.
fn assert_detections(got: &[Vec<skills::DetectedObject>], want: &Value, hardware: &str) {
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{hardware}: one list per image");
    for (image, (got, want)) in got.iter().zip(want).enumerate() {
        let want = want.as_array().unwrap();
        assert_eq!(
            got.len(),
            want.len(),
            "{hardware}: image {image} has {} detections, Python {}",
            got.len(),
            want.len()
        );
        for expected in want {
            let bounds: Vec<f32> = serde_json::from_value(expected["box"].clone()).unwrap();
            let found = got.iter().find(|d| d.bounds.iter().zip(&bounds).all(|(a, b)| (a - b).abs() <= 1e-3));
            let found = found
                .unwrap_or_else(|| panic!("{hardware}: image {image}: no box like Python's {bounds:?} in {got:?}"));
            assert_eq!(found.label, expected["label"].as_str().unwrap(), "{hardware}");
            assert!(
                (found.score - expected["score"].as_f64().unwrap() as f32).abs() <= 1e-4,
                "{hardware}: score {} against {}",
                found.score,
                expected["score"]
            );
        }
        assert!(got.windows(2).all(|pair| pair[0].score >= pair[1].score), "{hardware}: best first");
    }
}

#[test]
fn detr_detections_match_python_on_a_padded_batch_on_cpu_and_openvino() {
    let fixture = fixture("detr-detect");
    let images: Vec<PathBuf> = serde_json::from_value(fixture.expected["images"].clone()).unwrap();
    let paths: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
    for case in [&generated::cpu::detr::CASE, &generated::openvino::detr::CASE] {
        let skill = load(case, &fixture);
        // Four images of four sizes: shortest edge 48 unless the longest passes 80, then padded
        // bottom-right to the largest, with the mask of each image's pixels.
        let prepared = skill.prepare_images(&paths).unwrap();
        assert_tensor_close(&prepared.pixel_values, &fixture.expected, "pixel_values", "pixel_shape", 1e-6);
        let mask: Vec<i64> = serde_json::from_value(fixture.expected["pixel_mask"].clone()).unwrap();
        assert_eq!(prepared.pixel_mask.unwrap().as_i64().unwrap(), mask.as_slice(), "pixel_mask as Python's");
        let hardware = case.hardware.id();
        let every = Options { threshold: Some(0.0), ..Options::default() };
        let TaskOutput::Detections { objects, .. } = skill.run(Input::images(&paths), &every).unwrap() else {
            panic!("a DetrForObjectDetection checkpoint detects")
        };
        assert_detections(&objects, &fixture.expected["all"], hardware);
        // A threshold between two scores (the widest gap, so rounding cannot move a query across).
        let threshold = fixture.expected["threshold"].as_f64().unwrap() as f32;
        let TaskOutput::Detections { objects, .. } =
            skill.run(Input::images(&paths), &Options { threshold: Some(threshold), ..Options::default() }).unwrap()
        else {
            panic!("detects")
        };
        assert_detections(&objects, &fixture.expected["kept"], hardware);
    }
    // Python's default (torchvision) backend is within one 8-bit level of the PIL backend's pixels.
    let level = 1.0 / 255.0 / 0.224 + 1e-6;
    assert!(
        fixture.expected["default_backend_max_diff"].as_f64().unwrap() <= level,
        "{}",
        fixture.expected["default_backend_max_diff"]
    );
}

#[test]
fn clip_image_text_similarity_matches_python_on_cpu_and_openvino() {
    let fixture = fixture("clip-similarity");
    for case in [&generated::cpu::clip::CASE, &generated::openvino::clip::CASE] {
        let skill = load(case, &fixture);
        let images = checks_pixels(&skill, &fixture.expected);
        let paths: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
        let output =
            skill.run(Input { texts: &TEXTS, images: &paths, ..Input::default() }, &Options::default()).unwrap();
        assert_similarity(output, &fixture.expected, case.hardware.id());
    }
}

/// Asserts a similarity's logits within 1e-4 of Python's, the best text of each item exactly,
/// and probabilities that sum to one.
fn assert_similarity(output: TaskOutput, expected: &Value, hardware: &str) {
    let TaskOutput::Similarity { logits, probabilities, best } = output else { panic!("{hardware}: a similarity") };
    let want: Vec<Vec<f32>> = serde_json::from_value(expected["logits"].clone()).unwrap();
    assert_eq!(logits.len(), want.len(), "{hardware}: one row per item");
    let worst = logits.iter().flatten().zip(want.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0_f32, f32::max);
    assert!(worst <= 1e-4, "{hardware}: logits off by {worst}");
    assert_eq!(best, serde_json::from_value::<Vec<String>>(expected["best"].clone()).unwrap(), "{hardware}");
    assert!(probabilities.iter().all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-5));
}

/// The files of `key` the reference script wrote, once Python's logits show that the first two
/// score the texts apart (each item reaches the model).
fn items_apart(expected: &Value, key: &str) -> Vec<PathBuf> {
    let rows: Vec<Vec<f32>> = serde_json::from_value(expected["logits"].clone()).unwrap();
    let apart = rows[0].iter().zip(&rows[1]).map(|(a, b)| (a - b).abs()).fold(0.0_f32, f32::max);
    assert!(apart > 0.1, "the first two {key} score the texts {apart} apart in Python: each should reach the model");
    serde_json::from_value(expected[key].clone()).unwrap()
}

#[test]
fn xclip_video_text_similarity_matches_python_on_cpu_and_openvino() {
    let fixture = fixture("xclip-similarity");
    let videos = items_apart(&fixture.expected, "videos");
    let videos: Vec<&Path> = videos.iter().map(PathBuf::as_path).collect();
    for case in [&generated::cpu::xclip::CASE, &generated::openvino::xclip::CASE] {
        let skill = load(case, &fixture);
        // Frames in name order, each resized, cropped and normalised as VideoMAEImageProcessorPil does.
        assert_tensor_close(
            &skill.video_values(&videos).unwrap(),
            &fixture.expected,
            "pixel_values",
            "pixel_shape",
            1e-6,
        );
        let output =
            skill.run(Input { texts: &TEXTS, videos: &videos, ..Input::default() }, &Options::default()).unwrap();
        assert_similarity(output, &fixture.expected, case.hardware.id());
        let images =
            skill.run(Input { texts: &TEXTS, ..Input::default() }, &Options::default()).unwrap_err().to_string();
        assert!(images.contains("videos (folders of frames)"), "{images}");
    }
}

/// The WAV files the reference script wrote, and checks the skill's `input_values` against the
/// feature extractor's (float32 sums aside).
fn checks_input_values(skill: &Skill, expected: &Value) -> Vec<PathBuf> {
    let audio: Vec<PathBuf> = serde_json::from_value(expected["audio"].clone()).unwrap();
    let paths: Vec<&Path> = audio.iter().map(PathBuf::as_path).collect();
    assert_tensor_close(&skill.input_values(&paths).unwrap(), expected, "input_values", "input_shape", 1e-5);
    audio
}

#[test]
fn wav2vec2_ctc_transcripts_match_python_on_cpu_and_openvino() {
    let fixture = fixture("wav2vec2-ctc");
    for case in [&generated::cpu::wav2vec2::CASE, &generated::openvino::wav2vec2::CASE] {
        let skill = load(case, &fixture);
        let audio = checks_input_values(&skill, &fixture.expected);
        let paths: Vec<&Path> = audio.iter().map(PathBuf::as_path).collect();
        let TaskOutput::Transcripts { texts } = skill.run(Input::audio(&paths), &Options::default()).unwrap() else {
            panic!("a Wav2Vec2ForCTC checkpoint transcribes")
        };
        assert_eq!(
            texts,
            serde_json::from_value::<Vec<String>>(fixture.expected["texts"].clone()).unwrap(),
            "{}",
            case.hardware.id()
        );
    }
}

#[test]
fn wav2vec2_audio_labels_match_python_on_cpu_and_openvino() {
    let fixture = fixture("wav2vec2-classify");
    for case in [&generated::cpu::wav2vec2::CASE, &generated::openvino::wav2vec2::CASE] {
        let skill = load(case, &fixture);
        let audio = checks_input_values(&skill, &fixture.expected);
        let paths: Vec<&Path> = audio.iter().map(PathBuf::as_path).collect();
        let TaskOutput::Labels { labels } = skill.run(Input::audio(&paths), &Options::default()).unwrap() else {
            panic!("a Wav2Vec2ForSequenceClassification checkpoint classifies")
        };
        assert_labels(&labels, &fixture.expected, case.hardware.id());
    }
}

#[test]
fn clap_audio_text_similarity_matches_python_on_cpu_and_openvino() {
    let fixture = fixture("clap-similarity");
    let audio = items_apart(&fixture.expected, "audio");
    let paths: Vec<&Path> = audio.iter().map(PathBuf::as_path).collect();
    for case in [&generated::cpu::clap::CASE, &generated::openvino::clap::CASE] {
        let skill = load(case, &fixture);
        // Short files repeated and padded to max_length_s, every frame kept, Slaney filters from
        // 50 Hz, decibels: [1, frames, mels] per file (measured 7.6e-6 dB apart: Python keeps the FFT in complex64).
        assert_tensor_close(
            &skill.input_features(&paths).unwrap(),
            &fixture.expected,
            "input_features",
            "features_shape",
            1e-4,
        );
        let output =
            skill.run(Input { texts: &TEXTS, audio: &paths, ..Input::default() }, &Options::default()).unwrap();
        assert_similarity(output, &fixture.expected, case.hardware.id());
    }
    // Longer than max_length_s: the extractor would crop at random, so the skill refuses.
    let long = fixture._temp.path().join("long.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&long, spec).unwrap();
    (0..20_000).for_each(|i| writer.write_sample((i % 200) as i16 * 50).unwrap());
    writer.finalize().unwrap();
    let skill = load(&generated::cpu::clap::CASE, &fixture);
    let refused = skill
        .run(Input { texts: &TEXTS, audio: &[long.as_path()], ..Input::default() }, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(refused.contains("20000 samples") && refused.contains("at random"), "{refused}");
}

#[test]
fn whisper_log_mel_features_and_greedy_text_match_python_on_cpu_and_openvino() {
    let fixture = fixture("whisper-transcribe");
    let max_new_tokens = fixture.expected["max_new_tokens"].as_u64().unwrap() as usize;
    let audio: Vec<PathBuf> = serde_json::from_value(fixture.expected["audio"].clone()).unwrap();
    let paths: Vec<&Path> = audio.iter().map(PathBuf::as_path).collect();
    for case in [&generated::cpu::whisper::CASE, &generated::openvino::whisper::CASE] {
        let skill = load(case, &fixture);
        assert_tensor_close(
            &skill.input_features(&paths).unwrap(),
            &fixture.expected,
            "input_features",
            "features_shape",
            1e-4,
        );
        let TaskOutput::Text { generated } = skill
            .run(Input::audio(&paths), &Options { max_new_tokens: Some(max_new_tokens), ..Options::default() })
            .unwrap()
        else {
            panic!("Whisper generates text")
        };
        for (got, want) in generated.iter().zip(fixture.expected["generated"].as_array().unwrap()) {
            let tokens: Vec<i64> = serde_json::from_value(want["tokens"].clone()).unwrap();
            assert_eq!(
                got.tokens,
                tokens,
                "{}: greedy tokens as Python's generate (with begin_suppress_tokens and suppress_tokens)",
                case.hardware.id()
            );
            assert_eq!(got.text, want["text"].as_str().unwrap());
        }
        let suppressed = &fixture.expected["suppressed"];
        assert!(generated.iter().all(|g| !g.tokens.contains(&suppressed["always"][0].as_i64().unwrap())
            && g.tokens[0] != suppressed["begin"][0].as_i64().unwrap()));
    }
}

/// Greedy text through a generating skill against Python's `generate`; `cached` says whether the
/// skill decodes with the cache (text prompts: decoder-only and encoder-decoder models) or without.
fn checks_generation(kind: &str, cases: [&'static Case; 2], cached: bool) {
    let fixture = fixture(kind);
    let max_new_tokens = fixture.expected["max_new_tokens"].as_u64().unwrap() as usize;
    for case in cases {
        let skill = load(case, &fixture);
        for (text, want) in TEXTS.iter().zip(fixture.expected["generated"].as_array().unwrap()) {
            let generated = skill.generate(text, max_new_tokens, Overflow::Refuse).unwrap();
            assert_eq!(generated.cached, cached, "{kind} on {}: decoded with the cache or not", case.hardware.id());
            let tokens: Vec<i64> = serde_json::from_value(want["tokens"].clone()).unwrap();
            assert_eq!(
                generated.tokens,
                tokens,
                "{kind} on {}: greedy tokens as Python's generate",
                case.hardware.id()
            );
            assert_eq!(
                generated.text,
                want["text"].as_str().unwrap(),
                "{kind} on {}: decoded text",
                case.hardware.id()
            );
        }
    }
}

/// Greedy text about images through an image-prompt skill (LLaVA, LLaVA-NeXT) against Python's:
/// the prompt's ids with the placeholder expanded, then one question about two images.
fn checks_image_prompts(kind: &str, cases: [&'static Case; 2]) {
    let fixture = fixture(kind);
    let expected = &fixture.expected;
    let prompts: Vec<String> = serde_json::from_value(expected["prompts"].clone()).unwrap();
    let prompts: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let images: Vec<PathBuf> = serde_json::from_value(expected["images"].clone()).unwrap();
    let images: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
    let want = expected["generated"].as_array().unwrap();
    assert_ne!(want[0], want[1], "one question about two images: the image reaches the model");
    for case in cases {
        let hardware = case.hardware.id();
        let skill = load(case, &fixture);
        // The placeholder expanded to one token per image feature (LLaVA-NeXT: per the image's
        // size and its tiles), then tokenized, as the Python processor does.
        let placeholder = skill.image_prompt().expect("an image-prompt skill has a placeholder");
        for (index, (prompt, image)) in prompts.iter().zip(&images).enumerate() {
            let decoded = skills::preprocess::image::read_image(image).unwrap();
            let expanded =
                placeholder.expand_to(prompt, placeholder.count_for((decoded.height, decoded.width))).unwrap();
            let encoded = skill.tokenizer().unwrap().encode(&[expanded.as_str()], Overflow::Refuse).unwrap();
            assert_eq!(
                encoded.input_ids.as_i64().unwrap(),
                ids(&expected["input_ids"])[index].as_slice(),
                "{kind} on {hardware}: ids as the processor's"
            );
        }
        let options = Options {
            max_new_tokens: Some(expected["max_new_tokens"].as_u64().unwrap() as usize),
            ..Options::default()
        };
        let TaskOutput::Text { generated } =
            skill.run(Input { texts: &prompts, images: &images, ..Input::default() }, &options).unwrap()
        else {
            panic!("{kind} generates text")
        };
        for (got, want) in generated.iter().zip(want) {
            let tokens: Vec<i64> = serde_json::from_value(want["tokens"].clone()).unwrap();
            assert_eq!(got.tokens, tokens, "{kind} on {hardware}: greedy tokens as Python's generate");
            assert_eq!(got.text, want["text"].as_str().unwrap(), "{kind} on {hardware}: decoded text");
        }
        // Each prompt goes with one image and holds its placeholder once.
        let unpaired = skill
            .run(Input { texts: &prompts, images: &images[..1], ..Input::default() }, &options)
            .unwrap_err()
            .to_string();
        assert!(unpaired.contains("one prompt per image"), "{unpaired}");
        let no_placeholder = skill
            .run(Input { texts: &["what is this?"], images: &images[..1], ..Input::default() }, &options)
            .unwrap_err()
            .to_string();
        assert!(no_placeholder.contains("holds 0 `<image>`"), "{no_placeholder}");
    }
}

#[test]
fn llava_text_about_an_image_matches_python_on_cpu_and_openvino() {
    checks_image_prompts("llava-generate", [&generated::cpu::llava::CASE, &generated::openvino::llava::CASE]);
}

#[test]
fn llava_next_text_about_any_resolution_images_matches_python_on_cpu_and_openvino() {
    checks_image_prompts(
        "llava_next-generate",
        [&generated::cpu::llava_next::CASE, &generated::openvino::llava_next::CASE],
    );
}

#[test]
fn llama_greedy_text_matches_python_generate() {
    checks_generation("llama-generate", [&generated::cpu::llama::CASE, &generated::openvino::llama::CASE], true);
}

/// Greedy decoding with the cache does linear work: 256 new tokens cost the prompt once and one
/// position per token (without the cache they would cost the whole sequence at every step), and
/// still give Python's 256 ids, on libtorch and on OpenVINO.
#[test]
fn llama_generates_256_tokens_in_linear_work_as_python_does() {
    let fixture = fixture("llama-long");
    let max_new_tokens = fixture.expected["max_new_tokens"].as_u64().unwrap() as usize;
    assert_eq!(max_new_tokens, 256);
    for case in [&generated::cpu::llama::CASE, &generated::openvino::llama::CASE] {
        let hardware = case.hardware.id();
        let skill = load(case, &fixture);
        for (text, want) in TEXTS.iter().zip(fixture.expected["generated"].as_array().unwrap()) {
            let tokens: Vec<i64> = serde_json::from_value(want["tokens"].clone()).unwrap();
            let generated = skill.generate(text, max_new_tokens, Overflow::Refuse).unwrap();
            assert!(generated.cached, "{hardware}: decoded with the cache");
            assert_eq!(generated.tokens, tokens, "{hardware}: 256 greedy tokens as Python's generate");
            let prompt = skill.tokenizer().unwrap().encode(&[text], Overflow::Refuse).unwrap().input_ids.numel();
            assert_eq!(
                generated.processed,
                prompt + max_new_tokens - 1,
                "{hardware}: the prompt once, then one position per token"
            );
            let half = skill.generate(text, max_new_tokens / 2, Overflow::Refuse).unwrap();
            assert_eq!(
                generated.processed - half.processed,
                max_new_tokens / 2,
                "{hardware}: linear in the new tokens"
            );
            let quadratic = (0..max_new_tokens).map(|k| prompt + k).sum::<usize>();
            assert!(
                generated.processed * 50 < quadratic,
                "{hardware}: {} positions, {quadratic} without the cache",
                generated.processed
            );
        }
    }
}

#[test]
fn qwen2_greedy_text_matches_python_generate() {
    checks_generation("qwen2-generate", [&generated::cpu::qwen2::CASE, &generated::openvino::qwen2::CASE], true);
}

/// T5 decodes with the cache too: its encoder once, then one decoder position per token (on
/// OpenVINO from the ONNX steps).
#[test]
fn t5_greedy_text_matches_python_generate() {
    checks_generation("t5-generate", [&generated::cpu::t5::CASE, &generated::openvino::t5::CASE], true);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let fixture = fixture("bert-embed");
    let case = &generated::cpu::bert::CASE;
    let message = |source: &str| Skill::load_with(case, source, &fixture.cache).err().expect("refused").to_string();

    // A text longer than the model takes (model_max_length 64): refused, or truncated on request.
    let skill = load(case, &fixture);
    let long = "every model on every backend ".repeat(20);
    let refused = skill.run(Input::text(&[&long]), &Options::default()).unwrap_err().to_string();
    assert!(refused.contains("the model takes at most 64") && refused.contains("truncat"), "{refused}");
    let truncated = skill.tokenizer().unwrap().encode(&[&long], Overflow::Truncate).unwrap();
    assert_eq!(truncated.input_ids.shape(), [1, 64]);
    assert!(skill.run(Input::text(&[&long]), &Options { overflow: Overflow::Truncate, ..Options::default() }).is_ok());

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
    let config = std::fs::read_to_string(renamed.join("config.json"))
        .unwrap()
        .replace("\"model_type\": \"bert\"", "\"model_type\": \"roberta\"");
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
    std::fs::write(renamed.join("config.json"), std::fs::read(fixture.checkpoint.join("config.json")).unwrap())
        .unwrap();
    let no_tokenizer = message(renamed.to_str().unwrap());
    assert!(no_tokenizer.contains("tokenizer.json") && no_tokenizer.contains("missing"), "{no_tokenizer}");
    let absent = message(other.path().join("no/such/dir").to_str().unwrap());
    assert!(absent.contains("no such directory"), "{absent}");
    let hub = message("nobody/no-such-model-here");
    assert!(hub.contains("models--nobody--no-such-model-here") || hub.contains("Hugging Face cache"), "{hub}");

    // An image file that is not an image, and a processor of another model.
    let vit = fixture_at("vit-classify", other.path());
    let skill = Skill::load_with(&generated::cpu::vit::CASE, vit.to_str().unwrap(), &fixture.cache).unwrap();
    let text_file = other.path().join("photo.png");
    std::fs::write(&text_file, "not a picture").unwrap();
    let not_image = skill.run(Input::images(&[text_file.as_path()]), &Options::default()).unwrap_err().to_string();
    assert!(not_image.contains("photo.png") && not_image.contains("PNG or JPEG"), "{not_image}");
    let config = std::fs::read_to_string(vit.join("preprocessor_config.json")).unwrap().replace("64", "96");
    std::fs::write(vit.join("preprocessor_config.json"), config).unwrap();
    let processor = Skill::load_with(&generated::cpu::vit::CASE, vit.to_str().unwrap(), &fixture.cache)
        .err()
        .expect("refused")
        .to_string();
    assert!(processor.contains("preprocessor_config.json") && processor.contains("image_size is 64"), "{processor}");

    // A WAV at another sample rate than the model's, and a file that is not a WAV.
    let speech = fixture_at("wav2vec2-ctc", other.path());
    let skill = Skill::load_with(&generated::cpu::wav2vec2::CASE, speech.to_str().unwrap(), &fixture.cache).unwrap();
    let slow = other.path().join("slow.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&slow, spec).unwrap();
    (0..800).for_each(|i| writer.write_sample((i % 100) as i16 * 100).unwrap());
    writer.finalize().unwrap();
    let rate = skill.run(Input::audio(&[slow.as_path()]), &Options::default()).unwrap_err().to_string();
    assert!(rate.contains("16000 Hz") && rate.contains("8000 Hz") && rate.contains("resample"), "{rate}");
    let not_wav = skill.run(Input::audio(&[text_file.as_path()]), &Options::default()).unwrap_err().to_string();
    assert!(not_wav.contains("photo.png") && not_wav.contains("not a WAV file"), "{not_wav}");

    // A model whose inputs have no preprocessing yet.
    let grids = Skill::load_with(&generated::cpu::qwen2_vl::CASE, fixture.checkpoint.to_str().unwrap(), &fixture.cache)
        .err()
        .expect("refused")
        .to_string();
    assert!(grids.contains("qwen2_vl") && grids.contains("needs"), "{grids}");
}
