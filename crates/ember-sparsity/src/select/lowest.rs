//! Exact selection of the lowest scores in O(n): a two-pass radix select on the scores' bit
//! patterns, with no sort and no copy of the scores.

/// The number of elements that pruning `numel` elements to `sparsity` removes:
/// `round(sparsity · numel)`, computed in `f64` and rounded half away from zero.
///
/// Sparsity 0.9 of 1000 elements removes exactly 900; 0.5 of 3 removes 2.
pub fn prune_count(sparsity: f64, numel: usize) -> usize {
    let count = (sparsity * numel as f64).round();
    (count.max(0.0) as usize).min(numel)
}

/// Maps an `f32` to a `u32` whose unsigned order is IEEE-754's total order (`f32::total_cmp`):
/// `-NaN < -inf < … < -0 < +0 < … < +inf < +NaN`.
#[inline]
fn order_key(score: f32) -> u32 {
    let bits = score.to_bits();
    if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    }
}

/// Finds the bucket where the running count of `histogram` passes `count` (`1 ≤ count ≤
/// total`): returns the bucket and how many of `count` lie in earlier buckets.
fn bucket_of(histogram: &[u64], count: u64) -> (usize, u64) {
    let mut below = 0;
    for (bucket, &n) in histogram.iter().enumerate() {
        if below + n >= count {
            return (bucket, below);
        }
        below += n;
    }
    unreachable!("count is at most the number of scores")
}

/// Flags the `count` lowest of the concatenation of `parts` (`true` = chosen), in IEEE total
/// order, ties broken by position in the concatenation (the earlier element is chosen first).
///
/// The result depends only on the score values, so every backend and every replica agrees.
/// Runs in three linear passes over the scores (two 65,536-bucket histograms of the high and
/// low 16 bits of the order key, then the flags), with no sort and no copy of the scores:
/// the extra memory is the flags themselves.
///
/// # Panics
/// If `count` exceeds the number of scores.
pub fn select_lowest(parts: &[&[f32]], count: usize) -> Vec<Vec<bool>> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    assert!(count <= total, "cannot choose {count} of {total} scores");
    if count == 0 || count == total {
        return parts.iter().map(|p| vec![count > 0; p.len()]).collect();
    }
    let keys = || parts.iter().flat_map(|p| p.iter().map(|&s| order_key(s)));
    let mut histogram = vec![0u64; 1 << 16];
    for key in keys() {
        histogram[(key >> 16) as usize] += 1;
    }
    let (high, below_high) = bucket_of(&histogram, count as u64);
    histogram.fill(0);
    for key in keys().filter(|key| (key >> 16) as usize == high) {
        histogram[(key & 0xffff) as usize] += 1;
    }
    let (low, below_low) = bucket_of(&histogram, count as u64 - below_high);
    let threshold = ((high as u32) << 16) | low as u32;
    // Everything below the threshold key is chosen; of the keys equal to it, the first
    // `ties` in concatenation order.
    let mut ties = count as u64 - below_high - below_low;
    parts
        .iter()
        .map(|part| {
            part.iter()
                .map(|&score| {
                    let key = order_key(score);
                    if key < threshold {
                        true
                    } else if key == threshold && ties > 0 {
                        ties -= 1;
                        true
                    } else {
                        false
                    }
                })
                .collect()
        })
        .collect()
}

/// Flags the `count` lowest-scored elements of `scores` (`true` = pruned): [`select_lowest`]
/// on one tensor.
///
/// # Panics
/// If `count > scores.len()`.
pub fn pruned_flags(scores: &[f32], count: usize) -> Vec<bool> {
    select_lowest(&[scores], count)
        .pop()
        .expect("one part in, one part out")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounding_rule() {
        assert_eq!(prune_count(0.9, 1000), 900);
        assert_eq!(prune_count(0.9, 266_200), 239_580);
        assert_eq!(prune_count(0.5, 3), 2);
        assert_eq!(prune_count(0.0, 7), 0);
        assert_eq!(prune_count(0.999, 10), 10);
    }

    #[test]
    fn ties_break_by_index() {
        let scores = [1.0, 0.5, 0.5, 0.5, 2.0];
        assert_eq!(pruned_flags(&scores, 2), [false, true, true, false, false]);
        assert_eq!(pruned_flags(&[0.0; 4], 3), [true, true, true, false]);
    }

    #[test]
    fn order_keys_follow_the_total_order() {
        let values = [
            -f32::NAN,
            f32::NEG_INFINITY,
            f32::MIN,
            -1.0,
            -0.0,
            0.0,
            f32::MIN_POSITIVE,
            1.0,
            f32::MAX,
            f32::INFINITY,
            f32::NAN,
        ];
        for pair in values.windows(2) {
            assert!(order_key(pair[0]) < order_key(pair[1]), "{pair:?}");
        }
    }

    /// The reference: a full stable sort by (score, position).
    fn sorted_reference(parts: &[Vec<f32>], count: usize) -> Vec<Vec<bool>> {
        let all: Vec<f32> = parts.concat();
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.sort_by(|a, b| all[*a].total_cmp(&all[*b]).then(a.cmp(b)));
        let mut flat = vec![false; all.len()];
        for &i in &order[..count] {
            flat[i] = true;
        }
        let mut offset = 0;
        parts
            .iter()
            .map(|p| {
                let part = flat[offset..offset + p.len()].to_vec();
                offset += p.len();
                part
            })
            .collect()
    }

    proptest! {
        #[test]
        fn exact_count_and_lowest_first(scores in proptest::collection::vec(-5i8..5, 1..400), frac in 0.0f64..1.0) {
            let scores: Vec<f32> = scores.into_iter().map(f32::from).collect();
            let k = prune_count(frac, scores.len());
            let flags = pruned_flags(&scores, k);
            prop_assert_eq!(flags.iter().filter(|&&f| f).count(), k);
            prop_assert_eq!(vec![flags], sorted_reference(&[scores], k));
        }

        #[test]
        fn parts_select_like_their_concatenation(
            parts in proptest::collection::vec(proptest::collection::vec(prop_oneof![
                (-1000i32..1000).prop_map(|v| v as f32 / 7.0),
                Just(f32::NAN), Just(f32::NEG_INFINITY), Just(f32::INFINITY), Just(-0.0f32),
            ], 0..200), 1..5),
            frac in 0.0f64..=1.0,
        ) {
            let total: usize = parts.iter().map(Vec::len).sum();
            let k = prune_count(frac, total);
            let slices: Vec<&[f32]> = parts.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(select_lowest(&slices, k), sorted_reference(&parts, k));
        }
    }
}
