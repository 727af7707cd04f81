//! A download that survives being cut: bytes go to a `.partial` file that the next attempt
//! continues with an HTTP range request, and only a caller that has checked the whole file
//! renames it into place.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

/// The largest file accepted, 1 GiB: far above any data set `ember fetch` downloads, and a
/// guard against a misbehaving server filling the disk.
pub const MAX_DATA_FILE_BYTES: u64 = 1 << 30;

/// Downloads `url` into `partial`, continuing from the bytes already there (a `Range`
/// request; a server that ignores it sends the whole file, which then replaces them).
///
/// A transfer that breaks off keeps what arrived, so that the next call resumes it; the
/// file keeps its `.partial` name either way, so nothing takes it for a complete one. A
/// progress bar is drawn on standard error when it is a terminal.
///
/// # Errors
/// A message naming the URL: an unreachable server, a status other than 200 or 206 (a 404
/// says `404 Not Found for <url>`), a body shorter than its `Content-Length`, a file over
/// [`MAX_DATA_FILE_BYTES`], or a local file that cannot be written.
pub fn download_resumable(agent: &ureq::Agent, url: &str, partial: &Path) -> Result<(), String> {
    let have = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = request.call().map_err(|e| match e {
        ureq::Error::Io(e) => format!("cannot get {url}: {e}"),
        e => format!("cannot get {url}: {e}"),
    })?;
    let status = response.status().as_u16();
    let (append, start) = match status {
        200 => (false, 0),
        206 => (true, have),
        // The partial file already holds every byte; its checksum decides.
        416 if have > 0 => return Ok(()),
        _ => {
            let reason = response.status().canonical_reason().unwrap_or("");
            return Err(format!("{status} {reason} for {url}").replace("  ", " "));
        }
    };
    let body = response.into_body();
    let expected = body.content_length().map(|length| start + length);
    if let Some(total) = expected
        && total > MAX_DATA_FILE_BYTES
    {
        return Err(format!(
            "{url} is {total} bytes; data files over {MAX_DATA_FILE_BYTES} bytes are refused"
        ));
    }
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(partial)
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    let bar = progress_bar(url, expected, start);
    let mut reader = body.into_reader();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut received = start;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(cut_short(url, received, expected, &e.to_string(), partial)),
        };
        received += n as u64;
        if received > MAX_DATA_FILE_BYTES {
            return Err(format!(
                "{url} sent more than {MAX_DATA_FILE_BYTES} bytes; data files are smaller"
            ));
        }
        file.write_all(&buffer[..n])
            .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
        bar.set_position(received);
    }
    bar.finish_and_clear();
    if let Some(total) = expected
        && received != total
    {
        return Err(cut_short(
            url,
            received,
            expected,
            "the connection closed early",
            partial,
        ));
    }
    sync(file, partial)
}

/// The error of a transfer that stopped before its end.
fn cut_short(url: &str, received: u64, expected: Option<u64>, why: &str, partial: &Path) -> String {
    let of = expected.map_or(String::new(), |total| format!(" of {total}"));
    format!(
        "truncated download: {received}{of} bytes from {url} ({why}); the bytes so far are \
         kept in {} and the next fetch continues from them",
        partial.display()
    )
}

/// Flushes `file` to disk, so that a crash cannot leave a hole under a name later renamed
/// into place.
fn sync(file: File, path: &Path) -> Result<(), String> {
    file.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A byte-counting bar on standard error; hidden when that is not a terminal.
fn progress_bar(url: &str, total: Option<u64>, start: u64) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    if let Ok(style) =
        ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style);
    }
    let name = url.rsplit('/').next().unwrap_or(url).to_string();
    bar.set_message(name);
    bar.set_position(start);
    bar
}
