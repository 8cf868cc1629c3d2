//! The engine's global random generator, shared by the test threads of one process: a case with
//! a `run_seed` runs alone (exclusive), every other forward beside the others (shared). A
//! seeded case's draws then never interleave with another forward's, whether that one is
//! checked or only measured.

use std::sync::RwLock;

use crate::backend::Backend;
use crate::spec::Case;

static GENERATOR: RwLock<()> = RwLock::new(());

/// Runs `forward` under the generator guard; `seed` re-seeds the generator first (checked
/// runs of a seeded case), `None` leaves it as it is (measured runs, unseeded cases).
pub fn guarded<T>(backend: &dyn Backend, exclusive: bool, seed: Option<u64>, forward: impl FnOnce() -> T) -> T {
    if exclusive {
        let _guard = GENERATOR.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(seed) = seed {
            backend.seed(seed);
        }
        forward()
    } else {
        let _guard = GENERATOR.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        forward()
    }
}

/// Runs a checked forward: a seeded case after seeding the engine's generator with its
/// `run_seed`, alone; any other case beside the others.
pub fn checked_run<T>(case: &Case, backend: &dyn Backend, forward: impl FnOnce() -> T) -> T {
    let seed = case.spec.run_seed();
    guarded(backend, seed.is_some(), seed, forward)
}
