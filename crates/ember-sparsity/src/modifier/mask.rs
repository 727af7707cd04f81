//! A pruner that imposes given masks: lottery-ticket rounds, masks from another tool.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ember_schedule::SparsitySchedule;

use super::{Effect, Modifier, TargetView};
use crate::{ParamInfo, Selector, SparsityError};

/// Prunes exactly the listed elements, once, at its schedule's step (default 0): the masks of
/// an iterative-magnitude-pruning round, or masks computed elsewhere.
///
/// Every selected parameter must be listed (an empty list keeps it dense) and every listed
/// path selected, so a renamed layer cannot silently stay dense.
#[derive(Debug, Clone)]
pub struct MaskPruner {
    /// A name for reports and error messages.
    pub name: String,
    /// The parameters the masks belong to.
    pub selector: Selector,
    /// Pruned flat indices by parameter path.
    pub pruned: Arc<BTreeMap<String, Vec<usize>>>,
    /// When the masks are imposed (a one-shot schedule; its sparsity is informational).
    pub schedule: SparsitySchedule,
}

impl MaskPruner {
    /// Imposes `pruned` (path → pruned flat indices) at step 0.
    pub fn new(name: &str, selector: Selector, pruned: BTreeMap<String, Vec<usize>>) -> Self {
        Self {
            name: name.to_string(),
            selector,
            pruned: Arc::new(pruned),
            schedule: SparsitySchedule::one_shot(0.0, 0),
        }
    }

    /// Reads a mask file, `{"layers.0.weight": [0, 17, 42], ...}`: the pruned flat indices of
    /// each parameter (the format `ember lottery` writes and freezing's `mask_file` reads).
    pub fn from_json(name: &str, selector: Selector, path: &Path) -> Result<Self, SparsityError> {
        let error = |message: String| SparsityError::MaskFile {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let pruned: BTreeMap<String, Vec<usize>> =
            serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
        Ok(Self::new(name, selector, pruned))
    }

    fn mismatch(&self, message: String) -> SparsityError {
        SparsityError::MaskMismatch {
            modifier: self.name.clone(),
            message,
        }
    }
}

impl Modifier for MaskPruner {
    fn name(&self) -> &str {
        &self.name
    }

    fn releases(&self) -> bool {
        // Updates start from the current flags and only add to them.
        false
    }

    fn effect(&self) -> Effect {
        Effect::Prune
    }

    fn selector(&self) -> &Selector {
        &self.selector
    }

    fn schedule(&self) -> &SparsitySchedule {
        &self.schedule
    }

    fn bind(&self, targets: &[ParamInfo]) -> Result<(), SparsityError> {
        for (path, indices) in self.pruned.iter() {
            let Some(info) = targets.iter().find(|t| &t.path == path) else {
                return Err(self.mismatch(format!(
                    "`{path}` is listed in the masks but not among the selected parameters"
                )));
            };
            let numel = info.numel();
            if let Some(index) = indices.iter().find(|&&i| i >= numel) {
                return Err(self.mismatch(format!(
                    "index {index} is out of range for `{path}` ({numel} elements)"
                )));
            }
        }
        if let Some(unlisted) = targets.iter().find(|t| !self.pruned.contains_key(&t.path)) {
            return Err(self.mismatch(format!(
                "`{}` is selected but has no entry in the masks (list it with [] to keep it \
                 dense)",
                unlisted.path
            )));
        }
        Ok(())
    }

    fn update(
        &self,
        _step: u64,
        targets: &[TargetView<'_>],
    ) -> Result<Vec<Vec<bool>>, SparsityError> {
        Ok(targets
            .iter()
            .map(|target| {
                let mut flags = target.pruned.clone();
                for &index in self.pruned.get(&target.info.path).into_iter().flatten() {
                    flags[index] = true;
                }
                flags
            })
            .collect())
    }
}
