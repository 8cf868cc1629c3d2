//! The browser backend leaves no process behind: a test process that panics, or is interrupted
//! by a signal, while it holds a headless Chromium takes every process of that browser with it.
//! Each test runs this test binary again as a child (the ignored test below) that starts the
//! browser, prints its process group and then panics or waits for the signal.
//! Needs Chromium and onnxruntime-web (scripts/setup.sh installs both).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runtime::backend::browser::{driver, launch};

/// How the child ends once its browser runs.
const MODE_ENV: &str = "HFZOO_BROWSER_CHILD_MODE";

/// Starts the child, returns it with the browser's process group and profile it printed.
fn child(mode: &str) -> (std::process::Child, i32, PathBuf) {
    if let Err(why) = driver::setup(&runtime::backend::browser::ort_dir()) {
        panic!("this test needs Chromium and onnxruntime-web: {why}");
    }
    let child_log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_starts_a_browser_then_ends",
            "--include-ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(MODE_ENV, mode)
        .stdout(Stdio::piped())
        // Into a file (a pipe nobody drains could stall the child): shown if it never prints.
        .stderr(child_log.reopen().unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (group, profile) = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let (group, profile) = line.split("BROWSER_GROUP=").nth(1)?.split_once(" PROFILE=")?;
            Some((group.trim().parse::<i32>().ok()?, PathBuf::from(profile.trim())))
        })
        .unwrap_or_else(|| {
            let _ = child.wait();
            let log = std::fs::read_to_string(child_log.path()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
            panic!("the child printed no browser process group and profile; its stderr ended:\n{}", tail.join("\n"))
        });
    (child, group, profile)
}

/// Waits until no live process is left in `group`; returns those left after 15 s.
fn left_in(group: i32) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = launch::processes_in_group(group);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_panicking_test_takes_its_browser_with_it() {
    let (mut child, group, profile) = child("panic");
    assert!(
        !launch::processes_in_group(group).is_empty() || child.try_wait().unwrap().is_some(),
        "the browser of group {group} was running"
    );
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child panicked, so it fails: {status}");
    assert_eq!(left_in(group), Vec::<u32>::new(), "browser processes of group {group} outlived the panicking test");
    assert!(!profile.exists(), "the exit handler removed the profile {}", profile.display());
}

#[test]
fn an_interrupted_test_takes_its_browser_with_it() {
    let (mut child, group, profile) = child("wait");
    assert!(!launch::processes_in_group(group).is_empty(), "the browser of group {group} runs while the child waits");
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success(), "kill -INT reached the child");
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was interrupted: {status}");
    assert_eq!(left_in(group), Vec::<u32>::new(), "browser processes of group {group} outlived the interrupted test");
    // No exit handler runs on a signal: the next launch removes the profile it left.
    launch::remove_stale_profiles();
    assert!(!profile.exists(), "a later launch removes the profile {} of the interrupted process", profile.display());
}

#[test]
#[ignore = "the child of the tests above: run by them with the mode in HFZOO_BROWSER_CHILD_MODE"]
fn child_starts_a_browser_then_ends() {
    let mode = std::env::var(MODE_ENV).expect("run by the tests above, which set HFZOO_BROWSER_CHILD_MODE");
    driver::with_browser(&runtime::backend::browser::ort_dir(), |_| Ok(())).expect("the browser starts");
    let (group, profile) = driver::browser_group().expect("a browser runs");
    println!("\nBROWSER_GROUP={group} PROFILE={}", profile.display());
    match mode.as_str() {
        "panic" => panic!("a test that panics while it holds the browser"),
        _ => std::thread::sleep(Duration::from_secs(120)),
    }
}
