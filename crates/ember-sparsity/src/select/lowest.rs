use std::cmp::Ordering;

/// The number of elements that pruning `numel` elements to `sparsity` removes:
/// `round(sparsity · numel)`, computed in `f64` and rounded half away from zero.
///
/// Sparsity 0.9 of 1000 elements removes exactly 900; 0.5 of 3 removes 2.
pub fn prune_count(sparsity: f64, numel: usize) -> usize {
    let count = (sparsity * numel as f64).round();
    (count.max(0.0) as usize).min(numel)
}

/// Orders elements from least to most important: by score (IEEE total order), then by index,
/// so that equal scores break ties deterministically in favour of pruning the lower index.
fn by_score_then_index(scores: &[f32]) -> impl Fn(&u32, &u32) -> Ordering + '_ {
    move |a, b| {
        scores[*a as usize]
            .total_cmp(&scores[*b as usize])
            .then(a.cmp(b))
    }
}

/// Flags the `count` lowest-scored elements of `scores` (`true` = pruned).
///
/// Runs in O(n) with `select_nth_unstable_by`; no full sort. Ties break by flat index (the
/// lower index is pruned first), so the result depends only on the score values.
///
/// # Panics
/// If `count > scores.len()` or `scores.len() > u32::MAX`.
pub fn pruned_flags(scores: &[f32], count: usize) -> Vec<bool> {
    let n = scores.len();
    assert!(count <= n, "cannot prune {count} of {n} elements");
    assert!(u32::try_from(n).is_ok(), "too many elements: {n}");
    let mut flags = vec![false; n];
    if count == 0 {
        return flags;
    }
    if count == n {
        flags.fill(true);
        return flags;
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.select_nth_unstable_by(count - 1, by_score_then_index(scores));
    for &index in &order[..count] {
        flags[index as usize] = true;
    }
    flags
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

    proptest! {
        #[test]
        fn exact_count_and_lowest_first(scores in proptest::collection::vec(-5i8..5, 1..400), frac in 0.0f64..1.0) {
            let scores: Vec<f32> = scores.into_iter().map(f32::from).collect();
            let k = prune_count(frac, scores.len());
            let flags = pruned_flags(&scores, k);
            prop_assert_eq!(flags.iter().filter(|&&f| f).count(), k);
            // Every pruned element is lower than (or tied with a higher index than) every kept one.
            let max_pruned = scores.iter().zip(&flags).filter(|(_, f)| **f).map(|(s, _)| *s).fold(f32::MIN, f32::max);
            let min_kept = scores.iter().zip(&flags).filter(|(_, f)| !**f).map(|(s, _)| *s).fold(f32::MAX, f32::min);
            prop_assert!(max_pruned <= min_kept);
            // Same as a full stable sort by (score, index).
            let mut order: Vec<usize> = (0..scores.len()).collect();
            order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]).then(a.cmp(b)));
            let mut expected = vec![false; scores.len()];
            for &i in &order[..k] { expected[i] = true; }
            prop_assert_eq!(flags, expected);
        }
    }
}
