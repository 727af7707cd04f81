use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Tensor};
use ember_schedule::SparsitySchedule;

use super::tests::{Tiny, devices};
use crate::{FreezeRule, Freezer, Pruner, Scope, Selector, Sparse, SparsityPlan, prune_count};

fn weights() -> Selector {
    Selector::new([r"re:.*\.weight"])
}

fn host_bits(sparse: &Sparse<Tiny>) -> Vec<Vec<u32>> {
    [
        sparse.model.first.weight.val(),
        sparse.model.second.weight.val(),
    ]
    .into_iter()
    .map(|w| w.into_data().iter::<f32>().map(f32::to_bits).collect())
    .collect()
}

fn train(mut sparse: Sparse<Tiny>, optim: &mut ModuleOptimizer, steps: usize) -> Sparse<Tiny> {
    let device = sparse.model.first.weight.val().device();
    for _ in 0..steps {
        let x = Tensor::<2>::random([16, 16], Distribution::Normal(0.0, 1.0), &device);
        let loss = sparse.model.forward(x).powf_scalar(2.0).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &sparse.model);
        sparse = sparse.optimizer_step(optim, 1e-2, grads);
    }
    sparse
}

/// Frozen positions per target path, in `[first, second]` order.
fn frozen_flags(sparse: &Sparse<Tiny>) -> Vec<Vec<bool>> {
    ["first.weight", "second.weight"]
        .iter()
        .map(|p| sparse.frozen_mask(p).unwrap())
        .collect()
}

fn assert_frozen_unchanged(before: &[Vec<u32>], after: &[Vec<u32>], frozen: &[Vec<bool>]) {
    let mut frozen_count = 0;
    let mut moved = 0;
    for ((b, a), f) in before.iter().zip(after).zip(frozen) {
        for ((b, a), f) in b.iter().zip(a).zip(f) {
            if *f {
                frozen_count += 1;
                assert_eq!(b, a, "a frozen weight changed");
            } else if b != a {
                moved += 1;
            }
        }
    }
    assert!(frozen_count > 0, "something is frozen");
    assert!(moved > 0, "the other weights trained");
}

#[test]
fn top_magnitude_frozen_values_stay_bit_identical_under_adamw_and_resume() {
    for device in devices() {
        frozen_values_stay_bit_identical_on(device.autodiff());
    }
}

fn frozen_values_stay_bit_identical_on(device: Device) {
    let freezer = Freezer::new(
        "freeze",
        weights(),
        FreezeRule::TopMagnitude,
        SparsitySchedule::one_shot(0.3, 0),
    );
    let plan = SparsityPlan::default().with_freezer(freezer.clone());
    let sparse = Sparse::new(Tiny::new(&device), plan).unwrap();
    let before = host_bits(&sparse);
    let mut optim = AdamWConfig::new().with_weight_decay(0.5).init();
    let sparse = train(sparse, &mut optim, 60);
    let frozen = frozen_flags(&sparse);
    let numel = 16 * 24 + 24 * 8;
    let count: usize = frozen.iter().flatten().filter(|f| **f).count();
    assert_eq!(count, prune_count(0.3, numel));
    assert_frozen_unchanged(&before, &host_bits(&sparse), &frozen);
    // The frozen elements are the largest by magnitude at step 0.
    let magnitudes: Vec<f32> = before
        .iter()
        .flatten()
        .map(|b| f32::from_bits(*b).abs())
        .collect();
    let flags: Vec<bool> = frozen.iter().flatten().copied().collect();
    let min_frozen = magnitudes
        .iter()
        .zip(&flags)
        .filter(|(_, f)| **f)
        .map(|(m, _)| *m)
        .fold(f32::MAX, f32::min);
    let max_free = magnitudes
        .iter()
        .zip(&flags)
        .filter(|(_, f)| !**f)
        .map(|(m, _)| *m)
        .fold(0.0, f32::max);
    assert!(min_frozen >= max_free);

    // Checkpoint, load into a fresh model with other weights, and train on.
    let dir = std::env::temp_dir().join(format!(
        "ember-freeze-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("frozen.bpk");
    sparse.save_checkpoint(&path).unwrap();
    let plan = SparsityPlan::default().with_freezer(freezer);
    let resumed = Sparse::new(Tiny::new(&device), plan)
        .unwrap()
        .load_checkpoint(&path)
        .unwrap();
    assert_eq!(resumed.step_count(), 60);
    assert_eq!(frozen_flags(&resumed), frozen);
    let resumed = train(resumed, &mut optim, 40);
    assert_frozen_unchanged(&before, &host_bits(&resumed), &frozen);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn frozen_is_never_pruned_and_pruned_is_never_frozen() {
    let device = Device::flex().autodiff();
    // Freeze the top 30% first (step 0), then prune to 50% (step 5), then freeze more (step 10).
    let plan = SparsityPlan::default()
        .with_freezer(Freezer::new(
            "freeze",
            weights(),
            FreezeRule::TopMagnitude,
            SparsitySchedule::linear(0.3, 0.45, 0, 10, 10),
        ))
        .with_pruner(Pruner::magnitude(
            "prune",
            weights(),
            SparsitySchedule::one_shot(0.5, 5),
        ));
    let sparse = Sparse::new(Tiny::new(&device), plan).unwrap();
    let mut optim = AdamWConfig::new().init();
    let sparse = train(sparse, &mut optim, 12);
    let numel = 16 * 24 + 24 * 8;
    let mut pruned = 0;
    let mut frozen = 0;
    for path in ["first.weight", "second.weight"] {
        let keep = sparse.keep_mask(path).unwrap();
        let freeze = sparse.frozen_mask(path).unwrap();
        for (k, f) in keep.iter().zip(&freeze) {
            assert!(*k || !*f, "an element is both pruned and frozen in {path}");
            pruned += usize::from(!k);
            frozen += usize::from(*f);
        }
    }
    assert_eq!(pruned, prune_count(0.5, numel));
    assert_eq!(frozen, prune_count(0.45, numel));
    let report = sparse.report();
    assert_eq!(report.total_frozen, frozen);
    assert_eq!(report.trainable, report.total_numel - pruned - frozen);
}

#[test]
fn freezenet_freezes_the_lowest_saliency_at_initial_values() {
    let device = Device::flex().autodiff();
    let freezer = Freezer::new(
        "freezenet",
        weights(),
        FreezeRule::FreezeNet,
        SparsitySchedule::one_shot(0.9, 0),
    );
    let sparse = Sparse::new(
        Tiny::new(&device),
        SparsityPlan::default().with_freezer(freezer),
    )
    .unwrap();
    let initial = host_bits(&sparse);
    let mut optim = AdamWConfig::new().with_weight_decay(0.1).init();
    let sparse = train(sparse, &mut optim, 30);
    let frozen = frozen_flags(&sparse);
    let numel = 16 * 24 + 24 * 8;
    assert_eq!(
        frozen.iter().flatten().filter(|f| **f).count(),
        prune_count(0.9, numel)
    );
    assert_frozen_unchanged(&initial, &host_bits(&sparse), &frozen);
    assert_eq!(
        sparse.report().trainable,
        sparse.report().total_numel - prune_count(0.9, numel)
    );
}

#[test]
fn whole_tensors_freeze_through_require_grad() {
    let device = Device::flex().autodiff();
    let freezer = Freezer::new(
        "all",
        Selector::new(["first.weight", "first.bias"]),
        FreezeRule::All,
        SparsitySchedule::one_shot(0.0, 0),
    );
    let sparse = Sparse::new(
        Tiny::new(&device),
        SparsityPlan::default().with_freezer(freezer),
    )
    .unwrap();
    assert!(!sparse.model.first.weight.val().is_require_grad());
    assert!(sparse.model.second.weight.val().is_require_grad());
    let before = host_bits(&sparse);
    let mut optim = AdamWConfig::new().with_weight_decay(0.5).init();
    let sparse = train(sparse, &mut optim, 20);
    let after = host_bits(&sparse);
    assert_eq!(before[0], after[0], "first.weight is frozen whole");
    assert_ne!(before[1], after[1], "second.weight trains");
    let report = sparse.report();
    let first = report
        .layers
        .iter()
        .find(|l| l.path == "first.weight")
        .unwrap();
    assert_eq!((first.frozen, first.trainable), (16 * 24, 0));
}

#[test]
fn a_mask_file_freezes_exactly_its_indices_and_bad_files_are_errors() {
    let dir = std::env::temp_dir().join(format!("ember-mask-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mask.json");
    std::fs::write(
        &path,
        r#"{"first.weight": [0, 5, 17], "second.weight": [3]}"#,
    )
    .unwrap();
    let rule = FreezeRule::mask_from_json(&path).unwrap();
    let device = Device::flex().autodiff();
    let freezer = Freezer::new("mask", weights(), rule, SparsitySchedule::one_shot(0.0, 0));
    let sparse = Sparse::new(
        Tiny::new(&device),
        SparsityPlan::default().with_freezer(freezer),
    )
    .unwrap();
    let mut optim = AdamWConfig::new().init();
    let sparse = train(sparse, &mut optim, 2);
    let first = sparse.frozen_mask("first.weight").unwrap();
    let listed: Vec<usize> = first
        .iter()
        .enumerate()
        .filter(|(_, f)| **f)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(listed, vec![0, 5, 17]);
    assert_eq!(
        sparse
            .frozen_mask("second.weight")
            .unwrap()
            .iter()
            .filter(|f| **f)
            .count(),
        1
    );

    std::fs::write(&path, r#"{"first.weight": [100000]}"#).unwrap();
    let freezer = Freezer::new(
        "mask",
        weights(),
        FreezeRule::mask_from_json(&path).unwrap(),
        SparsitySchedule::one_shot(0.0, 0),
    );
    let err = Sparse::new(
        Tiny::new(&device),
        SparsityPlan::default().with_freezer(freezer),
    )
    .unwrap_err();
    assert!(err.to_string().contains("100000"), "{err}");
    std::fs::write(&path, "{not json").unwrap();
    let err = FreezeRule::mask_from_json(&path).unwrap_err();
    assert!(err.to_string().contains("mask.json"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn layer_wise_freezing_is_exact_per_tensor() {
    let device = Device::flex();
    let freezer = Freezer::new(
        "f",
        weights(),
        FreezeRule::TopMagnitude,
        SparsitySchedule::one_shot(0.25, 0),
    )
    .with_scope(Scope::LayerWise);
    let sparse = Sparse::new(
        Tiny::new(&device),
        SparsityPlan::default().with_freezer(freezer),
    )
    .unwrap()
    .update_masks(0, None)
    .unwrap();
    for (path, numel) in [("first.weight", 16 * 24), ("second.weight", 24 * 8)] {
        let count = sparse
            .frozen_mask(path)
            .unwrap()
            .iter()
            .filter(|f| **f)
            .count();
        assert_eq!(count, prune_count(0.25, numel), "{path}");
    }
}
