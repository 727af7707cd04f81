use super::{ScoreContext, Scorer};

/// LAMP, layer-adaptive magnitude-based pruning (Lee et al. 2021): with a tensor's weights
/// sorted by magnitude, `|w₁| ≤ |w₂| ≤ … ≤ |wₙ|`, the score of the `u`-th is
///
/// ```text
/// score(u) = w_u² / Σ_{v ≥ u} w_v²
/// ```
///
/// Within a tensor it orders weights exactly as magnitude does; across tensors it rescales
/// them so that one global threshold gives every layer a fair share (the largest weight of
/// every tensor scores 1, so no layer is ever emptied). Use it with `scope = "global"`.
///
/// Ties in magnitude are ordered by index, as the selection orders ties. A tensor whose
/// remaining weights are all zero scores 0 throughout.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lamp;

impl Scorer for Lamp {
    fn name(&self) -> &str {
        "lamp"
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Vec<f32> {
        lamp_scores(ctx.weights)
    }
}

/// LAMP scores of one tensor, accumulated in f64 so that the suffix sums of a large layer stay
/// exact to f32 precision.
fn lamp_scores(weights: &[f32]) -> Vec<f32> {
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        weights[a]
            .abs()
            .total_cmp(&weights[b].abs())
            .then(a.cmp(&b))
    });
    let mut scores = vec![0.0; weights.len()];
    let mut suffix = 0.0f64;
    for &index in order.iter().rev() {
        let square = f64::from(weights[index]).powi(2);
        suffix += square;
        scores[index] = if suffix > 0.0 {
            (square / suffix) as f32
        } else {
            0.0
        };
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_the_papers_formula_on_a_hand_computed_tensor() {
        // Sorted magnitudes 1, 2, 3, 4: suffix sums of squares 30, 29, 25, 16.
        let scores = lamp_scores(&[-3.0, 1.0, 4.0, 2.0]);
        let expected = [9.0 / 25.0, 1.0 / 30.0, 16.0 / 16.0, 4.0 / 29.0];
        for (got, want) in scores.iter().zip(expected) {
            assert!((got - want).abs() < 1e-7, "{scores:?}");
        }
    }

    #[test]
    fn ties_are_ordered_by_index_and_zeros_score_zero() {
        // Two equal weights: the first (lower index) is ranked lower and sees the larger sum.
        let scores = lamp_scores(&[2.0, 2.0, 0.0]);
        assert_eq!(scores[2], 0.0);
        assert!((scores[0] - 0.5).abs() < 1e-7 && (scores[1] - 1.0).abs() < 1e-7);
        assert_eq!(lamp_scores(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
