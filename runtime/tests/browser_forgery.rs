//! The browser's loopback server during a real WebGPU run, attacked from another socket on the
//! machine: a local process can find the port (it is in /proc/net/tcp, as `ss -ltn` shows it)
//! but not the per-launch token. Forged replies for every command id, requests with a wrong
//! token, another Host or Origin, and a 100 TB Content-Length are all refused, the server and
//! the test process live on, and the cell's verdict is what it is without the attack: passed.
//! Needs Chromium and onnxruntime-web (scripts/setup.sh installs both).

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use runtime::artifacts::ArtifactCache;
use runtime::backend::browser::driver;
use runtime::suite::{evaluate_in, Outcome};

/// The inodes of this process's sockets (`/proc/self/fd/*` links to `socket:[inode]`).
fn own_socket_inodes() -> HashSet<u64> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let text = target.to_string_lossy().into_owned();
            text.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// The ports this process listens on at 127.0.0.1, as another process reads them from
/// /proc/net/tcp (state 0A is LISTEN; the address is little-endian hex).
fn listening_loopback_ports() -> Vec<u16> {
    let own = own_socket_inodes();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (address, port) = fields.get(1)?.split_once(':')?;
            let listening = *fields.get(3)? == "0A";
            let inode: u64 = fields.get(9)?.parse().ok()?;
            (listening && address == "0100007F" && own.contains(&inode)).then(|| u16::from_str_radix(port, 16).ok())?
        })
        .collect()
}

/// Sends `head` and `body` on a fresh connection; returns the status line ("" if the server
/// closed the connection without one).
fn ask(address: SocketAddr, head: &str, body: &[u8]) -> String {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(5)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string()
}

/// The forgeries one round sends for command `id`: each with the status prefixes that mean
/// "refused" (403 without the token or from elsewhere, 413 over the size limit, 400 malformed).
fn forgeries(address: SocketAddr, id: u64) -> Vec<(String, Vec<u8>)> {
    let host = address.to_string();
    let forged = br#"{"outputs":{"last_hidden_state":{"dtype":"float32","shape":[1],"data":[0]}}}"#.to_vec();
    let json = |path: &str, host: &str, extra: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            forged.len()
        )
    };
    vec![
        // A reply without the token, for a command id the run may be waiting on.
        (json(&format!("/reply/{id}"), &host, ""), forged.clone()),
        // With a guessed token.
        (json(&format!("/{}/reply/{id}", "0".repeat(32)), &host, ""), forged.clone()),
        // From a page of another origin, and for another host name (DNS rebinding).
        (json(&format!("/reply/{id}"), &host, "Origin: http://attacker.example\r\n"), forged.clone()),
        (json(&format!("/reply/{id}"), "attacker.example", ""), forged.clone()),
        // Taking the page's next command.
        (format!("GET /next?g=1 HTTP/1.1\r\nHost: {host}\r\n\r\n"), Vec::new()),
        // A body no one could allocate.
        (format!("POST /reply/{id} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 99999999999999\r\n\r\n"), Vec::new()),
    ]
}

#[test]
fn forged_replies_and_huge_requests_from_another_socket_leave_a_real_webgpu_verdict_unchanged() {
    if let Err(why) = driver::setup(&runtime::backend::browser::ort_dir()) {
        panic!("this test needs Chromium and onnxruntime-web: {why}");
    }
    driver::with_browser(&runtime::backend::browser::ort_dir(), |_| Ok(())).expect("the browser starts");
    let ports = listening_loopback_ports();
    assert_eq!(ports.len(), 1, "this process listens on one loopback port, the browser's server: {ports:?}");
    let address = SocketAddr::from(([127, 0, 0, 1], ports[0]));

    let done = Arc::new(AtomicBool::new(false));
    let attacker = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut answers: Vec<String> = Vec::new();
            let mut id = 1;
            while !done.load(Ordering::SeqCst) {
                for (head, body) in forgeries(address, id) {
                    answers.push(ask(address, &head, &body));
                }
                id = id % 64 + 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            answers
        })
    };

    let dir = tempfile::tempdir().unwrap();
    let evaluation = evaluate_in(&ArtifactCache::new(dir.path().join("artifacts")), &common::WEBGPU);
    done.store(true, Ordering::SeqCst);
    let answers = attacker.join().expect("the attacking thread ends");

    assert_eq!(evaluation.outcome, Outcome::Passed, "the verdict under attack: {:?}", evaluation.outcome);
    let route = evaluation.route.expect("a route");
    assert!(route.starts_with("onnx"), "WebGPU ran the ONNX artifact: {route}");
    assert!(answers.len() >= 60, "the attack ran through the run: {} requests", answers.len());
    let accepted: Vec<&String> = answers
        .iter()
        .filter(|status| {
            !["HTTP/1.1 403", "HTTP/1.1 413", "HTTP/1.1 400"].iter().any(|refused| status.starts_with(refused))
        })
        .collect();
    assert!(accepted.is_empty(), "every forgery is refused with 403, 413 or 400; these were not: {accepted:?}");
    // The server still serves its page after all of it.
    let still = driver::with_browser(&runtime::backend::browser::ort_dir(), |browser| browser.probe());
    assert!(still.is_ok(), "the browser still answers after the attack: {still:?}");
}
