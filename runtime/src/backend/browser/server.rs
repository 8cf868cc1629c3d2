//! The loopback HTTP server the page talks to: it serves the page, onnxruntime-web's files,
//! model files and input tensors, hands the page its commands (long polls on `/next`) and
//! takes its replies. It listens on 127.0.0.1 only, and ends with the process (threads only).
//!
//! Routes: `GET /page` (the driver page), `GET /page.js`, `GET /ort/<file>` (onnxruntime-web's
//! dist folder), `GET /next?g=<generation>` (the next command for that page; a page of an
//! older generation is told to navigate to the current one), `GET /blob/<name>` (a model file
//! or an input message), `POST /reply/<id>` (JSON or binary), `POST /log` (console lines).

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The driver page's HTML and script.
const PAGE_HTML: &str = "<!doctype html><meta charset=utf-8><title>hfzoo</title><script type=module src=/page.js></script>";
const PAGE_JS: &str = include_str!("page.js");

/// How long a `/next` poll waits for a command before it answers `wait`.
const POLL: Duration = Duration::from_secs(10);

/// Console lines kept for error messages.
const LOG_LINES: usize = 200;

/// What the page sent back for a command.
#[derive(Debug)]
pub enum Reply {
    /// A JSON document (results, or `{"error": ...}`).
    Json(serde_json::Value),
    /// A binary tensor message ([`super::wire`]).
    Binary(Vec<u8>),
}

/// Something the server hands out under `/blob/<name>`.
#[derive(Clone)]
pub enum Blob {
    /// A file on disk (a model).
    File(PathBuf),
    /// Bytes in memory (an input message).
    Bytes(Arc<Vec<u8>>),
}

#[derive(Default)]
struct State {
    generation: u64,
    commands: VecDeque<(u64, serde_json::Value)>,
    replies: HashMap<u64, Reply>,
    blobs: HashMap<String, Blob>,
    /// Polls seen from a page of the current generation.
    polls: u64,
    log: VecDeque<String>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    ort_dir: PathBuf,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The running server.
pub struct Server {
    address: SocketAddr,
    shared: Arc<Shared>,
}

impl Server {
    /// Listens on an ephemeral port of 127.0.0.1, serving onnxruntime-web from `ort_dir`.
    pub fn start(ort_dir: &Path) -> Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| Error::Engine { engine: "browser", message: format!("cannot listen on 127.0.0.1: {e}") })?;
        let address = listener.local_addr().map_err(|e| Error::Engine { engine: "browser", message: format!("no local address: {e}") })?;
        let shared = Arc::new(Shared { state: Mutex::new(State { generation: 1, ..State::default() }), changed: Condvar::new(), ort_dir: ort_dir.to_path_buf() });
        let accepting = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("hfzoo-browser-server".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let shared = Arc::clone(&accepting);
                    let _ = std::thread::Builder::new().name("hfzoo-browser-request".into()).spawn(move || {
                        let _ = serve(&shared, stream);
                    });
                }
            })
            .map_err(|e| Error::Engine { engine: "browser", message: format!("cannot start the server thread: {e}") })?;
        Ok(Server { address, shared })
    }

    /// The page's address for the current generation.
    pub fn page_url(&self) -> String {
        format!("http://{}/page?g={}", self.address, self.shared.lock().generation)
    }

    /// Starts a new page generation: the current page is told to navigate to a fresh one
    /// (a fresh document, so nothing of the previous model survives), and queued commands
    /// of the old page are dropped.
    pub fn next_generation(&self) -> u64 {
        let mut state = self.shared.lock();
        state.generation += 1;
        state.polls = 0;
        state.commands.clear();
        self.shared.changed.notify_all();
        state.generation
    }

    /// Queues `command` (a JSON object; `id` is set here) for the current page; returns its id.
    pub fn send(&self, id: u64, mut command: serde_json::Value) -> u64 {
        let mut state = self.shared.lock();
        command["id"] = id.into();
        let generation = state.generation;
        state.commands.push_back((generation, command));
        self.shared.changed.notify_all();
        id
    }

    /// Waits for the reply to command `id`, up to `limit`.
    pub fn reply(&self, id: u64, limit: Duration) -> Option<Reply> {
        let deadline = Instant::now() + limit;
        let mut state = self.shared.lock();
        loop {
            if let Some(reply) = state.replies.remove(&id) {
                return Some(reply);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            state = self.shared.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Waits until a page of the current generation has polled for commands, up to `limit`.
    pub fn page_ready(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut state = self.shared.lock();
        while state.polls == 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
            state = self.shared.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        true
    }

    /// Serves `blob` under `/blob/<name>` until removed.
    pub fn put_blob(&self, name: &str, blob: Blob) {
        self.shared.lock().blobs.insert(name.to_string(), blob);
    }

    /// Stops serving `/blob/<name>`.
    pub fn remove_blob(&self, name: &str) {
        self.shared.lock().blobs.remove(name);
    }

    /// The page's last console lines (errors and warnings), oldest first.
    pub fn log_tail(&self, lines: usize) -> String {
        let state = self.shared.lock();
        state.log.iter().skip(state.log.len().saturating_sub(lines)).cloned().collect::<Vec<_>>().join("\n")
    }
}

/// One request: method, path with query, and body.
struct Request {
    method: String,
    target: String,
    content_type: String,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
    let (mut length, mut content_type) = (0usize, String::new());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().map_err(|_| std::io::Error::other("bad Content-Length"))?,
                "content-type" => content_type = value.trim().to_string(),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Request { method, target, content_type, body })
}

fn respond(mut stream: &TcpStream, status: &str, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    // Cross-origin isolation lets onnxruntime-web use SharedArrayBuffer; nothing is cached.
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Embedder-Policy: require-corp\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

fn content_type_of(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("mjs" | "js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Whether `name` is a plain file name (no separators, no `..`).
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn serve(shared: &Shared, stream: TcpStream) -> std::io::Result<()> {
    let request = read_request(&stream)?;
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    let not_found = |what: &str| respond(&stream, "404 Not Found", "text/plain", what.as_bytes());
    match (request.method.as_str(), path) {
        ("GET", "/page") => respond(&stream, "200 OK", "text/html", PAGE_HTML.as_bytes()),
        ("GET", "/page.js") => respond(&stream, "200 OK", "text/javascript", PAGE_JS.as_bytes()),
        ("GET", "/favicon.ico") => respond(&stream, "204 No Content", "text/plain", b""),
        ("GET", "/next") => {
            let generation: u64 = query.strip_prefix("g=").and_then(|g| g.parse().ok()).unwrap_or(0);
            let command = next_command(shared, generation);
            respond(&stream, "200 OK", "application/json", command.to_string().as_bytes())
        }
        ("GET", _) if path.starts_with("/ort/") => {
            let name = &path["/ort/".len()..];
            match plain_name(name).then(|| std::fs::read(shared.ort_dir.join(name)).ok()).flatten() {
                Some(bytes) => respond(&stream, "200 OK", content_type_of(name), &bytes),
                None => not_found(name),
            }
        }
        ("GET", _) if path.starts_with("/blob/") => {
            let blob = shared.lock().blobs.get(&path["/blob/".len()..]).cloned();
            match blob {
                Some(Blob::Bytes(bytes)) => respond(&stream, "200 OK", "application/octet-stream", &bytes),
                Some(Blob::File(file)) => match std::fs::read(&file) {
                    Ok(bytes) => respond(&stream, "200 OK", "application/octet-stream", &bytes),
                    Err(e) => respond(&stream, "500 Internal Server Error", "text/plain", format!("read {}: {e}", file.display()).as_bytes()),
                },
                None => not_found(path),
            }
        }
        ("POST", "/log") => {
            let text = String::from_utf8_lossy(&request.body).into_owned();
            let mut state = shared.lock();
            for line in text.lines() {
                state.log.push_back(line.to_string());
            }
            while state.log.len() > LOG_LINES {
                state.log.pop_front();
            }
            respond(&stream, "204 No Content", "text/plain", b"")
        }
        ("POST", _) if path.starts_with("/reply/") => {
            let Ok(id) = path["/reply/".len()..].parse::<u64>() else { return not_found(path) };
            let reply = if request.content_type.starts_with("application/json") {
                Reply::Json(serde_json::from_slice(&request.body).unwrap_or_else(|e| serde_json::json!({"error": format!("the page sent malformed JSON: {e}")})))
            } else {
                Reply::Binary(request.body)
            };
            shared.lock().replies.insert(id, reply);
            shared.changed.notify_all();
            respond(&stream, "204 No Content", "text/plain", b"")
        }
        _ => not_found(path),
    }
}

/// The next command for a page of `generation`: a queued one, `navigate` for a page of an
/// older generation, or `wait` when none came within the poll time.
fn next_command(shared: &Shared, generation: u64) -> serde_json::Value {
    let deadline = Instant::now() + POLL;
    let mut state = shared.lock();
    if generation == state.generation {
        state.polls += 1;
        shared.changed.notify_all();
    }
    loop {
        if generation != state.generation {
            return serde_json::json!({"cmd": "navigate", "url": format!("/page?g={}", state.generation)});
        }
        if let Some(position) = state.commands.iter().position(|(g, _)| *g == generation) {
            return state.commands.remove(position).map(|(_, command)| command).unwrap_or_default();
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else { return serde_json::json!({"cmd": "wait"}) };
        state = shared.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(address: SocketAddr, target: &str) -> String {
        let mut stream = TcpStream::connect(address).unwrap();
        write!(stream, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn the_server_hands_commands_to_the_current_page_and_refuses_paths_outside_its_folders() {
        let dir = std::env::temp_dir().join(format!("hfzoo-server-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ort.min.mjs"), "export {}").unwrap();
        let server = Server::start(&dir).unwrap();
        let address: SocketAddr = server.page_url().trim_start_matches("http://").split('/').next().unwrap().parse().unwrap();
        assert!(address.ip().is_loopback());
        let ort = get(address, "/ort/ort.min.mjs");
        assert!(ort.starts_with("HTTP/1.1 200") && ort.contains("Cross-Origin-Embedder-Policy: require-corp") && ort.ends_with("export {}"), "{ort}");
        assert!(get(address, "/ort/..%2Fsecret").starts_with("HTTP/1.1 404"));
        assert!(get(address, "/ort/../x").starts_with("HTTP/1.1 404"));
        server.send(7, serde_json::json!({"cmd": "probe"}));
        let command = get(address, "/next?g=1");
        assert!(command.ends_with(r#"{"cmd":"probe","id":7}"#), "{command}");
        assert!(server.page_ready(Duration::from_secs(1)));
        server.next_generation();
        assert!(get(address, "/next?g=1").ends_with(r#"{"cmd":"navigate","url":"/page?g=2"}"#));
        let mut stream = TcpStream::connect(address).unwrap();
        write!(stream, "POST /reply/7 HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{{\"ok\":true}}").unwrap();
        drop(stream);
        match server.reply(7, Duration::from_secs(5)) {
            Some(Reply::Json(value)) => assert_eq!(value["ok"], true),
            other => panic!("{other:?}"),
        }
        assert!(server.reply(8, Duration::from_millis(50)).is_none());
        let _ = std::fs::remove_dir_all(dir);
    }
}
