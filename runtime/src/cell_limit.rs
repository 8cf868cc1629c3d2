//! A cell that never ends (an engine compiling for half an hour) must not hold up its column:
//! past its limit the process records the cell as a `timeout` failure and ends itself, and the
//! column resumes after it as after any death (scripts/columns.sh). One monitor thread per
//! process watches every cell under way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Environment variable: the longest a cell may run, in seconds (default [`DEFAULT_SECONDS`];
/// 0 turns the limit off).
pub const SECONDS_ENV: &str = "HFZOO_CELL_SECONDS";

/// The default limit: as long as the main job's process-per-cell profile lets a test run
/// (.config/nextest.toml, profile zoo).
pub const DEFAULT_SECONDS: u64 = 1200;

/// What to do when a cell outlives the limit, before the process ends.
type OnExpiry = Box<dyn FnOnce() + Send>;

/// A cell under way.
struct Watched {
    id: u64,
    label: String,
    since: Instant,
    on_expiry: OnExpiry,
}

static WATCHED: Mutex<Vec<Watched>> = Mutex::new(Vec::new());
static MONITOR: OnceLock<()> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The limit `setting` (the variable's value) sets: `None` for 0, the default when unset or
/// not a whole number of seconds.
pub fn limit_from(setting: Option<&str>) -> Option<Duration> {
    let seconds = setting.and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(DEFAULT_SECONDS);
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// The limit in effect in this process (read once).
pub fn limit() -> Option<Duration> {
    static LIMIT: OnceLock<Option<Duration>> = OnceLock::new();
    *LIMIT.get_or_init(|| limit_from(std::env::var(SECONDS_ENV).ok().as_deref()))
}

/// A cell under watch; the watch ends when it is dropped.
pub struct Watch {
    id: Option<u64>,
}

impl Watch {
    /// No watch (the limit is off).
    pub fn off() -> Watch {
        Watch { id: None }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock().retain(|watched| watched.id != id);
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Watched>> {
    WATCHED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Watches the cell `label` from now: past [`limit`], `on_expiry` runs (it records the
/// cell's timeout), a line names the cell and the limit, and the process aborts.
pub fn watch(label: String, on_expiry: impl FnOnce() + Send + 'static) -> Watch {
    let Some(limit) = limit() else { return Watch::off() };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    lock().push(Watched { id, label, since: Instant::now(), on_expiry: Box::new(on_expiry) });
    MONITOR.get_or_init(|| {
        // Without its monitor a cell still runs; it is only not limited.
        let _ = std::thread::Builder::new().name("cell-limit".into()).spawn(move || monitor(limit));
    });
    Watch { id: Some(id) }
}

/// Checks the cells under way every second (or a quarter of the limit); ends the process at
/// the first one past the limit.
fn monitor(limit: Duration) {
    let every = (limit / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        std::thread::sleep(every);
        let expired = {
            let mut watched = lock();
            let at = watched.iter().position(|w| w.since.elapsed() > limit);
            at.map(|at| watched.remove(at))
        };
        if let Some(cell) = expired {
            (cell.on_expiry)();
            // To the real stderr: the harness's capture would swallow it with the process.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "TIMEOUT     {}: still running after {} s ({SECONDS_ENV} sets the limit): recorded as a timeout; the process ends so that its column goes on",
                cell.label,
                limit.as_secs()
            );
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_the_default_unless_set_and_zero_turns_it_off() {
        assert_eq!(limit_from(None), Some(Duration::from_secs(DEFAULT_SECONDS)));
        assert_eq!(limit_from(Some(" 30 ")), Some(Duration::from_secs(30)));
        assert_eq!(limit_from(Some("0")), None);
        assert_eq!(limit_from(Some("soon")), Some(Duration::from_secs(DEFAULT_SECONDS)));
    }

    #[test]
    fn a_finished_cell_leaves_the_watch() {
        let watch = watch("unit on test".into(), || {});
        let id = watch.id;
        assert!(id.is_none() || lock().iter().any(|w| Some(w.id) == id));
        drop(watch);
        assert!(!lock().iter().any(|w| Some(w.id) == id));
    }
}
