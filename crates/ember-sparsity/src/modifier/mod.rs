//! Modifiers: pruners, freezers and anything a user adds, behind one lifecycle.
//!
//! The engine ([`Sparse`](crate::Sparse)) drives every [`Modifier`] the same way:
//!
//! 1. **bind**: the selector is resolved against the model and [`Modifier::bind`] validates
//!    the selected parameters (pattern fits, gradients available, schedule in range);
//! 2. **observe**: at every optimizer step, modifiers whose [`Modifier::accumulates`] is true
//!    fold the step's weights and gradients into their per-parameter accumulator, on the
//!    device ([`Modifier::accumulate`]);
//! 3. **update**: at the steps where the schedule says so, the engine copies the targets'
//!    weights (and gradients, accumulators) to the host and [`Modifier::update`] returns new
//!    flags: the pruned elements of a pruner, the frozen elements of a freezer;
//! 4. **apply**: after every optimizer step the engine zeroes pruned weights and writes back
//!    frozen values (and masks gradients before the step).
//!
//! At one step, modifiers that prune update before modifiers that freeze.

mod dynamic;
mod freeze;
mod mask;
mod prune;

use burn::tensor::Tensor;
use ember_schedule::SparsitySchedule;

pub use dynamic::{DynamicSparse, Regrowth};
pub use freeze::{FreezeRule, Freezer};
pub use mask::MaskPruner;
pub use prune::{Pruner, Scope};

use crate::{ParamInfo, Selector, SparsityError};

/// What a modifier's flags mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Flagged elements are pruned: zero after every step, their gradient zeroed before the
    /// optimizer unless it need not be ([`Sparse::with_elementwise_optimizer`](crate::Sparse::with_elementwise_optimizer)).
    Prune,
    /// Flagged elements are frozen: they keep their value at the step they were flagged.
    Freeze,
    /// The whole tensors are frozen through burn's `require_grad = false` when bound; the
    /// modifier never updates.
    FreezeWhole,
}

/// What a modifier sees of one selected parameter at an update.
#[derive(Debug)]
pub struct TargetView<'a> {
    /// The parameter.
    pub info: &'a ParamInfo,
    /// Its current weights, flat, on the host.
    pub weights: &'a [f32],
    /// The gradient of the current step, if the modifier needs gradients.
    pub gradient: Option<&'a [f32]>,
    /// The modifier's accumulator, if it keeps one.
    pub accumulated: Option<&'a [f32]>,
    /// The input-feature norms of the parameter's layer, if the modifier needs them.
    pub inputs: Option<&'a [f32]>,
    /// Elements pruned now (by this or another modifier).
    pub pruned: Vec<bool>,
    /// Elements frozen now.
    pub frozen: Vec<bool>,
}

/// One lifecycle for every kind of sparsity modifier. See the module documentation for the
/// order in which the engine calls these methods.
pub trait Modifier: Send + Sync + std::fmt::Debug {
    /// A name for reports and error messages.
    fn name(&self) -> &str;

    /// Whether flags prune or freeze.
    fn effect(&self) -> Effect;

    /// The parameters the modifier touches.
    fn selector(&self) -> &Selector;

    /// When it updates ([`SparsitySchedule::is_update_step`]) and its target at each step.
    fn schedule(&self) -> &SparsitySchedule;

    /// Validates the selected parameters; called once when the plan is bound.
    fn bind(&self, targets: &[ParamInfo]) -> Result<(), SparsityError>;

    /// How many elements of `info` exact counting may leave short of `round(s·n)` by its
    /// own rounding: one for element-wise selection (the default), one per group for quota
    /// patterns (each group rounds on its own), one group's size for patterns that remove
    /// whole groups. [`Sparse::shortfall`](crate::Sparse::shortfall) allows this much.
    fn rounding_slack(&self, info: &ParamInfo) -> usize {
        let _ = info;
        1
    }

    /// Whether updates need the step's gradients.
    fn needs_gradient(&self) -> bool {
        false
    }

    /// Whether updates need the input-feature norms of each target's layer over calibration
    /// data ([`Sparse::with_input_norms`](crate::Sparse::with_input_norms)).
    fn needs_inputs(&self) -> bool {
        false
    }

    /// Whether the modifier keeps a per-parameter accumulator updated at every step.
    fn accumulates(&self) -> bool {
        false
    }

    /// Whether an update may give back elements that were flagged before (RigL and SET
    /// regrow pruned connections). The default, `true`, is the safe answer for a modifier
    /// that does not say: a plan with such a modifier always has the gradients of flagged
    /// elements zeroed before the optimizer (see
    /// [`Sparse::with_elementwise_optimizer`](crate::Sparse::with_elementwise_optimizer)), so
    /// an element that comes back finds the optimizer state that masked gradients leave, not
    /// one built from gradients it never used. Modifiers whose flags only grow (every pruner
    /// and freezer that starts from the current flags) return `false`.
    fn releases(&self) -> bool {
        true
    }

    /// Folds one step into the accumulator of one parameter, on the device (no host copy):
    /// `accumulator`, `weight` and `gradient` are flat and of equal length. Called at every
    /// optimizer step, before gradients are masked, for modifiers that accumulate.
    fn accumulate(
        &self,
        accumulator: Tensor<1>,
        weight: Tensor<1>,
        gradient: Tensor<1>,
    ) -> Tensor<1> {
        let _ = (weight, gradient);
        accumulator
    }

    /// The new flags of every target (pruned elements for [`Effect::Prune`], frozen ones for
    /// [`Effect::Freeze`]), in the order of `targets`. Accumulators restart from zero after
    /// an update.
    fn update(
        &self,
        step: u64,
        targets: &[TargetView<'_>],
    ) -> Result<Vec<Vec<bool>>, SparsityError>;
}
