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

/// Below this many scores one thread does everything; above, the passes are split across the
/// machine's threads.
const PARALLEL_FROM: usize = 1 << 18;

/// The pieces of `parts` that each of `threads` workers takes: contiguous runs of about
/// equal length, as (part, start, end).
fn shares(parts: &[&[f32]], threads: usize) -> Vec<Vec<(usize, usize, usize)>> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let per = total.div_ceil(threads).max(1);
    let mut shares = vec![Vec::new(); threads];
    let (mut worker, mut room) = (0, per);
    for (index, part) in parts.iter().enumerate() {
        let mut start = 0;
        while start < part.len() {
            let end = (start + room).min(part.len());
            shares[worker].push((index, start, end));
            room -= end - start;
            start = end;
            if room == 0 && worker + 1 < threads {
                worker += 1;
                room = per;
            }
        }
    }
    shares
}

/// A 65,536-bucket histogram of `bucket(key)` over the keys that `keep`, summed over the
/// workers. Two interleaved tables per worker halve the stalls when neighbours share a bucket.
fn histogram(
    parts: &[&[f32]],
    shares: &[Vec<(usize, usize, usize)>],
    keep: impl Fn(u32) -> bool + Sync,
    bucket: impl Fn(u32) -> usize + Sync,
) -> Vec<u64> {
    let count = |share: &[(usize, usize, usize)]| {
        let mut tables = vec![0u32; 2 << 16];
        let (even, odd) = tables.split_at_mut(1 << 16);
        for &(part, start, end) in share {
            let mut pairs = parts[part][start..end].chunks_exact(2);
            for pair in &mut pairs {
                let (a, b) = (order_key(pair[0]), order_key(pair[1]));
                if keep(a) {
                    even[bucket(a)] += 1;
                }
                if keep(b) {
                    odd[bucket(b)] += 1;
                }
            }
            for &score in pairs.remainder() {
                let key = order_key(score);
                if keep(key) {
                    even[bucket(key)] += 1;
                }
            }
        }
        even.iter()
            .zip(odd.iter())
            .map(|(a, b)| u64::from(*a) + u64::from(*b))
            .collect::<Vec<u64>>()
    };
    let tables: Vec<Vec<u64>> = if shares.len() == 1 {
        vec![count(&shares[0])]
    } else {
        std::thread::scope(|scope| {
            let workers: Vec<_> = shares
                .iter()
                .map(|share| scope.spawn(|| count(share)))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a histogram worker"))
                .collect()
        })
    };
    let mut sum = vec![0u64; 1 << 16];
    for table in tables {
        for (s, t) in sum.iter_mut().zip(table) {
            *s += t;
        }
    }
    sum
}

/// Flags the `count` lowest of the concatenation of `parts` (`true` = chosen), in IEEE total
/// order, ties broken by position in the concatenation (the earlier element is chosen first).
///
/// The result depends only on the score values, so every backend and every replica agrees.
/// Runs in linear passes over the scores, split across threads for large inputs, with no sort
/// and no copy of the scores: a 65,536-bucket histogram of the high 16 bits of the order keys
/// finds the threshold bucket; one more pass flags everything below it and gathers the
/// bucket's keys, among which an O(m) selection finishes. When the bucket holds more than an
/// eighth of the scores (many equal scores), a histogram of the low 16 bits finds the exact
/// threshold instead, and a last scan places the ties. The extra memory is the flags plus at
/// most an eighth of the scores' keys.
///
/// # Panics
/// If `count` exceeds the number of scores.
pub fn select_lowest(parts: &[&[f32]], count: usize) -> Vec<Vec<bool>> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    assert!(count <= total, "cannot choose {count} of {total} scores");
    if count == 0 || count == total {
        return parts.iter().map(|p| vec![count > 0; p.len()]).collect();
    }
    if total <= SORT_BELOW {
        return select_by_sorting(parts, total, count);
    }
    select_by_radix(parts, total, count)
}

/// [`select_lowest`] by two radix passes over the scores' order keys, `0 < count < total`.
fn select_by_radix(parts: &[&[f32]], total: usize, count: usize) -> Vec<Vec<bool>> {
    let threads = if total >= PARALLEL_FROM {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8)
    } else {
        1
    };
    let shares = shares(parts, threads);
    let histogram_high = histogram(parts, &shares, |_| true, |key| (key >> 16) as usize);
    let (high, below_high) = bucket_of(&histogram_high, count as u64);
    let need = (count as u64 - below_high) as usize;
    let in_bucket = histogram_high[high] as usize;
    let mut flags: Vec<Vec<bool>> = parts.iter().map(|p| vec![false; p.len()]).collect();

    if in_bucket <= total / GATHER_SHARE {
        // Usual case: the threshold bucket is small. One more pass flags every key of a lower
        // bucket and gathers the bucket's keys; the `need` lowest of those, ties in position
        // order, are flagged too.
        let gathered = mark_each_chunk(parts, &mut flags, threads, |scores, flags, start| {
            let mut bucket = Vec::new();
            for (offset, (flag, &score)) in flags.iter_mut().zip(scores).enumerate() {
                let key = order_key(score);
                *flag = ((key >> 16) as usize) < high;
                if (key >> 16) as usize == high {
                    bucket.push((key, start + offset));
                }
            }
            bucket
        });
        let mut bucket: Vec<(u32, usize, usize)> = gathered
            .into_iter()
            .flat_map(|(part, keys)| keys.into_iter().map(move |(k, i)| (k, part, i)))
            .collect();
        // (key, part, index) order is (score, position) order: ties go to the earlier one.
        if need < bucket.len() {
            bucket.select_nth_unstable(need);
        }
        for &(_, part, index) in &bucket[..need] {
            flags[part][index] = true;
        }
        return flags;
    }

    // A crowded threshold bucket (many equal scores, such as already-pruned elements): a
    // second histogram of the low 16 bits finds the exact threshold key.
    let low = histogram(
        parts,
        &shares,
        |key| (key >> 16) as usize == high,
        |key| (key & 0xffff) as usize,
    );
    let (low, below_low) = bucket_of(&low, need as u64);
    let threshold = ((high as u32) << 16) | low as u32;
    // Everything below the threshold key is chosen...
    mark_each_chunk(parts, &mut flags, threads, |scores, flags, _| {
        for (flag, &score) in flags.iter_mut().zip(scores) {
            *flag = order_key(score) < threshold;
        }
        Vec::new()
    });
    // ...and of the keys equal to it, the first `ties` in concatenation order.
    let mut ties = need as u64 - below_low;
    for (part, flags) in parts.iter().zip(flags.iter_mut()) {
        for (flag, &score) in flags.iter_mut().zip(part.iter()) {
            if ties == 0 {
                break;
            }
            if order_key(score) == threshold {
                *flag = true;
                ties -= 1;
            }
        }
    }
    flags
}

/// Above this share of the scores (1/8) the threshold bucket is found by a second histogram
/// instead of being gathered, which bounds the gathered keys' memory.
const GATHER_SHARE: usize = 8;

/// One gathered key: its order key and its index in its part.
type Gathered = Vec<(u32, usize)>;

/// Runs `mark(scores, flags, start)` over every part in `threads` chunks (`start` is the
/// chunk's first index in its part) and returns what each chunk gathered, tagged with its
/// part, in position order.
fn mark_each_chunk<F>(
    parts: &[&[f32]],
    flags: &mut [Vec<bool>],
    threads: usize,
    mark: F,
) -> Vec<(usize, Gathered)>
where
    F: Fn(&[f32], &mut [bool], usize) -> Gathered + Sync,
{
    let mark = &mark;
    std::thread::scope(|scope| {
        let mut chunks = Vec::new();
        for (part, (scores, flags)) in parts.iter().zip(flags.iter_mut()).enumerate() {
            let size = scores.len().div_ceil(threads).max(1);
            for (chunk, (scores, flags)) in
                scores.chunks(size).zip(flags.chunks_mut(size)).enumerate()
            {
                let start = chunk * size;
                if threads == 1 {
                    chunks.push(Ok((part, mark(scores, flags, start))));
                } else {
                    chunks.push(Err((part, scope.spawn(move || mark(scores, flags, start)))));
                }
            }
        }
        chunks
            .into_iter()
            .map(|chunk| match chunk {
                Ok(done) => done,
                Err((part, worker)) => (part, worker.join().expect("a marking worker")),
            })
            .collect()
    })
}

/// Inputs this small are sorted: the radix passes clear and scan 65,536-bucket histograms,
/// which made N:M groups of four (millions of calls) cost seconds per layer.
const SORT_BELOW: usize = 512;

/// [`select_lowest`] for a few scores: sorted by key, ties by position, as the radix path
/// orders them.
fn select_by_sorting(parts: &[&[f32]], total: usize, count: usize) -> Vec<Vec<bool>> {
    let mut keys: Vec<(u32, usize)> = parts
        .iter()
        .flat_map(|p| p.iter())
        .map(|&score| order_key(score))
        .zip(0..)
        .collect();
    keys.sort_unstable();
    let mut flat = vec![false; total];
    for &(_, position) in &keys[..count] {
        flat[position] = true;
    }
    let mut rest = flat.as_slice();
    parts
        .iter()
        .map(|p| {
            let (head, tail) = rest.split_at(p.len());
            rest = tail;
            head.to_vec()
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

    /// Both ways to the threshold (gathering a small bucket, or a second histogram for a
    /// crowded one) over enough scores to run on several threads, against a full sort.
    #[test]
    fn large_inputs_match_a_full_sort_with_small_and_crowded_buckets() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        let spread: Vec<f32> = (0..300_000).map(|_| next()).collect();
        // 80% already pruned (-inf), the rest spread: the threshold bucket is crowded.
        let crowded: Vec<f32> = (0..300_000)
            .map(|i| {
                if i % 5 == 0 {
                    next()
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect();
        for scores in [spread, crowded] {
            for fraction in [0.5, 0.81, 0.9] {
                let parts = [&scores[..100_000], &scores[100_000..]];
                let k = prune_count(fraction, scores.len());
                let want = sorted_reference(&[parts[0].to_vec(), parts[1].to_vec()], k);
                assert_eq!(select_lowest(&parts, k), want, "fraction {fraction}");
            }
        }
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
        fn sorting_and_radix_select_alike(
            scores in proptest::collection::vec(-20i8..20, 2..1500),
            split in 0usize..1500,
            frac in 0.01f64..0.99,
        ) {
            let scores: Vec<f32> = scores.into_iter().map(f32::from).collect();
            let split = split.min(scores.len());
            let parts = [&scores[..split], &scores[split..]];
            let k = prune_count(frac, scores.len()).clamp(1, scores.len() - 1);
            prop_assert_eq!(
                select_by_sorting(&parts, scores.len(), k),
                select_by_radix(&parts, scores.len(), k)
            );
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
