//! The product driver shared by every format: operand checks, the batch-1 and batched loops,
//! SIMD dispatch and the split over threads.

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

use crate::error::{KernelError, check_len};

/// Vector accumulators per set at batch > 1; two sets take alternate stored weights, so eight
/// fused multiply-adds are in flight instead of four (each has a latency of four cycles on
/// the CPUs measured, and two can start per cycle).
const ACCUMULATORS: usize = 4;

/// Examples per block at batch > 1: a block's input is transposed once to `[cols, BLOCK]`,
/// and every stored weight updates the block's run of examples (four AVX2 registers).
const BLOCK: usize = 32;

/// Rows whose sums are written to the output together (one 64-byte line per example).
const TILE: usize = 16;

/// Below this many multiply-adds a product runs on the calling thread. Measured on this
/// 2-core machine: splitting the rows of a batch-32 MiniLM product over two threads took
/// 530 → 475 µs at 50% and 690 → 468 µs at 2:4 (9.4M multiply-adds each), but 137 → 156 µs
/// at 90% and 82 → 137 µs at 95%: waking rayon's workers and copying their parts back costs
/// tens of microseconds, more than half of a small product. (Splitting the examples instead
/// halves each weight's reuse and was slower everywhere.)
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
    /// Calls `visit` with `row`'s stored weights as `(column, value)`, two at a time (the
    /// second is `None` only for the last of an odd number), so that the batched loop can
    /// feed two sets of accumulators without buffering a row.
    fn pairs(&self, row: usize, visit: impl FnMut((usize, f32), Option<(usize, f32)>));
}

/// `y = x · Wᵀ`: `x` is `[batch, cols]` row-major, the result `[batch, rows]`.
pub(crate) fn matmul<K: RowKernel>(
    kernel: &K,
    x: &[f32],
    batch: usize,
) -> Result<Vec<f32>, KernelError> {
    let mut y = vec![0.0f32; batch * kernel.rows()];
    matmul_into(kernel, x, batch, &mut y)?;
    Ok(y)
}

/// [`matmul`] into `y` (`[batch, rows]`, overwritten).
pub(crate) fn matmul_into<K: RowKernel>(
    kernel: &K,
    x: &[f32],
    batch: usize,
    y: &mut [f32],
) -> Result<(), KernelError> {
    let (rows, cols) = (kernel.rows(), kernel.cols());
    check_len("the input", x.len(), batch * cols)?;
    check_len("the output", y.len(), batch * rows)?;
    if batch == 0 || rows == 0 {
        return Ok(());
    }
    if cols == 0 {
        // Empty sums.
        y.fill(0.0);
        return Ok(());
    }
    let threads = rayon::current_num_threads();
    // The split happens per block of examples, so a block's work decides.
    let parallel = kernel.stored() * batch.min(BLOCK) >= PARALLEL_WORK && threads > 1;
    if batch == 1 {
        // One chunk of rows per thread: the rows of a pruned layer cost about the same.
        let chunk = if parallel {
            rows.div_ceil(threads).max(1)
        } else {
            rows
        };
        for_chunks(y, chunk, parallel, |first, out| {
            Arch::new().dispatch(Dots {
                kernel,
                x,
                first,
                out,
            })
        });
        return Ok(());
    }
    // Blocks of examples, one after the other; a block's rows split over the threads when
    // the product is large enough, each part written to its own buffer and copied in.
    // Taken out of the thread-local rather than borrowed in place: a rayon worker waiting
    // for its parts may run another product on this thread, which then gets a fresh buffer.
    let mut xt = TRANSPOSED.take();
    let lanes = Arch::new().dispatch(Lanes);
    for (b, out) in y.chunks_mut(BLOCK * rows).enumerate() {
        let width = out.len() / rows;
        // The block's examples padded with zeros to whole vectors, so that every row's stored
        // weights are walked once: a sentence of 27 tokens took a pass of two vectors, one of
        // one and a scalar pass for the last three examples, each over the whole row.
        let stride = width.next_multiple_of(lanes);
        let start = b * BLOCK * cols;
        transpose_into(&x[start..start + width * cols], cols, stride, &mut xt);
        let block = |first: usize, count: usize, out: &mut [f32]| {
            Arch::new().dispatch(Block {
                kernel,
                xt: &xt,
                width,
                stride,
                first,
                count,
                out,
            })
        };
        if !parallel {
            block(0, rows, out);
            continue;
        }
        let part = rows.div_ceil(threads);
        let parts: Vec<(usize, Vec<f32>)> = (0..rows)
            .step_by(part)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|first| {
                let count = part.min(rows - first);
                let mut buffer = vec![0.0f32; width * count];
                block(first, count, &mut buffer);
                (first, buffer)
            })
            .collect();
        for (first, buffer) in parts {
            let count = buffer.len() / width;
            for (example, sums) in buffer.chunks(count).enumerate() {
                let at = example * rows + first;
                out[at..at + count].copy_from_slice(sums);
            }
        }
    }
    TRANSPOSED.set(xt);
    Ok(())
}

thread_local! {
    /// The calling thread's transposed input block, kept between products so that a product
    /// allocates nothing but its output.
    static TRANSPOSED: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
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

/// The number of `f32` lanes in a vector of the instruction set `pulp` picks.
struct Lanes;

impl WithSimd for Lanes {
    type Output = usize;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> usize {
        core::mem::size_of::<S::f32s>() / core::mem::size_of::<f32>()
    }
}

/// Batch > 1: `width` (≤ [`BLOCK`]) examples of `y`, `out` being `[width, rows]`, from their
/// transposed input `xt` (`[cols, stride]`, the examples padded with zeros to `stride`, a
/// whole number of vectors).
struct Block<'a, K> {
    kernel: &'a K,
    xt: &'a [f32],
    width: usize,
    stride: usize,
    /// The first row, and how many: `out` is `[width, count]`.
    first: usize,
    count: usize,
    out: &'a mut [f32],
}

impl<K: RowKernel> WithSimd for Block<'_, K> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let (width, rows) = (self.width, self.count);
        // The sums of `TILE` rows for the block, stored from the registers, then written
        // into `out` a cache line at a time (example `b` of row `r` lives at `b · rows + r`:
        // writing each row's sums alone touches `width` pages per row).
        let mut tile = [[0.0f32; BLOCK]; TILE];
        for first in (0..rows).step_by(TILE) {
            let tile_rows = TILE.min(rows - first);
            for (t, sums) in tile.iter_mut().enumerate().take(tile_rows) {
                self.row_sums(simd, self.first + first + t, sums);
            }
            for b in 0..width {
                let dst = &mut self.out[b * rows + first..b * rows + first + tile_rows];
                for (d, sums) in dst.iter_mut().zip(&tile) {
                    *d = sums[b];
                }
            }
        }
    }
}

impl<K: RowKernel> Block<'_, K> {
    /// Row `row`'s sums for the block's examples, into `sums[..stride]` (the padding's sums
    /// are zero): one walk over the row's stored weights for up to four vectors of examples.
    #[inline(always)]
    fn row_sums<S: Simd>(&self, simd: S, row: usize, sums: &mut [f32; BLOCK]) {
        let lanes = core::mem::size_of::<S::f32s>() / core::mem::size_of::<f32>();
        let mut offset = 0;
        while offset < self.stride {
            let vectors = ((self.stride - offset) / lanes).min(ACCUMULATORS);
            let dst = &mut sums[offset..offset + vectors * lanes];
            match vectors {
                4 => self.pass::<S, 4>(simd, row, offset, dst),
                3 => self.pass::<S, 3>(simd, row, offset, dst),
                2 => self.pass::<S, 2>(simd, row, offset, dst),
                _ => self.pass::<S, 1>(simd, row, offset, dst),
            }
            offset += vectors * lanes;
        }
    }

    /// [`Self::wide_pass`] stored into `dst`.
    #[inline(always)]
    fn pass<S: Simd, const V: usize>(&self, simd: S, row: usize, offset: usize, dst: &mut [f32]) {
        let acc = self.wide_pass::<S, V>(simd, row, offset);
        let (dst, _) = S::as_mut_simd_f32s(dst);
        dst.copy_from_slice(&acc);
    }

    /// `V` vectors of row `row`'s sums for the examples from `offset` (four for a full
    /// block, fewer for the last examples of a batch); the two weights of each pair go to
    /// two sets of accumulators, added at the end, so that consecutive multiply-adds do not
    /// wait on each other.
    #[inline(always)]
    fn wide_pass<S: Simd, const V: usize>(
        &self,
        simd: S,
        row: usize,
        offset: usize,
    ) -> [S::f32s; V] {
        let lanes = core::mem::size_of::<S::f32s>() / core::mem::size_of::<f32>();
        let wide = V * lanes;
        let stride = self.stride;
        let update = |acc: &mut [S::f32s; V], (column, value): (usize, f32)| {
            let start = column * stride + offset;
            let xs = S::as_simd_f32s(&self.xt[start..start + wide]).0;
            let value = simd.splat_f32s(value);
            for (a, x) in acc.iter_mut().zip(xs) {
                *a = simd.mul_add_e_f32s(value, *x, *a);
            }
        };
        let mut even = [simd.splat_f32s(0.0); V];
        let mut odd = [simd.splat_f32s(0.0); V];
        self.kernel.pairs(row, |a, b| {
            update(&mut even, a);
            if let Some(b) = b {
                update(&mut odd, b);
            }
        });
        for (e, o) in even.iter_mut().zip(&odd) {
            *e = simd.add_f32s(*e, *o);
        }
        even
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
        for (c, out) in out.chunks_mut(chunk).enumerate() {
            run(c * chunk, out);
        }
    }
}

/// Columns transposed together: each column of `x` is a line of the transposed block, and a
/// panel's 64 lines (8 KB) stay in L1 while every row writes into them. Column by column over
/// a whole row, MiniLM's 1536 lines were evicted before the next row came back to them.
const PANEL: usize = 64;

/// `x` (`[rows, cols]`, rows ≤ `stride`) → `[cols, stride]` into `t` (resized), each column's
/// entries past `rows` zero.
fn transpose_into(x: &[f32], cols: usize, stride: usize, t: &mut Vec<f32>) {
    t.clear();
    t.resize(cols * stride, 0.0);
    for start in (0..cols).step_by(PANEL) {
        let end = (start + PANEL).min(cols);
        for (r, row) in x.chunks(cols).enumerate() {
            for (c, v) in row[start..end].iter().enumerate() {
                t[(start + c) * stride + r] = *v;
            }
        }
    }
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
