//! The loopback HTTP server the page talks to: it serves the page, onnxruntime-web's files,
//! model files and input tensors, hands the page its commands (long polls on `next`) and
//! takes its replies. It listens on 127.0.0.1 only and ends when dropped.
//!
//! Every other process on the machine can reach a loopback port, so the server trusts no one
//! by default: every route lies under a random per-launch token (`/<token>/...`, in the page's
//! address only), a request without it, with another `Host`, or from another `Origin` is
//! refused without touching any state; a reply is taken only for a command the page was
//! handed and not yet answered; the request line, headers and body have limits (a body is
//! never allocated past them), a connection has read and write time limits, and at most
//! [`MAX_CONNECTIONS`] are served at once (more are refused).
//!
//! Routes, under `/<token>`: `GET /page` (the driver page), `GET /page.js`, `GET /ort/<file>`
//! (onnxruntime-web's dist folder), `GET /next?g=<generation>` (the next command for that
//! page; a page of an older generation is told to navigate to the current one), `GET
//! /blob/<name>` (a model file or an input message), `POST /reply/<id>` (JSON or binary),
//! `POST /log` (console lines).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// The driver page's HTML (its address, and so the script's, holds the token).
const PAGE_HTML: &str =
    "<!doctype html><meta charset=utf-8><title>hfzoo</title><script type=module src=page.js></script>";

/// The driver page's script, which runs onnxruntime-web.
pub const PAGE_JS: &str = include_str!("page.js");

/// How long a `next` poll waits for a command before it answers `wait`.
const POLL: Duration = Duration::from_secs(10);

/// Console lines kept for error messages.
const LOG_LINES: usize = 200;

/// The longest request line or header line, in bytes.
const MAX_LINE: usize = 8 * 1024;

/// The most header lines of one request.
const MAX_HEADERS: usize = 64;

/// The largest body of a reply (output tensors of a tiny model are far smaller).
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// The largest body of a console message.
const MAX_LOG_BODY: usize = 64 * 1024;

/// How long a connection may take to send its request, or to take the answer.
const IO_LIMIT: Duration = Duration::from_secs(30);

/// The most connections served at once (the page uses a handful; more are refused).
pub const MAX_CONNECTIONS: usize = 32;

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
    /// Ids of commands handed to the page and not answered yet: the only replies taken.
    handed: HashSet<u64>,
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
    /// `/<token>`: the prefix of every route.
    prefix: String,
    /// `127.0.0.1:<port>`: the only `Host` taken.
    host: String,
    /// Connections being served now.
    active: AtomicUsize,
    /// Set when the server is dropped: the acceptor ends.
    stopped: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The running server (stopped when dropped).
pub struct Server {
    address: SocketAddr,
    shared: Arc<Shared>,
}

/// 32 hex digits from the system's random source.
fn random_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::Engine(format!("cannot read /dev/urandom for the server's token: {e}")))?;
    Ok(hex::encode(bytes))
}

impl Server {
    /// Listens on an ephemeral port of 127.0.0.1, serving onnxruntime-web from `ort_dir`.
    pub fn start(ort_dir: &Path) -> Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| Error::Engine(format!("cannot listen on 127.0.0.1: {e}")))?;
        let address = listener.local_addr().map_err(|e| Error::Engine(format!("no local address: {e}")))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State { generation: 1, ..State::default() }),
            changed: Condvar::new(),
            ort_dir: ort_dir.to_path_buf(),
            prefix: format!("/{}", random_token()?),
            host: address.to_string(),
            active: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("hfzoo-browser-server".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accepting.stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if accepting.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                        accepting.active.fetch_sub(1, Ordering::SeqCst);
                        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                        let _ = refuse(&stream, "503 Service Unavailable", "too many connections");
                        continue;
                    }
                    let shared = Arc::clone(&accepting);
                    let spawned = std::thread::Builder::new().name("hfzoo-browser-request".into()).spawn(move || {
                        let _ = stream.set_read_timeout(Some(IO_LIMIT));
                        let _ = stream.set_write_timeout(Some(IO_LIMIT));
                        let _ = serve(&shared, stream);
                        shared.active.fetch_sub(1, Ordering::SeqCst);
                    });
                    if spawned.is_err() {
                        accepting.active.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            })
            .map_err(|e| Error::Engine(format!("cannot start the server thread: {e}")))?;
        Ok(Server { address, shared })
    }

    /// The page's address for the current generation (it holds the token).
    pub fn page_url(&self) -> String {
        format!("http://{}{}/page?g={}", self.address, self.shared.prefix, self.shared.lock().generation)
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

    /// Connections being served now (for tests of the bound).
    pub fn active_connections(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    /// Ends the acceptor (woken by one last connection of its own) and every long poll.
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
    }
}

/// One request: method, path with query, the headers that matter, and body.
struct Request {
    method: String,
    target: String,
    content_type: String,
    host: String,
    origin: Option<String>,
    body: Vec<u8>,
}

/// Why a request was refused before it reached any route.
enum Refused {
    /// A line or a header set past its limit, or a malformed request.
    Malformed(&'static str),
    /// A body larger than the route takes.
    TooLarge,
}

/// One line of at most [`MAX_LINE`] bytes (without its line end), or a refusal.
fn read_line(reader: &mut impl BufRead) -> std::io::Result<std::result::Result<String, Refused>> {
    let mut line = Vec::new();
    let read = reader.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
    if read > MAX_LINE {
        return Ok(Err(Refused::Malformed("a request or header line is too long")));
    }
    Ok(Ok(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string()))
}

/// The largest body `path` takes (0 for routes without one).
fn body_limit(path: &str) -> usize {
    match path {
        "/log" => MAX_LOG_BODY,
        _ if path.starts_with("/reply/") => MAX_BODY,
        _ => 0,
    }
}

fn read_request(stream: &TcpStream, prefix: &str) -> std::io::Result<std::result::Result<Request, Refused>> {
    let mut reader = BufReader::new(stream);
    let line = match read_line(&mut reader)? {
        Ok(line) => line,
        Err(refused) => return Ok(Err(refused)),
    };
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
    let (mut length, mut content_type, mut host, mut origin) = (0usize, String::new(), String::new(), None);
    for count in 0.. {
        let header = match read_line(&mut reader)? {
            Ok(header) => header,
            Err(refused) => return Ok(Err(refused)),
        };
        if header.trim().is_empty() {
            break;
        }
        if count >= MAX_HEADERS {
            return Ok(Err(Refused::Malformed("too many header lines")));
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => match value.parse() {
                    Ok(n) => length = n,
                    Err(_) => return Ok(Err(Refused::Malformed("a Content-Length that is not a number"))),
                },
                "content-type" => content_type = value.to_string(),
                "host" => host = value.to_string(),
                "origin" => origin = Some(value.to_string()),
                _ => {}
            }
        }
    }
    // The limit of the route it names (under the token), checked before any allocation.
    let path = target.split('?').next().unwrap_or_default();
    let limit = path.strip_prefix(prefix).map_or(0, body_limit);
    if length > limit {
        return Ok(Err(Refused::TooLarge));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Ok(Request { method, target, content_type, host, origin, body }))
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

/// Answers a request that was not read to its end, then reads (a bounded amount of) what the
/// client still sends: closing with unread bytes would reset the connection and could lose the
/// answer before the client reads it.
fn refuse(stream: &TcpStream, status: &str, why: &str) -> std::io::Result<()> {
    let answered = respond(stream, status, "text/plain", why.as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = std::io::copy(&mut stream.take(1 << 20), &mut std::io::sink());
    answered
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
    !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn serve(shared: &Shared, stream: TcpStream) -> std::io::Result<()> {
    let request = match read_request(&stream, &shared.prefix)? {
        Ok(request) => request,
        Err(Refused::TooLarge) => return refuse(&stream, "413 Content Too Large", "body over this route's limit"),
        Err(Refused::Malformed(why)) => return refuse(&stream, "400 Bad Request", why),
    };
    // Nothing without the token, from another origin or for another host touches any state.
    let origin_ok = request.origin.as_deref().is_none_or(|origin| origin == format!("http://{}", shared.host));
    let routed = request.target.strip_prefix(shared.prefix.as_str()).filter(|rest| rest.starts_with('/'));
    let Some(target) = routed.filter(|_| request.host == shared.host && origin_ok) else {
        return respond(&stream, "403 Forbidden", "text/plain", b"");
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
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
                    Err(e) => respond(
                        &stream,
                        "500 Internal Server Error",
                        "text/plain",
                        format!("read {}: {e}", file.display()).as_bytes(),
                    ),
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
            // Only for a command the page was handed and has not answered.
            if !shared.lock().handed.remove(&id) {
                return respond(&stream, "409 Conflict", "text/plain", b"no such command awaits a reply");
            }
            let reply = if request.content_type.starts_with("application/json") {
                Reply::Json(
                    serde_json::from_slice(&request.body)
                        .unwrap_or_else(|e| serde_json::json!({"error": format!("the page sent malformed JSON: {e}")})),
                )
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
            return serde_json::json!({"cmd": "navigate", "url": format!("page?g={}", state.generation)});
        }
        if let Some(position) = state.commands.iter().position(|(g, _)| *g == generation) {
            let command = state.commands.remove(position).map(|(_, command)| command).unwrap_or_default();
            if let Some(id) = command.get("id").and_then(|id| id.as_u64()) {
                state.handed.insert(id);
            }
            return command;
        }
        if shared.stopped.load(Ordering::SeqCst) {
            return serde_json::json!({"cmd": "wait"});
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return serde_json::json!({"cmd": "wait"});
        };
        state = shared.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `head` (a request line and headers; `{host}` is filled in) and returns the answer.
    fn ask(address: SocketAddr, head: &str, body: &[u8]) -> String {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.write_all(head.replace("{host}", &address.to_string()).as_bytes()).unwrap();
        let _ = stream.write_all(body);
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    }

    fn get(address: SocketAddr, target: &str) -> String {
        ask(address, &format!("GET {target} HTTP/1.1\r\nHost: {{host}}\r\n\r\n"), b"")
    }

    /// A server on a scratch folder, its address and its token prefix.
    fn started() -> (Server, SocketAddr, String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ort.min.mjs"), "export {}").unwrap();
        let server = Server::start(dir.path()).unwrap();
        let url = server.page_url();
        let rest = url.trim_start_matches("http://");
        let (address, path) = rest.split_once('/').unwrap();
        let prefix = format!("/{}", path.split('/').next().unwrap());
        assert_eq!(prefix.len(), 33, "a 32-digit token: {url}");
        (server, address.parse().unwrap(), prefix, dir)
    }

    #[test]
    fn the_server_hands_commands_to_the_current_page_and_refuses_paths_outside_its_folders() {
        let (server, address, t, _dir) = started();
        assert!(address.ip().is_loopback());
        let ort = get(address, &format!("{t}/ort/ort.min.mjs"));
        assert!(
            ort.starts_with("HTTP/1.1 200")
                && ort.contains("Cross-Origin-Embedder-Policy: require-corp")
                && ort.ends_with("export {}"),
            "{ort}"
        );
        assert!(get(address, &format!("{t}/ort/..%2Fsecret")).starts_with("HTTP/1.1 404"));
        assert!(get(address, &format!("{t}/ort/../x")).starts_with("HTTP/1.1 404"));
        server.send(7, serde_json::json!({"cmd": "probe"}));
        let command = get(address, &format!("{t}/next?g=1"));
        assert!(command.ends_with(r#"{"cmd":"probe","id":7}"#), "{command}");
        assert!(server.page_ready(Duration::from_secs(1)));
        server.next_generation();
        assert!(get(address, &format!("{t}/next?g=1")).ends_with(r#"{"cmd":"navigate","url":"page?g=2"}"#));
        let posted = ask(address, &format!("POST {t}/reply/7 HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"), b"{\"ok\":true}");
        assert!(posted.starts_with("HTTP/1.1 204"), "{posted}");
        match server.reply(7, Duration::from_secs(5)) {
            Some(Reply::Json(value)) => assert_eq!(value["ok"], true),
            other => panic!("{other:?}"),
        }
        assert!(server.reply(8, Duration::from_millis(50)).is_none());
    }

    #[test]
    fn requests_without_the_token_or_from_elsewhere_touch_nothing() {
        let (server, address, t, _dir) = started();
        server.send(3, serde_json::json!({"cmd": "probe"}));
        // No token, a wrong one, another Host, another Origin: refused, the command still queued.
        for head in [
            "GET /next?g=1 HTTP/1.1\r\nHost: {host}\r\n\r\n".to_string(),
            format!("GET /{}/next?g=1 HTTP/1.1\r\nHost: {{host}}\r\n\r\n", "0".repeat(32)),
            format!("GET {t}/next?g=1 HTTP/1.1\r\nHost: evil.example:80\r\n\r\n"),
            format!("GET {t}/next?g=1 HTTP/1.1\r\nHost: {{host}}\r\nOrigin: http://evil.example\r\n\r\n"),
        ] {
            let answer = ask(address, &head, b"");
            assert!(answer.starts_with("HTTP/1.1 403"), "{head}: {answer}");
        }
        assert!(!server.page_ready(Duration::from_millis(50)), "no refused request counted as the page's poll");
        // A reply forged before its command was handed out is refused and never read as one.
        let forged = ask(address, &format!("POST {t}/reply/3 HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"), b"{}");
        assert!(forged.starts_with("HTTP/1.1 409"), "{forged}");
        assert!(server.reply(3, Duration::from_millis(50)).is_none());
        // The page's own poll then gets the command, and its one reply is taken (once).
        assert!(get(address, &format!("{t}/next?g=1")).ends_with(r#"{"cmd":"probe","id":3}"#));
        let reply = |body: &[u8]| {
            ask(address, &format!("POST {t}/reply/3 HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()), body)
        };
        assert!(reply(b"{\"n\":1}").starts_with("HTTP/1.1 204"));
        assert!(reply(b"{\"n\":2}").starts_with("HTTP/1.1 409"), "a second reply to the same command is refused");
        assert!(matches!(server.reply(3, Duration::from_secs(1)), Some(Reply::Json(v)) if v["n"] == 1));
    }

    #[test]
    fn oversized_requests_are_refused_before_anything_is_allocated() {
        let (server, address, t, _dir) = started();
        // 100 TB announced: refused at once, the process lives on.
        let huge = ask(
            address,
            &format!("POST {t}/reply/1 HTTP/1.1\r\nHost: {{host}}\r\nContent-Length: 99999999999999\r\n\r\n"),
            b"",
        );
        assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
        let without_token =
            ask(address, "POST /reply/1 HTTP/1.1\r\nHost: {host}\r\nContent-Length: 99999999999999\r\n\r\n", b"");
        assert!(without_token.starts_with("HTTP/1.1 413"), "{without_token}");
        let line = ask(address, &format!("GET {t}/{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_LINE * 2)), b"");
        assert!(line.starts_with("HTTP/1.1 400"), "{line}");
        let headers = ask(
            address,
            &format!("GET {t}/page HTTP/1.1\r\nHost: {{host}}\r\n{}\r\n", "X-A: b\r\n".repeat(MAX_HEADERS + 1)),
            b"",
        );
        assert!(headers.starts_with("HTTP/1.1 400"), "{headers}");
        assert!(get(address, &format!("{t}/page")).starts_with("HTTP/1.1 200"), "still serving");
        drop(server);
    }

    #[test]
    fn connections_past_the_bound_are_refused_and_a_dropped_server_stops_listening() {
        let (server, address, t, _dir) = started();
        // Connections that send nothing hold their threads (until the read limit).
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS).map(|_| TcpStream::connect(address).unwrap()).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.active_connections() < MAX_CONNECTIONS && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(get(address, &format!("{t}/page")).starts_with("HTTP/1.1 503"));
        drop(idle);
        drop(server);
        std::thread::sleep(Duration::from_millis(200));
        let after = TcpStream::connect(address).map(|mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut text = String::new();
            let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n");
            let _ = s.read_to_string(&mut text);
            text
        });
        assert!(after.as_ref().map_or(true, |text| text.is_empty()), "the old server still answers: {after:?}");
    }
}
