//! SparseGPT (Frantar & Alistarh, 2023): prune a layer column block by column block and
//! update the weights it keeps so that the layer's output on the calibration inputs changes
//! as little as possible.

use faer::linalg::matmul::matmul;
use faer::linalg::solvers::DenseSolveCore;
use faer::{Accum, Mat, MatRef, Par, Side};

use super::{LayerProblem, LayerSolution, Needs, Solver, Structure, check_shapes};
use ember_sparsity::SparsityError;
use ember_sparsity::select::pruned_flags;

/// SparseGPT, as the paper and its reference code run it, in f64:
///
/// 1. `H = 2XᵀX / rows` from the calibration inputs; inputs never seen (zero diagonal) get
///    `H_jj = 1` and their weights set to zero; `H += λI` with `λ` a fraction (`dampening`,
///    1%) of the mean diagonal.
/// 2. `U`, the upper Cholesky factor of `H⁻¹` (`H⁻¹ = UᵀU`).
/// 3. Columns in blocks of `block_size` (128): at the start of each block the mask of that
///    block is chosen by `w² / U_jj²` on the weights as updated so far; then column by column,
///    the pruned weights of the column are zeroed and the error `(w - q) / U_jj` is spread
///    over the block's later columns by row `j` of `U`; after the block, over all later
///    columns. With N:M, each group of `m` columns is chosen when the sweep reaches its first
///    column, within each row.
///
/// Counts are exact: unstructured, the blocks prune `round(s·n)` elements in all, block `b`
/// taking `round(s·end_b) - round(s·start_b)` of the elements before and inside it (so each
/// block within one of `s` of its size); `per_output` does the same along each row; N:M
/// prunes `m - n` of every group. Ties break by index.
#[derive(Debug, Clone, Copy)]
pub struct SparseGpt {
    /// Columns per block (the paper's 128).
    pub block_size: usize,
    /// `λ` as a fraction of the mean diagonal of `H` (the paper's 0.01).
    pub dampening: f64,
}

impl Default for SparseGpt {
    fn default() -> Self {
        Self {
            block_size: 128,
            dampening: 0.01,
        }
    }
}

impl Solver for SparseGpt {
    fn name(&self) -> &str {
        "sparsegpt"
    }

    fn needs(&self) -> Needs {
        Needs::Gram
    }

    fn solve(&self, problem: &LayerProblem<'_>) -> Result<LayerSolution, SparsityError> {
        check_shapes(problem)?;
        let error = |message: String| SparsityError::modifier(problem.path, message);
        let (outputs, inputs) = (problem.outputs, problem.inputs);
        let statistics = problem.statistics;
        let gram = statistics.gram().ok_or_else(|| {
            error("sparsegpt needs the layer's Gram matrix: give calibration batches".into())
        })?;
        if statistics.inputs() != inputs || statistics.rows() == 0 {
            return Err(error(format!(
                "the calibration statistics cover {} inputs over {} rows; the layer has {inputs} \
                 inputs and needs at least one row",
                statistics.inputs(),
                statistics.rows()
            )));
        }
        if self.block_size == 0 {
            return Err(error("sparsegpt's block size must be at least 1".into()));
        }
        if let Structure::NM { m, .. } = problem.structure
            && !self.block_size.is_multiple_of(m)
        {
            return Err(error(format!(
                "a block of {} columns does not hold whole groups of {m}",
                self.block_size
            )));
        }

        let scale = 2.0 / statistics.rows() as f64;
        let mut h = Mat::<f64>::from_fn(inputs, inputs, |i, j| scale * gram[i * inputs + j]);
        let mut w = Mat::<f64>::from_fn(outputs, inputs, |r, c| {
            f64::from(problem.weight[r * inputs + c])
        });
        for j in 0..inputs {
            if h[(j, j)] == 0.0 {
                h[(j, j)] = 1.0;
                for r in 0..outputs {
                    w[(r, j)] = 0.0;
                }
            }
        }
        let damp = self.dampening * (0..inputs).map(|j| h[(j, j)]).sum::<f64>() / inputs as f64;
        for j in 0..inputs {
            h[(j, j)] += damp;
        }
        let not_positive = |what: &str| {
            error(format!(
                "{what} is not positive definite after dampening by {}: the calibration \
                 inputs are degenerate (raise the dampening)",
                self.dampening
            ))
        };
        let inverse = h.llt(Side::Lower).map_err(|_| not_positive("H"))?.inverse();
        let upper = inverse
            .llt(Side::Lower)
            .map_err(|_| not_positive("H⁻¹"))?
            .L()
            .transpose()
            .to_owned();

        let mut pruned = vec![false; outputs * inputs];
        let mut start = 0;
        while start < inputs {
            let end = (start + self.block_size).min(inputs);
            self.sweep_block(problem, &mut w, upper.as_ref(), start, end, &mut pruned);
            start = end;
        }
        let weight = (0..outputs * inputs)
            .map(|k| w[(k / inputs, k % inputs)] as f32)
            .collect();
        Ok(LayerSolution {
            pruned,
            weight: Some(weight),
        })
    }
}

impl SparseGpt {
    /// Prunes columns `start..end` of `w` and spreads their error over the later columns.
    fn sweep_block(
        &self,
        problem: &LayerProblem<'_>,
        w: &mut Mat<f64>,
        upper: MatRef<'_, f64>,
        start: usize,
        end: usize,
        pruned: &mut [bool],
    ) {
        let (outputs, inputs) = (problem.outputs, problem.inputs);
        let width = end - start;
        let score = |w: &Mat<f64>, r: usize, c: usize| {
            let d = upper[(c, c)];
            (w[(r, c)] * w[(r, c)] / (d * d)) as f32
        };
        let mut mask = vec![false; outputs * width];
        let count = |from: usize, to: usize| {
            let s = problem.sparsity;
            ember_sparsity::select::prune_count(s, to)
                - ember_sparsity::select::prune_count(s, from)
        };
        match problem.structure {
            Structure::Unstructured => {
                let scores: Vec<f32> = (0..outputs * width)
                    .map(|k| score(w, k / width, start + k % width))
                    .collect();
                let n = count(outputs * start, outputs * end);
                mask = pruned_flags(&scores, n);
            }
            Structure::PerOutput => {
                let n = count(start, end);
                for r in 0..outputs {
                    let scores: Vec<f32> = (start..end).map(|c| score(w, r, c)).collect();
                    mask[r * width..(r + 1) * width].copy_from_slice(&pruned_flags(&scores, n));
                }
            }
            // Chosen group by group during the sweep below.
            Structure::NM { .. } => {}
        }

        let mut errors = Mat::<f64>::zeros(outputs, width);
        for i in 0..width {
            let column = start + i;
            if let Structure::NM { n, m } = problem.structure
                && i % m == 0
            {
                for r in 0..outputs {
                    let scores: Vec<f32> = (column..column + m).map(|c| score(w, r, c)).collect();
                    let group = pruned_flags(&scores, m - n);
                    mask[r * width + i..r * width + i + m].copy_from_slice(&group);
                }
            }
            let d = upper[(column, column)];
            for r in 0..outputs {
                let value = w[(r, column)];
                let kept = if mask[r * width + i] { 0.0 } else { value };
                let err = (value - kept) / d;
                errors[(r, i)] = err;
                // Column `column` itself becomes `kept` (U_jj · err = value - kept).
                for c in column + 1..end {
                    w[(r, c)] -= err * upper[(column, c)];
                }
                w[(r, column)] = kept;
            }
        }
        for r in 0..outputs {
            for i in 0..width {
                pruned[r * inputs + start + i] = mask[r * width + i];
            }
        }
        if end < inputs {
            let rest = upper.subrows(start, width).subcols(end, inputs - end);
            let later = w.as_mut().subcols_mut(end, inputs - end);
            matmul(later, Accum::Add, errors.as_ref(), rest, -1.0, Par::Seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solve::{LayerStatistics, Magnitude};

    /// A layer with correlated inputs, where reconstructing helps.
    fn layer(outputs: usize, inputs: usize, rows: usize) -> (Vec<f32>, Vec<f32>) {
        let mut state = 0x2545_f491_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let weight: Vec<f32> = (0..outputs * inputs).map(|_| next() as f32).collect();
        let mut x = Vec::with_capacity(rows * inputs);
        for _ in 0..rows {
            let shared = next();
            for j in 0..inputs {
                x.push((shared * (j % 3) as f64 + 0.5 * next()) as f32);
            }
        }
        (weight, x)
    }

    /// `‖XWᵀ - XŴᵀ‖²` over the calibration rows.
    fn output_error(x: &[f32], inputs: usize, dense: &[f32], pruned: &[f32]) -> f64 {
        let mut total = 0.0;
        for row in x.chunks(inputs) {
            for (a, b) in dense.chunks(inputs).zip(pruned.chunks(inputs)) {
                let diff: f64 = row
                    .iter()
                    .zip(a.iter().zip(b))
                    .map(|(x, (a, b))| f64::from(*x) * f64::from(a - b))
                    .sum();
                total += diff * diff;
            }
        }
        total
    }

    #[test]
    fn exact_counts_zeros_and_less_output_error_than_magnitude() {
        let (outputs, inputs, rows) = (12, 40, 200);
        let (weight, x) = layer(outputs, inputs, rows);
        let mut statistics = LayerStatistics::new(inputs, Needs::Gram);
        statistics.add_rows(&x, rows);
        let solver = SparseGpt {
            block_size: 16,
            ..SparseGpt::default()
        };
        for (structure, sparsity) in [
            (Structure::Unstructured, 0.5),
            (Structure::Unstructured, 0.7),
            (Structure::PerOutput, 0.6),
            (Structure::NM { n: 2, m: 4 }, 0.5),
        ] {
            let problem = LayerProblem {
                path: "fc.weight",
                weight: &weight,
                outputs,
                inputs,
                sparsity,
                structure,
                statistics: &statistics,
            };
            let solution = solver.solve(&problem).unwrap();
            let new = solution.weight.clone().unwrap();
            let count = solution.pruned.iter().filter(|p| **p).count();
            match structure {
                Structure::Unstructured => {
                    assert_eq!(
                        count,
                        (sparsity * (outputs * inputs) as f64).round() as usize
                    )
                }
                Structure::PerOutput => {
                    for row in solution.pruned.chunks(inputs) {
                        assert_eq!(row.iter().filter(|p| **p).count(), 24);
                    }
                }
                Structure::NM { .. } => {
                    for group in solution.pruned.chunks(4) {
                        assert_eq!(group.iter().filter(|p| **p).count(), 2);
                    }
                }
            }
            for (p, v) in solution.pruned.iter().zip(&new) {
                if *p {
                    assert_eq!(*v, 0.0);
                }
            }
            let by_magnitude = Magnitude.solve(&problem).unwrap();
            let magnitude: Vec<f32> = weight
                .iter()
                .zip(&by_magnitude.pruned)
                .map(|(w, p)| if *p { 0.0 } else { *w })
                .collect();
            let ours = output_error(&x, inputs, &weight, &new);
            let theirs = output_error(&x, inputs, &weight, &magnitude);
            assert!(
                ours < 0.8 * theirs,
                "{structure:?} at {sparsity}: sparsegpt {ours} vs magnitude {theirs}"
            );
        }
    }

    #[test]
    fn dead_inputs_lose_their_weights_and_errors_name_the_layer() {
        let (outputs, inputs) = (4, 8);
        let (weight, mut x) = layer(outputs, inputs, 30);
        // Input 3 never fires.
        for row in x.chunks_mut(inputs) {
            row[3] = 0.0;
        }
        let mut statistics = LayerStatistics::new(inputs, Needs::Gram);
        statistics.add_rows(&x, 30);
        let problem = LayerProblem {
            path: "fc.weight",
            weight: &weight,
            outputs,
            inputs,
            sparsity: 0.25,
            structure: Structure::Unstructured,
            statistics: &statistics,
        };
        let solution = SparseGpt::default().solve(&problem).unwrap();
        let new = solution.weight.unwrap();
        for r in 0..outputs {
            assert_eq!(new[r * inputs + 3], 0.0);
        }
        let empty = LayerStatistics::new(inputs, Needs::InputNorms);
        let error = SparseGpt::default()
            .solve(&LayerProblem {
                statistics: &empty,
                ..problem
            })
            .unwrap_err();
        assert!(error.to_string().contains("fc.weight"), "{error}");
    }
}
