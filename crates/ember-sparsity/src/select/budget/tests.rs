//! Properties of [`choose`] for every pattern, and of [`erk_sparsities`].
//!
//! burn's `Linear` weight is `[in, out]`: flat index `i·out + o` holds PyTorch's element
//! `(o, i)` of its `[out, in]` weight. The checks below name elements in PyTorch's terms and
//! compute the burn index themselves, independently of the patterns' own group maps.

use proptest::prelude::*;

use super::*;
use crate::pattern::{Block, Heads, NM, Pattern, PatternInput, Structured, UnitDim, Unstructured};
use crate::select::prune_count;

/// Small integer scores, so that ties are common.
fn scores(len: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec((-4i8..4).prop_map(f32::from), len)
}

/// A `Linear` candidate with nothing pruned or frozen, after the pattern accepts it.
fn candidate(
    p: &dyn Pattern,
    path: &str,
    shape: &[usize],
    scores: Vec<f32>,
    target: Option<f64>,
) -> Candidate<'static> {
    let input = PatternInput {
        path,
        shape,
        layer_type: "Linear",
    };
    p.check(&input).unwrap_or_else(|e| panic!("{e}"));
    let n = input.numel();
    assert_eq!(scores.len(), n);
    let (pruned, frozen) = (vec![false; n], vec![false; n]);
    let groups = p.groups(&input);
    Candidate {
        groups,
        scores,
        pruned: pruned.into(),
        frozen: frozen.into(),
        target,
    }
}

/// An unstructured `[1, n]` tensor `t{t}.weight`.
fn flat(t: usize, scores: Vec<f32>, target: Option<f64>) -> Candidate<'static> {
    let (path, shape) = (format!("t{t}.weight"), [1, scores.len()]);
    candidate(&Unstructured, &path, &shape, scores, target)
}

/// No cap; the pattern's quota.
fn budget(p: &dyn Pattern, global: f64) -> Budget {
    Budget {
        global,
        cap: 1.0,
        quota: p.group_quota(),
    }
}

/// Checks that every unit (a list of `(tensor, flat index)`) is wholly pruned or wholly kept;
/// returns each unit's flag and mean score (the engine's pooling).
fn unit_flags(
    flags: &[Vec<bool>],
    scores: &[Vec<f32>],
    units: &[Vec<(usize, usize)>],
) -> Result<Vec<(bool, f32)>, TestCaseError> {
    units
        .iter()
        .enumerate()
        .map(|(u, members)| {
            let flag = flags[members[0].0][members[0].1];
            let mut sum = 0.0f64;
            for &(t, e) in members {
                prop_assert_eq!(flags[t][e], flag, "unit {} is mixed at {:?}", u, (t, e));
                sum += f64::from(scores[t][e]);
            }
            Ok((flag, (sum / members.len() as f64) as f32))
        })
        .collect()
}

/// Checks that exactly `expected` units are pruned and that they are the lowest by mean.
fn lowest_units(units: &[(bool, f32)], expected: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(units.iter().filter(|u| u.0).count(), expected);
    let (hi, lo) = extremes(units.iter().copied());
    prop_assert!(hi <= lo, "pruned {} > kept {}", hi, lo);
    Ok(())
}

/// The highest pruned and the lowest kept score.
fn extremes(items: impl Iterator<Item = (bool, f32)>) -> (f32, f32) {
    items.fold(
        (f32::NEG_INFINITY, f32::INFINITY),
        |(hi, lo), (pruned, s)| {
            if pruned {
                (hi.max(s), lo)
            } else {
                (hi, lo.min(s))
            }
        },
    )
}

fn nm_case() -> impl Strategy<Value = (NM, usize, usize, Vec<f32>)> {
    let sizes = prop::sample::select(vec![(2usize, 4usize), (4, 8), (1, 4)]);
    (sizes, 1usize..=3, 1usize..=6).prop_flat_map(|((n, m), runs, o)| {
        let i = runs * m;
        (Just(NM { n, m }), Just(i), Just(o), scores(i * o))
    })
}

/// The PyTorch `rows × cols` blocks of tensor `t` (burn `[in, out]`), as `(t, flat)` lists.
fn blocks(t: usize, [inputs, outputs]: [usize; 2], b: Block) -> Vec<Vec<(usize, usize)>> {
    let mut units = Vec::new();
    for bo in 0..outputs / b.rows {
        for bi in 0..inputs / b.cols {
            let os = bo * b.rows..(bo + 1) * b.rows;
            let is = bi * b.cols..(bi + 1) * b.cols;
            units.push(
                os.flat_map(|o| is.clone().map(move |i| (t, i * outputs + o)))
                    .collect(),
            );
        }
    }
    units
}

/// Tensors as (shape, scores).
type Tensors = Vec<([usize; 2], Vec<f32>)>;

fn block_case() -> impl Strategy<Value = (Block, Tensors)> {
    let dims = prop::collection::vec((1usize..=4, 1usize..=4), 1..=3);
    (1usize..=3, 1usize..=3, dims).prop_flat_map(|(rows, cols, dims)| {
        let tensors: Vec<_> = dims
            .into_iter()
            .map(|(a, b)| (Just([cols * b, rows * a]), scores(cols * b * rows * a)))
            .collect();
        (Just(Block { rows, cols }), tensors)
    })
}

const PROJECTIONS: [&str; 4] = ["query", "key", "value", "output"];

/// The four `[d, d]` projections of `{layer}.attn`.
fn attention(
    p: &Heads,
    layer: &str,
    d: usize,
    scores: &[Vec<f32>],
    t: Option<f64>,
) -> Vec<Candidate<'static>> {
    PROJECTIONS
        .iter()
        .zip(scores)
        .map(|(name, s)| {
            let path = format!("{layer}.attn.{name}.weight");
            candidate(p, &path, &[d, d], s.clone(), t)
        })
        .collect()
}

/// What head `k` owns, with the projections at tensors `first..first + 4`: burn columns
/// `k·hd..(k+1)·hd` of query, key and value, burn rows `k·hd..(k+1)·hd` of output.
fn head(first: usize, k: usize, hd: usize, d: usize) -> Vec<(usize, usize)> {
    let own = k * hd..(k + 1) * hd;
    let mut members = Vec::new();
    for t in first..first + 3 {
        members.extend((0..d).flat_map(|i| own.clone().map(move |o| (t, i * d + o))));
    }
    members.extend(own.flat_map(|i| (0..d).map(move |o| (first + 3, i * d + o))));
    members
}

proptest! {
    /// N:M at its highest sparsity (layer-wise or global): in every PyTorch row, each run of
    /// `m` consecutive inputs loses exactly `m - n`, its lowest-scored (ties: lower input first).
    #[test]
    fn n_m_prunes_the_lowest_of_every_pytorch_run(
        (p, inputs, outputs, scores) in nm_case(),
        layerwise in any::<bool>(),
    ) {
        let s = p.max_sparsity();
        let target = layerwise.then_some(s);
        let c = candidate(&p, "fc.weight", &[inputs, outputs], scores.clone(), target);
        let flags = choose(vec![c], budget(&p, s)).remove(0);
        let score = |i: usize, o: usize| scores[i * outputs + o];
        for o in 0..outputs {
            for start in (0..inputs).step_by(p.m) {
                let mut run: Vec<usize> = (start..start + p.m).collect();
                run.sort_by(|&a, &b| score(a, o).total_cmp(&score(b, o)).then(a.cmp(&b)));
                for (rank, &i) in run.iter().enumerate() {
                    let pruned = rank < p.m - p.n;
                    prop_assert_eq!(flags[i * outputs + o], pruned, "({}, {})", o, i);
                }
            }
        }
    }

    /// Blocks: every PyTorch `rows × cols` block is wholly pruned or kept, the pruned ones are
    /// the lowest by mean; layer-wise each tensor loses `round(s·blocks)`, globally the pool
    /// loses as many equal blocks as fit in `round(s·N)`.
    #[test]
    fn blocks_are_whole_and_counted(
        (p, tensors) in block_case(),
        s in 0.0f64..=1.0,
        layerwise in any::<bool>(),
    ) {
        let candidates = tensors
            .iter()
            .enumerate()
            .map(|(t, (shape, sc))| {
                candidate(&p, &format!("l{t}.weight"), shape, sc.clone(), layerwise.then_some(s))
            })
            .collect();
        let flags = choose(candidates, budget(&p, s));
        let scores: Vec<Vec<f32>> = tensors.iter().map(|t| t.1.clone()).collect();
        let per_tensor = tensors
            .iter()
            .enumerate()
            .map(|(t, (shape, _))| unit_flags(&flags, &scores, &blocks(t, *shape, p)))
            .collect::<Result<Vec<_>, _>>()?;
        if layerwise {
            for units in &per_tensor {
                lowest_units(units, prune_count(s, units.len()))?;
            }
        } else {
            let total: usize = scores.iter().map(Vec::len).sum();
            lowest_units(&per_tensor.concat(), prune_count(s, total) / (p.rows * p.cols))?;
        }
    }

    /// Output units: burn column `o` of `fc.weight` goes with `fc.bias[o]`; layer-wise `s`
    /// removes `round(s·out)` units, the lowest by mean over column and bias.
    #[test]
    fn output_units_take_columns_with_their_bias(
        (inputs, outputs, w, b) in (1usize..=6, 1usize..=8)
            .prop_flat_map(|(i, o)| (Just(i), Just(o), scores(i * o), scores(o))),
        s in 0.0f64..=1.0,
    ) {
        let p = Structured { dim: UnitDim::Output };
        let candidates = vec![
            candidate(&p, "fc.weight", &[inputs, outputs], w.clone(), Some(s)),
            candidate(&p, "fc.bias", &[outputs], b.clone(), Some(s)),
        ];
        let flags = choose(candidates, budget(&p, 0.0));
        let units: Vec<Vec<(usize, usize)>> = (0..outputs)
            .map(|o| (0..inputs).map(|i| (0, i * outputs + o)).chain([(1, o)]).collect())
            .collect();
        lowest_units(&unit_flags(&flags, &[w, b], &units)?, prune_count(s, outputs))?;
    }

    /// Input units: whole burn rows, `round(s·in)` of them, the lowest by mean.
    #[test]
    fn input_units_take_whole_burn_rows(
        (inputs, outputs, w) in (1usize..=8, 1usize..=6)
            .prop_flat_map(|(i, o)| (Just(i), Just(o), scores(i * o))),
        s in 0.0f64..=1.0,
    ) {
        let p = Structured { dim: UnitDim::Input };
        let c = candidate(&p, "fc.weight", &[inputs, outputs], w.clone(), Some(s));
        let flags = choose(vec![c], budget(&p, 0.0));
        let units: Vec<Vec<(usize, usize)>> = (0..inputs)
            .map(|i| (0..outputs).map(|o| (0, i * outputs + o)).collect())
            .collect();
        lowest_units(&unit_flags(&flags, &[w], &units)?, prune_count(s, inputs))?;
    }

    /// Heads: a head's query/key/value columns and output rows are pruned together in all four
    /// projections; layer-wise `s` removes `round(s·heads)` heads, the lowest by mean.
    #[test]
    fn heads_span_all_four_projections(
        (h, hd, sc) in (1usize..=4, 1usize..=3).prop_flat_map(|(h, hd)| {
            (Just(h), Just(hd), prop::collection::vec(scores(h * hd * h * hd), 4))
        }),
        s in 0.0f64..=1.0,
    ) {
        let (p, d) = (Heads::new(h), h * hd);
        let flags = choose(attention(&p, "enc", d, &sc, Some(s)), budget(&p, 0.0));
        let units: Vec<_> = (0..h).map(|k| head(0, k, hd, d)).collect();
        lowest_units(&unit_flags(&flags, &sc, &units)?, prune_count(s, h))?;
    }

    /// Global heads: with every score of layer 0 below every score of layer 1, the heads that
    /// fit in `round(s·N)` are taken from layer 0 first, whole.
    #[test]
    fn global_heads_come_from_the_weaker_layer_first(
        (h, hd, low, high) in (1usize..=4, 1usize..=3).prop_flat_map(|(h, hd)| {
            let layer = || prop::collection::vec(prop::collection::vec(
                (0u8..100).prop_map(|v| f32::from(v) / 100.0), h * hd * h * hd), 4);
            (Just(h), Just(hd), layer(), layer())
        }),
        s in 0.0f64..=1.0,
    ) {
        let (p, d) = (Heads::new(h), h * hd);
        let high: Vec<Vec<f32>> =
            high.into_iter().map(|t| t.into_iter().map(|v| v + 10.0).collect()).collect();
        let mut candidates = attention(&p, "l0", d, &low, None);
        candidates.extend(attention(&p, "l1", d, &high, None));
        let flags = choose(candidates, budget(&p, s));
        let units: Vec<_> =
            (0..2).flat_map(|l| (0..h).map(move |k| head(4 * l, k, hd, d))).collect();
        let units = unit_flags(&flags, &[low, high].concat(), &units)?;
        let removed = prune_count(s, 8 * d * d) / (4 * d * hd);
        prop_assert_eq!(units[..h].iter().filter(|u| u.0).count(), removed.min(h));
        prop_assert_eq!(units[h..].iter().filter(|u| u.0).count(), removed - removed.min(h));
    }

    /// Global with a cap: the pool loses exactly `min(round(s·N), Σ floor(c·n_t))`, no tensor
    /// more than `floor(c·n_t)`, each tensor its own lowest, and a tensor below its cap keeps
    /// nothing lower than what was pruned anywhere.
    #[test]
    fn global_caps_bound_every_tensor(
        tensors in prop::collection::vec((1usize..=40).prop_flat_map(scores), 1..=4),
        s in 0.0f64..=1.0,
        cap in 0.0f64..=1.0,
    ) {
        let candidates = tensors
            .iter()
            .enumerate()
            .map(|(t, sc)| flat(t, sc.clone(), None))
            .collect();
        let flags = choose(candidates, Budget { global: s, cap, quota: None });
        let caps: Vec<usize> =
            tensors.iter().map(|t| (cap * t.len() as f64).floor() as usize).collect();
        let pruned: Vec<usize> = flags.iter().map(|f| f.iter().filter(|&&x| x).count()).collect();
        let total: usize = tensors.iter().map(Vec::len).sum();
        let expected = prune_count(s, total).min(caps.iter().sum::<usize>());
        prop_assert_eq!(pruned.iter().sum::<usize>(), expected);
        let ext: Vec<(f32, f32)> = flags
            .iter()
            .zip(&tensors)
            .map(|(f, sc)| extremes(f.iter().copied().zip(sc.iter().copied())))
            .collect();
        let max_pruned = ext.iter().map(|e| e.0).fold(f32::NEG_INFINITY, f32::max);
        for (t, ((&n, &limit), &(hi, lo))) in pruned.iter().zip(&caps).zip(&ext).enumerate() {
            prop_assert!(n <= limit, "tensor {}: {} > cap {}", t, n, limit);
            prop_assert!(hi <= lo, "tensor {} kept a lower score", t);
            prop_assert!(n == limit || max_pruned <= lo, "tensor {} below its cap kept less", t);
        }
    }

    /// Forced and frozen (unstructured, layer-wise or global): pruned elements stay pruned,
    /// frozen ones are never pruned, and each unit (the tensor, or the pool) loses exactly
    /// `min(max(round(s·n), forced), n - frozen)`.
    #[test]
    fn forced_stay_pruned_and_frozen_are_spared(
        tensors in prop::collection::vec(prop::collection::vec((-4i8..4, 0u8..5), 1..=30), 1..=3),
        s in 0.0f64..=1.0,
        layerwise in any::<bool>(),
    ) {
        // State 0: pruned already; 1: frozen; otherwise free.
        let candidates = tensors
            .iter()
            .enumerate()
            .map(|(t, els)| {
                let sc = els.iter().map(|e| f32::from(e.0)).collect();
                let mut c = flat(t, sc, layerwise.then_some(s));
                c.pruned = els.iter().map(|e| e.1 == 0).collect();
                c.frozen = els.iter().map(|e| e.1 == 1).collect();
                c
            })
            .collect();
        let flags = choose(candidates, budget(&Unstructured, s));
        let expected = |n: usize, forced: usize, frozen: usize| {
            prune_count(s, n).max(forced).min(n - frozen)
        };
        let mut pool = [0usize; 4]; // numel, forced, frozen, pruned
        for (t, (f, els)) in flags.iter().zip(&tensors).enumerate() {
            for (e, (&pruned, &(_, state))) in f.iter().zip(els).enumerate() {
                prop_assert!(pruned || state != 0, "tensor {} element {} was unpruned", t, e);
                prop_assert!(!pruned || state != 1, "tensor {} element {} is frozen", t, e);
            }
            let counts = [
                els.len(),
                els.iter().filter(|e| e.1 == 0).count(),
                els.iter().filter(|e| e.1 == 1).count(),
                f.iter().filter(|&&x| x).count(),
            ];
            if layerwise {
                prop_assert_eq!(counts[3], expected(counts[0], counts[1], counts[2]));
            }
            for (sum, c) in pool.iter_mut().zip(counts) {
                *sum += c;
            }
        }
        if !layerwise {
            prop_assert_eq!(pool[3], expected(pool[0], pool[1], pool[2]));
        }
    }

    /// ERK: the kept elements add up to `(1 - s)·N`, every sparsity is in [0, 1], and a layer
    /// with a lower `Σ dims / Π dims` (e.g. `[k·a, k·b]` against `[a, b]`) is never less sparse.
    #[test]
    fn erk_keeps_the_budget_and_orders_by_density(
        mut dims in prop::collection::vec((1usize..=64, 1usize..=64), 1..=6),
        (a, b, k) in (1usize..=20, 1usize..=20, 2usize..=5),
        s in 0.0f64..0.95,
    ) {
        dims.extend([(a, b), (k * a, k * b)]);
        let shapes: Vec<Vec<usize>> = dims.iter().map(|&(a, b)| vec![a, b]).collect();
        let sparsities = erk_sparsities(&shapes, s);
        prop_assert_eq!(sparsities.len(), shapes.len());
        let numel: Vec<usize> = dims.iter().map(|&(a, b)| a * b).collect();
        let kept: f64 =
            sparsities.iter().zip(&numel).map(|(sl, &n)| (1.0 - sl) * n as f64).sum();
        let want = (1.0 - s) * numel.iter().sum::<usize>() as f64;
        prop_assert!((kept - want).abs() <= 1e-6 * want, "kept {} of {}", kept, want);
        for (i, &si) in sparsities.iter().enumerate() {
            prop_assert!((0.0..=1.0).contains(&si), "layer {}: {}", i, si);
            for (j, &sj) in sparsities.iter().enumerate() {
                // raw_i < raw_j, compared exactly: (a_i + b_i)·n_j < (a_j + b_j)·n_i.
                let ri = (dims[i].0 + dims[i].1) * numel[j];
                let rj = (dims[j].0 + dims[j].1) * numel[i];
                prop_assert!(ri >= rj || si >= sj, "layer {} ({}) < layer {} ({})", i, si, j, sj);
            }
        }
        let n = sparsities.len();
        prop_assert!(sparsities[n - 1] >= sparsities[n - 2]);
    }
}

/// The 2:4 groups of a burn `[in, out]` weight are columns, not runs of flat indices: with
/// scores rising in flat order, both output units lose inputs 0 and 1 (burn rows 0 and 1,
/// flat 0..4); grouping flat runs would prune flat 0, 1, 4, 5 instead.
#[test]
fn n_m_groups_follow_burns_transposed_layout() {
    let p = NM { n: 2, m: 4 };
    let scores: Vec<f32> = (1u8..=8).map(f32::from).collect();
    let c = candidate(&p, "fc.weight", &[4, 2], scores, Some(0.5));
    let columns: &[u32] = &[0, 1, 0, 1, 0, 1, 0, 1];
    assert_eq!(c.groups.of_element.as_deref(), Some(columns));
    let flags = choose(vec![c], budget(&p, 0.5)).remove(0);
    assert_ne!(flags, [true, true, false, false, true, true, false, false]);
    assert_eq!(flags, [true, true, true, true, false, false, false, false]);
}

/// A global target below what is already pruned keeps the old mask: masks only grow.
#[test]
fn global_forced_above_target_stay_pruned() {
    let mut c = flat(0, vec![1.0, 2.0, 3.0, 4.0], None);
    c.pruned = vec![true, true, true, false].into();
    let flags = choose(vec![c], budget(&Unstructured, 0.25)).remove(0);
    assert_eq!(flags, [true, true, true, false]);
}

/// ERK on `[100, 100]` and `[10, 10]` at 0.5: the small layer stays dense, the large one
/// carries the whole budget (`1 - 4950/10000`).
#[test]
fn erk_prunes_the_large_layer() {
    let s = erk_sparsities(&[vec![100, 100], vec![10, 10]], 0.5);
    assert!((s[0] - 0.505).abs() < 1e-12 && s[1] == 0.0, "{s:?}");
}

/// Convolutions: `output_units` removes whole filters (`[out, in, kh, kw]`, the same layout in
/// burn and PyTorch) and `input_units` whole input channels across every filter.
#[test]
fn conv_filters_and_channels_are_removed_whole() {
    let shape = [6usize, 4, 3, 3];
    let numel: usize = shape.iter().product();
    let per_filter = numel / shape[0];
    let scores: Vec<f32> = (0..numel).map(|i| ((i * 37) % 101) as f32).collect();
    for (dim, units, unit_of) in [
        (
            UnitDim::Output,
            shape[0],
            Box::new(move |i: usize| i / per_filter) as Box<dyn Fn(usize) -> usize>,
        ),
        (
            UnitDim::Input,
            shape[1],
            Box::new(move |i: usize| (i / 9) % 4),
        ),
    ] {
        let pattern = Structured { dim };
        let input = PatternInput {
            path: "conv1.weight",
            shape: &shape,
            layer_type: "Conv2d",
        };
        pattern.check(&input).unwrap();
        let candidate = Candidate {
            groups: pattern.groups(&input),
            scores: scores.clone(),
            pruned: vec![false; numel].into(),
            frozen: vec![false; numel].into(),
            target: Some(0.5),
        };
        let flags = choose(
            vec![candidate],
            Budget {
                global: 0.5,
                cap: 1.0,
                quota: None,
            },
        )
        .remove(0);
        let mut pruned_units = std::collections::BTreeSet::new();
        for unit in 0..units {
            let members: Vec<bool> = (0..numel)
                .filter(|&i| unit_of(i) == unit)
                .map(|i| flags[i])
                .collect();
            assert!(
                members.iter().all(|f| *f == members[0]),
                "{dim:?}: unit {unit} is split"
            );
            if members[0] {
                pruned_units.insert(unit);
            }
        }
        assert_eq!(pruned_units.len(), units / 2, "{dim:?}");
    }
}

/// A NaN score (a diverged weight under magnitude) is never taken as important: such weights
/// go before any finite one, and a finite one is never pruned while a NaN one is left.
#[test]
fn nan_scores_are_pruned_first() {
    let scores = vec![5.0, f32::NAN, 0.5, f32::NAN, 2.0, 1.0];
    let flags = choose(
        vec![flat(0, scores, None)],
        budget(&Unstructured, 2.0 / 6.0),
    );
    assert_eq!(flags[0], [false, true, false, true, false, false]);
    let flags = choose(
        vec![flat(0, vec![5.0, f32::NAN, 0.5, f32::NAN, 2.0, 1.0], None)],
        budget(&Unstructured, 3.0 / 6.0),
    );
    assert_eq!(flags[0], [false, true, true, true, false, false]);
}
