//! The product driver shared by every format: operand checks, the batch-1 and batched loops,
//! SIMD dispatch and the split over threads.

use std::sync::Arc;

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

use crate::epilogue::Epilogue;
use crate::error::{KernelError, check_len};
use crate::team::Team;
use crate::transpose::Lines;

/// Vector accumulators per set at batch > 1; two sets take alternate stored weights, so eight
/// fused multiply-adds are in flight instead of four (each has a latency of four cycles on
/// the CPUs measured, and two can start per cycle).
const ACCUMULATORS: usize = 4;

/// Examples per block at batch > 1: a block's input is transposed once to `[cols, BLOCK]`,
/// and every stored weight updates the block's run of examples (four AVX2 registers).
const BLOCK: usize = 32;

/// Rows whose sums are written to the output together (one 64-byte line per example).
const TILE: usize = 16;

/// At batch 1, below this many multiply-adds a product runs on the calling thread, above it
/// on rayon's threads (a batch-1 product is a gather per stored weight and is short: on this
/// 2-core machine waking rayon's workers cost more than the split saved below this size).
const PARALLEL_WORK: usize = 1 << 23;

/// At batch > 1, a block's rows are split over the team's helper threads (`team.rs`) when it
/// holds at least this many multiply-adds and [`TEAM_REUSE`] stored weights per input. A
/// helper reads the whole transposed block, which the caller wrote into its own core's cache,
/// and on this project's 2-core machine that transfer is what decides: measured on LeNet's
/// and MiniLM's layers at batch 32, the split ran 1.2–2.1× as fast where a layer stores
/// 30–300 weights per input (fc1 at 80–90%, MiniLM's 384-input layers at 80–95%), broke even
/// near 38 per input on 1536 inputs, and lost 5–20% below about 20 per input or below half a
/// million multiply-adds (fc1 at 95%, fc2 at 80%, MiniLM's 1536-input layer at 95%).
const TEAM_WORK: usize = 1 << 19;

/// Stored weights per input column from which a block is split over the team: see
/// [`TEAM_WORK`].
const TEAM_REUSE: usize = 24;

/// One sparse format's inner loops. A copy is cheap (the storage is shared) and is what a
/// helper thread's part of a product holds.
pub(crate) trait RowKernel: Clone + Send + Sync + 'static {
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

/// `y = x · Wᵀ`, finished by `epilogue`: `x` is `[batch, cols]` row-major, the result
/// `[batch, rows]`.
pub(crate) fn matmul<K: RowKernel>(
    kernel: &K,
    x: &[f32],
    batch: usize,
    epilogue: &Epilogue,
) -> Result<Vec<f32>, KernelError> {
    let mut y = vec![0.0f32; batch * kernel.rows()];
    matmul_into(kernel, x, batch, &mut y, epilogue)?;
    Ok(y)
}

/// [`matmul`] into `y` (`[batch, rows]`, overwritten).
pub(crate) fn matmul_into<K: RowKernel>(
    kernel: &K,
    x: &[f32],
    batch: usize,
    y: &mut [f32],
    epilogue: &Epilogue,
) -> Result<(), KernelError> {
    let (rows, cols) = (kernel.rows(), kernel.cols());
    check_len("the input", x.len(), batch * cols)?;
    check_len("the output", y.len(), batch * rows)?;
    epilogue.check(rows)?;
    if batch == 0 || rows == 0 {
        return Ok(());
    }
    if cols == 0 {
        // Empty sums.
        y.fill(0.0);
        epilogue.apply(y, rows, 0, 0, rows);
        return Ok(());
    }
    if batch == 1 {
        let threads = rayon::current_num_threads();
        let parallel = kernel.stored() >= PARALLEL_WORK && threads > 1;
        // One chunk of rows per thread: the rows of a pruned layer cost about the same.
        let chunk = if parallel {
            rows.div_ceil(threads).max(1)
        } else {
            rows
        };
        for_chunks(y, chunk, parallel, |first, out| {
            let count = out.len();
            Arch::new().dispatch(Dots {
                kernel,
                x,
                first,
                out: &mut *out,
            });
            epilogue.apply(out, count, 0, first, count);
        });
        return Ok(());
    }
    // Blocks of examples, one after the other; a block's rows split over the team's helper
    // threads when the block is large enough (`split_block`).
    let team = Team::get();
    let mut xt = TRANSPOSED.take().unwrap_or_default();
    let lanes = Arch::new().dispatch(Lanes);
    for (b, out) in y.chunks_mut(BLOCK * rows).enumerate() {
        let width = out.len() / rows;
        // The block's examples padded with zeros to whole vectors, so that every row's stored
        // weights are walked once: a sentence of 27 tokens took a pass of two vectors, one of
        // one and a scalar pass for the last three examples, each over the whole row.
        let stride = width.next_multiple_of(lanes);
        let start = b * BLOCK * cols;
        // A helper may hold the previous block's input for a moment after its last part: it
        // keeps that copy, and this block gets a fresh buffer.
        if Arc::get_mut(&mut xt).is_none() {
            xt = Arc::default();
        }
        Arc::make_mut(&mut xt).transpose(&x[start..start + width * cols], cols, stride);
        let split = team.helpers() > 0
            && kernel.stored() >= TEAM_REUSE * cols
            && kernel.stored() * width >= TEAM_WORK
            && rows >= 2 * TILE;
        if !split {
            Arch::new().dispatch(Block::whole(kernel, xt.get(), width, stride, &mut *out));
            epilogue.apply(out, rows, 0, 0, rows);
            continue;
        }
        split_block(team, kernel, &xt, width, stride, epilogue, out);
    }
    TRANSPOSED.set(Some(xt));
    Ok(())
}

/// Parts of a split block per thread: parts are claimed one at a time by the caller and the
/// helpers ([`Team::share`]).
const PARTS_PER_THREAD: usize = 4;

/// One block's rows split into parts of whole tiles, shared with the team's helpers
/// ([`Team::share`]): this thread computes its parts straight into `out`, a helper into a
/// buffer that is copied in. Each row's sums are computed by the same code whoever runs it,
/// and the epilogue is element-wise, so they are bit for bit those of the whole block.
fn split_block<K: RowKernel>(
    team: &Team,
    kernel: &K,
    xt: &Arc<Lines>,
    width: usize,
    stride: usize,
    epilogue: &Epilogue,
    out: &mut [f32],
) {
    let rows = kernel.rows();
    let part = rows
        .div_ceil((team.helpers() + 1) * PARTS_PER_THREAD)
        .next_multiple_of(TILE);
    let parts = rows.div_ceil(part);
    let span = move |p: usize| (p * part, part.min(rows - p * part));
    let away = {
        let (kernel, xt, epilogue) = (kernel.clone(), Arc::clone(xt), epilogue.clone());
        Arc::new(move |p: usize| {
            let (first, count) = span(p);
            let mut buffer = vec![0.0f32; width * count];
            Arch::new().dispatch(Block {
                kernel: &kernel,
                xt: xt.get(),
                width,
                stride,
                first,
                count,
                out: &mut buffer,
                out_rows: count,
                out_first: 0,
            });
            epilogue.apply(&mut buffer, count, 0, first, count);
            buffer
        })
    };
    // `here` and `land` both write `out`; they never run at the same time.
    let out = std::cell::RefCell::new(out);
    team.share(
        parts,
        away,
        |p| {
            let (first, count) = span(p);
            let out = &mut **out.borrow_mut();
            compute_rows(kernel, xt.get(), width, stride, first, count, out);
            epilogue.apply(out, rows, first, first, count);
        },
        |p, buffer: Vec<f32>| {
            let (first, count) = span(p);
            let out = &mut **out.borrow_mut();
            for (example, sums) in buffer.chunks(count).enumerate() {
                let at = example * rows + first;
                out[at..at + count].copy_from_slice(sums);
            }
        },
    );
}

/// Rows `first..first + count` of a block, computed on this thread straight into `out`
/// (`[width, rows]`).
fn compute_rows<K: RowKernel>(
    kernel: &K,
    xt: &[f32],
    width: usize,
    stride: usize,
    first: usize,
    count: usize,
    out: &mut [f32],
) {
    Arch::new().dispatch(Block {
        kernel,
        xt,
        width,
        stride,
        first,
        count,
        out,
        out_rows: kernel.rows(),
        out_first: first,
    });
}

thread_local! {
    /// The calling thread's transposed input block, kept between products so that a product
    /// allocates nothing but its output (shared with the helpers' parts while it runs).
    static TRANSPOSED: std::cell::Cell<Option<Arc<Lines>>> = const { std::cell::Cell::new(None) };
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
    /// The first row, and how many.
    first: usize,
    count: usize,
    /// `[width, out_rows]`: row `first + i` of the product goes to column `out_first + i`.
    out: &'a mut [f32],
    out_rows: usize,
    out_first: usize,
}

impl<'a, K: RowKernel> Block<'a, K> {
    /// Every row of the block, into `out` (`[width, rows]`).
    fn whole(
        kernel: &'a K,
        xt: &'a [f32],
        width: usize,
        stride: usize,
        out: &'a mut [f32],
    ) -> Self {
        let rows = kernel.rows();
        Self {
            kernel,
            xt,
            width,
            stride,
            first: 0,
            count: rows,
            out,
            out_rows: rows,
            out_first: 0,
        }
    }
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
                let at = b * self.out_rows + self.out_first + first;
                let dst = &mut self.out[at..at + tile_rows];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CsrMatrix;
    use crate::team;

    /// A pruned `[rows, cols]` matrix and a `[width, cols]` input, from a simple generator.
    fn operands(rows: usize, cols: usize, width: usize) -> (CsrMatrix, Vec<f32>) {
        let mut state = 0x9e37_79b9_u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) * 2.0 - 1.0
        };
        let dense: Vec<f32> = (0..rows * cols)
            .map(|_| next())
            .map(|v| if v.abs() < 0.8 { 0.0 } else { v })
            .collect();
        let x = (0..width * cols).map(|_| next()).collect();
        (CsrMatrix::from_dense(&dense, rows, cols).unwrap(), x)
    }

    /// The block computed whole on this thread (then `epilogue` over it), and split over
    /// `team` with the epilogue applied to each part.
    fn whole_and_split(team: &Team, rows: usize, width: usize) -> (Vec<f32>, Vec<f32>) {
        let cols = 200;
        let bias = (0..rows).map(|r| r as f32 * 0.01 - 1.0).collect();
        let epilogue = Epilogue::bias(bias).with_activation(crate::Activation::Gelu);
        let (matrix, x) = operands(rows, cols, width);
        let stride = width.next_multiple_of(Arch::new().dispatch(Lanes));
        let mut xt = Lines::default();
        xt.transpose(&x, cols, stride);
        let mut whole = vec![f32::NAN; width * rows];
        Arch::new().dispatch(Block::whole(&matrix, xt.get(), width, stride, &mut whole));
        epilogue.apply(&mut whole, rows, 0, 0, rows);
        let mut split = vec![f32::NAN; width * rows];
        split_block(
            team,
            &matrix,
            &Arc::new(xt),
            width,
            stride,
            &epilogue,
            &mut split,
        );
        (whole, split)
    }

    #[test]
    fn a_block_split_over_helpers_is_bit_identical_to_the_whole_block() {
        // Three helpers: four parts of whole tiles, the last one shorter (rows not a
        // multiple of the tile, widths not a multiple of a vector).
        let team = Team::start(3);
        for (rows, width) in [(390, 32), (100, 27), (33, 5), (1000, 1)] {
            let (whole, split) = whole_and_split(&team, rows, width);
            assert!(whole.iter().all(|v| v.is_finite()));
            assert_eq!(
                whole.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                split.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{rows} rows, {width} examples"
            );
        }
    }

    #[test]
    fn parts_whose_helper_is_gone_or_drops_them_are_computed_by_the_caller() {
        // A helper whose thread has ended (its channel is closed), and one that drops every
        // part unrun (the part's answer never comes).
        let (gone, closed) = std::sync::mpsc::channel::<team::Job>();
        drop(closed);
        let (dropping, parts) = std::sync::mpsc::channel::<team::Job>();
        std::thread::spawn(move || {
            for part in parts {
                drop(part)
            }
        });
        let team = Team::of(vec![gone, dropping]);
        let (whole, split) = whole_and_split(&team, 390, 32);
        assert_eq!(whole, split);
    }
}
