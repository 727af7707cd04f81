use super::{ScoreContext, Scorer};

/// Wanda, pruning by weights and activations (Sun et al. 2023): `|w_ij| · ‖x_j‖₂`, the weight's
/// magnitude times the L2 norm of its input feature over calibration data. Weights fed by
/// large activations are kept although small.
///
/// The paper compares weights within each output row: use it with `pattern = "per_output"`
/// (every output unit loses the same fraction) and `scope = "layer_wise"`. It scores `Linear`
/// weights, burn's `[in, out]` layout (flat index `j·out + i` holds PyTorch's `(i, j)`); the
/// norms come from one-shot pruning with calibration data (`ember prune --calibration N`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanda;

impl Scorer for Wanda {
    fn name(&self) -> &str {
        "wanda"
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Vec<f32> {
        // Without norms, or with norms that do not match the input dimension, no scores: the
        // engine reports the wrong length naming the parameter.
        let Some(norms) = ctx.inputs else {
            return Vec::new();
        };
        let [inputs, outputs] = ctx.shape else {
            return Vec::new();
        };
        if norms.len() != *inputs {
            return Vec::new();
        }
        ctx.weights
            .iter()
            .enumerate()
            .map(|(flat, w)| w.abs() * norms[flat / outputs])
            .collect()
    }

    fn needs_inputs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_weight_magnitude_times_input_norm_by_hand() {
        // burn layout [in = 2, out = 3]: row j holds the weights that input j feeds.
        let weights = [1.0, -2.0, 0.5, -0.25, 4.0, 3.0];
        let norms = [2.0, 0.5];
        let ctx = ScoreContext {
            path: "fc.weight",
            shape: &[2, 3],
            weights: &weights,
            gradient: None,
            accumulated: None,
            inputs: Some(&norms),
            step: 0,
            seed: 0,
        };
        assert_eq!(Wanda.score(&ctx), vec![2.0, 4.0, 1.0, 0.125, 2.0, 1.5]);
        let wrong = ScoreContext {
            inputs: Some(&[1.0]),
            ..ctx
        };
        assert!(Wanda.score(&wrong).is_empty());
    }
}
