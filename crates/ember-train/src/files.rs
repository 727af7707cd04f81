//! A run's files: written atomically, with their SHA-256 sums in the folder's `SHA256SUMS`
//! ([`MANIFEST`]), and checked against it when read back, so a damaged or swapped file is an
//! error naming it rather than a silently different result.
//!
//! The std-only part lives in [`ember_report::files`] and is re-exported here; this module
//! adds what needs burn: sealing, verifying, saving and loading burnpack files.

use std::path::Path;

pub use ember_report::files::{
    MANIFEST, read_manifest, read_recorded, record_file, refuse_to_replace, write_atomically,
    write_recorded,
};
use ember_report::files::{check_recorded_file, temporary_beside};

use crate::TrainError;

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
    Ok(check_recorded_file(path)?)
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
    Ok(record_file(path)?)
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
