//! Loaded models shared inside one process. The suite's check of a case always loads its
//! model anew (so `load_ms` and `first_inference_ms` measure a real load) and publishes it
//! here; a session of the same artifact on the same hardware opened soon after (the typed-skill
//! and causality tests of that case, a user's second `load_tiny`) reuses it instead of loading
//! the file and warming the engine a second time. Only the [`RECENT`] latest publications are
//! kept; a session that finds none loads its own, so sharing changes speed, never a verdict.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use crate::backend::LoadedModel;

/// A loaded model several sessions may run at once (engines run inference through `&self`).
pub type SharedModel = Arc<dyn LoadedModel>;

/// How many published models stay loaded for later sessions (a few: tests run in name order,
/// so a case's other tests start within the next few tests of its check).
pub const RECENT: usize = 4;

/// One publication: the model once its load has finished (`None` when the load failed).
struct Slot {
    key: String,
    model: OnceLock<Option<SharedModel>>,
}

static PUBLISHED: Mutex<VecDeque<Arc<Slot>>> = Mutex::new(VecDeque::new());

fn published() -> std::sync::MutexGuard<'static, VecDeque<Arc<Slot>>> {
    PUBLISHED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A load announced before it starts, so a session asking meanwhile waits for it instead of
/// loading the same file beside it. Dropped without [`Publication::finish`] (a failed load,
/// a panic), it tells waiters to load their own.
pub struct Publication(Arc<Slot>);

impl Publication {
    /// Hands the loaded model to the sessions that wait for it or ask later.
    pub fn finish(self, model: SharedModel) {
        let _ = self.0.model.set(Some(model));
    }
}

impl Drop for Publication {
    fn drop(&mut self) {
        // A no-op after `finish`; otherwise waiters learn there is nothing to share.
        let _ = self.0.model.set(None);
    }
}

/// Announces a load of `key`, replacing an older publication of it; the oldest beyond
/// [`RECENT`] are dropped (their models live on while a session holds them).
pub fn announce(key: &str) -> Publication {
    let slot = Arc::new(Slot { key: key.to_string(), model: OnceLock::new() });
    let mut list = published();
    list.retain(|s| s.key != key);
    list.push_back(slot.clone());
    while list.len() > RECENT {
        list.pop_front();
    }
    Publication(slot)
}

/// The published model of `key`, waiting for its load if it is still running; `None` when
/// none is published or its load failed.
pub fn find(key: &str) -> Option<SharedModel> {
    let slot = published().iter().find(|s| s.key == key).cloned()?;
    slot.model.wait().clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::HostTensor;

    struct Fixed(f32);
    impl LoadedModel for Fixed {
        fn forward(&self, _: &[HostTensor]) -> crate::Result<Vec<HostTensor>> {
            Ok(vec![HostTensor::new(&[1], vec![self.0])?])
        }
    }

    fn value(model: &SharedModel) -> f32 {
        model.forward(&[]).unwrap()[0].to_f64_vec()[0] as f32
    }

    // One test: the publications are process-wide, and a parallel test adding its own could
    // push these out of the latest few.
    #[test]
    fn finished_loads_are_shared_failed_ones_are_not_and_only_the_latest_are_kept() {
        let publication = announce("shared-test|a");
        publication.finish(Arc::new(Fixed(1.5)));
        assert_eq!(find("shared-test|a").map(|m| value(&m)), Some(1.5));
        drop(announce("shared-test|b"));
        assert!(find("shared-test|b").is_none(), "a load that never finished shares nothing");
        assert!(find("shared-test|never").is_none());

        let publication = announce("shared-test|wait");
        let waiter = std::thread::spawn(|| find("shared-test|wait").map(|m| value(&m)));
        std::thread::sleep(std::time::Duration::from_millis(50));
        publication.finish(Arc::new(Fixed(2.0)));
        assert_eq!(waiter.join().unwrap(), Some(2.0), "a session asking during the load waits for it");

        for i in 0..RECENT + 2 {
            announce(&format!("shared-test|recent-{i}")).finish(Arc::new(Fixed(i as f32)));
        }
        assert!(find("shared-test|recent-0").is_none(), "the oldest was dropped");
        assert!(find("shared-test|a").is_none());
        assert_eq!(find(&format!("shared-test|recent-{}", RECENT + 1)).map(|m| value(&m)), Some((RECENT + 1) as f32));
    }
}
