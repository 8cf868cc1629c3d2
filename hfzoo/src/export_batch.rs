//! How `hfzoo export` builds its batch: one exporter job per model and export device, holding
//! every backend's formats of that request, without what is already published.

use runtime::artifacts::{Artifact, ExportJob};

/// The batch operations on an exporter job.
pub trait BatchJob<'a> {
    /// A job for a backend's formats: the first always, each later one only where the first failed.
    fn for_formats(request_json: &'a str, artifacts: Vec<Artifact>) -> Self;
    /// Adds another backend's artifacts of the same request (an artifact already here once).
    fn merge(&mut self, other: ExportJob<'a>);
    /// The same job with only the artifacts `needed` says to build: what exists is never
    /// rebuilt under its readers (nor a working fallback turned `not-needed`).
    fn only(self, needed: impl Fn(&Artifact) -> bool) -> Self;
}

impl<'a> BatchJob<'a> for ExportJob<'a> {
    fn merge(&mut self, other: ExportJob<'a>) {
        for artifact in other.artifacts {
            if !self.artifacts.iter().any(|a| a.dir == artifact.dir) {
                self.artifacts.push(artifact);
            }
        }
        for fallback in other.fallbacks {
            if !self.fallbacks.contains(&fallback) {
                self.fallbacks.push(fallback);
            }
        }
    }

    fn only(mut self, needed: impl Fn(&Artifact) -> bool) -> Self {
        self.artifacts.retain(|artifact| needed(artifact));
        self
    }

    fn for_formats(request_json: &'a str, artifacts: Vec<Artifact>) -> Self {
        let fallbacks = match artifacts.split_first() {
            Some((first, rest)) => rest.iter().map(|a| (a.format, first.format)).collect(),
            None => Vec::new(),
        };
        Self { request_json, artifacts, fallbacks }
    }
}
