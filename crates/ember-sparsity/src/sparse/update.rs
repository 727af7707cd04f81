//! Selecting new masks and freeze sets at the steps where modifiers are due.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Bool, Tensor, TensorData};

use super::{Sparse, host_flags};
use crate::path::PathTracker;
use crate::plan::{FreezeRule, Scope, Target};
use crate::score::ScoreContext;
use crate::{prune_count, pruned_flags};

/// Host copies of the weights (and, on request, gradients) of some parameters, by path.
#[derive(Default)]
struct HostCopies {
    weights: HashMap<String, Vec<f32>>,
    gradients: HashMap<String, Vec<f32>>,
}

/// Visits a model and fills [`HostCopies`] for the wanted paths.
struct HostValues<'a> {
    tracker: PathTracker,
    wanted: &'a [String],
    grads: Option<&'a GradientsParams>,
    copies: HostCopies,
}

fn to_host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .inner()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a float tensor converts to f32")
}

impl ModuleVisitor for HostValues<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.tracker.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.tracker.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.tracker.path();
        if !self.wanted.contains(&path) {
            return;
        }
        self.copies
            .weights
            .insert(path.clone(), to_host(param.val()));
        if let Some(grad) = self.grads.and_then(|g| g.get::<D>(param.id)) {
            self.copies.gradients.insert(path, to_host(grad));
        }
    }
}

fn bool_tensor(flags: Vec<bool>, like: &Tensor<1, Bool>) -> Tensor<1, Bool> {
    let numel = flags.len();
    Tensor::from_data(TensorData::new(flags, [numel]), &like.device())
}

/// One selection: for each tensor, its scores (lowest chosen first), the elements already
/// chosen (`forced`, chosen first) and the elements that may never be chosen (`excluded`).
#[derive(Default)]
struct Selection {
    scores: Vec<Vec<f32>>,
    forced: Vec<Vec<bool>>,
    excluded: Vec<Vec<bool>>,
}

impl Selection {
    /// Chooses `round(fraction · n)` elements per tensor (layer-wise) or over all tensors
    /// (global), never more than the elements that are not excluded.
    fn choose(self, fraction: f64, scope: Scope) -> Vec<Vec<bool>> {
        let Self {
            mut scores,
            forced,
            excluded,
        } = self;
        for ((scores, forced), excluded) in scores.iter_mut().zip(&forced).zip(&excluded) {
            for ((score, forced), excluded) in scores.iter_mut().zip(forced).zip(excluded) {
                // A scorer's NaN counts as +inf and its -inf as the lowest finite value, so
                // that forced (-inf) and excluded (NaN, above everything) stay apart.
                *score = if *excluded {
                    f32::NAN
                } else if *forced {
                    f32::NEG_INFINITY
                } else if score.is_nan() {
                    f32::INFINITY
                } else {
                    score.max(f32::MIN)
                };
            }
        }
        let count = |n: usize, excluded: usize| prune_count(fraction, n).min(n - excluded);
        let excluded_count = |flags: &[bool]| flags.iter().filter(|&&e| e).count();
        match scope {
            Scope::LayerWise => scores
                .iter()
                .zip(&excluded)
                .map(|(s, e)| pruned_flags(s, count(s.len(), excluded_count(e))))
                .collect(),
            Scope::Global => {
                let all: Vec<f32> = scores.concat();
                let excluded: usize = excluded.iter().map(|e| excluded_count(e)).sum();
                let flags = pruned_flags(&all, count(all.len(), excluded));
                let mut offset = 0;
                scores
                    .iter()
                    .map(|s| {
                        let part = flags[offset..offset + s.len()].to_vec();
                        offset += s.len();
                        part
                    })
                    .collect()
            }
        }
    }
}

impl<M: Module> Sparse<M> {
    /// The indices (in `list`) of the targets of modifier `modifier`, and their weights (and
    /// gradients, when `grads` is given) on the host.
    fn read_targets(
        &self,
        list: &[Target],
        modifier: usize,
        grads: Option<&GradientsParams>,
    ) -> (Vec<usize>, HostCopies) {
        let targets: Vec<usize> = (0..list.len())
            .filter(|&i| list[i].modifier == modifier)
            .collect();
        let paths: Vec<String> = targets.iter().map(|&i| list[i].info.path.clone()).collect();
        let mut host = HostValues {
            tracker: PathTracker::default(),
            wanted: &paths,
            grads,
            copies: HostCopies::default(),
        };
        self.model.visit(&mut host);
        (targets, host.copies)
    }

    fn pruned_of(&self, path: &str, numel: usize) -> Vec<bool> {
        match self.plan.target_index(path) {
            Some(i) => host_flags(&self.keep_masks[i])
                .into_iter()
                .map(|k| !k)
                .collect(),
            None => vec![false; numel],
        }
    }

    fn frozen_of(&self, path: &str, numel: usize) -> Vec<bool> {
        match self.plan.freeze_index(path) {
            Some(i) => host_flags(&self.frozen_masks[i]),
            None => vec![false; numel],
        }
    }

    /// Selects new masks for every pruner, and new freeze sets for every freezer, due at
    /// `step`. Does not touch the weights; [`Sparse::optimizer_step`] writes the zeros and the
    /// frozen values after the optimizer's update.
    ///
    /// Masks and freeze sets only grow while their targets rise. A frozen element is never
    /// pruned and a pruned element is never frozen: if a target asks for more, it is capped at
    /// the elements that remain.
    ///
    /// # Panics
    /// If a scorer returns the wrong number of scores, or a FreezeNet freezer is due and
    /// `grads` holds no gradient for its parameters.
    pub fn update_masks(mut self, step: u64, grads: Option<&GradientsParams>) -> Self {
        let plan = self.plan.clone();
        for (index, pruner) in plan.pruners.iter().enumerate() {
            if !pruner.schedule.is_update_step(step) {
                continue;
            }
            let grads = grads.filter(|_| pruner.scorer.needs_gradient());
            let (targets, host) = self.read_targets(&plan.targets, index, grads);
            let mut selection = Selection::default();
            for &i in &targets {
                let info = &plan.targets[i].info;
                let weights = &host.weights[&info.path];
                let scores = pruner.scorer.score(&ScoreContext {
                    path: &info.path,
                    shape: &info.shape,
                    weights,
                    gradient: host.gradients.get(&info.path).map(Vec::as_slice),
                    step,
                    seed: pruner.seed,
                });
                assert_eq!(
                    scores.len(),
                    weights.len(),
                    "scorer `{}` returned {} scores for `{}` ({} elements)",
                    pruner.scorer.name(),
                    scores.len(),
                    info.path,
                    weights.len()
                );
                selection.scores.push(scores);
                selection
                    .forced
                    .push(self.pruned_of(&info.path, weights.len()));
                selection
                    .excluded
                    .push(self.frozen_of(&info.path, weights.len()));
            }
            let pruned = selection.choose(pruner.schedule.sparsity(step), pruner.scope);
            for (&i, flags) in targets.iter().zip(pruned) {
                let keep: Vec<bool> = flags.into_iter().map(|p| !p).collect();
                self.keep_masks[i] = self.keep_masks[i]
                    .clone()
                    .map(|old| bool_tensor(keep, &old));
            }
        }

        for (index, freezer) in plan.freezers.iter().enumerate() {
            if matches!(freezer.rule, FreezeRule::All) || !freezer.schedule.is_update_step(step) {
                continue;
            }
            let grads = grads.filter(|_| matches!(freezer.rule, FreezeRule::FreezeNet));
            let (targets, host) = self.read_targets(&plan.freeze_targets, index, grads);
            let mut selection = Selection::default();
            for &i in &targets {
                let path = &plan.freeze_targets[i].info.path;
                let weights = &host.weights[path];
                let mut forced = self.frozen_of(path, weights.len());
                let scores: Vec<f32> = match &freezer.rule {
                    // Freeze the largest magnitudes: the lowest of `-|w|`.
                    FreezeRule::TopMagnitude => weights.iter().map(|w| -w.abs()).collect(),
                    FreezeRule::FreezeNet => {
                        let grad = host.gradients.get(path).unwrap_or_else(|| {
                            panic!("freezenet freezer `{}` needs the gradient of `{path}` at step {step}", freezer.name)
                        });
                        weights
                            .iter()
                            .zip(grad)
                            .map(|(w, g)| (w * g).abs())
                            .collect()
                    }
                    FreezeRule::Mask(mask) => {
                        for &index in mask.get(path).map(Vec::as_slice).unwrap_or(&[]) {
                            forced[index] = true;
                        }
                        vec![0.0; weights.len()]
                    }
                    FreezeRule::All => unreachable!("whole-tensor freezing has no freeze set"),
                };
                selection.scores.push(scores);
                selection.forced.push(forced);
                selection.excluded.push(self.pruned_of(path, weights.len()));
            }
            let fraction = match &freezer.rule {
                // The mask decides: exactly the listed (and already frozen) elements.
                FreezeRule::Mask(_) => {
                    let listed: usize = selection.forced.iter().flatten().filter(|&&f| f).count();
                    let total: usize = selection.forced.iter().map(Vec::len).sum();
                    if total == 0 {
                        0.0
                    } else {
                        listed as f64 / total as f64
                    }
                }
                _ => freezer.schedule.sparsity(step),
            };
            let scope = match &freezer.rule {
                FreezeRule::Mask(_) => Scope::Global,
                _ => freezer.scope,
            };
            let frozen = selection.choose(fraction, scope);
            for (&i, flags) in targets.iter().zip(frozen) {
                let path = &plan.freeze_targets[i].info.path;
                let current = &host.weights[path];
                let old_values: Vec<f32> = to_host(self.frozen_values[i].val());
                let old_frozen = host_flags(&self.frozen_masks[i]);
                // Newly frozen elements keep the value they have now; older ones keep theirs.
                let values: Vec<f32> = old_frozen
                    .iter()
                    .zip(old_values.iter().zip(current))
                    .map(|(was, (old, now))| if *was { *old } else { *now })
                    .collect();
                let numel = values.len();
                self.frozen_values[i] = self.frozen_values[i]
                    .clone()
                    .map(|old| Tensor::from_data(TensorData::new(values, [numel]), &old.device()));
                self.frozen_masks[i] = self.frozen_masks[i]
                    .clone()
                    .map(|old| bool_tensor(flags, &old));
            }
        }
        self
    }
}
