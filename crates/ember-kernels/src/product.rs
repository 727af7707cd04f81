//! The product driver shared by every format: operand checks, the batch-1 and batched loops,
//! SIMD dispatch and the split over threads.

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

use crate::error::{KernelError, check_len};

/// Vector accumulators kept in registers per pass over a row at batch > 1.
const ACCUMULATORS: usize = 4;

/// Below this many multiply-adds a product runs on the calling thread. Waking rayon's
/// workers costs tens of microseconds on a busy machine; measured (`cargo xtask bench`), a
/// split at 2^16, and at 2^20, made the products of LeNet's and MiniLM's layers slower than
/// one thread on this 2-core machine, and so did two scoped threads instead of rayon (its two
/// cores seem to share their caches: the product is bound by loads of the input).
const PARALLEL_WORK: usize = 1 << 23;

/// One sparse format's inner loops.
pub(crate) trait RowKernel: Sync {
    /// Rows (output units).
    fn rows(&self) -> usize;
    /// Columns (input features).
    fn cols(&self) -> usize;
    /// Stored weights (multiply-adds per example).
    fn stored(&self) -> usize;
    /// `Σ_k W[row, k] · x[k]`.
    fn dot(&self, row: usize, x: &[f32]) -> f32;
    /// The stored weights of `row` as `(column, value)`.
    fn entries(&self, row: usize) -> impl Iterator<Item = (usize, f32)>;
}

/// `y = x · Wᵀ`: `x` is `[batch, cols]` row-major, the result `[batch, rows]`.
pub(crate) fn matmul<K: RowKernel>(
    kernel: &K,
    x: &[f32],
    batch: usize,
) -> Result<Vec<f32>, KernelError> {
    let (rows, cols) = (kernel.rows(), kernel.cols());
    check_len("the input", x.len(), batch * cols)?;
    let mut y = vec![0.0f32; batch * rows];
    if batch == 0 || rows == 0 {
        return Ok(y);
    }
    let parallel = kernel.stored() * batch >= PARALLEL_WORK && rayon::current_num_threads() > 1;
    // One chunk per thread: the rows of a pruned layer cost about the same.
    let chunk = if parallel {
        rows.div_ceil(rayon::current_num_threads()).max(1)
    } else {
        rows
    };
    if batch == 1 {
        for_chunks(&mut y, chunk, parallel, |first, out| {
            Arch::new().dispatch(Dots {
                kernel,
                x,
                first,
                out,
            })
        });
        return Ok(y);
    }
    let xt = transpose(x, batch, cols);
    let mut yt = vec![0.0f32; rows * batch];
    for_chunks(&mut yt, chunk * batch, parallel, |first, out| {
        Arch::new().dispatch(Blocks {
            kernel,
            xt: &xt,
            batch,
            first: first / batch,
            out,
        })
    });
    for (r, row) in yt.chunks(batch).enumerate() {
        for (b, v) in row.iter().enumerate() {
            y[b * rows + r] = *v;
        }
    }
    Ok(y)
}

/// Batch 1: `out[i] = row first + i · x`. The loops live in a [`WithSimd`] operation rather
/// than a closure so that they are inlined into, and vectorized for, the instruction set that
/// `pulp` picks (a closure is called through its `FnOnce` shim, compiled for the baseline).
struct Dots<'a, K> {
    kernel: &'a K,
    x: &'a [f32],
    first: usize,
    out: &'a mut [f32],
}

impl<K: RowKernel> WithSimd for Dots<'_, K> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        for (i, y) in self.out.iter_mut().enumerate() {
            *y = self.kernel.dot(self.first + i, self.x);
        }
    }
}

/// Batch > 1: rows `first..` of `yᵀ` (`batch` values each) from the transposed input `xt`.
struct Blocks<'a, K> {
    kernel: &'a K,
    xt: &'a [f32],
    batch: usize,
    first: usize,
    out: &'a mut [f32],
}

impl<K: RowKernel> WithSimd for Blocks<'_, K> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let lanes = core::mem::size_of::<S::f32s>() / core::mem::size_of::<f32>();
        let batch = self.batch;
        for (i, out) in self.out.chunks_mut(batch).enumerate() {
            let row = self.first + i;
            let mut offset = 0;
            // Four vector accumulators per pass over the row (32 examples with AVX2), one
            // for what is left, then scalars: each stored weight is read once per pass.
            while offset + ACCUMULATORS * lanes <= batch {
                let mut acc = [simd.splat_f32s(0.0); ACCUMULATORS];
                for (column, value) in self.kernel.entries(row) {
                    let start = column * batch + offset;
                    let (xs, _) = S::as_simd_f32s(&self.xt[start..start + ACCUMULATORS * lanes]);
                    let value = simd.splat_f32s(value);
                    for (a, x) in acc.iter_mut().zip(xs) {
                        *a = simd.mul_add_e_f32s(value, *x, *a);
                    }
                }
                let (dst, _) = S::as_mut_simd_f32s(&mut out[offset..offset + ACCUMULATORS * lanes]);
                dst.copy_from_slice(&acc);
                offset += ACCUMULATORS * lanes;
            }
            while offset + lanes <= batch {
                let mut acc = simd.splat_f32s(0.0);
                for (column, value) in self.kernel.entries(row) {
                    let start = column * batch + offset;
                    let (xs, _) = S::as_simd_f32s(&self.xt[start..start + lanes]);
                    acc = simd.mul_add_e_f32s(simd.splat_f32s(value), xs[0], acc);
                }
                let (dst, _) = S::as_mut_simd_f32s(&mut out[offset..offset + lanes]);
                dst[0] = acc;
                offset += lanes;
            }
            if offset < batch {
                let rest = &mut out[offset..];
                for (column, value) in self.kernel.entries(row) {
                    let start = column * batch + offset;
                    for (y, x) in rest.iter_mut().zip(&self.xt[start..]) {
                        *y += value * x;
                    }
                }
            }
        }
    }
}

/// Runs `run(first index, chunk)` over `out` in chunks of `chunk`, on rayon's threads when
/// `parallel`.
fn for_chunks(
    out: &mut [f32],
    chunk: usize,
    parallel: bool,
    run: impl Fn(usize, &mut [f32]) + Sync,
) {
    if parallel {
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(c, out)| run(c * chunk, out));
    } else {
        run(0, out);
    }
}

/// `[rows, cols]` → `[cols, rows]`.
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; x.len()];
    for (r, row) in x.chunks(cols).enumerate() {
        for (c, v) in row.iter().enumerate() {
            t[c * rows + r] = *v;
        }
    }
    t
}

/// The dense product `y = x · Wᵀ` by the definition (f64 sums), `w` being `[rows, cols]` and
/// `x` `[batch, cols]`: the reference the sparse kernels are tested against.
pub fn dense_matmul_reference(
    w: &[f32],
    rows: usize,
    cols: usize,
    x: &[f32],
    batch: usize,
) -> Result<Vec<f32>, KernelError> {
    check_len("the weights", w.len(), rows * cols)?;
    check_len("the input", x.len(), batch * cols)?;
    let mut y = vec![0.0f32; batch * rows];
    for b in 0..batch {
        for r in 0..rows {
            let sum: f64 = (0..cols)
                .map(|k| w[r * cols + k] as f64 * x[b * cols + k] as f64)
                .sum();
            y[b * rows + r] = sum as f32;
        }
    }
    Ok(y)
}
