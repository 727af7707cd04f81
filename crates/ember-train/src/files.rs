//! A run's files: written atomically, with their SHA-256 sums in the folder's `SHA256SUMS`
//! ([`MANIFEST`]), and checked against it when read back, so a damaged or swapped file is an
//! error naming it rather than a silently different result.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::TrainError;

/// A temporary name in `path`'s directory (created if needed), so that the final rename stays
/// on one file system and is atomic.
fn temporary_beside(path: &Path) -> std::io::Result<PathBuf> {
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
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let error = |e: std::io::Error| TrainError::Write {
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
pub fn refuse_to_replace(out: &Path, ours: impl Fn(&Path) -> bool) -> Result<(), TrainError> {
    match std::fs::symlink_metadata(out) {
        Err(_) => Ok(()),
        Ok(_) if ours(out) => Ok(()),
        Ok(meta) => Err(TrainError::Write {
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
pub fn write_recorded(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    write_atomically(path, bytes)?;
    record_sum(path, sha256_hex(bytes))
}

/// Records the file `path`, as it is on disk, in the [`MANIFEST`] of its directory: the
/// `.bpk` files of a run, whose own checksums cover every byte burn reads but not the
/// alignment padding between them, so that `sha256sum -c` checks the whole directory.
pub fn record_file(path: &Path) -> Result<(), TrainError> {
    let sum = file_sha256(path).map_err(|e| TrainError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    record_sum(path, sum)
}

/// Checks the file `path` against the [`MANIFEST`] of its directory, when that lists it.
fn check_recorded_file(path: &Path) -> Result<(), TrainError> {
    let (dir, name) = dir_and_name(path);
    let Some(expected) = read_manifest(&dir)?.remove(&name) else {
        return Ok(());
    };
    let got = file_sha256(path).map_err(|e| TrainError::ReadFile {
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
fn mismatch(path: &Path, dir: &Path) -> TrainError {
    TrainError::ReadFile {
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
    Ok(ember_sparsity::to_hex(&hasher.finalize()))
}

/// Sets `path`'s line of its directory's [`MANIFEST`] to `sum`.
fn record_sum(path: &Path, sum: String) -> Result<(), TrainError> {
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
/// [`TrainError::ReadFile`] when the file cannot be read or does not match its recorded
/// SHA-256 (damaged, or edited after Ember wrote it).
pub fn read_recorded(path: &Path) -> Result<String, TrainError> {
    let error = |message: String| TrainError::ReadFile {
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
pub fn read_manifest(dir: &Path) -> Result<std::collections::BTreeMap<String, String>, TrainError> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => {
            return Err(TrainError::ReadFile {
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
                .ok_or_else(|| TrainError::ReadFile {
                    path: path.clone(),
                    message: format!("damaged line `{line}` (expected `<sha256>  <file>`)"),
                })
        })
        .collect()
}

/// Lower-case hex SHA-256.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    ember_sparsity::to_hex(&sha2::Sha256::digest(bytes))
}

/// Saves a module's record atomically, with checksums: burn writes to a temporary file that
/// is then sealed ([`seal`]) and renamed.
pub(crate) fn save_module<M: burn::module::Module>(
    module: M,
    path: &Path,
) -> Result<(), TrainError> {
    save_atomically(path, |temp| {
        module.save_file(temp).map_err(|e| e.to_string())?;
        ember_sparsity::seal_burnpack(temp).map_err(|e| e.to_string())
    })
}

/// Adds checksums to the burnpack file `path` that burn just wrote
/// ([`ember_sparsity::seal_burnpack`]).
pub fn seal(path: &Path) -> Result<(), TrainError> {
    ember_sparsity::seal_burnpack(path)?;
    Ok(())
}

/// Checks the checksums of the burnpack file `path` before it is read: a file of a run
/// (`required`) must carry them; a weights file a user brings may be a plain burn record.
pub fn verify(path: &Path, required: bool) -> Result<(), TrainError> {
    // The file's own checksums first: they name the damaged tensor.
    ember_sparsity::verify_burnpack(path, required)?;
    // Then every byte, padding included, where the run's manifest lists the file.
    check_recorded_file(path)
}

/// Saves a pruned model's checkpoint (masks as bits) atomically, through a temporary file.
pub(crate) fn save_sparse<M: burn::module::Module + burn::module::ModuleDisplay>(
    sparse: &ember_sparsity::Sparse<M>,
    path: &Path,
) -> Result<(), TrainError> {
    save_atomically(path, |temp| {
        sparse.save_checkpoint(temp).map_err(|e| e.to_string())
    })
}

/// Runs `write` on a temporary path beside `path`, then renames the result into place.
fn save_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), TrainError> {
    let error = |message: String| TrainError::Write {
        path: path.to_path_buf(),
        message,
    };
    let temp = temporary_beside(path).map_err(|e| error(e.to_string()))?;
    if let Err(message) = write(&temp) {
        let _ = std::fs::remove_file(&temp);
        return Err(error(message));
    }
    std::fs::rename(&temp, path).map_err(|e| error(e.to_string()))?;
    record_file(path)
}

/// Loads weights into `model` from `path`: a module record (`dense.bpk`), or a run's pruned
/// checkpoint (`model.bpk`), whose model tensors sit under `model.` beside the sparsity state.
/// The state is left out; the weights (pruned ones zero) are loaded, every one of them.
pub(crate) fn load_weights<M: burn::module::Module>(model: M, path: &Path) -> Result<M, String> {
    use burn::store::{BurnpackStore, ModuleSnapshot};
    if !path.is_file() {
        return Err("no such file".into());
    }
    verify(path, false).map_err(|e| e.to_string())?;
    let plain_error = match model.clone().try_load_file(path) {
        Ok(model) => return Ok(model),
        Err(e) => e.to_string(),
    };
    let mut model = model;
    let mut store = BurnpackStore::from_file(path)
        .auto_extension(false)
        .with_remap_pattern(r"^model\.", "")
        .validate(false)
        .allow_partial(true);
    let Ok(result) = model.load_from(&mut store) else {
        return Err(plain_error);
    };
    if result.applied.is_empty() {
        // Not a pruned checkpoint either: the plain loader's message says more.
        return Err(plain_error);
    }
    let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    if !result.missing.is_empty() {
        let names: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
        problems.push(format!("missing tensors: {}", names.join(", ")));
    }
    if problems.is_empty() {
        Ok(model)
    } else {
        Err(problems.join("; "))
    }
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
