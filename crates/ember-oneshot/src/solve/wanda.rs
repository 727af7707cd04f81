//! Wanda (Sun et al., 2023): weights times the norms of their inputs.

use super::{LayerProblem, LayerSolution, Needs, Solver, check_shapes, prune_lowest};
use ember_sparsity::SparsityError;

/// Prunes the lowest `|W_ij| · ‖X_j‖₂`, the weight's magnitude times the L2 norm of input
/// feature `j` over the calibration tokens, with the problem's structure (the paper compares
/// within each output row: `per_output`; N:M groups also run within a row); keeps the rest as
/// they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanda;

impl Solver for Wanda {
    fn name(&self) -> &str {
        "wanda"
    }

    fn needs(&self) -> Needs {
        Needs::InputNorms
    }

    fn solve(&self, problem: &LayerProblem<'_>) -> Result<LayerSolution, SparsityError> {
        check_shapes(problem)?;
        let norms = problem.statistics.input_norms().ok_or_else(|| {
            SparsityError::modifier(
                problem.path,
                "wanda needs the input norms of the layer: give calibration batches".into(),
            )
        })?;
        if norms.len() != problem.inputs {
            return Err(SparsityError::modifier(
                problem.path,
                format!("{} input norms for {} inputs", norms.len(), problem.inputs),
            ));
        }
        let scores: Vec<f32> = problem
            .weight
            .chunks(problem.inputs)
            .flat_map(|row| row.iter().zip(&norms).map(|(w, x)| w.abs() * x))
            .collect();
        Ok(LayerSolution {
            pruned: prune_lowest(&scores, problem),
            weight: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solve::{LayerStatistics, Structure};

    #[test]
    fn scores_by_hand_within_each_row() {
        // 2 outputs × 3 inputs; inputs seen: rows [1, 0, 2] and [1, 0, 2]: norms √2, 0, √8.
        let mut statistics = LayerStatistics::new(3, Needs::InputNorms);
        statistics.add_rows(&[1.0, 0.0, 2.0, 1.0, 0.0, 2.0], 2);
        let weight = [3.0, 100.0, 1.0, -0.5, 1.0, -2.0];
        let problem = LayerProblem {
            path: "fc.weight",
            weight: &weight,
            outputs: 2,
            inputs: 3,
            sparsity: 1.0 / 3.0,
            structure: Structure::PerOutput,
            statistics: &statistics,
        };
        // Row 0: 3·√2 = 4.24, 100·0 = 0, 1·√8 = 2.83 → input 1 goes although it is largest.
        // Row 1: 0.5·√2 = 0.71, 1·0 = 0, 2·√8 = 5.66 → input 1 goes.
        let solution = Wanda.solve(&problem).unwrap();
        assert_eq!(solution.pruned, [false, true, false, false, true, false]);
        assert_eq!(solution.weight, None);
        // Without norms it is an error naming the layer, not a silent magnitude prune.
        let empty = LayerStatistics::new(3, Needs::Weights);
        let error = Wanda
            .solve(&LayerProblem {
                statistics: &empty,
                ..problem
            })
            .unwrap_err();
        assert!(error.to_string().contains("fc.weight"), "{error}");
    }
}
