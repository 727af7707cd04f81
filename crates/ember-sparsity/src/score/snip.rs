use super::{ScoreContext, Scorer};

/// SNIP's connection sensitivity `|w·g|` (Lee et al. 2019): prunes the weights whose removal
/// changes the loss least, to first order. Uses the gradient of the step it runs at, so a
/// one-shot schedule at step 0 prunes at initialisation from one batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snip;

impl Scorer for Snip {
    fn name(&self) -> &str {
        "snip"
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Vec<f32> {
        // The engine always passes the gradient to a scorer that needs it; without one, no
        // scores, which the engine reports as an error naming the parameter.
        let Some(gradient) = ctx.gradient else {
            return Vec::new();
        };
        ctx.weights
            .iter()
            .zip(gradient)
            .map(|(w, g)| (w * g).abs())
            .collect()
    }

    fn needs_gradient(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_weight_times_gradient_magnitudes() {
        let ctx = ScoreContext {
            path: "w",
            shape: &[3],
            weights: &[1.0, -2.0, 0.5],
            gradient: Some(&[0.5, 0.25, -4.0]),
            accumulated: None,
            inputs: None,
            step: 0,
            seed: 0,
        };
        assert_eq!(Snip.score(&ctx), vec![0.5, 0.5, 2.0]);
    }
}
