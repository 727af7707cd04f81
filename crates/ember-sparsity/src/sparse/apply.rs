//! Writing masks into weights and gradients.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Bool, Tensor};

use super::Sparse;
use crate::path::PathTracker;
use crate::plan::BoundPlan;

/// Zeroes `weight` where `keep` is false, keeping the tensor a trainable leaf if it was one.
///
/// The arithmetic runs on the inner (non-autodiff) tensor: a parameter whose value came out of
/// a tracked operation would silently stop training.
pub(crate) fn zero_pruned<const D: usize>(weight: Tensor<D>, keep: &Tensor<1, Bool>) -> Tensor<D> {
    let pruned = keep.clone().bool_not().reshape(weight.dims());
    if weight.is_autodiff() {
        let require_grad = weight.is_require_grad();
        let masked = weight.inner().mask_fill(pruned, 0.0);
        Tensor::from_inner(masked).set_require_grad(require_grad)
    } else {
        weight.mask_fill(pruned, 0.0)
    }
}

struct MaskWeights<'a> {
    tracker: PathTracker,
    plan: &'a BoundPlan,
    keep: Vec<Tensor<1, Bool>>,
}

impl ModuleMapper for MaskWeights<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.tracker.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.tracker.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.plan.target_index(&self.tracker.path()) {
            Some(index) => {
                let keep = &self.keep[index];
                param.map(|weight| zero_pruned(weight, keep))
            }
            None => param,
        }
    }
}

struct MaskGradients<'a> {
    tracker: PathTracker,
    plan: &'a BoundPlan,
    keep: Vec<Tensor<1, Bool>>,
    grads: &'a mut GradientsParams,
}

impl ModuleVisitor for MaskGradients<'_> {
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
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let keep = self.keep[index].clone().to_device(&grad.device());
            self.grads.register(param.id, zero_pruned(grad, &keep));
        }
    }
}

impl<M: Module> Sparse<M> {
    /// The keep-masks as plain (non-autodiff) tensors, in plan order.
    pub(crate) fn plain_masks(&self) -> Vec<Tensor<1, Bool>> {
        self.keep_masks.iter().map(|m| m.val().inner()).collect()
    }

    /// Writes zeros into every pruned weight.
    pub fn apply_masks(mut self) -> Self {
        let mut mapper = MaskWeights {
            tracker: PathTracker::default(),
            plan: &self.plan,
            keep: self.plain_masks(),
        };
        self.model = self.model.map(&mut mapper);
        self
    }

    /// Zeroes the gradients of pruned elements, so the optimizer never sees them.
    pub fn mask_gradients(&self, mut grads: GradientsParams) -> GradientsParams {
        let mut visitor = MaskGradients {
            tracker: PathTracker::default(),
            plan: &self.plan,
            keep: self.plain_masks(),
            grads: &mut grads,
        };
        self.model.visit(&mut visitor);
        grads
    }
}
