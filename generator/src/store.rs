//! The DuckDB template store: templates and their history, synced from `templates/`.
//!
//! The generator renders only from the store. `sync` compares each file's sha256 with the
//! stored one and records every change as a new version in `template_history`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use duckdb::{params, Connection};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Where a template applies; derived from its path under `templates/`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum TemplateKind {
    /// `base.rs.tera`: applies to everything.
    Base,
    /// `spec.rs.tera`: the one spec module per model (`generated/src/models/<model>.rs`).
    Spec,
    /// `hardware/<hw>.rs.tera`.
    Hardware { hardware: String },
    /// `family/<family>.rs.tera`.
    Family { family: String },
    /// `family/<family>/<hw>.rs.tera`.
    FamilyHardware { family: String, hardware: String },
    /// `model/<model_type>/<hw>.rs.tera`.
    ModelHardware { model_type: String, hardware: String },
    /// `partials/*.tera`: only extended or included, never selected.
    Partial,
}

impl TemplateKind {
    /// Classifies a template by its name (path relative to `templates/`).
    pub fn from_name(name: &str) -> Option<Self> {
        let parts: Vec<&str> = name.split('/').collect();
        let stem = |file: &str| file.strip_suffix(".rs.tera").map(str::to_string);
        match parts.as_slice() {
            ["base.rs.tera"] => Some(TemplateKind::Base),
            ["spec.rs.tera"] => Some(TemplateKind::Spec),
            ["partials", file] if file.ends_with(".tera") => Some(TemplateKind::Partial),
            ["hardware", file] => stem(file).map(|hardware| TemplateKind::Hardware { hardware }),
            ["family", file] => stem(file).map(|family| TemplateKind::Family { family }),
            ["family", family, file] => {
                stem(file).map(|hardware| TemplateKind::FamilyHardware { family: family.to_string(), hardware })
            }
            ["model", model_type, file] => {
                stem(file).map(|hardware| TemplateKind::ModelHardware { model_type: model_type.to_string(), hardware })
            }
            _ => None,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            TemplateKind::Base => "base",
            TemplateKind::Spec => "spec",
            TemplateKind::Hardware { .. } => "hardware",
            TemplateKind::Family { .. } => "family",
            TemplateKind::FamilyHardware { .. } => "family+hardware",
            TemplateKind::ModelHardware { .. } => "model+hardware",
            TemplateKind::Partial => "partial",
        }
    }

    fn columns(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        match self {
            TemplateKind::Base | TemplateKind::Spec | TemplateKind::Partial => (None, None, None),
            TemplateKind::Hardware { hardware } => (None, Some(hardware), None),
            TemplateKind::Family { family } => (Some(family), None, None),
            TemplateKind::FamilyHardware { family, hardware } => (Some(family), Some(hardware), None),
            TemplateKind::ModelHardware { model_type, hardware } => (None, Some(hardware), Some(model_type)),
        }
    }
}

/// The names to try for a model on a hardware, most specific first.
pub fn candidates(model_type: &str, family: &str, hardware: &str) -> [String; 5] {
    [
        format!("model/{model_type}/{hardware}.rs.tera"),
        format!("family/{family}/{hardware}.rs.tera"),
        format!("family/{family}.rs.tera"),
        format!("hardware/{hardware}.rs.tera"),
        "base.rs.tera".to_string(),
    ]
}

/// A template as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredTemplate {
    /// Path relative to `templates/`.
    pub name: String,
    /// Specificity class.
    pub kind: String,
    /// Template source.
    pub body: String,
    /// sha256 of the body, hex.
    pub sha256: String,
    /// 1 for the first version, +1 per change.
    pub version: i64,
    /// When this version entered the store (UTC).
    pub updated_at: String,
}

impl StoredTemplate {
    /// `name@<first 8 hex digits>`, as written in generated headers.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, &self.sha256[..8])
    }
}

/// One row of a template's history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryEntry {
    /// Version number.
    pub version: i64,
    /// `added`, `changed` or `removed`.
    pub change: String,
    /// sha256 of that version's body (empty when removed).
    pub sha256: String,
    /// When it was recorded (UTC).
    pub recorded_at: String,
}

/// What a sync changed.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SyncReport {
    /// Names new to the store.
    pub added: Vec<String>,
    /// Names whose body changed.
    pub changed: Vec<String>,
    /// Names whose file is gone.
    pub removed: Vec<String>,
    /// How many were identical.
    pub unchanged: usize,
}

/// The DuckDB-backed store.
pub struct TemplateStore {
    path: PathBuf,
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS templates (
    name VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, family VARCHAR, hardware VARCHAR,
    model_type VARCHAR, body VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
    version INTEGER NOT NULL, updated_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS template_history (
    name VARCHAR NOT NULL, version INTEGER NOT NULL, change VARCHAR NOT NULL,
    body VARCHAR, sha256 VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (name, version));
";

impl TemplateStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io("create directory", parent))?;
        }
        let conn = Connection::open(path).map_err(|e| store_error(path, e))?;
        conn.execute_batch(SCHEMA).map_err(|e| store_error(path, e))?;
        Ok(Self { path: path.to_path_buf(), conn })
    }

    fn err(&self, error: duckdb::Error) -> Error {
        store_error(&self.path, error)
    }

    /// Brings the store in line with the files under `dir`; records every change in history.
    pub fn sync(&mut self, dir: &Path) -> Result<SyncReport> {
        let files = read_template_files(dir)?;
        let stored: BTreeMap<String, (String, i64)> =
            self.list()?.into_iter().map(|t| (t.name, (t.sha256, t.version))).collect();
        let mut report = SyncReport::default();
        let tx = self.conn.transaction().map_err(|e| store_error(&self.path, e))?;
        for (name, body) in &files {
            let kind = TemplateKind::from_name(name).ok_or_else(|| Error::Store {
                path: dir.join(name),
                message: format!(
                    "`{name}` is not a recognised template path; use base.rs.tera, hardware/<hw>.rs.tera, family/<family>.rs.tera, family/<family>/<hw>.rs.tera, model/<model_type>/<hw>.rs.tera or partials/<name>.tera"
                ),
            })?;
            let sha = hex::encode(Sha256::digest(body.as_bytes()));
            let (family, hardware, model_type) = kind.columns();
            let version = match stored.get(name) {
                Some((old, _)) if *old == sha => {
                    report.unchanged += 1;
                    continue;
                }
                Some((_, version)) => {
                    report.changed.push(name.clone());
                    version + 1
                }
                None => {
                    report.added.push(name.clone());
                    next_version(&tx, name).map_err(|e| store_error(&self.path, e))?
                }
            };
            let change = if version == 1 || !stored.contains_key(name) { "added" } else { "changed" };
            tx.execute("DELETE FROM templates WHERE name = ?", params![name])
                .map_err(|e| store_error(&self.path, e))?;
            tx.execute(
                "INSERT INTO templates VALUES (?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
                params![name, kind.label(), family, hardware, model_type, body, sha, version],
            )
            .map_err(|e| store_error(&self.path, e))?;
            tx.execute(
                "INSERT INTO template_history VALUES (?, ?, ?, ?, ?, current_timestamp)",
                params![name, version, change, body, sha],
            )
            .map_err(|e| store_error(&self.path, e))?;
        }
        for (name, (sha, version)) in &stored {
            if files.contains_key(name) {
                continue;
            }
            report.removed.push(name.clone());
            tx.execute("DELETE FROM templates WHERE name = ?", params![name])
                .map_err(|e| store_error(&self.path, e))?;
            tx.execute(
                "INSERT INTO template_history VALUES (?, ?, 'removed', NULL, ?, current_timestamp)",
                params![name, version + 1, sha],
            )
            .map_err(|e| store_error(&self.path, e))?;
        }
        tx.commit().map_err(|e| store_error(&self.path, e))?;
        Ok(report)
    }

    /// Every current template, sorted by name.
    pub fn list(&self) -> Result<Vec<StoredTemplate>> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT name, kind, body, sha256, version, CAST(updated_at AS VARCHAR) FROM templates ORDER BY name",
            )
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(StoredTemplate {
                    name: row.get(0)?,
                    kind: row.get(1)?,
                    body: row.get(2)?,
                    sha256: row.get(3)?,
                    version: row.get(4)?,
                    updated_at: row.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// One template by name.
    pub fn get(&self, name: &str) -> Result<StoredTemplate> {
        self.list()?.into_iter().find(|t| t.name == name).ok_or_else(|| Error::UnknownTemplate(name.to_string()))
    }

    /// Versions of one template, oldest first.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        let mut statement = self
            .conn
            .prepare("SELECT version, change, sha256, CAST(recorded_at AS VARCHAR) FROM template_history WHERE name = ? ORDER BY version")
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map(params![name], |row| {
                Ok(HistoryEntry {
                    version: row.get(0)?,
                    change: row.get(1)?,
                    sha256: row.get(2)?,
                    recorded_at: row.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let entries = rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))?;
        if entries.is_empty() {
            return Err(Error::UnknownTemplate(name.to_string()));
        }
        Ok(entries)
    }
}

fn next_version(tx: &duckdb::Transaction<'_>, name: &str) -> duckdb::Result<i64> {
    tx.query_row("SELECT coalesce(max(version), 0) + 1 FROM template_history WHERE name = ?", params![name], |row| {
        row.get(0)
    })
}

fn store_error(path: &Path, error: duckdb::Error) -> Error {
    let text = error.to_string();
    let message = if text.contains("lock") {
        format!("{text}\nhint: another process holds the template store; wait for it to finish, or pass --store <other path>")
    } else {
        text
    };
    Error::Store { path: path.to_path_buf(), message }
}

/// Every `*.tera` file under `dir`, keyed by its `/`-separated path relative to `dir`.
pub fn read_template_files(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current).map_err(Error::io("read directory", &current))?;
        for entry in entries {
            let path = entry.map_err(Error::io("read directory", &current))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "tera") {
                let name = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                let body = std::fs::read_to_string(&path).map_err(Error::io("read template", &path))?;
                out.insert(name, body.replace("\r\n", "\n"));
            }
        }
    }
    Ok(out)
}
