//! Scorers rank the elements of a parameter: the lowest scores are pruned first.
//!
//! Adding a pruning method means implementing [`Scorer`] (usually a few lines over a slice)
//! and, to use it from recipes, registering a name in a [`ScorerRegistry`].

use burn::tensor::Tensor;

mod lamp;
mod magnitude;
mod movement;
mod random;
mod registry;
mod snip;
mod snip_momentum;
mod wanda;

pub use lamp::Lamp;
pub use magnitude::Magnitude;
pub use movement::Movement;
pub use random::Random;
pub use registry::ScorerRegistry;
pub use snip::Snip;
pub use snip_momentum::SnipMomentum;
pub use wanda::Wanda;

/// What a scorer sees of one parameter at a pruning step. All values are on the host, in the
/// tensor's row-major (flat) order.
#[derive(Debug, Clone, Copy)]
pub struct ScoreContext<'a> {
    /// The parameter's dotted path.
    pub path: &'a str,
    /// The parameter's shape.
    pub shape: &'a [usize],
    /// The current weights (already pruned elements are 0).
    pub weights: &'a [f32],
    /// The gradient of the current step, when the scorer asked for it with
    /// [`Scorer::needs_gradient`] and the parameter has one.
    pub gradient: Option<&'a [f32]>,
    /// The scorer's accumulator (see [`Scorer::accumulate`]), summed since the last update.
    pub accumulated: Option<&'a [f32]>,
    /// The L2 norm of each input feature of the parameter's layer over calibration data,
    /// when the scorer asked for it with [`Scorer::needs_inputs`] (Wanda).
    pub inputs: Option<&'a [f32]>,
    /// The optimizer step being taken.
    pub step: u64,
    /// The modifier's seed, for scorers that draw random numbers.
    pub seed: u64,
}

/// Ranks the elements of a parameter; higher scores are more important and kept longer.
///
/// Scores must be a pure function of the context so that every backend and every
/// data-parallel replica computes the same mask.
pub trait Scorer: Send + Sync + std::fmt::Debug {
    /// The name recipes and reports use.
    fn name(&self) -> &str;

    /// One score per element of `ctx.weights`.
    fn score(&self, ctx: &ScoreContext<'_>) -> Vec<f32>;

    /// Whether [`ScoreContext::gradient`] must be filled (it costs a host copy).
    fn needs_gradient(&self) -> bool {
        false
    }

    /// Whether [`ScoreContext::inputs`] must be filled: the input-feature norms of the layer
    /// over calibration data, which one-shot pruning (`ember prune --calibration N`) measures
    /// through the model's [`LinearInputs`](https://docs.rs/ember-models) implementation.
    fn needs_inputs(&self) -> bool {
        false
    }

    /// Whether the scorer keeps a running accumulator, updated on the device at every
    /// optimizer step by [`Scorer::accumulate`] and handed to [`Scorer::score`] as
    /// [`ScoreContext::accumulated`] at the next update, after which it restarts from zero.
    fn accumulates(&self) -> bool {
        false
    }

    /// Folds one step into the accumulator, on the device: `accumulator`, `weight` and
    /// `gradient` are the flat tensors of one parameter (movement pruning adds `-w·g`).
    fn accumulate(
        &self,
        accumulator: Tensor<1>,
        weight: Tensor<1>,
        gradient: Tensor<1>,
    ) -> Tensor<1> {
        let _ = (weight, gradient);
        accumulator
    }
}
