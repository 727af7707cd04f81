//! The sparsity core's contracts: state keyed by path across checkpoints, accumulators,
//! and errors (not panics) for what a user's scorer or plan gets wrong.

use std::sync::{Arc, Mutex};

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use ember_schedule::SparsitySchedule;

use super::tests::Tiny;
use crate::score::{ScoreContext, Scorer, Snip};
use crate::{Pruner, Scope, Selector, Sparse, SparsityError, SparsityPlan};

/// Two projections of identical shape: a plan that put one's mask on the other would load
/// without any shape error, which is the silent misplacement path-keyed state prevents.
#[derive(Module, Debug)]
struct Twin {
    query: Linear,
    key: Linear,
}

/// The same model with `key` renamed to `value`.
#[derive(Module, Debug)]
struct Renamed {
    query: Linear,
    value: Linear,
}

fn linear(device: &Device) -> Linear {
    LinearConfig::new(12, 12).init(device)
}

fn pruner(name: &str, path: &str, sparsity: f64) -> Pruner {
    Pruner::magnitude(
        name,
        Selector::new([path]),
        SparsitySchedule::one_shot(sparsity, 0),
    )
    .with_scope(Scope::LayerWise)
}

fn temp_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-core-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("sparse.bpk")
}

#[test]
fn a_checkpoint_under_a_reordered_plan_restores_every_mask_to_its_tensor() {
    let device = Device::flex();
    device.seed(3);
    let model = Twin {
        query: linear(&device),
        key: linear(&device),
    };
    // Different sparsities, so a mask on the wrong tensor shows.
    let plan = SparsityPlan::new(vec![
        pruner("q", "query.weight", 0.25),
        pruner("k", "key.weight", 0.75),
    ]);
    let saved = Sparse::new(model, plan)
        .unwrap()
        .update_masks(0, None)
        .unwrap()
        .apply_masks();
    let path = temp_file("reordered");
    saved.save_checkpoint(&path).unwrap();

    device.seed(4);
    let fresh = Twin {
        query: linear(&device),
        key: linear(&device),
    };
    let reordered = SparsityPlan::new(vec![
        pruner("k", "key.weight", 0.75),
        pruner("q", "query.weight", 0.25),
    ]);
    let loaded = Sparse::new(fresh, reordered)
        .unwrap()
        .load_checkpoint(&path)
        .unwrap();
    for target in ["query.weight", "key.weight"] {
        assert_eq!(
            saved.keep_mask(target),
            loaded.keep_mask(target),
            "{target}"
        );
    }
    let pruned =
        |s: &Sparse<Twin>, p: &str| s.keep_mask(p).unwrap().iter().filter(|k| !**k).count();
    assert_eq!(pruned(&loaded, "query.weight"), 36);
    assert_eq!(pruned(&loaded, "key.weight"), 108);
    // The loaded model trains on with the masks it was given: the lookup follows the ids
    // the record brought.
    let loaded = loaded.apply_masks();
    let zeros = |t: Tensor<2>| t.into_data().iter::<f32>().filter(|v| *v == 0.0).count();
    assert_eq!(zeros(loaded.model.key.weight.val()), 108);
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

#[test]
fn a_checkpoint_with_a_renamed_parameter_fails_naming_it() {
    let device = Device::flex();
    let plan = |second: &str| {
        SparsityPlan::new(vec![
            pruner("q", "query.weight", 0.5),
            pruner("second", second, 0.5),
        ])
    };
    let path = temp_file("renamed");
    let twin = Twin {
        query: linear(&device),
        key: linear(&device),
    };
    Sparse::new(twin, plan("key.weight"))
        .unwrap()
        .save_checkpoint(&path)
        .unwrap();
    let renamed = Renamed {
        query: linear(&device),
        value: linear(&device),
    };
    let err = Sparse::new(renamed, plan("value.weight"))
        .unwrap()
        .load_checkpoint(&path)
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SparsityError::Checkpoint { .. }), "{message}");
    assert!(message.contains("state.value.weight.keep"), "{message}");
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

/// Sums the gradients of every step and scores by the sum; records what it was given.
#[derive(Debug, Default)]
struct GradientSum {
    seen: Mutex<Vec<Vec<f32>>>,
}

impl Scorer for GradientSum {
    fn name(&self) -> &str {
        "gradient_sum"
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Vec<f32> {
        let accumulated = ctx
            .accumulated
            .expect("an accumulating scorer gets its sum");
        self.seen.lock().unwrap().push(accumulated.to_vec());
        accumulated.to_vec()
    }

    fn accumulates(&self) -> bool {
        true
    }

    fn accumulate(
        &self,
        accumulator: Tensor<1>,
        _weight: Tensor<1>,
        gradient: Tensor<1>,
    ) -> Tensor<1> {
        accumulator + gradient
    }
}

#[test]
fn accumulators_sum_every_step_and_restart_after_an_update() {
    let device = Device::flex();
    let scorer = Arc::new(GradientSum::default());
    let plan = SparsityPlan::new(vec![
        Pruner::magnitude(
            "sum",
            Selector::new(["first.weight"]),
            SparsitySchedule::constant(0.5, 3, 6, 3),
        )
        .with_scorer(scorer.clone()),
    ]);
    let mut sparse = Sparse::new(Tiny::new(&device), plan).unwrap();
    let id = sparse.model.first.weight.id;
    let numel = 16 * 24;
    let grads_of = |step: usize| {
        let values: Vec<f32> = (0..numel)
            .map(|i| ((i * 7 + step * 3) % 11) as f32 - 5.0)
            .collect();
        let mut grads = GradientsParams::new();
        let tensor = Tensor::<2>::from_data(TensorData::new(values, [16, 24]), &device);
        grads.register(id, tensor);
        grads
    };
    for step in 0..=6u64 {
        let grads = grads_of(step as usize);
        sparse = sparse
            .observe(&grads)
            .update_masks(step, Some(&grads))
            .unwrap();
    }
    let expected = |steps: std::ops::RangeInclusive<usize>| -> Vec<f32> {
        (0..numel)
            .map(|i| {
                steps
                    .clone()
                    .map(|s| ((i * 7 + s * 3) % 11) as f32 - 5.0)
                    .sum()
            })
            .collect()
    };
    let seen = scorer.seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "updates at steps 3 and 6");
    assert_eq!(seen[0], expected(0..=3), "the sum of steps 0..=3");
    assert_eq!(seen[1], expected(4..=6), "restarted after step 3");
}

/// Returns one score whatever the tensor's size.
#[derive(Debug)]
struct WrongLength;

impl Scorer for WrongLength {
    fn name(&self) -> &str {
        "wrong_length"
    }

    fn score(&self, _ctx: &ScoreContext<'_>) -> Vec<f32> {
        vec![0.0]
    }
}

#[test]
fn a_scorer_with_the_wrong_length_is_an_error_not_a_panic() {
    let device = Device::flex();
    let plan = SparsityPlan::new(vec![
        pruner("bad", "first.weight", 0.5).with_scorer(Arc::new(WrongLength)),
    ]);
    let err = Sparse::new(Tiny::new(&device), plan.clone())
        .unwrap()
        .update_masks(0, None)
        .unwrap_err();
    assert!(
        matches!(&err, SparsityError::ScoreLength { path, expected: 384, got: 1, .. } if path == "first.weight"),
        "{err}"
    );
    // Under burn-train (which cannot take an error) the failure is kept and reported, and
    // the masks stay as they were.
    let sparse = Sparse::new(Tiny::new(&device), plan)
        .unwrap()
        .update_or_record(0, None);
    let failure = sparse.failure().expect("the failure is kept");
    assert!(
        failure.contains("wrong_length") && failure.contains("first.weight"),
        "{failure}"
    );
    assert!(sparse.keep_mask("first.weight").unwrap().iter().all(|k| *k));
}

#[test]
fn a_gradient_scorer_without_a_gradient_is_an_error_naming_the_parameter() {
    let device = Device::flex();
    let plan = SparsityPlan::new(vec![
        pruner("snip", "second.weight", 0.5).with_scorer(Arc::new(Snip)),
    ]);
    let err = Sparse::new(Tiny::new(&device), plan)
        .unwrap()
        .update_masks(0, None)
        .unwrap_err();
    assert!(
        matches!(&err, SparsityError::MissingGradient { path, step: 0, .. } if path == "second.weight"),
        "{err}"
    );
}

#[test]
fn plans_a_pattern_cannot_meet_fail_at_bind_time() {
    let device = Device::flex();
    let patterns = crate::PatternRegistry::default();
    let cases = [
        // 2:4 reaches at most 50%.
        ("2:4", 0.9, "at most sparsity 0.5"),
        // first.weight has 16 inputs and 24 outputs: 5-wide blocks do not fit.
        ("block:5x5", 0.5, "does not split into 5x5 blocks"),
        // A Linear weight is no attention projection.
        (
            "heads:4",
            0.5,
            "not a query, key, value or output projection",
        ),
    ];
    for (pattern, sparsity, needle) in cases {
        let plan = SparsityPlan::new(vec![
            pruner("p", "first.weight", sparsity).with_pattern(patterns.get(pattern).unwrap()),
        ]);
        let err = Sparse::new(Tiny::new(&device), plan)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(needle) && err.contains("`p`"),
            "{pattern}: {err}"
        );
    }
    let capped = SparsityPlan::new(vec![
        pruner("p", "first.weight", 0.5).with_max_sparsity(0.0),
    ]);
    assert!(Sparse::new(Tiny::new(&device), capped).is_err());
    let stray = SparsityPlan::new(vec![
        pruner("p", "first.weight", 0.5).with_override("second.weight", 0.2),
    ]);
    let err = Sparse::new(Tiny::new(&device), stray)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("matches none of the pruned parameters"),
        "{err}"
    );
}

#[test]
fn global_scope_with_a_cap_and_an_override_is_exact() {
    let device = Device::flex();
    device.seed(9);
    // first.weight: 384 elements, second.weight: 192; the override keeps second at 25%.
    let plan = SparsityPlan::new(vec![
        Pruner::magnitude(
            "p",
            Selector::new([r"re:.*\.weight"]),
            SparsitySchedule::one_shot(0.9, 0),
        )
        .with_max_sparsity(0.8)
        .with_override("second.weight", 0.25),
    ]);
    let sparse = Sparse::new(Tiny::new(&device), plan)
        .unwrap()
        .update_masks(0, None)
        .unwrap();
    let pruned = |p: &str| sparse.keep_mask(p).unwrap().iter().filter(|k| !**k).count();
    // The pool is first.weight alone: 0.9 · 384 = 346 asked, the cap allows floor(0.8 · 384).
    assert_eq!(pruned("first.weight"), 307);
    assert_eq!(pruned("second.weight"), 48);
}

/// An encoder block as BERT has it: burn's own attention module.
#[derive(Module, Debug)]
struct Block {
    attention: burn::nn::attention::MultiHeadAttention,
}

#[test]
fn heads_of_burns_attention_module_are_pruned_whole() {
    let device = Device::flex();
    device.seed(5);
    let (d_model, heads) = (16, 4);
    let block = Block {
        attention: burn::nn::attention::MultiHeadAttentionConfig::new(d_model, heads).init(&device),
    };
    let patterns = crate::PatternRegistry::default();
    let plan = SparsityPlan::new(vec![
        Pruner::magnitude(
            "heads",
            Selector::new([r"re:attention\.(query|key|value|output)\.weight"]),
            SparsitySchedule::one_shot(0.5, 0),
        )
        .with_scope(Scope::LayerWise)
        .with_pattern(patterns.get("heads:4").unwrap()),
    ]);
    let sparse = Sparse::new(block, plan)
        .unwrap()
        .update_masks(0, None)
        .unwrap()
        .apply_masks();
    let head_dim = d_model / heads;
    let pruned_heads = |path: &str, by_column: bool| -> Vec<usize> {
        let keep = sparse.keep_mask(path).unwrap();
        (0..heads)
            .filter(|&h| {
                let owned: Vec<bool> = (0..d_model * d_model)
                    .filter(|&i| {
                        let (row, col) = (i / d_model, i % d_model);
                        (if by_column { col } else { row }) / head_dim == h
                    })
                    .map(|i| keep[i])
                    .collect();
                assert!(
                    owned.iter().all(|k| *k == owned[0]),
                    "{path}: head {h} is split"
                );
                !owned[0]
            })
            .collect()
    };
    let query = pruned_heads("attention.query.weight", true);
    assert_eq!(query.len(), 2, "half of 4 heads");
    assert_eq!(pruned_heads("attention.key.weight", true), query);
    assert_eq!(pruned_heads("attention.value.weight", true), query);
    assert_eq!(pruned_heads("attention.output.weight", false), query);
    // The pruned module still runs.
    let x = Tensor::<3>::ones([1, 3, d_model], &device);
    let out = sparse
        .model
        .attention
        .forward(burn::nn::attention::MhaInput::self_attn(x));
    assert_eq!(out.context.dims(), [1, 3, d_model]);
}

/// Puts every element in group 7 of a tensor said to have 2 groups.
#[derive(Debug)]
struct BrokenPattern;

impl crate::Pattern for BrokenPattern {
    fn name(&self) -> String {
        "broken".to_string()
    }

    fn check(&self, _param: &crate::pattern::PatternInput<'_>) -> Result<(), String> {
        Ok(())
    }

    fn groups(&self, param: &crate::pattern::PatternInput<'_>) -> crate::pattern::Groups {
        crate::pattern::Groups::from_fn(param.path, param.numel(), 2, |_| 7)
    }
}

#[test]
fn a_pattern_with_groups_out_of_range_is_an_error_not_a_panic() {
    let device = Device::flex();
    let plan = SparsityPlan::new(vec![
        pruner("p", "first.weight", 0.5).with_pattern(Arc::new(BrokenPattern)),
    ]);
    let err = Sparse::new(Tiny::new(&device), plan)
        .unwrap()
        .update_masks(0, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("broken") && err.contains("index 7 is out of range"),
        "{err}"
    );
}

/// Flags every element, frozen ones included.
#[derive(Debug)]
struct PruneEverything {
    selector: Selector,
    schedule: SparsitySchedule,
}

impl crate::Modifier for PruneEverything {
    fn name(&self) -> &str {
        "everything"
    }

    fn effect(&self) -> crate::Effect {
        crate::Effect::Prune
    }

    fn selector(&self) -> &Selector {
        &self.selector
    }

    fn schedule(&self) -> &SparsitySchedule {
        &self.schedule
    }

    fn bind(&self, _targets: &[crate::ParamInfo]) -> Result<(), SparsityError> {
        Ok(())
    }

    fn update(
        &self,
        _step: u64,
        targets: &[crate::TargetView<'_>],
    ) -> Result<Vec<Vec<bool>>, SparsityError> {
        Ok(targets
            .iter()
            .map(|t| vec![true; t.weights.len()])
            .collect())
    }
}

#[test]
fn a_users_modifier_can_never_prune_a_frozen_element() {
    let device = Device::flex();
    let selector = Selector::new(["first.weight"]);
    // Freeze 25% at step 0; the custom pruner flags everything at step 1.
    let plan = SparsityPlan::default()
        .with_freezer(crate::Freezer::new(
            "f",
            selector.clone(),
            crate::FreezeRule::TopMagnitude,
            SparsitySchedule::one_shot(0.25, 0),
        ))
        .with_modifier(Arc::new(PruneEverything {
            selector,
            schedule: SparsitySchedule::one_shot(0.0, 1),
        }));
    let sparse = Sparse::new(Tiny::new(&device), plan)
        .unwrap()
        .update_masks(0, None)
        .unwrap()
        .update_masks(1, None)
        .unwrap();
    let frozen = sparse.frozen_mask("first.weight").unwrap();
    let keep = sparse.keep_mask("first.weight").unwrap();
    assert_eq!(frozen.iter().filter(|f| **f).count(), 96);
    for (kept, frozen) in keep.iter().zip(&frozen) {
        assert_eq!(*kept, *frozen, "exactly the frozen elements survive");
    }
}
