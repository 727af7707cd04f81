use burn::tensor::Tensor;

use super::{ScoreContext, Scorer};

/// SNIP with momentum (Intel Neural Compressor's `snip_momentum`): the connection
/// sensitivity `|w·g|` averaged over the steps since the last update with an exponential
/// moving sum, `S ← β·S + |w·g|`, so that one noisy batch does not decide the mask.
///
/// `β = 0` is SNIP on the last step before the update. The sum restarts at every update, as
/// every accumulator does in Ember; Neural Compressor carries it over, which only changes how
/// much the steps before the previous update still weigh (`β^k` for `k` steps back).
#[derive(Debug, Clone, Copy)]
pub struct SnipMomentum {
    /// The decay `β` of older steps, in `[0, 1)`.
    pub beta: f32,
}

impl Default for SnipMomentum {
    /// Neural Compressor's default, `β = 0.9`.
    fn default() -> Self {
        Self { beta: 0.9 }
    }
}

impl Scorer for SnipMomentum {
    fn name(&self) -> &str {
        "snip_momentum"
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Vec<f32> {
        // Without the accumulator, no scores: the engine names the parameter in its error.
        ctx.accumulated.map(<[f32]>::to_vec).unwrap_or_default()
    }

    fn accumulates(&self) -> bool {
        true
    }

    fn accumulate(
        &self,
        accumulator: Tensor<1>,
        weight: Tensor<1>,
        gradient: Tensor<1>,
    ) -> Tensor<1> {
        accumulator * self.beta + (weight * gradient).abs()
    }
}
