//! The same weights give the same masks on every backend: same zero positions, same counts.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use ember::models::Mlp;
use ember::schedule::SparsitySchedule;
use ember::sparsity::{
    FreezeRule, Freezer, PatternRegistry, Pruner, Scope, ScorerRegistry, Selector, Sparse,
    SparsityPlan, prune_count, select::erk_sparsities,
};

use crate::{devices, host, quickstart_model};

const WEIGHTS: &str = r"re:layers\.\d+\.weight";

/// Every weight rounded to a multiple of 0.001: thousands of exact ties, which only a total
/// order on (score, index) breaks the same way everywhere.
fn with_ties(model: Mlp) -> Mlp {
    let layers = model
        .layers
        .into_iter()
        .map(|mut layer| {
            layer.weight = layer
                .weight
                .map(|w| Tensor::from_inner((w.inner() * 1000.0).round() / 1000.0));
            layer
        })
        .collect();
    Mlp { layers }
}

/// Every keep mask and freeze mask of a one-shot plan applied at step 0, with the zero count of
/// each weight, as the host sees them.
type Masks = Vec<(String, Vec<bool>, Option<Vec<bool>>, usize)>;

fn masks_on(device: &Device, plan: SparsityPlan, ties: bool) -> Masks {
    // Rounded on the host: device arithmetic may round differently, and the point here is
    // identical weights in.
    let mut model = quickstart_model(11, &Device::flex());
    if ties {
        model = with_ties(model);
    }
    let model = model.to_device(device);
    let sparse = Sparse::new(model, plan)
        .expect("plan binds")
        .update_masks(0, None)
        .unwrap()
        .apply_masks();
    sparse
        .model
        .layers
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let path = format!("layers.{i}.weight");
            let zeros = host(layer.weight.val())
                .iter()
                .filter(|w| **w == 0.0)
                .count();
            (
                path.clone(),
                sparse.keep_mask(&path).expect("a target"),
                sparse.frozen_mask(&path),
                zeros,
            )
        })
        .collect()
}

fn plans() -> Vec<(String, SparsityPlan)> {
    let registry = ScorerRegistry::default();
    let mut plans = Vec::new();
    for scope in [Scope::Global, Scope::LayerWise] {
        for scorer in ["magnitude", "random"] {
            for sparsity in [0.5, 0.9, 0.97] {
                let pruner = Pruner::magnitude(
                    "p",
                    Selector::new([WEIGHTS]),
                    SparsitySchedule::one_shot(sparsity, 0),
                )
                .with_scorer(registry.get(scorer).unwrap())
                .with_scope(scope)
                .with_seed(3);
                plans.push((
                    format!("{scorer} {scope:?} {sparsity}"),
                    SparsityPlan::new(vec![pruner]),
                ));
            }
        }
    }
    // Patterns: N:M, blocks and whole neurons, global with a cap, and ERK.
    let patterns = PatternRegistry::default();
    for (pattern, scope, sparsity, cap) in [
        ("2:4", Scope::LayerWise, 0.5, 1.0),
        ("block:2x4", Scope::Global, 0.7, 1.0),
        ("output_units", Scope::Global, 0.5, 0.9),
        ("unstructured", Scope::Global, 0.9, 0.8),
        ("unstructured", Scope::Erk, 0.9, 1.0),
    ] {
        let pruner = Pruner::magnitude(
            "p",
            Selector::new([WEIGHTS]),
            SparsitySchedule::one_shot(sparsity, 0),
        )
        .with_pattern(patterns.get(pattern).unwrap())
        .with_scope(scope)
        .with_max_sparsity(cap);
        plans.push((
            format!("{pattern} {scope:?} {sparsity} cap {cap}"),
            SparsityPlan::new(vec![pruner]),
        ));
    }
    let freezer = Freezer::new(
        "f",
        Selector::new([WEIGHTS]),
        FreezeRule::TopMagnitude,
        SparsitySchedule::one_shot(0.2, 0),
    );
    let pruner = Pruner::magnitude(
        "p",
        Selector::new([WEIGHTS]),
        SparsitySchedule::one_shot(0.7, 0),
    );
    plans.push((
        "prune 0.7 + freeze top 0.2".into(),
        SparsityPlan::new(vec![pruner]).with_freezer(freezer),
    ));
    plans
}

#[test]
fn same_weights_give_identical_masks_on_every_backend() {
    let devices = devices();
    for ties in [false, true] {
        for (name, plan) in plans() {
            let reference = masks_on(&devices[0].1, plan.clone(), ties);
            for (backend, device) in &devices[1..] {
                let masks = masks_on(device, plan.clone(), ties);
                for (want, got) in reference.iter().zip(&masks) {
                    assert_eq!(
                        want.3, got.3,
                        "{name} (ties {ties}): zero count of {} on {backend}",
                        want.0
                    );
                    assert!(
                        want.1 == got.1,
                        "{name} (ties {ties}): keep mask of {} differs on {backend}",
                        want.0
                    );
                    assert!(
                        want.2 == got.2,
                        "{name} (ties {ties}): freeze mask of {} differs on {backend}",
                        want.0
                    );
                }
            }
        }
    }
}

#[test]
fn counts_are_exact_on_every_backend() {
    let sizes = [784 * 300, 300 * 100, 100 * 10];
    let total: usize = sizes.iter().sum();
    for (backend, device) in devices() {
        for sparsity in [0.5, 0.9, 0.97] {
            for scope in [Scope::Global, Scope::LayerWise, Scope::Erk] {
                let plan = SparsityPlan::new(vec![
                    Pruner::magnitude(
                        "p",
                        Selector::new([WEIGHTS]),
                        SparsitySchedule::one_shot(sparsity, 0),
                    )
                    .with_scope(scope),
                ]);
                let masks = masks_on(&device, plan, true);
                let zeros: Vec<usize> = masks.iter().map(|m| m.3).collect();
                match scope {
                    Scope::Global => assert_eq!(
                        zeros.iter().sum::<usize>(),
                        prune_count(sparsity, total),
                        "{backend} global {sparsity}"
                    ),
                    Scope::LayerWise => {
                        let want: Vec<usize> =
                            sizes.iter().map(|&n| prune_count(sparsity, n)).collect();
                        assert_eq!(zeros, want, "{backend} layer-wise {sparsity}");
                    }
                    Scope::Erk => {
                        // Layers ERK keeps dense hold the rounding's natural zeros: count
                        // the masks.
                        let zeros: Vec<usize> = masks
                            .iter()
                            .map(|m| m.1.iter().filter(|k| !**k).count())
                            .collect();
                        let shapes = [vec![784, 300], vec![300, 100], vec![100, 10]];
                        let want: Vec<usize> = erk_sparsities(&shapes, sparsity)
                            .iter()
                            .zip(sizes)
                            .map(|(&s, n)| prune_count(s, n))
                            .collect();
                        assert_eq!(zeros, want, "{backend} erk {sparsity}");
                    }
                }
                // The zero positions are exactly the mask's (where a mask prunes anything).
                for (path, keep, _, zeros) in &masks {
                    let pruned = keep.iter().filter(|k| !**k).count();
                    if scope != Scope::Erk || pruned > 0 {
                        assert_eq!(pruned, *zeros, "{backend} {path}");
                    }
                }
            }
        }
    }
}
