//! A generating skill's steps with the cache: the checkpoint's prefill and decode steps
//! (`runtime::generation`), exported on first use beside the skill's forward artifact, so that
//! greedy decoding computes each new token once instead of the whole sequence again.

use std::sync::{Arc, Mutex};

use export_request::{Category, ExportRequest, GENERATION_NEW_TOKENS};
use runtime::artifacts::ArtifactCache;
use runtime::error::{Error, Result};
use runtime::generation::Steps;
use runtime::session::backend_for;
use runtime::spec::{Case, Cow, Expected};

/// The steps once opened: `None` where the engine has no generation route, or the model's
/// cache is more than keys and values (category `cache`): the skill then decodes without it.
type Opened = Arc<Option<Steps>>;

/// The lazily opened steps of one skill.
#[derive(Default)]
pub struct CachedSteps {
    slot: Mutex<Option<Opened>>,
}

impl CachedSteps {
    /// The steps for the checkpoint `case` (its spec's request is the checkpoint's forward
    /// request) with the generation head `model_class`, opened on first use from `cache`.
    pub fn get(&self, case: &Case, model_class: &str, cache: &ArtifactCache) -> Result<Opened> {
        let mut slot =
            self.slot.lock().map_err(|_| Error::InvalidArgument("a skill's steps were poisoned by a panic".into()))?;
        if let Some(opened) = slot.as_ref() {
            return Ok(opened.clone());
        }
        let opened = Arc::new(open(case, model_class, cache)?);
        *slot = Some(opened.clone());
        Ok(opened)
    }
}

/// Exports (or finds) the generation artifact of a checkpoint case and loads its steps.
fn open(case: &Case, model_class: &str, cache: &ArtifactCache) -> Result<Option<Steps>> {
    let backend = backend_for(case)?;
    if backend.generation_formats().is_empty() {
        return Ok(None);
    }
    let request = ExportRequest::parse(&case.spec.request_json)
        .map_err(|why| Error::Mismatch(format!("the exporter request of `{}`: {why}", case.spec.model_type)))?;
    // A prompt of other inputs than ids and a mask (an image) is not generated with the cache yet.
    let Ok(generation) = request.generation(model_class, GENERATION_NEW_TOKENS) else { return Ok(None) };
    let mut spec = (*case.spec).clone();
    spec.model_class = Cow::Owned(model_class.to_string());
    spec.request_json = Cow::Owned(generation.to_canonical_json());
    let generation_case = Case { spec: Cow::Owned(spec), hardware: case.hardware, expected: Expected::Pass };
    match cache.ensure_first(&generation_case, runtime::route::formats(&generation_case, backend)) {
        Ok(artifact) => Ok(Some(Steps::load(backend, case.hardware, &artifact)?)),
        Err(Error::Export { category, .. }) if category.is(Category::Cache) => Ok(None),
        Err(error) => Err(error),
    }
}
