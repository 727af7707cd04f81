use burn::tensor::Tensor;

use super::{ScoreContext, Scorer};

/// Movement pruning's score (Sanh et al. 2020): `S = −Σₜ wₜ·gₜ`, summed over every optimizer
/// step since the last update. Weights moving away from zero (`w` and `−g` of one sign) gain
/// score and stay; weights shrinking towards zero lose it and go first, whatever their size.
///
/// The sum lives on the device in the pruner's accumulator (saved with the checkpoint) and is
/// handed back at the update, after which it restarts from zero.
#[derive(Debug, Clone, Copy, Default)]
pub struct Movement;

impl Scorer for Movement {
    fn name(&self) -> &str {
        "movement"
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Vec<f32> {
        // The engine always passes the accumulator to a scorer that keeps one; without it, no
        // scores, which the engine reports as an error naming the parameter.
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
        accumulator - weight * gradient
    }
}
