//! The apply phase: masks and frozen values into weights, masks into gradients, through the
//! parameter-id lookup built at bind and load time.

use std::collections::HashMap;
use std::sync::Arc;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use super::Sparse;
use super::factors::Factors;
use crate::collect_params;
use crate::path::PathTracker;
use crate::plan::BoundPlan;

/// One entry's factors with the ids of the keep-mask and freeze-set parameters they came
/// from, and the device they live on.
#[derive(Clone, Debug)]
pub(crate) struct CachedFactors {
    source: [Option<ParamId>; 2],
    factors: Factors,
}

impl CachedFactors {
    /// Whether these factors live on the device of `state`'s masks.
    fn on_device_of(&self, state: &crate::state::ParamState) -> bool {
        let mask_device = match (&state.keep, &state.frozen) {
            (Some(keep), _) => keep.val().device(),
            (None, Some(frozen)) => frozen.val().device(),
            (None, None) => return false,
        };
        self.factors.device().as_ref() == Some(&mask_device)
    }
}

/// Each entry's factors, and the lookup from parameter id to entry.
struct States<'a> {
    lookup: &'a HashMap<ParamId, usize>,
    states: Vec<Option<Factors>>,
    hits: usize,
}

impl States<'_> {
    fn of(&mut self, id: &ParamId) -> Option<Factors> {
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

    /// Each entry's factors, remembered with the ids of the masks they came from. Rebuilt
    /// whenever masks change ([`Sparse::new`], updates, loads); a stale entry (other ids or
    /// another device, as after loading a record or moving the model) is computed again where
    /// it is used.
    pub(crate) fn with_fresh_masks(mut self) -> Self {
        let factors = self
            .state
            .iter()
            .map(|(_, s)| {
                let factors = Self::factors_of(s)?;
                Some(CachedFactors {
                    source: Self::sources_of(s),
                    factors,
                })
            })
            .collect();
        self.factors = Arc::new(factors);
        self
    }

    fn sources_of(state: &crate::state::ParamState) -> [Option<ParamId>; 2] {
        [
            state.keep.as_ref().map(|k| k.id),
            state.frozen.as_ref().map(|f| f.id),
        ]
    }

    fn factors_of(state: &crate::state::ParamState) -> Option<Factors> {
        let keep = state.keep.as_ref().map(|k| k.val().inner());
        let frozen = match (&state.frozen, &state.frozen_values) {
            (Some(m), Some(v)) => Some((m.val().inner(), v.val().inner())),
            _ => None,
        };
        Factors::new(keep, frozen)
    }

    /// Entry `i`'s cached factors, if they still belong to its masks and their device.
    fn cached_factors(&self, i: usize, state: &crate::state::ParamState) -> Option<&Factors> {
        self.factors
            .get(i)
            .and_then(Option::as_ref)
            .filter(|cached| cached.source == Self::sources_of(state) && cached.on_device_of(state))
            .map(|cached| &cached.factors)
    }

    /// Whether a masked entry has no valid cached factors (the masks were loaded or moved
    /// since they were built).
    fn factors_stale(&self) -> bool {
        self.state.iter().enumerate().any(|(i, (_, s))| {
            (s.keep.is_some() || s.frozen.is_some()) && self.cached_factors(i, s).is_none()
        })
    }

    fn states<'a>(&self, lookup: &'a HashMap<ParamId, usize>) -> States<'a> {
        let states = self
            .state
            .iter()
            .enumerate()
            .map(|(i, (_, s))| match self.cached_factors(i, s) {
                Some(cached) => Some(cached.clone()),
                None => Self::factors_of(s),
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
        // Factors go stale when a record is loaded or the model moves to another device;
        // rebuilt here, once, instead of on every later step.
        if self.factors_stale() {
            self = self.with_fresh_masks();
        }
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
