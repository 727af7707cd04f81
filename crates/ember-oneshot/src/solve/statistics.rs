//! Calibration statistics of a layer's inputs, accumulated batch by batch.

use super::Needs;

/// What was measured of one linear layer's inputs `X` (`[rows, in]`) over the calibration
/// set: the sums behind `‖X_j‖₂` and, when asked for, the Gram matrix `XᵀX`, both in f64 so
/// that millions of tokens add up without losing the small ones.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerStatistics {
    inputs: usize,
    rows: usize,
    squares: Option<Vec<f64>>,
    gram: Option<Vec<f64>>,
}

impl LayerStatistics {
    /// Empty statistics for a layer of `inputs` features, gathering what `needs` asks for.
    pub fn new(inputs: usize, needs: Needs) -> Self {
        Self {
            inputs,
            rows: 0,
            squares: (needs >= Needs::InputNorms).then(|| vec![0.0; inputs]),
            gram: (needs >= Needs::Gram).then(|| vec![0.0; inputs * inputs]),
        }
    }

    /// Adds `rows` rows of inputs (`x` row-major, `rows × inputs`).
    ///
    /// # Panics
    ///
    /// If `x` does not hold `rows × inputs` values (a caller's bug, not an input's).
    pub fn add_rows(&mut self, x: &[f32], rows: usize) {
        assert_eq!(x.len(), rows * self.inputs, "rows × inputs values");
        self.rows += rows;
        if let Some(squares) = &mut self.squares {
            for row in x.chunks(self.inputs) {
                for (s, v) in squares.iter_mut().zip(row) {
                    *s += f64::from(*v) * f64::from(*v);
                }
            }
        }
        if let Some(gram) = &mut self.gram {
            // XᵀX through faer's blocked product: the scalar triple loop took seconds per
            // layer on a decoder's calibration set.
            let n = self.inputs;
            let x = faer::Mat::<f64>::from_fn(rows, n, |r, c| f64::from(x[r * n + c]));
            let gram = faer::MatMut::from_row_major_slice_mut(gram, n, n);
            faer::linalg::matmul::matmul(
                gram,
                faer::Accum::Add,
                x.transpose(),
                x.as_ref(),
                1.0,
                faer::Par::Seq,
            );
        }
    }

    /// Whether these statistics read the layer's inputs (norms or the Gram matrix), so that
    /// the calibration data must run through the layer.
    pub fn reads_inputs(&self) -> bool {
        self.squares.is_some()
    }

    /// Input features.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Rows (tokens, images) seen.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `‖X_j‖₂` of every input feature, when gathered.
    pub fn input_norms(&self) -> Option<Vec<f32>> {
        self.squares
            .as_ref()
            .map(|s| s.iter().map(|v| v.sqrt() as f32).collect())
    }

    /// `XᵀX`, `[in, in]` row-major, when gathered.
    pub fn gram(&self) -> Option<&[f64]> {
        self.gram.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_and_gram_by_hand() {
        let mut stats = LayerStatistics::new(2, Needs::Gram);
        stats.add_rows(&[1.0, 2.0], 1);
        stats.add_rows(&[3.0, -1.0, 0.0, 2.0], 2);
        assert_eq!(stats.rows(), 3);
        // Squares: 1 + 9 + 0 = 10, 4 + 1 + 4 = 9.
        assert_eq!(stats.input_norms().unwrap(), [10f32.sqrt(), 3.0]);
        // XᵀX: [[1+9+0, 2-3+0], [2-3+0, 4+1+4]].
        assert_eq!(stats.gram().unwrap(), [10.0, -1.0, -1.0, 9.0]);
        assert!(
            LayerStatistics::new(2, Needs::Weights)
                .input_norms()
                .is_none()
        );
        assert!(LayerStatistics::new(2, Needs::InputNorms).gram().is_none());
    }
}
