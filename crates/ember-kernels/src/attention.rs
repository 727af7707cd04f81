//! Multi-head self-attention of one unpadded sequence, for the sparse BERT engine.
//!
//! Each head's scores are computed against the head's keys transposed to `[head_dim, tokens]`,
//! so that a query's scores are a run of vector multiply-adds over the tokens instead of one
//! short dot product (and one horizontal sum) per token; its softmax and its weighted sum of
//! values are vector loops too. The heads are parts shared with the helper threads
//! ([`Team::share`]) when the sequence is long enough to pay for it. As plain loops compiled
//! for the baseline instruction set, on one core, attention took a fifth of the sparse
//! engine's time at batch 1 (docs/performance.md).

use std::sync::Arc;

use pulp::{Arch, Simd, WithSimd};

use crate::activation::exp;
use crate::error::{KernelError, check_len};
use crate::team::Team;

/// Multiply-adds (scores and weighted values, all heads) from which the heads are shared with
/// the helper threads: about 12 tokens for MiniLM's 384 values per token. Below it the
/// helpers' wake-up and the copies cost more than the half of the heads they take.
const TEAM_WORK: usize = 1 << 17;

/// Multi-head self-attention without a mask. `qkv` holds each token's query, key and value
/// side by side (`[tokens, 3 · hidden]`, row-major, the heads in order within each), as a
/// product with the three projections stacked gives it; the result is each token's attended
/// values, `[tokens, hidden]`, the heads in order: `softmax(q·kᵀ / √head_dim) · v` per head.
pub fn self_attention(
    qkv: Vec<f32>,
    tokens: usize,
    hidden: usize,
    heads: usize,
) -> Result<Vec<f32>, KernelError> {
    check_len(
        "the stacked queries, keys and values",
        qkv.len(),
        tokens * 3 * hidden,
    )?;
    if heads == 0 || !hidden.is_multiple_of(heads) {
        return Err(KernelError::Invalid(format!(
            "{hidden} values per token do not split into {heads} heads"
        )));
    }
    let mut out = vec![0.0f32; tokens * hidden];
    if tokens == 0 || hidden == 0 {
        return Ok(out);
    }
    let d = hidden / heads;
    let team = Team::get();
    if team.helpers() == 0 || 2 * tokens * tokens * hidden < TEAM_WORK {
        for head in 0..heads {
            attend(&qkv, tokens, hidden, d, head, &mut out[head * d..], hidden);
        }
        return Ok(out);
    }
    let qkv = Arc::new(qkv);
    let away = {
        let qkv = Arc::clone(&qkv);
        Arc::new(move |head: usize| {
            let mut part = vec![0.0f32; tokens * d];
            attend(&qkv, tokens, hidden, d, head, &mut part, d);
            part
        })
    };
    // `here` and `land` both write `out`; they never run at the same time.
    let out_cell = std::cell::RefCell::new(&mut out);
    team.share(
        heads,
        away,
        |head| {
            let out = &mut **out_cell.borrow_mut();
            let start = head * d;
            attend(&qkv, tokens, hidden, d, head, &mut out[start..], hidden);
        },
        |head, part: Vec<f32>| {
            let out = &mut **out_cell.borrow_mut();
            for (token, values) in part.chunks(d).enumerate() {
                let at = token * hidden + head * d;
                out[at..at + d].copy_from_slice(values);
            }
        },
    );
    Ok(out)
}

/// Head `head`'s attended values into `out`, token `i`'s at `out[i · stride..][..d]`.
fn attend(
    qkv: &[f32],
    tokens: usize,
    hidden: usize,
    d: usize,
    head: usize,
    out: &mut [f32],
    stride: usize,
) {
    Arch::new().dispatch(Head {
        qkv,
        tokens,
        hidden,
        d,
        head,
        out,
        stride,
    });
}

/// The loops of one head, compiled for the instruction set `pulp` picks.
struct Head<'a> {
    qkv: &'a [f32],
    tokens: usize,
    hidden: usize,
    d: usize,
    head: usize,
    out: &'a mut [f32],
    stride: usize,
}

impl WithSimd for Head<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let Self {
            qkv,
            tokens,
            hidden,
            d,
            head,
            out,
            stride,
        } = self;
        let row = 3 * hidden;
        let (query, key, value) = (head * d, hidden + head * d, 2 * hidden + head * d);
        // The head's keys as `[d, padded]`, the tokens padded with zero keys to whole vectors:
        // score `j` of a query is `Σ_k q[k] · kt[k][j]`, a run of whole-vector multiply-adds.
        let padded = tokens.next_multiple_of(LANES);
        let mut kt = vec![0.0f32; d * padded];
        for j in 0..tokens {
            for (k, v) in qkv[j * row + key..j * row + key + d].iter().enumerate() {
                kt[k * padded + j] = *v;
            }
        }
        let scale = 1.0 / (d as f32).sqrt();
        let mut scores = vec![0.0f32; padded];
        for i in 0..tokens {
            let q = &qkv[i * row + query..i * row + query + d];
            scores_into(q, scale, &kt, padded, &mut scores);
            // The padding's scores: nothing after the exponential.
            scores[tokens..].fill(f32::NEG_INFINITY);
            let max = scores.iter().fold(f32::NEG_INFINITY, |m, s| m.max(*s));
            // The exponentials in a loop of their own: with the sum in it, the loop is a
            // chain of dependent additions that the compiler may not reorder, and it ran
            // scalar (half of attention's time).
            for s in scores.iter_mut() {
                *s = exp(*s - max);
            }
            let sum = lanes_sum(&scores);
            let o = &mut out[i * stride..i * stride + d];
            weighted_values(&scores[..tokens], sum, qkv, row, value, o);
        }
    }
}

/// `f32` values per vector register block: four AVX2 registers' worth of sums, which stay in
/// registers across a whole loop instead of being loaded and stored at every step.
const BLOCK: usize = 32;

/// `f32` lanes the keys are padded to.
const LANES: usize = 8;

/// `scores[j] = Σ_k scale · q[k] · kt[k · padded + j]`, in blocks of [`BLOCK`] and then
/// [`LANES`] scores held in registers over `k`.
#[inline(always)]
fn scores_into(q: &[f32], scale: f32, kt: &[f32], padded: usize, scores: &mut [f32]) {
    let mut start = 0;
    while padded - start >= BLOCK {
        scores[start..start + BLOCK]
            .copy_from_slice(&score_block::<BLOCK>(q, scale, kt, padded, start));
        start += BLOCK;
    }
    while start < padded {
        scores[start..start + LANES]
            .copy_from_slice(&score_block::<LANES>(q, scale, kt, padded, start));
        start += LANES;
    }
}

/// Scores `start..start + W`: a fixed number of sums, so that they stay in registers.
#[inline(always)]
fn score_block<const W: usize>(
    q: &[f32],
    scale: f32,
    kt: &[f32],
    padded: usize,
    start: usize,
) -> [f32; W] {
    let mut sums = [0.0f32; W];
    for (k, qk) in q.iter().enumerate() {
        let qk = qk * scale;
        let keys = &kt[k * padded + start..k * padded + start + W];
        for l in 0..W {
            sums[l] += qk * keys[l];
        }
    }
    sums
}

/// `o = Σ_j (weights[j] / sum) · v_j`, `v_j` being token `j`'s values of this head
/// (`qkv[j · row + value..][..o.len()]`), in blocks of [`BLOCK`] or [`LANES`] values held in
/// registers (one at a time for a head size that is not a multiple of [`LANES`]).
#[inline(always)]
fn weighted_values(
    weights: &[f32],
    sum: f32,
    qkv: &[f32],
    row: usize,
    value: usize,
    o: &mut [f32],
) {
    let d = o.len();
    let mut start = 0;
    while d - start >= BLOCK {
        o[start..start + BLOCK].copy_from_slice(&value_block::<BLOCK>(
            weights,
            sum,
            qkv,
            row,
            value + start,
        ));
        start += BLOCK;
    }
    while d - start >= LANES {
        o[start..start + LANES].copy_from_slice(&value_block::<LANES>(
            weights,
            sum,
            qkv,
            row,
            value + start,
        ));
        start += LANES;
    }
    while start < d {
        o[start] = value_block::<1>(weights, sum, qkv, row, value + start)[0];
        start += 1;
    }
}

/// Values `at..at + W` of the weighted sum.
#[inline(always)]
fn value_block<const W: usize>(
    weights: &[f32],
    sum: f32,
    qkv: &[f32],
    row: usize,
    at: usize,
) -> [f32; W] {
    let mut acc = [0.0f32; W];
    for (j, w) in weights.iter().enumerate() {
        let w = w / sum;
        let v = &qkv[j * row + at..j * row + at + W];
        for l in 0..W {
            acc[l] += w * v[l];
        }
    }
    acc
}

/// Partial sums kept apart, so that a sum vectorizes.
const SUM_LANES: usize = 8;

/// `Σ values`, in [`SUM_LANES`] independent sums.
#[inline(always)]
fn lanes_sum(values: &[f32]) -> f32 {
    let mut sums = [0.0f32; SUM_LANES];
    let mut chunks = values.chunks_exact(SUM_LANES);
    for chunk in &mut chunks {
        for (sum, v) in sums.iter_mut().zip(chunk) {
            *sum += v;
        }
    }
    sums.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attention by its definition, in f64.
    fn reference(qkv: &[f32], tokens: usize, hidden: usize, heads: usize) -> Vec<f64> {
        let d = hidden / heads;
        let at = |i: usize, which: usize, head: usize, k: usize| {
            qkv[i * 3 * hidden + which * hidden + head * d + k] as f64
        };
        let mut out = vec![0.0f64; tokens * hidden];
        for head in 0..heads {
            for i in 0..tokens {
                let scores: Vec<f64> = (0..tokens)
                    .map(|j| {
                        (0..d)
                            .map(|k| at(i, 0, head, k) * at(j, 1, head, k))
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = weights.iter().sum();
                for k in 0..d {
                    out[i * hidden + head * d + k] = (0..tokens)
                        .map(|j| weights[j] / sum * at(j, 2, head, k))
                        .sum();
                }
            }
        }
        out
    }

    fn inputs(tokens: usize, hidden: usize) -> Vec<f32> {
        (0..tokens * 3 * hidden)
            .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 3.0)
            .collect()
    }

    /// Short sequences (one thread) and long ones (heads shared with the helpers) both match
    /// the definition.
    #[test]
    fn attention_matches_its_definition_alone_and_shared() {
        for (tokens, hidden, heads) in [(1, 8, 2), (5, 12, 3), (27, 384, 12), (40, 64, 4)] {
            let qkv = inputs(tokens, hidden);
            let want = reference(&qkv, tokens, hidden, heads);
            let got = self_attention(qkv, tokens, hidden, heads).unwrap();
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "{tokens} tokens, {heads} heads, element {i}: {g} vs {w}"
                );
            }
        }
    }

    /// Every head computes the same bits whether this thread or a helper runs it.
    #[test]
    fn a_shared_run_is_bit_identical_to_one_thread() {
        let (tokens, hidden, heads) = (30, 96, 6);
        let qkv = inputs(tokens, hidden);
        let shared = self_attention(qkv.clone(), tokens, hidden, heads).unwrap();
        let d = hidden / heads;
        let mut alone = vec![0.0f32; tokens * hidden];
        for head in 0..heads {
            attend(
                &qkv,
                tokens,
                hidden,
                d,
                head,
                &mut alone[head * d..],
                hidden,
            );
        }
        assert_eq!(shared, alone);
    }

    #[test]
    fn operands_that_do_not_fit_are_errors() {
        assert!(matches!(
            self_attention(vec![0.0; 10], 2, 4, 2),
            Err(KernelError::Length { .. })
        ));
        assert!(matches!(
            self_attention(vec![0.0; 2 * 3 * 10], 2, 10, 3),
            Err(KernelError::Invalid(_))
        ));
        assert!(matches!(
            self_attention(vec![0.0; 2 * 3 * 10], 2, 10, 0),
            Err(KernelError::Invalid(_))
        ));
        assert_eq!(self_attention(vec![], 0, 8, 2).unwrap(), Vec::<f32>::new());
    }
}
