//! A skill's sessions: one exported at load for most models, or one per image size exported on
//! first use where the trace bakes the size in (LLaVA-NeXT's `image_sizes` fixes its tiling).

use std::collections::HashMap;
use std::sync::Mutex;

use super::case::{self, Axis, Shaping};
use super::task::Traced;
use crate::checkpoint::Checkpoint;
use runtime::artifacts::ArtifactCache;
use runtime::error::{Error, Result};
use runtime::session::{backend_for, Session};
use runtime::spec::Case;
use runtime::tensor::HostTensor;

/// The input whose values pick a per-size session.
pub const SIZES_INPUT: &str = "image_sizes";

/// How a per-size export differs from the load's: the tiles of `pixel_values`, the image
/// tokens leading the ids, and the baked size.
pub struct SizeShaping {
    /// Patches per image (the whole view and the tiles).
    pub patches: usize,
    /// The tile's side in pixels.
    pub tile: usize,
    /// The image placeholder's id and its count for this size.
    pub image_tokens: (i64, usize),
}

/// The sessions of one skill.
pub struct Sessions {
    main: Option<Session>,
    per_size: Mutex<HashMap<(i64, i64), Session>>,
    cache: ArtifactCache,
    base: &'static Case,
    traced: Traced,
    shaping: Shaping,
    checkpoint: Checkpoint,
    /// How the load's artifact was reached, if not by the first route.
    pub route_note: Option<String>,
}

impl Sessions {
    /// Exports (or finds) the checkpoint's artifact for `shaping` and loads it, unless
    /// `per_size`: then sessions come with each image size ([`Sessions::run`]).
    pub fn open(
        base: &'static Case,
        checkpoint: &Checkpoint,
        traced: &Traced,
        shaping: Shaping,
        cache: &ArtifactCache,
        per_size: bool,
    ) -> Result<(Self, Case)> {
        let dirs = serde_json::json!({ checkpoint.digest.clone(): checkpoint.dir }).to_string();
        let cache =
            cache.clone().with_exporter(runtime::paths::checkpoint_exporter()).with_exporter_env(case::DIRS_ENV, dirs);
        let checkpoint_case =
            case::checkpoint_case(base, &case::request(&base.spec, checkpoint, traced, &shaping)?, traced, &shaping);
        let (main, route_note) = if per_size {
            (None, None)
        } else {
            let route = runtime::route::choose(&cache, &checkpoint_case, backend_for(base)?)?;
            (Some(Session::load(&checkpoint_case, &route.artifact)?), route.left)
        };
        let sessions = Self {
            main,
            per_size: Mutex::new(HashMap::new()),
            cache,
            base,
            traced: traced.clone(),
            shaping,
            checkpoint: checkpoint.clone(),
            route_note,
        };
        Ok((sessions, checkpoint_case))
    }

    /// The artifact cache this skill's sessions export into (the checkpoint exporter's).
    pub fn cache(&self) -> &ArtifactCache {
        &self.cache
    }

    /// Runs `inputs` (spec order) on the load's session, or on the session of the image size
    /// that `image_sizes` (spec position `sizes_at`) holds, exporting it with `size_shaping` first.
    pub fn run(
        &self,
        inputs: Vec<HostTensor>,
        sizes_at: Option<usize>,
        size_shaping: impl Fn((i64, i64)) -> Result<SizeShaping>,
    ) -> Result<Vec<HostTensor>> {
        if let Some(session) = &self.main {
            return session.run_vec(inputs);
        }
        let sizes = sizes_at
            .and_then(|at| inputs.get(at))
            .and_then(HostTensor::as_i64)
            .filter(|s| s.len() == 2)
            .map(|s| (s[0], s[1]));
        let size = sizes.ok_or_else(|| {
            Error::InvalidArgument(format!(
                "`{}` runs one image at a time with its `{SIZES_INPUT}` [height, width]",
                self.base.spec.model_type
            ))
        })?;
        let mut sessions = self
            .per_size
            .lock()
            .map_err(|_| Error::InvalidArgument("a skill's sessions were poisoned by a panic".into()))?;
        let session = match sessions.entry(size) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let shaped = size_shaping(size)?;
                let mut shaping = self.shaping.clone();
                let axes = vec![
                    Axis::Fixed(shaped.patches),
                    Axis::Fixed(3),
                    Axis::Fixed(shaped.tile),
                    Axis::Fixed(shaped.tile),
                ];
                shaping.sized.retain(|(name, _)| *name != super::inputs::IMAGE_INPUT);
                shaping.sized.push((super::inputs::IMAGE_INPUT, axes));
                shaping.image_tokens = Some(shaped.image_tokens);
                shaping.constants = vec![(SIZES_INPUT, vec![size.0 as f64, size.1 as f64])];
                let case = case::checkpoint_case(
                    self.base,
                    &case::request(&self.base.spec, &self.checkpoint, &self.traced, &shaping)?,
                    &self.traced,
                    &shaping,
                );
                let route = runtime::route::choose(&self.cache, &case, backend_for(self.base)?)?;
                entry.insert(Session::load(&case, &route.artifact)?)
            }
        };
        session.run_vec(inputs)
    }
}
