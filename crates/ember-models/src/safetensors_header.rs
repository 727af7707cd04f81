//! The first check of a safetensors file, before burn-store maps it.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The largest JSON header safetensors itself accepts (100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// Refuses a file too short for a safetensors header, or whose header length exceeds the
/// file or safetensors' own limit: the message, and the I/O error behind it if any.
///
/// burn-store maps the file and safetensors checks the same bounds without allocating, so
/// this only makes the message plain and catches an empty file before it is mapped.
pub(crate) fn check(path: &Path) -> Result<(), (String, Option<std::io::Error>)> {
    let io = |what: &str, error: std::io::Error| {
        (format!("cannot {what} the file: {error}"), Some(error))
    };
    let mut file = File::open(path).map_err(|error| io("open", error))?;
    let size = file.metadata().map_err(|error| io("inspect", error))?.len();
    if size < 8 {
        return Err((
            format!("not a safetensors file: {size} bytes cannot hold the 8-byte header length"),
            None,
        ));
    }
    let mut length = [0u8; 8];
    file.read_exact(&mut length)
        .map_err(|error| io("read", error))?;
    let header = u64::from_le_bytes(length);
    if header > MAX_HEADER {
        return Err((
            format!(
                "not a safetensors file: its header claims {header} bytes, over safetensors' \
                 limit of {MAX_HEADER}"
            ),
            None,
        ));
    }
    if header > size - 8 {
        return Err((
            format!(
                "not a safetensors file: its header claims {header} bytes, but only {} follow",
                size - 8
            ),
            None,
        ));
    }
    Ok(())
}
