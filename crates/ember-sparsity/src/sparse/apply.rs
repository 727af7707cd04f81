//! The apply phase: masks and frozen values into weights, masks into gradients, through the
//! parameter-id lookup built at bind and load time.

use std::collections::HashMap;
use std::sync::Arc;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::kind::Basic;
use burn::tensor::{Bool, Device, Tensor};

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

/// What one entry's masks do to its weight and gradient on every step, precomputed when the
/// masks change so that a step multiplies instead of selecting.
///
/// A multiply is the cheapest exact form on every backend: burn's flex backend runs a
/// `mask_fill` on a tensor nothing else holds (a weight or a gradient during a step) as one
/// branch per element, 5.7× slower than its vectorised multiply (`benches/mask_ops.rs`), and
/// that select was almost all of what masks cost a LeNet-300-100 step (docs/performance.md).
// One per masked tensor, built when masks change: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum Factors {
    /// `weight · scale + offset` and `gradient · scale`.
    Multiply {
        /// 1.0 where the element trains, +0.0 where it is pruned or frozen.
        scale: Tensor<1>,
        /// The frozen values where frozen and +0.0 elsewhere; `None` without a freeze set.
        /// Without one the step is a single multiply, and a pruned weight is +0.0 or -0.0
        /// (the sign of what the optimizer left there): equal to zero for every comparison,
        /// the sparse engine and the exports (the sparse export writes both as absent). An
        /// addition of +0.0 to make every pruned zero positive cost a third pass over the
        /// weights, a third of what masks cost a LeNet-300-100 step (docs/performance.md).
        offset: Option<Tensor<1>>,
    },
    /// Selects with the masks: for an entry with a frozen value of -0.0, which `w · 0 + v`
    /// cannot reproduce (it gives +0.0 when `w` is positive).
    Select {
        /// `true` = pruned.
        pruned: Option<Tensor<1, Bool>>,
        /// `true` = frozen, and the frozen values.
        frozen: Option<(Tensor<1, Bool>, Tensor<1>)>,
    },
}

impl Factors {
    /// The factors of a keep-mask (`true` = kept) and a freeze set (`true` = frozen, with
    /// its values); `None` when the entry has neither.
    fn new(
        keep: Option<Tensor<1, Bool>>,
        frozen: Option<(Tensor<1, Bool>, Tensor<1>)>,
    ) -> Option<Self> {
        let trains = match (&keep, &frozen) {
            (None, None) => return None,
            (Some(keep), None) => keep.clone(),
            (None, Some((frozen, _))) => frozen.clone().bool_not(),
            (Some(keep), Some((frozen, _))) => keep.clone().bool_and(frozen.clone().bool_not()),
        };
        let offset = match frozen {
            None => None,
            Some((frozen, values)) => {
                // 1/(-0.0) is -inf; so is 1/x for the smallest negative subnormals, which
                // then select too: slower for that tensor, never wrong.
                let negative_zero = values
                    .clone()
                    .recip()
                    .equal_elem(f32::NEG_INFINITY)
                    .bool_and(frozen.clone())
                    .any()
                    .into_scalar::<bool>();
                if negative_zero {
                    return Some(Self::Select {
                        pruned: keep.map(Tensor::bool_not),
                        frozen: Some((frozen, values)),
                    });
                }
                Some(values.mask_fill(frozen.bool_not(), 0.0))
            }
        };
        Some(Self::Multiply {
            scale: trains.float(),
            offset,
        })
    }

    /// Zeroes the pruned elements (to +0.0 or -0.0, see [`Factors::Multiply`]) and writes
    /// back the frozen values bit for bit.
    fn apply<const D: usize>(&self, tensor: Tensor<D>) -> Tensor<D> {
        let dims = tensor.dims();
        edit_inner(tensor, |value| {
            let device = value.device();
            match self {
                Self::Multiply { scale, offset } => {
                    let scaled = value.mul(placed(scale, &device, dims));
                    match offset {
                        Some(offset) => scaled.add(placed(offset, &device, dims)),
                        None => scaled,
                    }
                }
                Self::Select { pruned, frozen } => {
                    let mut value = value;
                    if let Some(pruned) = pruned {
                        value = value.mask_fill(placed(pruned, &device, dims), 0.0);
                    }
                    if let Some((mask, values)) = frozen {
                        value = value
                            .mask_where(placed(mask, &device, dims), placed(values, &device, dims));
                    }
                    value
                }
            }
        })
    }

    /// Zeroes the gradient of every pruned or frozen element (a multiply leaves -0.0 for a
    /// negative gradient, which every optimizer treats as zero).
    fn mask_gradient<const D: usize>(&self, grad: Tensor<D>) -> Tensor<D> {
        let dims = grad.dims();
        let device = grad.device();
        match self {
            Self::Multiply { scale, .. } => grad.mul(placed(scale, &device, dims)),
            Self::Select { pruned, frozen } => {
                let mut grad = grad;
                if let Some(pruned) = pruned {
                    grad = grad.mask_fill(placed(pruned, &device, dims), 0.0);
                }
                if let Some((mask, _)) = frozen {
                    grad = grad.mask_fill(placed(mask, &device, dims), 0.0);
                }
                grad
            }
        }
    }
}

/// A flat mask or factor on `device`, in the shape of the tensor it applies to.
fn placed<const D: usize, K: Basic>(
    flat: &Tensor<1, K>,
    device: &Device,
    dims: [usize; D],
) -> Tensor<D, K> {
    flat.clone().to_device(device).reshape(dims)
}

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
        let device = match &self.factors {
            Factors::Multiply { scale, .. } => scale.device(),
            Factors::Select {
                pruned: Some(pruned),
                ..
            } => pruned.device(),
            Factors::Select {
                frozen: Some((frozen, _)),
                ..
            } => frozen.device(),
            Factors::Select { .. } => return false,
        };
        device == mask_device
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

#[cfg(test)]
mod tests {
    use burn::tensor::{Bool, Device, Tensor};

    use super::Factors;

    fn bits(tensor: Tensor<1>) -> Vec<u32> {
        tensor.into_data().iter::<f32>().map(f32::to_bits).collect()
    }

    /// Pruned elements come out zero (+0.0 where a freeze set's offset is added, either sign
    /// without one); frozen values bit for bit, -0.0 included, which `w · 0 + v` alone cannot
    /// give (it is +0.0 for a positive `w`).
    #[test]
    fn factors_zero_pruned_and_restore_frozen_signed_zeros() {
        let device = Device::flex();
        let flags = |f: [bool; 4]| Tensor::<1, Bool>::from_data(f, &device);
        let floats = |f: [f32; 4]| Tensor::<1>::from_data(f, &device);
        let weight = floats([-3.0, 2.0, 5.0, 7.0]);
        let keep = flags([false, true, true, true]);
        for frozen_value in [-0.0f32, 0.0, -1.5] {
            let frozen = (
                flags([false, false, true, false]),
                floats([9.0, 9.0, frozen_value, 9.0]),
            );
            let factors = Factors::new(Some(keep.clone()), Some(frozen)).unwrap();
            let expected = [
                0,
                2.0f32.to_bits(),
                frozen_value.to_bits(),
                7.0f32.to_bits(),
            ];
            assert_eq!(
                bits(factors.apply(weight.clone())),
                expected,
                "{frozen_value}"
            );
            let grad = factors.mask_gradient(floats([1.0, -2.0, 3.0, 4.0]));
            let grad: Vec<f32> = grad.into_data().iter::<f32>().collect();
            assert_eq!(grad, [0.0, -2.0, 0.0, 4.0]);
        }
        let pruned_only = Factors::new(Some(keep), None).unwrap();
        let applied: Vec<f32> = pruned_only
            .apply(weight)
            .into_data()
            .iter::<f32>()
            .collect();
        assert_eq!(applied, [0.0, 2.0, 5.0, 7.0]);
    }
}
