//! Compressed sparse rows: the format for any mask.

use std::sync::Arc;

use crate::epilogue::Epilogue;
use crate::error::{KernelError, check_len};
use crate::product::{RowKernel, matmul, matmul_into};

/// A `[rows, cols]` matrix (PyTorch's `[out, in]` layout of a linear weight) in compressed
/// sparse rows: row `r` stores its non-zeros at `row_starts[r]..row_starts[r + 1]` of
/// `columns` (ascending) and `values`.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    rows: usize,
    cols: usize,
    // Shared, so that a copy of the matrix (what a helper thread's part of a product holds,
    // see `team.rs`) costs three reference counts.
    row_starts: Arc<[u32]>,
    columns: Arc<[u32]>,
    values: Arc<[f32]>,
}

impl CsrMatrix {
    /// The non-zeros of the row-major `[rows, cols]` matrix `dense` (exact zeros of either
    /// sign are dropped; everything else, NaN included, is kept).
    pub fn from_dense(dense: &[f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        check_len("the dense matrix", dense.len(), rows * cols)?;
        if cols > u32::MAX as usize || dense.len() > u32::MAX as usize {
            return Err(KernelError::Invalid(format!(
                "a {rows}x{cols} matrix is too large for 32-bit indices"
            )));
        }
        let mut row_starts = Vec::with_capacity(rows + 1);
        let (mut columns, mut values) = (Vec::new(), Vec::new());
        row_starts.push(0);
        for row in dense.chunks(cols.max(1)).take(rows) {
            for (c, v) in row.iter().enumerate() {
                if *v != 0.0 {
                    columns.push(c as u32);
                    values.push(*v);
                }
            }
            row_starts.push(columns.len() as u32);
        }
        // A matrix with no columns has rows of nothing.
        row_starts.resize(rows + 1, 0);
        Ok(Self {
            rows,
            cols,
            row_starts: row_starts.into(),
            columns: columns.into(),
            values: values.into(),
        })
    }

    /// A matrix from its parts, checked: `row_starts` has `rows + 1` non-decreasing entries
    /// from 0 to the number of values, and every row's columns are ascending and below `cols`.
    pub fn from_parts(
        rows: usize,
        cols: usize,
        row_starts: Vec<u32>,
        columns: Vec<u32>,
        values: Vec<f32>,
    ) -> Result<Self, KernelError> {
        check_len("row_starts", row_starts.len(), rows + 1)?;
        check_len("columns", columns.len(), values.len())?;
        if row_starts[0] != 0 || row_starts[rows] as usize != values.len() {
            return Err(KernelError::Invalid(format!(
                "row_starts must run from 0 to {} values, not {} to {}",
                values.len(),
                row_starts[0],
                row_starts[rows]
            )));
        }
        for (r, pair) in row_starts.windows(2).enumerate() {
            if pair[0] > pair[1] {
                return Err(KernelError::Invalid(format!(
                    "row_starts decrease at row {r}"
                )));
            }
            let row = &columns[pair[0] as usize..pair[1] as usize];
            if row.iter().any(|c| *c as usize >= cols) || row.windows(2).any(|c| c[0] >= c[1]) {
                return Err(KernelError::Invalid(format!(
                    "row {r} has columns out of order or not below {cols}"
                )));
            }
        }
        Ok(Self {
            rows,
            cols,
            row_starts: row_starts.into(),
            columns: columns.into(),
            values: values.into(),
        })
    }

    /// Rows (output units).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The number of stored (non-zero) weights.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Where each row starts in [`CsrMatrix::columns`] and [`CsrMatrix::values`] (`rows + 1`
    /// entries).
    pub fn row_starts(&self) -> &[u32] {
        &self.row_starts
    }

    /// The column of every stored weight.
    pub fn columns(&self) -> &[u32] {
        &self.columns
    }

    /// The stored weights.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The row-major dense matrix.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut dense = vec![0.0f32; self.rows * self.cols];
        for r in 0..self.rows {
            for j in self.range(r) {
                dense[r * self.cols + self.columns[j] as usize] = self.values[j];
            }
        }
        dense
    }

    /// `y = x · Wᵀ`: `x` is `[batch, cols]` row-major, the result `[batch, rows]`.
    pub fn matmul(&self, x: &[f32], batch: usize) -> Result<Vec<f32>, KernelError> {
        matmul(self, x, batch, &Epilogue::default())
    }

    /// [`Self::matmul`] into `y` (`[batch, rows]`, overwritten), so that a caller running
    /// many products can reuse one output buffer.
    pub fn matmul_into(&self, x: &[f32], batch: usize, y: &mut [f32]) -> Result<(), KernelError> {
        matmul_into(self, x, batch, y, &Epilogue::default())
    }

    #[inline(always)]
    fn range(&self, row: usize) -> std::ops::Range<usize> {
        self.row_starts[row] as usize..self.row_starts[row + 1] as usize
    }
}

impl RowKernel for CsrMatrix {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn stored(&self) -> usize {
        self.values.len()
    }

    #[inline(always)]
    fn dot(&self, row: usize, x: &[f32]) -> f32 {
        let range = self.range(row);
        let (columns, values) = (&self.columns[range.clone()], &self.values[range]);
        // Eight independent sums, so the adds do not wait on each other.
        let mut sums = [0.0f32; 8];
        let mut column_chunks = columns.chunks_exact(8);
        let mut value_chunks = values.chunks_exact(8);
        for (c, v) in (&mut column_chunks).zip(&mut value_chunks) {
            for l in 0..8 {
                sums[l] += v[l] * x[c[l] as usize];
            }
        }
        let mut sum: f32 = sums.iter().sum();
        for (c, v) in column_chunks
            .remainder()
            .iter()
            .zip(value_chunks.remainder())
        {
            sum += v * x[*c as usize];
        }
        sum
    }

    #[inline(always)]
    fn pairs(&self, row: usize, mut visit: impl FnMut((usize, f32), Option<(usize, f32)>)) {
        let range = self.range(row);
        let mut columns = self.columns[range.clone()].chunks_exact(2);
        let mut values = self.values[range].chunks_exact(2);
        for (c, v) in (&mut columns).zip(&mut values) {
            visit((c[0] as usize, v[0]), Some((c[1] as usize, v[1])));
        }
        if let ([c], [v]) = (columns.remainder(), values.remainder()) {
            visit((*c as usize, *v), None);
        }
    }
}
