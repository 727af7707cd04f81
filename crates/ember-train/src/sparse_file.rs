//! A finished run's weights read from its checkpoint into host tensors
//! ([`checkpoint_tensors`], what the sparse engines of the model families and the lottery
//! read), and written as Ember's compressed sparse file ([`export_sparse`]).

use std::collections::BTreeMap;
use std::path::Path;

use burn::store::{BurnpackStore, ModuleStore, bridge};
use ember_kernels::{NamedTensor, write_sparse_file};

use crate::TrainError;
use crate::files::write_atomically;

/// The model's float tensors in the checkpoint `path` (a run's `model.bpk`), under their
/// paths in the model (the `model.` of the sparse wrapper removed), sorted by path. The
/// sparsity state (masks, freeze sets, the step) is left out: it is not part of the model.
pub fn checkpoint_tensors(path: &Path) -> Result<Vec<NamedTensor>, TrainError> {
    let error = |message: String| TrainError::ReadCheckpoint {
        path: path.to_path_buf(),
        message,
    };
    if !path.is_file() {
        return Err(error("no such file".into()));
    }
    // A run's model file always carries checksums: one without is not the run's.
    crate::files::verify(path, true)?;
    let mut store = BurnpackStore::from_file(path).auto_extension(false);
    let all = store
        .get_all_tensors()
        .map_err(|e| error(format!("cannot read the checkpoint: {e}")))?;
    let mut tensors = Vec::new();
    for (name, tensor) in all {
        let Some(model_path) = name.strip_prefix("model.") else {
            continue;
        };
        if !tensor.dtype.is_float() {
            continue;
        }
        let data = bridge::to_data(tensor)
            .map_err(|e| error(format!("cannot read tensor `{name}`: {e}")))?;
        let shape = data.shape().to_vec();
        let values = data
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| error(format!("tensor `{name}` is not f32: {e:?}")))?;
        tensors.push(NamedTensor {
            name: model_path.to_string(),
            shape,
            values,
        });
    }
    if tensors.is_empty() {
        return Err(error(
            "holds no model weights under `model.`: it is not a run's final model (a \
             dense.bpk, or another module's record?)"
                .into(),
        ));
    }
    Ok(tensors)
}

/// What [`export_sparse`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseExport {
    /// Bytes of the file.
    pub bytes: u64,
    /// Bytes of the same tensors as dense f32.
    pub dense_bytes: u64,
    /// Exact zeros over all tensors.
    pub zeros: usize,
    /// Elements over all tensors.
    pub elements: usize,
}

/// Writes the final model of the run in `run_dir` to `out` in Ember's compressed sparse file
/// (the layout is documented in `ember_kernels`' `file` module and in `docs/performance.md`),
/// atomically. Zeros of either sign are written as absent (they read back as +0.0); every
/// other value is kept bit for bit.
pub fn export_sparse(run_dir: &Path, out: &Path) -> Result<SparseExport, TrainError> {
    // Only an earlier sparse export may be replaced: never the run's model.bpk, a report, or
    // any other file.
    crate::files::refuse_to_replace(out, |existing| {
        existing.is_file()
            && std::fs::File::open(existing)
                .and_then(|mut f| {
                    let mut magic = [0u8; 8];
                    std::io::Read::read_exact(&mut f, &mut magic).map(|()| magic)
                })
                .is_ok_and(|magic| &magic == ember_kernels::MAGIC)
    })?;
    let mut tensors = checkpoint_tensors(&run_dir.join("model.bpk"))?;
    // A pruned weight is +0.0 or -0.0 (the masks are applied by one multiply); the file
    // stores every value but +0.0 bit for bit, so both zeros are written as absent here.
    for tensor in &mut tensors {
        for value in tensor.values.iter_mut().filter(|v| **v == 0.0) {
            *value = 0.0;
        }
    }
    let metadata = BTreeMap::from([
        ("producer".to_string(), "ember".to_string()),
        (
            "source".to_string(),
            run_dir.join("model.bpk").display().to_string(),
        ),
    ]);
    let bytes = write_sparse_file(&tensors, &metadata).map_err(|e| TrainError::Write {
        path: out.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomically(out, &bytes)?;
    let elements: usize = tensors.iter().map(|t| t.values.len()).sum();
    Ok(SparseExport {
        bytes: bytes.len() as u64,
        dense_bytes: 4 * elements as u64,
        zeros: tensors
            .iter()
            .map(|t| t.values.iter().filter(|v| **v == 0.0).count())
            .sum(),
        elements,
    })
}
