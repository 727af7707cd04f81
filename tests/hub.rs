//! The Hugging Face hub download path (`ember::fetch::download_hub`) against a loopback HTTP
//! server written here: the hub's URL layout, byte-exact files, and the failures that must
//! leave no model folder behind (404, truncated body, oversized file, refused connection).
//!
//! `download_minilm_from_hub` only adds `HF_ENDPOINT` to `download_hub`; it is not called here
//! because setting an environment variable would race with the other tests' threads.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ember::fetch::{FetchError, MINILM_HUB_FILES, MINILM_REPO, download_hub};

/// The files all-MiniLM-L6-v2 is downloaded as, in the order they are asked for.
const NAMES: [&str; 6] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
];

/// The request path of `file` on the hub: written out, not built from `MINILM_REPO`, so that a
/// wrong repository or layout fails the tests.
fn hub_path(file: &str) -> String {
    format!("/sentence-transformers/all-MiniLM-L6-v2/resolve/main/{file}")
}

/// all-MiniLM-L6-v2 at `main` from `endpoint` into `target`, as `download_minilm_from_hub` asks.
fn fetch(endpoint: &str, target: &Path) -> Result<PathBuf, FetchError> {
    download_hub(endpoint, MINILM_REPO, "main", MINILM_HUB_FILES, target)
}

/// Deterministic incompressible bytes, several read buffers long.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect()
}

/// A stand-in model: 300 kB of weights (more than one read buffer) and small text files.
fn model_files() -> Vec<(&'static str, Vec<u8>)> {
    NAMES
        .iter()
        .map(|&name| {
            let bytes = match name {
                "model.safetensors" => noise(300_000),
                other => format!("{{\"file\": \"{other}\"}}\n").into_bytes(),
            };
            (name, bytes)
        })
        .collect()
}

/// `files` keyed by their request paths.
fn served(files: &[(&str, Vec<u8>)]) -> HashMap<String, Vec<u8>> {
    files
        .iter()
        .map(|(name, bytes)| (hub_path(name), bytes.clone()))
        .collect()
}

/// How the server misbehaves on one path.
#[derive(Clone, Copy, Debug)]
enum Quirk {
    /// Announces the file's full Content-Length, sends its first half and closes.
    Truncate,
    /// Announces a 5 GiB Content-Length, sends nothing and closes.
    Huge,
}

/// A minimal HTTP/1.1 server on a loopback port that records the paths asked for.
struct Hub {
    /// `http://127.0.0.1:<port>`.
    endpoint: String,
    /// Every request path, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

impl Hub {
    /// Serves `files` (by request path; any other path is a 404), except as `quirks` say.
    fn start(files: HashMap<String, Vec<u8>>, quirks: HashMap<String, Quirk>) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        // The thread lives until the test binary exits; the client asks for one file after
        // another, so one connection at a time is enough.
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                // A failed answer shows up as the client's error, which the tests check.
                let _ = answer(stream, &files, &quirks, &seen);
            }
        });
        Hub { endpoint, requests }
    }

    /// The paths asked for so far.
    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("the request log").clone()
    }
}

/// Reads one request and answers it, then closes the connection.
fn answer(
    mut stream: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    quirks: &HashMap<String, Quirk>,
    seen: &Mutex<Vec<String>>,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers, up to the blank line: all of the request is read before answering, so
    // closing afterwards sends a clean FIN rather than a reset that could eat the response.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    // Logged before answering: once the client has a response, its request is in the log.
    seen.lock().expect("the request log").push(path.clone());
    let head = |status: &str, length: u64| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {length}\r\n\
             Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
        )
    };
    match (files.get(&path), quirks.get(&path)) {
        (_, Some(Quirk::Huge)) => {
            stream.write_all(head("200 OK", 5 << 30).as_bytes())?;
        }
        (Some(bytes), Some(Quirk::Truncate)) => {
            stream.write_all(head("200 OK", bytes.len() as u64).as_bytes())?;
            stream.write_all(&bytes[..bytes.len() / 2])?;
        }
        (Some(bytes), None) => {
            stream.write_all(head("200 OK", bytes.len() as u64).as_bytes())?;
            stream.write_all(bytes)?;
        }
        (None, _) => {
            let body = b"Entry not found";
            stream.write_all(head("404 Not Found", body.len() as u64).as_bytes())?;
            stream.write_all(body)?;
        }
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}

/// The names in `dir`, sorted (none when it does not exist).
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Neither `target` nor a `<target>.partial-<pid>` folder (nor anything else) is next to it.
fn assert_nothing_left(target: &Path) {
    assert!(
        !target.exists(),
        "{} exists after a failed download",
        target.display()
    );
    let parent = target.parent().expect("the target has a parent");
    assert_eq!(
        names_in(parent),
        Vec::<String>::new(),
        "a failed download left files next to the target"
    );
}

#[test]
fn every_file_arrives_byte_for_byte_from_the_hub_layout() {
    let files = model_files();
    let hub = Hub::start(served(&files), HashMap::new());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");

    let got = fetch(&hub.endpoint, &target).expect("the download");

    assert_eq!(got, target);
    for (name, bytes) in &files {
        let on_disk = std::fs::read(target.join(name)).expect("a downloaded file");
        assert!(on_disk == *bytes, "{name} differs from what was served");
    }
    let expected: Vec<String> = NAMES.iter().map(|name| hub_path(name)).collect();
    assert_eq!(hub.requests(), expected);
    assert_eq!(
        names_in(&dir.path().join("models")),
        vec!["all-MiniLM-L6-v2".to_string()],
        "only the model folder is left, no partial one"
    );
}

#[test]
fn a_missing_file_is_a_404_naming_its_url_and_leaves_nothing() {
    let files = model_files();
    let mut served = served(&files);
    served.remove(&hub_path("tokenizer.json"));
    let hub = Hub::start(served, HashMap::new());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");

    let error = fetch(&hub.endpoint, &target).expect_err("a 404 is an error");

    let url = format!("{}{}", hub.endpoint, hub_path("tokenizer.json"));
    assert!(
        error.message.contains(&format!("404 Not Found for {url}")),
        "{error}"
    );
    assert_nothing_left(&target);
    assert_eq!(
        hub.requests().len(),
        3,
        "the download stops at the first failed file"
    );
}

#[test]
fn a_body_shorter_than_its_content_length_is_an_error_and_leaves_nothing() {
    let files = model_files();
    let quirks = HashMap::from([(hub_path("model.safetensors"), Quirk::Truncate)]);
    let hub = Hub::start(served(&files), quirks);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");

    let error = fetch(&hub.endpoint, &target).expect_err("a truncated body is an error");

    let url = format!("{}{}", hub.endpoint, hub_path("model.safetensors"));
    assert!(error.message.contains("truncated"), "{error}");
    assert!(error.message.contains(&url), "{error}");
    assert_nothing_left(&target);
}

#[test]
fn a_file_over_4_gib_is_refused_from_its_content_length() {
    let files = model_files();
    let quirks = HashMap::from([(hub_path("model.safetensors"), Quirk::Huge)]);
    let hub = Hub::start(served(&files), quirks);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");

    let error = fetch(&hub.endpoint, &target).expect_err("a 5 GiB file is refused");

    let url = format!("{}{}", hub.endpoint, hub_path("model.safetensors"));
    assert!(error.message.contains(&url), "{error}");
    // Refused from the header, not found short while reading (the server sends no body).
    assert!(error.message.contains("4 GiB"), "{error}");
    assert!(!error.message.contains("truncated"), "{error}");
    assert_nothing_left(&target);
}

#[test]
fn a_complete_target_is_returned_without_any_request() {
    let files = model_files();
    let hub = Hub::start(served(&files), HashMap::new());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");
    std::fs::create_dir_all(&target).expect("the target folder");
    for name in NAMES {
        std::fs::write(target.join(name), b"already here").expect("a cached file");
    }

    let got = fetch(&hub.endpoint, &target).expect("the cached model");

    assert_eq!(got, target);
    assert_eq!(hub.requests(), Vec::<String>::new());
    for name in NAMES {
        assert_eq!(
            std::fs::read(target.join(name)).expect("a cached file"),
            b"already here",
            "{name} was rewritten"
        );
    }
}

#[test]
fn an_incomplete_target_is_replaced_and_a_trailing_slash_changes_no_url() {
    let files = model_files();
    let hub = Hub::start(served(&files), HashMap::new());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");
    std::fs::create_dir_all(&target).expect("the target folder");
    std::fs::write(target.join("config.json"), b"stale").expect("a stale file");

    let endpoint = format!("{}/", hub.endpoint);
    fetch(&endpoint, &target).expect("the download");

    for (name, bytes) in &files {
        let on_disk = std::fs::read(target.join(name)).expect("a downloaded file");
        assert!(on_disk == *bytes, "{name} differs from what was served");
    }
    let expected: Vec<String> = NAMES.iter().map(|name| hub_path(name)).collect();
    assert_eq!(hub.requests(), expected);
}

#[test]
fn a_refused_connection_is_an_error_naming_the_url() {
    // A port that was just free: bound, read and released again.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("a loopback port")
        .local_addr()
        .expect("its address")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");

    let error = fetch(&endpoint, &target).expect_err("nobody listens");

    let url = format!("{endpoint}{}", hub_path("config.json"));
    assert!(error.message.contains(&url), "{error}");
    assert!(error.message.to_lowercase().contains("refused"), "{error}");
    assert_nothing_left(&target);
}
