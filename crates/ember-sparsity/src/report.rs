use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
pub use ember_report::LayerReport;
use serde::{Deserialize, Serialize};

use crate::path::PathTracker;
use crate::{Sparse, count_true};

/// Sparsity measured from the weights themselves (not from the masks), so it cannot claim
/// more than the model really has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparsityReport {
    /// Optimizer steps taken.
    pub step: u64,
    /// Every float parameter of the model, in visiting order.
    pub layers: Vec<LayerReport>,
    /// Elements of the selected parameters.
    pub selected_numel: usize,
    /// Zeros among the selected parameters.
    pub selected_zeros: usize,
    /// `selected_zeros / selected_numel`: the sparsity the plan controls.
    pub ratio: f64,
    /// Elements of the whole model.
    pub total_numel: usize,
    /// Zeros in the whole model.
    pub total_zeros: usize,
    /// Frozen elements in the whole model.
    pub total_frozen: usize,
    /// Elements of the whole model that still train (not pruned, not frozen).
    pub trainable: usize,
}

/// What a plan holds for one parameter: elements pruned by its mask and elements frozen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaskCounts {
    /// Elements the keep-mask removes.
    pub pruned: usize,
    /// Elements frozen.
    pub frozen: usize,
}

impl SparsityReport {
    /// Counts the zeros of every float parameter of `model`; `selected` tells which paths a
    /// plan controls.
    ///
    /// `counts` gives, per path, what the masks prune and freeze (missing paths: nothing).
    pub fn measure<M: Module>(
        model: &M,
        selected: &[String],
        counts: &HashMap<String, MaskCounts>,
        step: u64,
    ) -> Self {
        let mut counter = ZeroCounter {
            tracker: PathTracker::default(),
            selected,
            counts,
            layers: Vec::new(),
        };
        model.visit(&mut counter);
        let layers = counter.layers;
        let sum = |f: fn(&LayerReport) -> usize, only_selected: bool| {
            layers
                .iter()
                .filter(|l| l.selected || !only_selected)
                .map(f)
                .sum::<usize>()
        };
        let selected_numel = sum(|l| l.numel, true);
        let selected_zeros = sum(|l| l.zeros, true);
        Self {
            step,
            selected_numel,
            selected_zeros,
            ratio: ratio(selected_zeros, selected_numel),
            total_numel: sum(|l| l.numel, false),
            total_zeros: sum(|l| l.zeros, false),
            total_frozen: sum(|l| l.frozen, false),
            trainable: sum(|l| l.trainable, false),
            layers,
        }
    }
}

fn ratio(zeros: usize, numel: usize) -> f64 {
    if numel == 0 {
        0.0
    } else {
        zeros as f64 / numel as f64
    }
}

struct ZeroCounter<'a> {
    tracker: PathTracker,
    selected: &'a [String],
    counts: &'a HashMap<String, MaskCounts>,
    layers: Vec<LayerReport>,
}

impl ModuleVisitor for ZeroCounter<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.tracker.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.tracker.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.tracker.path();
        let weight = param.val().inner();
        let numel = weight.shape().num_elements();
        let zeros = count_true(weight.equal_elem(0.0));
        let counts = self.counts.get(&path).copied().unwrap_or_default();
        self.layers.push(LayerReport {
            selected: self.selected.contains(&path),
            frozen: counts.frozen,
            trainable: numel - counts.pruned - counts.frozen,
            layer_type: self.tracker.layer_type(),
            path,
            numel,
            zeros,
            sparsity: ratio(zeros, numel),
        });
    }
}

impl<M: Module> Sparse<M> {
    /// Measures the sparsity of the model's weights now, with the frozen counts of the plan.
    pub fn report(&self) -> SparsityReport {
        let mut counts: HashMap<String, MaskCounts> = HashMap::new();
        for path in self.target_paths() {
            let pruned = self
                .keep_mask(&path)
                .map_or(0, |m| m.iter().filter(|k| !**k).count());
            counts.entry(path).or_default().pruned = pruned;
        }
        for path in self.freeze_paths() {
            let frozen = self
                .frozen_mask(&path)
                .map_or(0, |m| m.iter().filter(|f| **f).count());
            counts.entry(path).or_default().frozen = frozen;
        }
        for (path, numel) in self.whole_frozen() {
            counts.entry(path).or_default().frozen = numel;
        }
        SparsityReport::measure(
            &self.model,
            &self.target_paths(),
            &counts,
            self.step_count(),
        )
    }
}
