//! The pruning methods against their definitions, computed by hand: movement, SNIP momentum
//! and LAMP scores through the engine's accumulators, and the exact counts and choices of
//! dynamic sparse training (RigL, SET) at every update.

use std::sync::{Arc, Mutex};

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use ember_schedule::SparsitySchedule;
use proptest::prelude::*;

use super::tests::Tiny;
use crate::score::{Lamp, Movement, ScoreContext, Scorer, SnipMomentum};
use crate::select::erk_sparsities;
use crate::{
    DynamicSparse, Pruner, Scope, Selector, Sparse, SparsityPlan, prune_count, pruned_flags,
};

const FIRST: [usize; 2] = [24, 16];
const SECOND: [usize; 2] = [8, 24];

/// Dyadic values (multiples of 1/4 in [-2, 2]) so that every product and sum below is exact
/// in f32 and the hand computation matches the device bit for bit.
fn dyadic(numel: usize, salt: usize) -> Vec<f32> {
    (0..numel)
        .map(|i| ((i * 7 + salt * 13 + i / 5) % 17) as f32 * 0.25 - 2.0)
        .collect()
}

fn tensor(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Sets both weights of the model to `dyadic(.., salt)`.
fn set_weights(sparse: &mut Sparse<Tiny>, salt: usize, device: &Device) {
    let first = tensor(dyadic(384, salt), FIRST, device);
    let second = tensor(dyadic(192, salt + 1), SECOND, device);
    let model = &mut sparse.model;
    model.first.weight = model.first.weight.clone().map(|_| first);
    model.second.weight = model.second.weight.clone().map(|_| second);
}

/// Gradients for both weights at `step`.
fn grads(sparse: &Sparse<Tiny>, step: usize, device: &Device) -> GradientsParams {
    let mut grads = GradientsParams::new();
    grads.register(
        sparse.model.first.weight.id,
        tensor(dyadic(384, 100 + step), FIRST, device),
    );
    grads.register(
        sparse.model.second.weight.id,
        tensor(dyadic(192, 200 + step), SECOND, device),
    );
    grads
}

/// Delegates to a scorer and records the accumulator it was given.
#[derive(Debug)]
struct Recording<S> {
    inner: S,
    seen: Mutex<Vec<Vec<f32>>>,
}

impl<S: Scorer> Scorer for Recording<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Vec<f32> {
        self.seen
            .lock()
            .unwrap()
            .push(ctx.accumulated.unwrap_or_default().to_vec());
        self.inner.score(ctx)
    }

    fn accumulates(&self) -> bool {
        self.inner.accumulates()
    }

    fn accumulate(&self, a: Tensor<1>, w: Tensor<1>, g: Tensor<1>) -> Tensor<1> {
        self.inner.accumulate(a, w, g)
    }
}

/// Runs steps `0..=at` with weights changing every step, an update at `at`, and returns the
/// accumulator the scorer saw and the mask of `first.weight`.
fn accumulate_then_prune<S: Scorer + 'static>(scorer: S, at: u64) -> (Vec<f32>, Vec<bool>) {
    let device = Device::flex();
    let recording = Arc::new(Recording {
        inner: scorer,
        seen: Mutex::new(Vec::new()),
    });
    let plan = SparsityPlan::new(vec![
        Pruner::magnitude(
            "m",
            Selector::new(["first.weight"]),
            SparsitySchedule::one_shot(0.5, at),
        )
        .with_scope(Scope::LayerWise)
        .with_scorer(recording.clone()),
    ]);
    let mut sparse = Sparse::new(Tiny::new(&device), plan).unwrap();
    for step in 0..=at {
        set_weights(&mut sparse, step as usize, &device);
        let grads = grads(&sparse, step as usize, &device);
        sparse = sparse
            .observe(&grads)
            .update_masks(step, Some(&grads))
            .unwrap();
    }
    let seen = recording.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one update");
    let mask = sparse.keep_mask("first.weight").unwrap();
    (seen[0].clone(), mask)
}

#[test]
fn movement_scores_are_minus_the_sum_of_weight_times_gradient() {
    let (seen, keep) = accumulate_then_prune(Movement, 3);
    let mut expected = vec![0.0f32; 384];
    for step in 0..=3 {
        let (w, g) = (dyadic(384, step), dyadic(384, 100 + step));
        for i in 0..384 {
            expected[i] -= w[i] * g[i];
        }
    }
    assert_eq!(seen, expected);
    // The mask prunes the 192 lowest movement scores, not the smallest weights.
    let want: Vec<bool> = pruned_flags(&expected, 192).iter().map(|p| !p).collect();
    assert_eq!(keep, want);
    let by_magnitude: Vec<bool> = pruned_flags(
        &dyadic(384, 3).iter().map(|w| w.abs()).collect::<Vec<_>>(),
        192,
    )
    .iter()
    .map(|p| !p)
    .collect();
    assert_ne!(keep, by_magnitude, "movement is not magnitude");
}

#[test]
fn snip_momentum_is_an_exponential_sum_of_weight_times_gradient_magnitudes() {
    let (seen, _) = accumulate_then_prune(SnipMomentum { beta: 0.5 }, 2);
    let mut expected = vec![0.0f32; 384];
    for step in 0..=2 {
        let (w, g) = (dyadic(384, step), dyadic(384, 100 + step));
        for i in 0..384 {
            expected[i] = 0.5 * expected[i] + (w[i] * g[i]).abs();
        }
    }
    assert_eq!(seen, expected);
}

#[test]
fn global_lamp_keeps_every_layers_largest_weight_and_prunes_exactly() {
    let device = Device::flex();
    let plan = SparsityPlan::new(vec![
        Pruner::magnitude(
            "lamp",
            Selector::new([r"re:.*\.weight"]),
            SparsitySchedule::one_shot(0.97, 0),
        )
        .with_scorer(Arc::new(Lamp)),
    ]);
    let mut sparse = Sparse::new(Tiny::new(&device), plan).unwrap();
    // Scale the second layer far down: global magnitude would empty it.
    let first = tensor(dyadic(384, 1), FIRST, &device);
    let second = tensor(dyadic(192, 2), SECOND, &device) * 1e-3;
    sparse.model.first.weight = sparse.model.first.weight.clone().map(|_| first);
    sparse.model.second.weight = sparse.model.second.weight.clone().map(|_| second);
    let sparse = sparse.update_masks(0, None).unwrap();
    let kept = |p: &str| sparse.keep_mask(p).unwrap().iter().filter(|k| **k).count();
    assert_eq!(
        384 + 192 - kept("first.weight") - kept("second.weight"),
        prune_count(0.97, 576)
    );
    assert!(kept("second.weight") >= 1, "LAMP never empties a layer");
    // Hand check of the ranking inside one tensor: LAMP keeps the largest magnitudes.
    let weights = dyadic(192, 2);
    let keep = sparse.keep_mask("second.weight").unwrap();
    let smallest_kept = (0..192)
        .filter(|&i| keep[i])
        .map(|i| weights[i].abs())
        .fold(f32::INFINITY, f32::min);
    assert!((0..192).all(|i| keep[i] || weights[i].abs() <= smallest_kept));
}

fn pruned_count(sparse: &Sparse<Tiny>, path: &str) -> usize {
    sparse
        .keep_mask(path)
        .unwrap()
        .iter()
        .filter(|k| !**k)
        .count()
}

fn pruned_set(sparse: &Sparse<Tiny>, path: &str) -> Vec<bool> {
    sparse.keep_mask(path).unwrap().iter().map(|k| !k).collect()
}

#[test]
fn rigl_drops_the_smallest_and_regrows_the_largest_gradients_at_a_constant_count() {
    let device = Device::flex();
    let rigl = DynamicSparse::rigl("rigl", Selector::new([r"re:.*\.weight"]), 0.75, 0, 4, 2)
        .with_distribution(Scope::LayerWise);
    let fraction = |step| rigl.drop_fraction_at(step);
    let plan = SparsityPlan::new(Vec::new()).with_modifier(Arc::new(rigl.clone()));
    let mut sparse = Sparse::new(Tiny::new(&device), plan).unwrap();
    for step in 0..=4u64 {
        set_weights(&mut sparse, step as usize, &device);
        let before = pruned_set(&sparse, "first.weight");
        let grads = grads(&sparse, step as usize, &device);
        sparse = sparse.update_masks(step, Some(&grads)).unwrap();
        let after = pruned_set(&sparse, "first.weight");
        assert_eq!(
            pruned_count(&sparse, "first.weight"),
            prune_count(0.75, 384)
        );
        assert_eq!(
            pruned_count(&sparse, "second.weight"),
            prune_count(0.75, 192)
        );
        if step == 0 || step % 2 == 1 {
            continue;
        }
        // By hand: drop the k lowest |w| among the active, regrow the k largest |g| among
        // those pruned before the drop.
        let weights = dyadic(384, step as usize);
        let gradient = dyadic(384, 100 + step as usize);
        let active = before.iter().filter(|p| !**p).count();
        let k = prune_count(fraction(step), active);
        // The cosine reaches 0 at the end: the last update rewires nothing.
        assert_eq!(k == 0, step == 4, "step {step}: k = {k}");
        let drop_scores: Vec<f32> = (0..384)
            .map(|i| {
                if before[i] {
                    f32::NAN
                } else {
                    weights[i].abs()
                }
            })
            .collect();
        let dropped = pruned_flags(&drop_scores, k);
        let grow_scores: Vec<f32> = (0..384)
            .map(|i| {
                if before[i] {
                    -gradient[i].abs()
                } else {
                    f32::NAN
                }
            })
            .collect();
        let grown = pruned_flags(&grow_scores, k);
        let want: Vec<bool> = (0..384)
            .map(|i| (before[i] && !grown[i]) || dropped[i])
            .collect();
        assert_eq!(after, want, "step {step}");
    }
    // Regrown weights start at zero: after the masks are applied every pruned weight is 0 and
    // every regrown one still holds the zero it had while pruned.
    let sparse = sparse.apply_masks();
    let weights: Vec<f32> = sparse
        .model
        .first
        .weight
        .val()
        .into_data()
        .iter::<f32>()
        .collect();
    let keep = sparse.keep_mask("first.weight").unwrap();
    assert!((0..384).all(|i| keep[i] || weights[i] == 0.0));
}

#[test]
fn the_drop_fraction_follows_the_cosine_decay() {
    let rigl = DynamicSparse::rigl("r", Selector::new(["w"]), 0.5, 100, 300, 10);
    assert!((rigl.drop_fraction_at(100) - 0.3).abs() < 1e-12);
    assert!((rigl.drop_fraction_at(200) - 0.15).abs() < 1e-12);
    assert!(rigl.drop_fraction_at(300).abs() < 1e-12);
}

#[test]
fn set_regrows_at_random_from_its_seed() {
    let device = Device::flex();
    let run = |seed: u64| {
        let set = DynamicSparse::set("set", Selector::new([r"re:.*\.weight"]), 0.8, 0, 3, 1)
            .with_seed(seed);
        let mut sparse = Sparse::new(
            Tiny::new(&device),
            SparsityPlan::new(Vec::new()).with_modifier(Arc::new(set)),
        )
        .unwrap();
        for step in 0..=3u64 {
            set_weights(&mut sparse, step as usize, &device);
            // SET needs no gradient.
            sparse = sparse.update_masks(step, None).unwrap();
            let erk = erk_sparsities(&[FIRST.to_vec(), SECOND.to_vec()], 0.8);
            assert_eq!(
                pruned_count(&sparse, "first.weight"),
                prune_count(erk[0], 384)
            );
            assert_eq!(
                pruned_count(&sparse, "second.weight"),
                prune_count(erk[1], 192)
            );
        }
        pruned_set(&sparse, "first.weight")
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn dynamic_sparse_training_refuses_a_global_distribution() {
    let device = Device::flex();
    let rigl = DynamicSparse::rigl("rigl", Selector::new(["first.weight"]), 0.5, 0, 4, 1)
        .with_distribution(Scope::Global);
    let err = Sparse::new(
        Tiny::new(&device),
        SparsityPlan::new(Vec::new()).with_modifier(Arc::new(rigl)),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("rigl") && err.to_string().contains("erk"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Every tensor keeps exactly `round(s_i·n_i)` pruned elements after every update, for any
    /// sparsity, drop fraction, distribution and frozen-free gradients.
    #[test]
    fn counts_stay_exact_at_every_update(
        sparsity in 0.0f64..0.99,
        alpha in 0.0f64..1.0,
        erk in any::<bool>(),
        salt in 0usize..50,
    ) {
        let device = Device::flex();
        let distribution = if erk { Scope::Erk } else { Scope::LayerWise };
        let rigl = DynamicSparse::rigl("rigl", Selector::new([r"re:.*\.weight"]), sparsity, 0, 3, 1)
            .with_distribution(distribution)
            .with_drop_fraction(alpha);
        let shares = match distribution {
            Scope::Erk => erk_sparsities(&[FIRST.to_vec(), SECOND.to_vec()], sparsity),
            _ => vec![sparsity, sparsity],
        };
        let mut sparse = Sparse::new(Tiny::new(&device), SparsityPlan::new(Vec::new()).with_modifier(Arc::new(rigl))).unwrap();
        for step in 0..=3u64 {
            set_weights(&mut sparse, salt + step as usize, &device);
            let grads = grads(&sparse, salt + step as usize, &device);
            sparse = sparse.update_masks(step, Some(&grads)).unwrap();
            prop_assert_eq!(pruned_count(&sparse, "first.weight"), prune_count(shares[0], 384));
            prop_assert_eq!(pruned_count(&sparse, "second.weight"), prune_count(shares[1], 192));
        }
    }
}

#[test]
fn wanda_per_output_prunes_each_neuron_by_weight_times_input_norm() {
    let device = Device::flex();
    let registry = crate::PatternRegistry::default();
    let plan = SparsityPlan::new(vec![
        Pruner::magnitude(
            "wanda",
            Selector::new(["first.weight"]),
            SparsitySchedule::one_shot(0.5, 0),
        )
        .with_scope(Scope::LayerWise)
        .with_scorer(Arc::new(crate::score::Wanda))
        .with_pattern(registry.get("per_output").unwrap()),
    ]);
    // Without calibration norms the update fails, naming the parameter.
    let mut sparse = Sparse::new(Tiny::new(&device), plan.clone()).unwrap();
    set_weights(&mut sparse, 3, &device);
    let err = sparse.update_masks(0, None).unwrap_err().to_string();
    assert!(
        err.contains("first.weight") && err.contains("calibration"),
        "{err}"
    );

    // burn's Linear weight is [in = 16, out = 24]; input j has norm j + 1.
    let norms: Vec<f32> = (0..16).map(|j| j as f32 + 1.0).collect();
    let mut sparse = Sparse::new(Tiny::new(&device), plan)
        .unwrap()
        .with_input_norms([("first.weight".to_string(), norms.clone())].into());
    set_weights(&mut sparse, 3, &device);
    let sparse = sparse.update_masks(0, None).unwrap();
    let keep = sparse.keep_mask("first.weight").unwrap();
    let weights = dyadic(384, 3);
    for output in 0..24 {
        // By hand, per output: the 8 lowest |w_ij|·‖x_j‖ of its 16 inputs go.
        let scores: Vec<f32> = (0..16)
            .map(|j| weights[j * 24 + output].abs() * norms[j])
            .collect();
        let want = pruned_flags(&scores, 8);
        for j in 0..16 {
            assert_eq!(
                !keep[j * 24 + output],
                want[j],
                "output {output}, input {j}"
            );
        }
    }
}
