//! N:M sparse rows: at most N non-zeros in every M consecutive inputs of a row.

use std::sync::Arc;

use crate::epilogue::Epilogue;
use crate::error::{KernelError, check_len};
use crate::product::{RowKernel, matmul, matmul_into};

/// A `[rows, cols]` matrix (PyTorch's `[out, in]` layout) whose every group of `m`
/// consecutive columns of a row holds at most `n` non-zeros. Each group stores exactly `n`
/// values and their one-byte offsets in the group (a group with fewer non-zeros is padded with
/// zeros at offsets of its zero elements), so no row index is needed and an index costs one
/// byte instead of four.
#[derive(Debug, Clone, PartialEq)]
pub struct NmMatrix {
    rows: usize,
    cols: usize,
    n: usize,
    m: usize,
    // Shared, as in `CsrMatrix`: a helper thread's part of a product holds a copy.
    values: Arc<[f32]>,
    offsets: Arc<[u8]>,
}

fn check_pattern(cols: usize, n: usize, m: usize) -> Result<(), KernelError> {
    if n == 0 || n > m || m > 256 || !cols.is_multiple_of(m) {
        return Err(KernelError::Invalid(format!(
            "{n}:{m} needs 0 < n <= m <= 256 and m dividing the {cols} columns"
        )));
    }
    Ok(())
}

impl NmMatrix {
    /// The row-major `[rows, cols]` matrix `dense` in `n:m` form; an error names the first
    /// group holding more than `n` non-zeros.
    pub fn from_dense(
        dense: &[f32],
        rows: usize,
        cols: usize,
        n: usize,
        m: usize,
    ) -> Result<Self, KernelError> {
        check_len("the dense matrix", dense.len(), rows * cols)?;
        check_pattern(cols, n, m)?;
        let groups = rows * cols / m;
        let mut values = Vec::with_capacity(groups * n);
        let mut offsets = Vec::with_capacity(groups * n);
        for (g, group) in dense.chunks(m).enumerate() {
            let nonzero: Vec<usize> = (0..m).filter(|o| group[*o] != 0.0).collect();
            if nonzero.len() > n {
                return Err(KernelError::Invalid(format!(
                    "row {} columns {}..{} hold {} non-zeros, more than {n} of {m}",
                    g * m / cols.max(1),
                    g * m % cols.max(1),
                    g * m % cols.max(1) + m,
                    nonzero.len()
                )));
            }
            let padding = (0..m).filter(|o| group[*o] == 0.0);
            for o in nonzero.iter().copied().chain(padding).take(n) {
                values.push(group[o]);
                offsets.push(o as u8);
            }
        }
        Ok(Self {
            rows,
            cols,
            n,
            m,
            values: values.into(),
            offsets: offsets.into(),
        })
    }

    /// A matrix from its parts, checked: `rows · cols / m · n` values and offsets, every
    /// offset below `m` and distinct within its group.
    pub fn from_parts(
        rows: usize,
        cols: usize,
        (n, m): (usize, usize),
        values: Vec<f32>,
        offsets: Vec<u8>,
    ) -> Result<Self, KernelError> {
        check_pattern(cols, n, m)?;
        let stored = rows * cols / m * n;
        check_len("values", values.len(), stored)?;
        check_len("offsets", offsets.len(), stored)?;
        for (g, group) in offsets.chunks(n).enumerate() {
            let mut seen = [false; 256];
            for o in group {
                if *o as usize >= m || std::mem::replace(&mut seen[*o as usize], true) {
                    return Err(KernelError::Invalid(format!(
                        "group {g} has offsets {group:?}, not distinct and below {m}"
                    )));
                }
            }
        }
        Ok(Self {
            rows,
            cols,
            n,
            m,
            values: values.into(),
            offsets: offsets.into(),
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

    /// The pattern `(n, m)`.
    pub fn pattern(&self) -> (usize, usize) {
        (self.n, self.m)
    }

    /// The stored values, `n` per group, groups in row-major order.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The offset in its group of every stored value.
    pub fn offsets(&self) -> &[u8] {
        &self.offsets
    }

    /// The row-major dense matrix.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut dense = vec![0.0f32; self.rows * self.cols];
        for (j, (v, o)) in self.values.iter().zip(self.offsets.iter()).enumerate() {
            dense[j / self.n * self.m + *o as usize] = *v;
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

    /// The stored values and offsets of `row`.
    #[inline(always)]
    fn stored_row(&self, row: usize) -> (&[f32], &[u8]) {
        let per_row = self.cols / self.m * self.n;
        let range = row * per_row..(row + 1) * per_row;
        (&self.values[range.clone()], &self.offsets[range])
    }
}

impl RowKernel for NmMatrix {
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
        let (values, offsets) = self.stored_row(row);
        let (n, m) = (self.n, self.m);
        let groups = || {
            values
                .chunks_exact(n)
                .zip(offsets.chunks_exact(n))
                .zip(x.chunks_exact(m))
        };
        if n == 2 {
            // 2:4 and 2:8, the patterns sparse tensor cores run: the pair of every group goes
            // to its own sums, with no loop over the group.
            let mut sums = [0.0f32; 2];
            for ((v, o), group) in groups() {
                sums[0] += v[0] * group[o[0] as usize];
                sums[1] += v[1] * group[o[1] as usize];
            }
            return sums[0] + sums[1];
        }
        let mut sums = [0.0f32; 4];
        for ((v, o), group) in groups() {
            for (s, (v, o)) in v.iter().zip(o).enumerate() {
                sums[s % 4] += v * group[*o as usize];
            }
        }
        sums.iter().sum()
    }

    #[inline(always)]
    fn pairs(&self, row: usize, mut visit: impl FnMut((usize, f32), Option<(usize, f32)>)) {
        let (values, offsets) = self.stored_row(row);
        let (n, m) = (self.n, self.m);
        if n == 2 {
            // 2:4 and 2:8: a group is a pair, its columns the group's first plus the offsets.
            let groups = values.chunks_exact(2).zip(offsets.chunks_exact(2));
            for (g, (v, o)) in groups.enumerate() {
                let first = g * m;
                visit(
                    (first + o[0] as usize, v[0]),
                    Some((first + o[1] as usize, v[1])),
                );
            }
            return;
        }
        // Any n: a running group start (no division), pairs across groups when n is odd.
        let (mut first, mut in_group) = (0, 0);
        let mut pending = None;
        for (v, o) in values.iter().zip(offsets) {
            let entry = (first + *o as usize, *v);
            in_group += 1;
            if in_group == n {
                (first, in_group) = (first + m, 0);
            }
            match pending.take() {
                None => pending = Some(entry),
                Some(previous) => visit(previous, Some(entry)),
            }
        }
        if let Some(last) = pending {
            visit(last, None);
        }
    }
}
