//! A local Hugging Face checkpoint: a directory with `config.json` and its weights (one
//! `*.safetensors` file, or shards with their index; `pytorch_model.bin` likewise), with the
//! tokenizer and processor files beside them, or a hub id resolved through the local hub
//! cache ([`hub`]). Opening one checks that what the exporter and the preprocessing read is
//! there, and digests the files the exporter reads (the artifact key: an edited checkpoint
//! exports again).

pub mod hub;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use runtime::error::{Error, Result};

/// An opened checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The directory (a hub id resolved to its snapshot).
    pub dir: PathBuf,
    /// What the user named (a path or a hub id).
    pub source: String,
    /// `config.json`, parsed.
    pub config: Value,
    /// The weight files, relative to `dir`.
    pub weights: Vec<String>,
    /// SHA-256 (hex) of `config.json` and the weight files: the checkpoint's content.
    pub digest: String,
}

/// The single-file weight names, in the order `from_pretrained` prefers them.
const SINGLE_WEIGHTS: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];
/// Their sharded indexes.
const SHARD_INDEXES: [&str; 2] = ["model.safetensors.index.json", "pytorch_model.bin.index.json"];

impl Checkpoint {
    /// Opens a checkpoint directory, or a hub id held in the local Hugging Face cache.
    pub fn open(source: &str) -> Result<Self> {
        let path = Path::new(source);
        let dir = if path.exists() {
            if !path.is_dir() {
                return Err(Error::Checkpoint {
                    path: path.to_path_buf(),
                    message: "is a file; name the checkpoint's directory (the one holding config.json)".into(),
                });
            }
            path.to_path_buf()
        } else if hub::looks_like_id(source) {
            let cache = hub::cache_dir().ok_or_else(|| Error::Checkpoint {
                path: path.to_path_buf(),
                message:
                    "no such directory, and no Hugging Face cache to look the id up in (set HF_HUB_CACHE or HF_HOME)"
                        .into(),
            })?;
            hub::resolve(source, &cache)?
        } else {
            return Err(Error::Checkpoint { path: path.to_path_buf(), message: "no such directory (name a directory that `save_pretrained` wrote, or a hub id held in the local Hugging Face cache)".into() });
        };
        let dir = std::fs::canonicalize(&dir).map_err(Error::io("resolve", &dir))?;
        let config =
            read_json(&dir.join("config.json"), "config.json is written by `save_pretrained` beside the weights")?;
        if !config.is_object() {
            return Err(Error::Checkpoint { path: dir.join("config.json"), message: "is not a JSON object".into() });
        }
        let weights = weight_files(&dir)?;
        let digest = digest(&dir, &weights)?;
        Ok(Self { dir, source: source.to_string(), config, weights, digest })
    }

    /// `model_type` of `config.json`.
    pub fn model_type(&self) -> Option<&str> {
        self.config.get("model_type").and_then(Value::as_str)
    }

    /// The first of `architectures` in `config.json` (the class `save_pretrained` saved).
    pub fn architecture(&self) -> Option<&str> {
        self.config.get("architectures").and_then(Value::as_array).and_then(|a| a.first()).and_then(Value::as_str)
    }

    /// A number from `config.json` (`vocab_size`), looked up at the top level, then in
    /// `text_config`.
    pub fn config_number(&self, key: &str) -> Option<i64> {
        let top = self.config.get(key).and_then(Value::as_i64);
        top.or_else(|| self.config.get("text_config").and_then(|c| c.get(key)).and_then(Value::as_i64))
    }

    /// A file of the checkpoint, if present.
    pub fn file(&self, name: &str) -> Option<PathBuf> {
        let path = self.dir.join(name);
        path.is_file().then_some(path)
    }

    /// A JSON file of the checkpoint, parsed, if present (malformed is an error naming it).
    pub fn json(&self, name: &str) -> Result<Option<Value>> {
        match self.file(name) {
            Some(path) => read_json(&path, "").map(Some),
            None => Ok(None),
        }
    }

    /// Checks that this checkpoint is a `model_type` model (what the skill was made for).
    pub fn expect_model_type(&self, model_type: &str) -> Result<()> {
        match self.model_type() {
            Some(found) if found == model_type => Ok(()),
            Some(found) => Err(Error::Checkpoint {
                path: self.dir.join("config.json"),
                message: format!("is a `{found}` model (its model_type), the skill is for `{model_type}`: load it with the `{found}` skill"),
            }),
            None => Err(Error::Checkpoint { path: self.dir.join("config.json"), message: format!("has no `model_type`; the skill is for `{model_type}` (save_pretrained writes it)") }),
        }
    }
}

/// Parses a JSON file of a checkpoint; `hint` says what would provide a missing one.
fn read_json(path: &Path, hint: &str) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => {
            Error::Checkpoint { path: path.to_path_buf(), message: format!("missing; {hint}") }
        }
        _ => Error::Io { action: "read", path: path.to_path_buf(), source },
    })?;
    serde_json::from_str(&text).map_err(|source| Error::Checkpoint {
        path: path.to_path_buf(),
        message: format!("is not valid JSON: {source}"),
    })
}

/// The weight files of a checkpoint directory: a single file, or every shard its index names.
fn weight_files(dir: &Path) -> Result<Vec<String>> {
    if let Some(single) = SINGLE_WEIGHTS.iter().find(|name| dir.join(name).is_file()) {
        return Ok(vec![single.to_string()]);
    }
    let Some(index) = SHARD_INDEXES.iter().find(|name| dir.join(name).is_file()) else {
        return Err(Error::Checkpoint {
            path: dir.to_path_buf(),
            message: format!(
                "holds no weights: looked for {} and {} (`save_pretrained` writes them)",
                SINGLE_WEIGHTS.join(", "),
                SHARD_INDEXES.join(", ")
            ),
        });
    };
    let index_path = dir.join(index);
    let parsed = read_json(&index_path, "")?;
    let map = parsed
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::Checkpoint { path: index_path.clone(), message: "has no `weight_map` object".into() })?;
    let mut shards: Vec<String> = map.values().filter_map(Value::as_str).map(str::to_string).collect();
    shards.sort();
    shards.dedup();
    if shards.is_empty() {
        return Err(Error::Checkpoint { path: index_path, message: "names no shard in its `weight_map`".into() });
    }
    if let Some(missing) =
        shards.iter().find(|shard| Path::new(shard).components().count() != 1 || !dir.join(shard).is_file())
    {
        return Err(Error::Checkpoint {
            path: dir.join(missing),
            message: format!("is named by {index} but missing (an interrupted download or copy?)"),
        });
    }
    let mut files = vec![index.to_string()];
    files.extend(shards);
    Ok(files)
}

/// SHA-256 over `config.json` and the weight files (each name, length and bytes).
fn digest(dir: &Path, weights: &[String]) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 1 << 20];
    for name in std::iter::once("config.json").chain(weights.iter().map(String::as_str)) {
        let path = dir.join(name);
        let mut file = std::fs::File::open(&path).map_err(Error::io("open", &path))?;
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        loop {
            let read = file.read(&mut buffer).map_err(Error::io("read", &path))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn opens_a_directory_and_digests_its_content() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "config.json", r#"{"model_type": "bert", "architectures": ["BertModel"], "vocab_size": 30}"#);
        write(dir.path(), "model.safetensors", "weights");
        let first = Checkpoint::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(
            (first.model_type(), first.architecture(), first.config_number("vocab_size")),
            (Some("bert"), Some("BertModel"), Some(30))
        );
        assert_eq!(first.weights, ["model.safetensors"]);
        first.expect_model_type("bert").unwrap();
        let other = first.expect_model_type("roberta").unwrap_err().to_string();
        assert!(other.contains("is a `bert` model") && other.contains("`roberta`"), "{other}");

        write(dir.path(), "model.safetensors", "weights, edited");
        let edited = Checkpoint::open(dir.path().to_str().unwrap()).unwrap();
        assert_ne!(first.digest, edited.digest, "an edited checkpoint has another digest");
        write(dir.path(), "tokenizer.json", "{}");
        assert_eq!(
            Checkpoint::open(dir.path().to_str().unwrap()).unwrap().digest,
            edited.digest,
            "tokenizer files are not the exporter's"
        );
    }

    #[test]
    fn names_what_is_missing_or_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let open = |d: &Path| Checkpoint::open(d.to_str().unwrap()).unwrap_err().to_string();
        let missing = open(dir.path());
        assert!(
            missing.contains("config.json") && missing.contains("missing") && missing.contains("save_pretrained"),
            "{missing}"
        );
        write(dir.path(), "config.json", "{ not json");
        let malformed = open(dir.path());
        assert!(malformed.contains("config.json") && malformed.contains("not valid JSON"), "{malformed}");
        write(dir.path(), "config.json", r#"{"model_type": "bert"}"#);
        let weights = open(dir.path());
        assert!(weights.contains("holds no weights") && weights.contains("model.safetensors"), "{weights}");
        write(
            dir.path(),
            "model.safetensors.index.json",
            r#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#,
        );
        write(dir.path(), "model-00001-of-00002.safetensors", "x");
        let shard = open(dir.path());
        assert!(shard.contains("model-00002-of-00002.safetensors") && shard.contains("missing"), "{shard}");
        write(dir.path(), "model-00002-of-00002.safetensors", "y");
        let sharded = Checkpoint::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(sharded.weights.len(), 3, "the index and both shards");
        let absent = open(&dir.path().join("nowhere/at/all"));
        assert!(absent.contains("no such directory"), "{absent}");
        let file = open(&dir.path().join("config.json"));
        assert!(file.contains("is a file"), "{file}");
    }
}
