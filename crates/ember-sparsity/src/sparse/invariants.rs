//! The invariants a loaded pruned model must hold, checked when a checkpoint is read: every
//! weight its keep-mask removes is exactly zero. A checkpoint whose checksums match can still
//! break this (written by another tool, or by a bug), and a model that silently keeps pruned
//! weights alive is the failure users of other toolkits meet most.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

use crate::Sparse;
use crate::path::PathTracker;

impl<M: Module> Sparse<M> {
    /// The first pruned parameter with a non-zero weight where its keep-mask is `false`, with
    /// how many such weights it holds. Reads the pruned weights to the host.
    pub fn masked_nonzero(&self) -> Option<(String, usize)> {
        let masks: HashMap<String, Vec<bool>> = self
            .target_paths()
            .into_iter()
            .filter_map(|path| self.keep_mask(&path).map(|mask| (path, mask)))
            .collect();
        let mut finder = MaskedNonZero {
            tracker: PathTracker::default(),
            masks: &masks,
            found: None,
        };
        self.model.visit(&mut finder);
        finder.found
    }
}

struct MaskedNonZero<'a> {
    tracker: PathTracker,
    masks: &'a HashMap<String, Vec<bool>>,
    found: Option<(String, usize)>,
}

impl ModuleVisitor for MaskedNonZero<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.tracker.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.tracker.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.found.is_some() {
            return;
        }
        let path = self.tracker.path();
        let Some(keep) = self.masks.get(&path) else {
            return;
        };
        let Ok(values) = param
            .val()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
        else {
            return;
        };
        let alive = values
            .iter()
            .zip(keep)
            .filter(|(w, kept)| !**kept && **w != 0.0)
            .count();
        if alive > 0 {
            self.found = Some((path, alive));
        }
    }
}
