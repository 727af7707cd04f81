//! A run's files: written atomically, with their SHA-256 sums in the folder's `SHA256SUMS`
//! ([`MANIFEST`]), and checked against it when read back, so a damaged or swapped file is an
//! error naming it rather than a silently different result.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ReportError;

/// A temporary name in `path`'s directory (created if needed), so that the final rename stays
/// on one file system and is atomic.
pub fn temporary_beside(path: &Path) -> std::io::Result<PathBuf> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(dir.join(format!(".{name}.tmp-{}", std::process::id())))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// crash never leaves a half-written file under the final name.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let error = |e: std::io::Error| ReportError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let temp = temporary_beside(path).map_err(error)?;
    let mut file = std::fs::File::create(&temp).map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.sync_all().map_err(error)?;
    drop(file);
    std::fs::rename(&temp, path).map_err(error)
}

/// Refuses to write an output at `out` when something is there that `ours` does not
/// recognise as an earlier output of the same kind: Ember replaces its own exports, never a
/// file or folder it did not create for this output (a run's model, a folder of runs).
pub fn refuse_to_replace(out: &Path, ours: impl Fn(&Path) -> bool) -> Result<(), ReportError> {
    match std::fs::symlink_metadata(out) {
        Err(_) => Ok(()),
        Ok(_) if ours(out) => Ok(()),
        Ok(meta) => Err(ReportError::Write {
            path: out.to_path_buf(),
            message: format!(
                "a {} is already there and it is not an earlier export of this kind; \
                 Ember does not replace it (remove it, or choose another path)",
                if meta.is_dir() {
                    "folder"
                } else if meta.file_type().is_symlink() {
                    "symbolic link"
                } else {
                    "file"
                }
            ),
        }),
    }
}

/// The manifest of a directory Ember writes: one `<sha256>  <name>` line per file, the
/// format `sha256sum -c SHA256SUMS` checks.
pub const MANIFEST: &str = "SHA256SUMS";

/// [`write_atomically`], then the file's SHA-256 recorded in the [`MANIFEST`] of its
/// directory, for the files of a run that have no room for a checksum of their own
/// (`report.json`, `recipe.toml`, `metrics.csv`, a checkpoint's `state.json`).
pub fn write_recorded(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    write_atomically(path, bytes)?;
    record_sum(path, sha256_hex(bytes))
}

/// Records the file `path`, as it is on disk, in the [`MANIFEST`] of its directory: the
/// `.bpk` files of a run, whose own checksums cover every byte burn reads but not the
/// alignment padding between them, so that `sha256sum -c` checks the whole directory.
pub fn record_file(path: &Path) -> Result<(), ReportError> {
    let sum = file_sha256(path).map_err(|e| ReportError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    record_sum(path, sum)
}

/// Checks the file `path` against the [`MANIFEST`] of its directory, when that lists it.
pub fn check_recorded_file(path: &Path) -> Result<(), ReportError> {
    let (dir, name) = dir_and_name(path);
    let Some(expected) = read_manifest(&dir)?.remove(&name) else {
        return Ok(());
    };
    let got = file_sha256(path).map_err(|e| ReportError::ReadFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if got == expected {
        Ok(())
    } else {
        Err(mismatch(path, &dir))
    }
}

/// The error of a file whose SHA-256 is not the one its directory's manifest records.
fn mismatch(path: &Path, dir: &Path) -> ReportError {
    ReportError::ReadFile {
        path: path.to_path_buf(),
        message: format!(
            "its SHA-256 differs from the one in {} (damaged, or edited after Ember wrote it)",
            dir.join(MANIFEST).display()
        ),
    }
}

/// The SHA-256, in hex, of a file's bytes, streamed.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(to_hex(&hasher.finalize()))
}

/// Sets `path`'s line of its directory's [`MANIFEST`] to `sum`.
fn record_sum(path: &Path, sum: String) -> Result<(), ReportError> {
    let (dir, name) = dir_and_name(path);
    let mut sums = read_manifest(&dir)?;
    sums.insert(name, sum);
    let text: String = sums
        .iter()
        .map(|(name, sum)| format!("{sum}  {name}\n"))
        .collect();
    write_atomically(&dir.join(MANIFEST), text.as_bytes())
}

/// Reads `path` as text, checked against the [`MANIFEST`] of its directory when that lists
/// it (a file Ember did not record, a recipe of the user's, is read as it is).
///
/// # Errors
/// [`ReportError::ReadFile`] when the file cannot be read or does not match its recorded
/// SHA-256 (damaged, or edited after Ember wrote it).
pub fn read_recorded(path: &Path) -> Result<String, ReportError> {
    let error = |message: String| ReportError::ReadFile {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let (dir, name) = dir_and_name(path);
    if let Some(expected) = read_manifest(&dir)?.get(&name)
        && *expected != sha256_hex(&bytes)
    {
        return Err(mismatch(path, &dir));
    }
    String::from_utf8(bytes).map_err(|_| error("not UTF-8 text".into()))
}

/// `path`'s directory (`.` for a bare name) and file name.
fn dir_and_name(path: &Path) -> (PathBuf, String) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, name)
}

/// The sums of `dir`'s manifest by file name (none when it has no manifest).
pub fn read_manifest(
    dir: &Path,
) -> Result<std::collections::BTreeMap<String, String>, ReportError> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => {
            return Err(ReportError::ReadFile {
                path,
                message: e.to_string(),
            });
        }
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.split_once("  ")
                .filter(|(sum, _)| sum.len() == 64)
                .map(|(sum, name)| (name.to_string(), sum.to_string()))
                .ok_or_else(|| ReportError::ReadFile {
                    path: path.clone(),
                    message: format!("damaged line `{line}` (expected `<sha256>  <file>`)"),
                })
        })
        .collect()
}

/// Lower-case hex SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    to_hex(&sha2::Sha256::digest(bytes))
}

/// Lower-case hex of `bytes` (a digest), as `sha256sum` prints it.
fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/report.json");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }
}
