//! The format a pruned weight runs in, chosen from its zeros.

use crate::csr::CsrMatrix;
use crate::epilogue::Epilogue;
use crate::error::{KernelError, check_len};
use crate::n_m::NmMatrix;

/// Group sizes tried for an N:M layout, smallest first (2:4 is what sparse tensor cores run;
/// 4:8 and 2:8 are the other patterns toolkits ship).
const GROUP_SIZES: [usize; 2] = [4, 8];

/// How many stored entries, padding included, an N:M layout may hold per non-zero: padding
/// costs work (a multiply-add by zero) that CSR would skip, so N:M is picked only when its
/// groups are (almost) full, which a mask of that pattern makes them.
const MAX_PADDING: f64 = 1.1;

/// A pruned weight in the format that suits its mask: [`NmMatrix`] when every group of `m`
/// inputs of every row holds at most `n ≤ m / 2` non-zeros and the groups are almost full (a
/// mask from an N:M pattern), [`CsrMatrix`] otherwise. Both compute the same product for
/// finite inputs (N:M multiplies its padding zeros by the input, so an infinite input where a
/// group is padded gives NaN there, where CSR skips it).
#[derive(Debug, Clone, PartialEq)]
pub enum SparseMatrix {
    /// Compressed sparse rows (any mask).
    Csr(CsrMatrix),
    /// N non-zeros in every M consecutive inputs.
    Nm(NmMatrix),
}

impl SparseMatrix {
    /// The row-major `[rows, cols]` matrix `dense` in the format that suits its zeros.
    pub fn from_dense(dense: &[f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        check_len("the dense matrix", dense.len(), rows * cols)?;
        let nonzeros = dense.iter().filter(|v| **v != 0.0).count();
        for m in GROUP_SIZES {
            if cols == 0 || !cols.is_multiple_of(m) {
                continue;
            }
            let n = dense
                .chunks(m)
                .map(|group| group.iter().filter(|v| **v != 0.0).count())
                .max()
                .unwrap_or(0);
            let stored = rows * cols / m * n;
            if n > 0 && 2 * n <= m && stored as f64 <= MAX_PADDING * nonzeros as f64 {
                return NmMatrix::from_dense(dense, rows, cols, n, m).map(Self::Nm);
            }
        }
        CsrMatrix::from_dense(dense, rows, cols).map(Self::Csr)
    }

    /// Rows (output units).
    pub fn rows(&self) -> usize {
        match self {
            Self::Csr(m) => m.rows(),
            Self::Nm(m) => m.rows(),
        }
    }

    /// Columns (input features).
    pub fn cols(&self) -> usize {
        match self {
            Self::Csr(m) => m.cols(),
            Self::Nm(m) => m.cols(),
        }
    }

    /// The format's name: `csr`, or the pattern (`2:4`, `4:8`, …).
    pub fn format(&self) -> String {
        match self {
            Self::Csr(_) => "csr".to_string(),
            Self::Nm(m) => {
                let (n, m) = m.pattern();
                format!("{n}:{m}")
            }
        }
    }

    /// The row-major dense matrix.
    pub fn to_dense(&self) -> Vec<f32> {
        match self {
            Self::Csr(m) => m.to_dense(),
            Self::Nm(m) => m.to_dense(),
        }
    }

    /// `y = x · Wᵀ`: `x` is `[batch, cols]` row-major, the result `[batch, rows]`.
    pub fn matmul(&self, x: &[f32], batch: usize) -> Result<Vec<f32>, KernelError> {
        match self {
            Self::Csr(m) => m.matmul(x, batch),
            Self::Nm(m) => m.matmul(x, batch),
        }
    }

    /// `y = x · Wᵀ` finished by `epilogue` (a bias, an activation), which a product split
    /// over threads applies to each part where it was computed.
    pub fn matmul_with(
        &self,
        x: &[f32],
        batch: usize,
        epilogue: &Epilogue,
    ) -> Result<Vec<f32>, KernelError> {
        match self {
            Self::Csr(m) => crate::product::matmul(m, x, batch, epilogue),
            Self::Nm(m) => crate::product::matmul(m, x, batch, epilogue),
        }
    }

    /// [`Self::matmul`] into `y` (`[batch, rows]`, overwritten).
    pub fn matmul_into(&self, x: &[f32], batch: usize, y: &mut [f32]) -> Result<(), KernelError> {
        match self {
            Self::Csr(m) => m.matmul_into(x, batch, y),
            Self::Nm(m) => m.matmul_into(x, batch, y),
        }
    }
}
