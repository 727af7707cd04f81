//! The apply phase: masks and frozen values into weights, masks into gradients, through the
//! parameter-id lookup built at bind and load time.

use std::collections::HashMap;
use std::sync::Arc;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Bool, Tensor};

use super::Sparse;
use crate::collect_params;
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
    /// `true` = pruned (the keep-mask negated once per update, not once per step).
    pruned: Option<Tensor<1, Bool>>,
    frozen: Option<(Tensor<1, Bool>, Tensor<1>)>,
}

impl State {
    /// Zeroes the pruned elements and writes back the frozen values.
    fn apply<const D: usize>(&self, tensor: Tensor<D>) -> Tensor<D> {
        let dims = tensor.dims();
        edit_inner(tensor, |mut value| {
            let device = value.device();
            if let Some(pruned) = &self.pruned {
                value = value.mask_fill(pruned.clone().to_device(&device).reshape(dims), 0.0);
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
        if let Some(pruned) = &self.pruned {
            grad = grad.mask_fill(pruned.clone().to_device(&device).reshape(dims), 0.0);
        }
        if let Some((mask, _)) = &self.frozen {
            grad = grad.mask_fill(mask.clone().to_device(&device).reshape(dims), 0.0);
        }
        grad
    }
}

/// Each entry's state as plain tensors, and the lookup from parameter id to entry.
struct States<'a> {
    lookup: &'a HashMap<ParamId, usize>,
    states: Vec<Option<State>>,
    hits: usize,
}

impl States<'_> {
    fn of(&mut self, id: &ParamId) -> Option<State> {
        let state = self.lookup.get(id).and_then(|&i| self.states[i].clone());
        self.hits += usize::from(state.is_some());
        state
    }
}

struct ApplyToWeights<'a>(States<'a>);

impl ModuleMapper for ApplyToWeights<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.0.of(&param.id) {
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
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(state) = self.states.of(&param.id)
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
        let path = self.tracker.path();
        if self.plan.whole.iter().any(|p| p.path == path) {
            param.set_require_grad(false)
        } else {
            param
        }
    }
}

impl<M: Module> Sparse<M> {
    /// The number of entries that hold a mask or a freeze set: what a fresh lookup finds.
    fn masked_entries(&self) -> usize {
        self.state
            .iter()
            .filter(|(_, s)| s.keep.is_some() || s.frozen.is_some())
            .count()
    }

    /// The pruned masks (negated keep-masks), one per entry, remembered with the id and
    /// device of the keep-mask they came from. Rebuilt whenever masks change
    /// ([`Sparse::new`], updates, loads); a stale entry (another id or device, as after
    /// loading a record or moving the model) is negated again where it is used.
    pub(crate) fn with_fresh_masks(mut self) -> Self {
        let pruned = self
            .state
            .iter()
            .map(|(_, s)| s.keep.as_ref().map(|k| (k.id, k.val().inner().bool_not())))
            .collect();
        self.pruned = Arc::new(pruned);
        self
    }

    fn states<'a>(&self, lookup: &'a HashMap<ParamId, usize>) -> States<'a> {
        let states = self
            .state
            .iter()
            .enumerate()
            .map(|(i, (_, s))| {
                let pruned = s.keep.as_ref().map(|k| {
                    let keep = k.val().inner();
                    match self.pruned.get(i).and_then(Option::as_ref) {
                        Some((id, pruned)) if *id == k.id && pruned.device() == keep.device() => {
                            pruned.clone()
                        }
                        _ => keep.bool_not(),
                    }
                });
                let frozen = match (&s.frozen, &s.frozen_values) {
                    (Some(m), Some(v)) => Some((m.val().inner(), v.val().inner())),
                    _ => None,
                };
                (pruned.is_some() || frozen.is_some()).then_some(State { pruned, frozen })
            })
            .collect();
        States {
            lookup,
            states,
            hits: 0,
        }
    }

    /// Rebuilds the lookup when it does not find every masked parameter (the model's
    /// parameters were replaced by ones with other ids, as loading a record does).
    fn checked_lookup(&self, hits: usize) -> Option<Arc<HashMap<ParamId, usize>>> {
        (hits != self.masked_entries())
            .then(|| Arc::new(self.plan.lookup(&collect_params(&self.model))))
    }

    /// Writes zeros into every pruned weight and the saved value into every frozen one.
    pub fn apply_masks(mut self) -> Self {
        let lookup = self.lookup.clone();
        let mut mapper = ApplyToWeights(self.states(&lookup));
        self.model = self.model.map(&mut mapper);
        if let Some(fresh) = self.checked_lookup(mapper.0.hits) {
            // Entries found by the stale lookup are applied twice: masks are idempotent.
            let mut mapper = ApplyToWeights(self.states(&fresh));
            self.model = self.model.map(&mut mapper);
            self.lookup = fresh;
        }
        self
    }

    /// Zeroes the gradients of pruned and frozen elements, so the optimizer never sees them.
    pub fn mask_gradients(&self, mut grads: GradientsParams) -> GradientsParams {
        let mut visitor = ApplyToGradients {
            states: self.states(&self.lookup),
            grads: &mut grads,
        };
        self.model.visit(&mut visitor);
        if let Some(fresh) = self.checked_lookup(visitor.states.hits) {
            let mut visitor = ApplyToGradients {
                states: self.states(&fresh),
                grads: &mut grads,
            };
            self.model.visit(&mut visitor);
        }
        grads
    }

    /// Turns `require_grad` off for the tensors frozen whole, so burn computes no gradient and
    /// keeps no optimizer state for them. Idempotent; [`Sparse::new`] calls it.
    pub fn freeze_whole_tensors(mut self) -> Self {
        if self.plan.whole.is_empty() {
            return self;
        }
        let plan = self.plan.clone();
        let mut mapper = FreezeWhole {
            tracker: PathTracker::default(),
            plan: &plan,
        };
        self.model = self.model.map(&mut mapper);
        self
    }
}
