//! Writing masks and frozen values into weights, and masks into gradients.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Bool, Tensor};

use super::Sparse;
use crate::path::PathTracker;
use crate::plan::BoundPlan;

/// Runs `edit` on the inner (non-autodiff) tensor and keeps the result a trainable leaf if the
/// input was one: a parameter whose value came out of a tracked operation would silently stop
/// training.
fn edit_inner<const D: usize>(
    tensor: Tensor<D>,
    edit: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    if tensor.is_autodiff() {
        let require_grad = tensor.is_require_grad();
        Tensor::from_inner(edit(tensor.inner())).set_require_grad(require_grad)
    } else {
        edit(tensor)
    }
}

/// The pruned / frozen state of one parameter, as plain tensors.
#[derive(Clone)]
struct State {
    keep: Option<Tensor<1, Bool>>,
    frozen: Option<(Tensor<1, Bool>, Tensor<1>)>,
}

impl State {
    /// Zeroes the pruned elements and writes back the frozen values.
    fn apply<const D: usize>(&self, tensor: Tensor<D>) -> Tensor<D> {
        let dims = tensor.dims();
        edit_inner(tensor, |mut value| {
            let device = value.device();
            if let Some(keep) = &self.keep {
                value = value.mask_fill(
                    keep.clone().to_device(&device).bool_not().reshape(dims),
                    0.0,
                );
            }
            if let Some((mask, values)) = &self.frozen {
                let mask = mask.clone().to_device(&device).reshape(dims);
                value = value.mask_where(mask, values.clone().to_device(&device).reshape(dims));
            }
            value
        })
    }

    /// Zeroes the gradient of every pruned or frozen element.
    fn mask_gradient<const D: usize>(&self, grad: Tensor<D>) -> Tensor<D> {
        let dims = grad.dims();
        let device = grad.device();
        let mut grad = grad;
        if let Some(keep) = &self.keep {
            grad = grad.mask_fill(
                keep.clone().to_device(&device).bool_not().reshape(dims),
                0.0,
            );
        }
        if let Some((mask, _)) = &self.frozen {
            grad = grad.mask_fill(mask.clone().to_device(&device).reshape(dims), 0.0);
        }
        grad
    }
}

/// Per-path state lookup shared by the mapper and the visitor below.
struct States<'a> {
    tracker: PathTracker,
    plan: &'a BoundPlan,
    keep: Vec<Tensor<1, Bool>>,
    frozen: Vec<(Tensor<1, Bool>, Tensor<1>)>,
}

impl States<'_> {
    fn current(&self) -> Option<State> {
        let path = self.tracker.path();
        let keep = self.plan.target_index(&path).map(|i| self.keep[i].clone());
        let frozen = self
            .plan
            .freeze_index(&path)
            .map(|i| self.frozen[i].clone());
        (keep.is_some() || frozen.is_some()).then_some(State { keep, frozen })
    }
}

struct ApplyToWeights<'a>(States<'a>);

impl ModuleMapper for ApplyToWeights<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.0.tracker.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.0.tracker.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.0.current() {
            Some(state) => param.map(|weight| state.apply(weight)),
            None => param,
        }
    }
}

struct ApplyToGradients<'a> {
    states: States<'a>,
    grads: &'a mut GradientsParams,
}

impl ModuleVisitor for ApplyToGradients<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.states.tracker.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.states.tracker.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(state) = self.states.current()
            && let Some(grad) = self.grads.remove::<D>(param.id)
        {
            self.grads.register(param.id, state.mask_gradient(grad));
        }
    }
}

struct FreezeWhole<'a> {
    tracker: PathTracker,
    plan: &'a BoundPlan,
}

impl ModuleMapper for FreezeWhole<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.tracker.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.tracker.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.plan.is_whole_frozen(&self.tracker.path()) {
            param.set_require_grad(false)
        } else {
            param
        }
    }
}

impl<M: Module> Sparse<M> {
    fn states<'a>(&self, plan: &'a BoundPlan) -> States<'a> {
        States {
            tracker: PathTracker::default(),
            plan,
            keep: self.keep_masks.iter().map(|m| m.val().inner()).collect(),
            frozen: self
                .frozen_masks
                .iter()
                .zip(&self.frozen_values)
                .map(|(m, v)| (m.val().inner(), v.val().inner()))
                .collect(),
        }
    }

    /// Writes zeros into every pruned weight and the saved value into every frozen one.
    pub fn apply_masks(mut self) -> Self {
        let plan = self.plan.clone();
        let mut mapper = ApplyToWeights(self.states(&plan));
        self.model = self.model.map(&mut mapper);
        self
    }

    /// Zeroes the gradients of pruned and frozen elements, so the optimizer never sees them.
    pub fn mask_gradients(&self, mut grads: GradientsParams) -> GradientsParams {
        let mut visitor = ApplyToGradients {
            states: self.states(&self.plan),
            grads: &mut grads,
        };
        self.model.visit(&mut visitor);
        grads
    }

    /// Turns `require_grad` off for the tensors frozen whole, so burn computes no gradient and
    /// keeps no optimizer state for them. Idempotent; [`Sparse::new`] calls it.
    pub fn freeze_whole_tensors(mut self) -> Self {
        let plan = self.plan.clone();
        let mut mapper = FreezeWhole {
            tracker: PathTracker::default(),
            plan: &plan,
        };
        self.model = self.model.map(&mut mapper);
        self
    }
}
