//! Layer-wise magnitude pruning: the smallest `|w|` of each layer (or row, or group) go.

use super::{LayerProblem, LayerSolution, Needs, Solver, check_shapes, prune_lowest};
use ember_sparsity::SparsityError;

/// Prunes the weights of smallest magnitude, with the problem's structure; keeps the rest
/// as they are. The baseline of SparseGPT's and Wanda's tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct Magnitude;

impl Solver for Magnitude {
    fn name(&self) -> &str {
        "magnitude"
    }

    fn needs(&self) -> Needs {
        Needs::Weights
    }

    fn solve(&self, problem: &LayerProblem<'_>) -> Result<LayerSolution, SparsityError> {
        check_shapes(problem)?;
        let scores: Vec<f32> = problem.weight.iter().map(|w| w.abs()).collect();
        Ok(LayerSolution {
            pruned: prune_lowest(&scores, problem),
            weight: None,
        })
    }
}
