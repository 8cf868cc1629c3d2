//! Finding, starting and ending headless Chromium so that no browser outlives the process that
//! started it: a fresh profile directory each launch; the browser in its own process group,
//! killed as a group when dropped and, through an exit handler, when the process exits with
//! the browser still held (statics are never dropped); the kernel kills it (`PR_SET_PDEATHSIG`)
//! when the process dies without exiting (a signal). Chromium's helpers (zygote, GPU, renderer)
//! end when the browser process does.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, Once, OnceLock};

use crate::{Error, Result};

/// Environment variable naming the Chromium binary (else `chromium` on `PATH`).
pub const CHROMIUM_ENV: &str = "HFZOO_CHROMIUM";

/// Browser names searched on `PATH`, in order.
const CANDIDATES: &[&str] = &["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"];

/// Profile directories start with this, followed by the owning process id.
const PROFILE_PREFIX: &str = "hfzoo-browser-";

/// The Chromium binary to launch, or why there is none.
pub fn find_chromium() -> std::result::Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(CHROMIUM_ENV).filter(|v| !v.is_empty()).map(PathBuf::from) {
        return if path.is_file() { Ok(path) } else { Err(format!("{CHROMIUM_ENV}={} is not a file", path.display())) };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| CANDIDATES.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("no Chromium on PATH ({}): install Debian's package (`apt-get install chromium`, which scripts/setup.sh does) or set {CHROMIUM_ENV}", CANDIDATES.join(", ")))
}

/// Flags of every launch: headless, nothing but 127.0.0.1 reachable (every other host name
/// resolves to nothing, background services off), WebGPU and WebNN exposed to the page.
fn flags(profile: &Path) -> Vec<String> {
    let mut flags: Vec<String> = [
        "--headless",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-breakpad",
        "--disable-crash-reporter",
        "--disable-quic",
        "--no-pings",
        "--mute-audio",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--enable-unsafe-webgpu",
        "--enable-features=WebMachineLearningNeuralNetwork",
    ]
    .map(String::from)
    .to_vec();
    // Chromium refuses to start its sandbox as root; the page it loads is our own, from 127.0.0.1.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        flags.push("--no-sandbox".into());
    }
    flags.push(format!("--user-data-dir={}", profile.display()));
    flags
}

/// A running headless Chromium, ended (with every process of its group) when dropped.
pub struct Chromium {
    child: Child,
    profile: PathBuf,
    log: PathBuf,
}

/// Process groups and profiles of browsers this process holds, for the exit handler.
static LIVE: Mutex<Vec<(i32, PathBuf)>> = Mutex::new(Vec::new());

extern "C" fn end_live_browsers() {
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    for (group, profile) in live {
        kill_group(group);
        let _ = std::fs::remove_dir_all(profile);
    }
}

fn kill_group(group: i32) {
    if group > 1 {
        // SAFETY: killpg only sends a signal; the group is one this process created.
        unsafe { libc::killpg(group, libc::SIGKILL) };
    }
}

impl Chromium {
    /// Starts `executable` on `url` with a fresh profile; its stderr goes to a log in the profile.
    pub fn launch(executable: &Path, url: &str) -> Result<Chromium> {
        static EXIT_HANDLER: Once = Once::new();
        EXIT_HANDLER.call_once(|| {
            // SAFETY: registers a plain function with no captured state.
            unsafe { libc::atexit(end_live_browsers) };
        });
        remove_stale_profiles();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let candidates = std::iter::repeat_with(|| {
            std::env::temp_dir().join(format!(
                "{PROFILE_PREFIX}{}-{}-{nonce}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ))
        });
        let profile = create_private_dir(candidates.take(64))?;
        let log = profile.join("chromium.log");
        // A new file in a directory only this user can write: no link planted there to follow.
        let stderr =
            std::fs::OpenOptions::new().write(true).create_new(true).open(&log).map_err(Error::io("create", &log))?;
        let mut command = Command::new(executable);
        command
            .args(flags(&profile))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill this child when
        // the thread that forked it ends (the spawner thread lives as long as the process).
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child =
            spawn(command).map_err(|e| Error::Engine(format!("could not start {}: {e}", executable.display())))?;
        LIVE.lock().unwrap_or_else(|p| p.into_inner()).push((child.id() as i32, profile.clone()));
        Ok(Chromium { child, profile, log })
    }

    /// The browser's profile directory (removed when the browser ends).
    pub fn profile(&self) -> &Path {
        &self.profile
    }

    /// The browser's process id, which is also its process group.
    pub fn group(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether the browser process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines Chromium wrote to stderr (for error messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().filter(|l| !l.contains("dbus")).collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let group = self.group();
        kill_group(group);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
        LIVE.lock().unwrap_or_else(|p| p.into_inner()).retain(|(g, _)| *g != group);
    }
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns on one thread that lives as long as the process: `PR_SET_PDEATHSIG` fires when the
/// forking *thread* ends, so a browser forked from a test's thread would die with that test.
fn spawn(command: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (sender, requests) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("hfzoo-browser-spawner".into())
            .spawn(move || {
                for (mut command, reply) in requests {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("a thread can be started");
        Mutex::new(sender)
    });
    let (reply, result) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the spawner thread ended"))?;
    result.recv().map_err(|_| std::io::Error::other("the spawner thread ended"))?
}

/// The first of `candidates` created anew, private to this user (mode 0700): a path that
/// exists already (made by another user, or a link planted there) is never reused.
fn create_private_dir(candidates: impl Iterator<Item = PathBuf>) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let mut last = None;
    for path in candidates {
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => last = Some(path),
            Err(error) => return Err(Error::io("create the browser profile", &path)(error)),
        }
    }
    let path = last.unwrap_or_else(std::env::temp_dir);
    Err(Error::io("create the browser profile", &path)(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "every candidate name exists already",
    )))
}

/// Removes profile directories left by processes that no longer exist (killed by a signal,
/// when no exit handler ran); every launch does this first.
pub fn remove_stale_profiles() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PROFILE_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Live (not zombie) processes whose process group is `group` (read from /proc), for tests
/// and diagnostics.
pub fn processes_in_group(group: i32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the parenthesised command name: state, ppid, pgrp.
            let fields: Vec<&str> =
                stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().take(3).collect()).unwrap_or_default();
            fields.len() == 3 && fields[0] != "Z" && fields[2].parse::<i32>().ok() == Some(group)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_a_fresh_private_directory_never_one_found_there() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // What another user could leave at the predictable name: a directory open to all.
        let planted = dir.path().join("profile-0");
        std::fs::create_dir(&planted).unwrap();
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o777)).unwrap();
        let made = create_private_dir((0..3).map(|i| dir.path().join(format!("profile-{i}")))).unwrap();
        assert_eq!(made, dir.path().join("profile-1"));
        assert_eq!(std::fs::metadata(&made).unwrap().permissions().mode() & 0o777, 0o700);
        let error = create_private_dir(std::iter::once(planted)).unwrap_err().to_string();
        assert!(error.contains("exists already"), "{error}");
    }
}
