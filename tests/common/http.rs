//! A minimal HTTP/1.1 server on a loopback port for the download tests: it serves files by
//! request path, answers `Range: bytes=N-` with 206, and misbehaves on request ([`Quirk`]).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How the server misbehaves on one path.
#[derive(Clone, Copy, Debug)]
pub enum Quirk {
    /// Announces the file's full Content-Length, sends its first half and closes.
    Truncate,
    /// As `Truncate` for the first request of the path only; later ones are served whole
    /// (or from the `Range` they ask for).
    TruncateOnce,
    /// Announces a 5 GiB Content-Length, sends nothing and closes.
    Huge,
}

/// A minimal HTTP/1.1 server on a loopback port that records the paths asked for.
pub struct Hub {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Every request path, in order.
    requests: Arc<Mutex<Vec<String>>>,
    /// The `Range` header of every request (empty without one), in order.
    ranges: Arc<Mutex<Vec<String>>>,
}

impl Hub {
    /// Serves `files` (by request path; any other path is a 404), except as `quirks` say.
    pub fn start(files: HashMap<String, Vec<u8>>, quirks: HashMap<String, Quirk>) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let seen_ranges = Arc::clone(&ranges);
        // The thread lives until the test binary exits; the client asks for one file after
        // another, so one connection at a time is enough.
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                // A failed answer shows up as the client's error, which the tests check.
                let _ = answer(stream, &files, &quirks, &seen, &seen_ranges);
            }
        });
        Hub {
            endpoint,
            requests,
            ranges,
        }
    }

    /// The paths asked for so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("the request log").clone()
    }

    /// The `Range` headers of the requests so far (empty strings for none).
    pub fn ranges(&self) -> Vec<String> {
        self.ranges.lock().expect("the range log").clone()
    }
}

/// Reads one request and answers it, then closes the connection.
fn answer(
    mut stream: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    quirks: &HashMap<String, Quirk>,
    seen: &Mutex<Vec<String>>,
    seen_ranges: &Mutex<Vec<String>>,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers, up to the blank line: all of the request is read before answering, so
    // closing afterwards sends a clean FIN rather than a reset that could eat the response.
    let mut range = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = value.trim().to_string();
        }
    }
    // `bytes=N-`: the client continues a download from byte N.
    let from: Option<usize> = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok());
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    // Logged before answering: once the client has a response, its request is in the log.
    let earlier = {
        let mut log = seen.lock().expect("the request log");
        let earlier = log.iter().filter(|p| **p == path).count();
        log.push(path.clone());
        earlier
    };
    seen_ranges.lock().expect("the range log").push(range);
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
        (Some(bytes), Some(Quirk::TruncateOnce)) if earlier == 0 => {
            stream.write_all(head("200 OK", bytes.len() as u64).as_bytes())?;
            stream.write_all(&bytes[..bytes.len() / 2])?;
        }
        (Some(bytes), _) => match from {
            Some(from) if from < bytes.len() => {
                let rest = &bytes[from..];
                let status = format!(
                    "206 Partial Content\r\nContent-Range: bytes {from}-{}/{}",
                    bytes.len() - 1,
                    bytes.len()
                );
                stream.write_all(head(&status, rest.len() as u64).as_bytes())?;
                stream.write_all(rest)?;
            }
            _ => {
                stream.write_all(head("200 OK", bytes.len() as u64).as_bytes())?;
                stream.write_all(bytes)?;
            }
        },
        (None, _) => {
            let body = b"Entry not found";
            stream.write_all(head("404 Not Found", body.len() as u64).as_bytes())?;
            stream.write_all(body)?;
        }
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}
