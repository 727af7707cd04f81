//! Selecting new masks at pruning steps.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Bool, Tensor, TensorData};

use super::Sparse;
use crate::path::PathTracker;
use crate::plan::{BoundPlan, Scope};
use crate::score::ScoreContext;
use crate::{prune_count, pruned_flags};

/// Host copies of the weights (and, on request, gradients) of some targets.
struct HostValues<'a> {
    tracker: PathTracker,
    plan: &'a BoundPlan,
    wanted: &'a [usize],
    want_grads: bool,
    grads: Option<&'a GradientsParams>,
    weights: Vec<Option<Vec<f32>>>,
    gradients: Vec<Option<Vec<f32>>>,
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
        let Some(index) = self.plan.target_index(&self.tracker.path()) else {
            return;
        };
        if !self.wanted.contains(&index) {
            return;
        }
        self.weights[index] = Some(to_host(param.val()));
        if self.want_grads {
            self.gradients[index] = self.grads.and_then(|g| g.get::<D>(param.id)).map(to_host);
        }
    }
}

impl<M: Module> Sparse<M> {
    /// Selects new masks for every pruner due at `step`. Does not touch the weights; call
    /// [`Sparse::apply_masks`] (done by [`Sparse::optimizer_step`]) to write the zeros.
    ///
    /// Already-pruned elements score `-inf`, so masks only grow while the target sparsity
    /// rises.
    pub fn update_masks(mut self, step: u64, grads: Option<&GradientsParams>) -> Self {
        for (pruner_index, pruner) in self.plan.pruners.iter().enumerate() {
            if !pruner.schedule.is_update_step(step) {
                continue;
            }
            let targets: Vec<usize> = (0..self.plan.targets.len())
                .filter(|&i| self.plan.targets[i].pruner == pruner_index)
                .collect();
            let mut host = HostValues {
                tracker: PathTracker::default(),
                plan: &self.plan,
                wanted: &targets,
                want_grads: pruner.scorer.needs_gradient(),
                grads,
                weights: vec![None; self.plan.targets.len()],
                gradients: vec![None; self.plan.targets.len()],
            };
            self.model.visit(&mut host);
            let (weights, gradients) = (host.weights, host.gradients);

            let scores: Vec<Vec<f32>> = targets
                .iter()
                .map(|&i| {
                    let info = &self.plan.targets[i].info;
                    let w = weights[i]
                        .as_deref()
                        .expect("every target is a parameter of the model");
                    let mut scores = pruner.scorer.score(&ScoreContext {
                        path: &info.path,
                        shape: &info.shape,
                        weights: w,
                        gradient: gradients[i].as_deref(),
                        step,
                        seed: pruner.seed,
                    });
                    assert_eq!(
                        scores.len(),
                        w.len(),
                        "scorer `{}` returned {} scores for `{}` ({} elements)",
                        pruner.scorer.name(),
                        scores.len(),
                        info.path,
                        w.len()
                    );
                    let keep = self.keep_masks[i].val().inner().into_data();
                    for (score, kept) in scores.iter_mut().zip(keep.iter::<bool>()) {
                        if !kept {
                            *score = f32::NEG_INFINITY;
                        }
                    }
                    scores
                })
                .collect();

            let sparsity = pruner.schedule.sparsity(step);
            let pruned: Vec<Vec<bool>> = match pruner.scope {
                Scope::LayerWise => scores
                    .iter()
                    .map(|s| pruned_flags(s, prune_count(sparsity, s.len())))
                    .collect(),
                Scope::Global => {
                    let all: Vec<f32> = scores.concat();
                    let flags = pruned_flags(&all, prune_count(sparsity, all.len()));
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
            };

            for (&i, flags) in targets.iter().zip(pruned) {
                let numel = flags.len();
                let keep: Vec<bool> = flags.into_iter().map(|p| !p).collect();
                self.keep_masks[i] = self.keep_masks[i].clone().map(|old| {
                    Tensor::<1, Bool>::from_data(TensorData::new(keep, [numel]), &old.device())
                });
            }
        }
        self
    }
}
