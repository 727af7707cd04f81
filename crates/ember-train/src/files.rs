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

/// Saves a module's record atomically: burn writes to a temporary file that is then renamed.
pub(crate) fn save_module<M: burn::module::Module>(
    module: M,
    path: &Path,
) -> Result<(), TrainError> {
    save_atomically(path, |temp| {
        module.save_file(temp).map_err(|e| e.to_string())
    })
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
    std::fs::rename(&temp, path).map_err(|e| error(e.to_string()))
}

/// Loads weights into `model` from `path`: a module record (`dense.bpk`), or a run's pruned
/// checkpoint (`model.bpk`), whose model tensors sit under `model.` beside the sparsity state.
/// The state is left out; the weights (pruned ones zero) are loaded, every one of them.
pub(crate) fn load_weights<M: burn::module::Module>(model: M, path: &Path) -> Result<M, String> {
    use burn::store::{BurnpackStore, ModuleSnapshot};
    if !path.is_file() {
        return Err("no such file".into());
    }
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
