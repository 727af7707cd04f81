use super::{ScoreContext, Scorer};

/// `|w|`: the smallest weights go first (the score of GMP).
#[derive(Debug, Clone, Copy, Default)]
pub struct Magnitude;

impl Scorer for Magnitude {
    fn name(&self) -> &str {
        "magnitude"
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Vec<f32> {
        ctx.weights.iter().map(|w| w.abs()).collect()
    }
}
