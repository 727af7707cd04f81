use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use ember_schedule::SparsitySchedule;
use proptest::prelude::*;

use crate::{Pruner, Scope, Selector, Sparse, SparsityError, SparsityPlan, prune_count};

#[derive(Module, Debug)]
pub(super) struct Tiny {
    pub(super) first: Linear,
    pub(super) second: Linear,
}

impl Tiny {
    pub(super) fn new(device: &Device) -> Self {
        Self {
            first: LinearConfig::new(16, 24).init(device),
            second: LinearConfig::new(24, 8).init(device),
        }
    }

    pub(super) fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.second
            .forward(burn::tensor::activation::relu(self.first.forward(x)))
    }
}

/// The devices of these unit tests: flex. The facade's backend suite
/// (`tests/backends/`) runs the same invariants on every backend a build enables.
pub(super) fn devices() -> Vec<Device> {
    vec![Device::flex()]
}

fn weights() -> Selector {
    Selector::new([r"re:.*\.weight"])
}

fn plan(sparsity: f64, scope: Scope) -> SparsityPlan {
    SparsityPlan::new(vec![
        Pruner::magnitude("p", weights(), SparsitySchedule::one_shot(sparsity, 0))
            .with_scope(scope),
    ])
}

fn zeros_of(sparse: &Sparse<Tiny>) -> Vec<(String, usize, usize)> {
    sparse
        .report()
        .layers
        .into_iter()
        .filter(|l| l.selected)
        .map(|l| (l.path, l.numel, l.zeros))
        .collect()
}

/// Random weights from a host RNG, written into the model so every run starts the same.
fn seeded(device: &Device, seed: u64) -> Tiny {
    device.seed(seed);
    Tiny::new(device)
}

#[test]
fn layer_wise_prunes_exactly_round_s_n_per_tensor() {
    let device = Device::flex();
    let sparse = Sparse::new(seeded(&device, 1), plan(0.7, Scope::LayerWise)).unwrap();
    let sparse = sparse.update_masks(0, None).unwrap().apply_masks();
    for (path, numel, zeros) in zeros_of(&sparse) {
        assert_eq!(zeros, prune_count(0.7, numel), "{path}");
    }
}

#[test]
fn global_prunes_exactly_round_s_n_overall_and_smallest_first() {
    let device = Device::flex();
    let model = seeded(&device, 2);
    let all: Vec<f32> = [model.first.weight.val(), model.second.weight.val()]
        .into_iter()
        .flat_map(|w| {
            w.into_data()
                .iter::<f32>()
                .map(f32::abs)
                .collect::<Vec<_>>()
        })
        .collect();
    let sparse = Sparse::new(model, plan(0.8, Scope::Global)).unwrap();
    let sparse = sparse.update_masks(0, None).unwrap().apply_masks();
    let layers = zeros_of(&sparse);
    let numel: usize = layers.iter().map(|l| l.1).sum();
    let zeros: usize = layers.iter().map(|l| l.2).sum();
    assert_eq!(numel, all.len());
    assert_eq!(zeros, prune_count(0.8, numel));
    // Every surviving weight is at least as large as every pruned one.
    let kept_min = [
        sparse.model.first.weight.val(),
        sparse.model.second.weight.val(),
    ]
    .into_iter()
    .flat_map(|w| w.into_data().iter::<f32>().collect::<Vec<_>>())
    .filter(|w| *w != 0.0)
    .map(f32::abs)
    .fold(f32::MAX, f32::min);
    let mut sorted = all.clone();
    sorted.sort_by(f32::total_cmp);
    assert!(kept_min >= sorted[zeros - 1]);
}

#[test]
fn identical_weights_give_identical_masks() {
    // The second model starts from other random weights and receives the first one's values
    // through a record: masks must depend on the values alone.
    let device = Device::flex();
    let model = Tiny::new(&device);
    let copy = Tiny::new(&device).load_record(model.clone().into_record());
    let a = Sparse::new(model, plan(0.6, Scope::Global))
        .unwrap()
        .update_masks(0, None)
        .unwrap();
    let b = Sparse::new(copy, plan(0.6, Scope::Global))
        .unwrap()
        .update_masks(0, None)
        .unwrap();
    for path in a.target_paths() {
        let mask = a.keep_mask(&path).unwrap();
        assert!(mask.iter().any(|k| !k) && mask.iter().any(|k| *k));
        assert_eq!(Some(mask), b.keep_mask(&path), "{path}");
    }
}

#[test]
fn pruned_weights_stay_zero_through_100_adamw_steps_with_weight_decay() {
    for device in devices() {
        pruned_weights_stay_zero_on(device.autodiff());
    }
}

fn pruned_weights_stay_zero_on(device: Device) {
    let model = seeded(&device, 4);
    let schedule = SparsitySchedule::cubic(0.5, 0.9, 0, 40, 10);
    let pruner = Pruner::magnitude("gmp", weights(), schedule.clone());
    let mut sparse = Sparse::new(model, SparsityPlan::new(vec![pruner])).unwrap();
    let mut optim = AdamWConfig::new().with_weight_decay(0.1).init();
    for step in 0..100u64 {
        let x = Tensor::<2>::random([32, 16], Distribution::Normal(0.0, 1.0), &device);
        let loss = sparse.model.forward(x).powf_scalar(2.0).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &sparse.model);
        sparse = sparse.optimizer_step(&mut optim, 1e-2, grads);
        let expected = prune_count(schedule.sparsity(step), 16 * 24 + 24 * 8);
        let zeros: usize = zeros_of(&sparse).iter().map(|l| l.2).sum();
        assert_eq!(zeros, expected, "after step {step}");
    }
    assert_eq!(sparse.step_count(), 100);
    // The zeros sit exactly where the masks say, and the kept weights did train.
    for path in sparse.target_paths() {
        let keep = sparse.keep_mask(&path).unwrap();
        let weight = if path.starts_with("first") {
            sparse.model.first.weight.val()
        } else {
            sparse.model.second.weight.val()
        };
        let values: Vec<f32> = weight.into_data().iter::<f32>().collect();
        for (kept, value) in keep.iter().zip(&values) {
            assert_eq!(*kept, *value != 0.0, "{path}");
        }
    }
    assert!(
        sparse.model.first.weight.val().is_require_grad(),
        "weights must keep training"
    );
}

#[test]
fn masks_and_step_survive_a_checkpoint() {
    let device = Device::flex();
    let dir = std::env::temp_dir().join(format!("ember-sparse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sparse.bpk");
    let sparse = Sparse::new(seeded(&device, 5), plan(0.5, Scope::Global))
        .unwrap()
        .update_masks(0, None)
        .unwrap()
        .apply_masks();
    sparse.save_checkpoint(&path).unwrap();
    let fresh = || Sparse::new(seeded(&device, 6), plan(0.5, Scope::Global)).unwrap();
    let loaded = fresh().load_checkpoint(&path).unwrap();
    for target in sparse.target_paths() {
        assert_eq!(sparse.keep_mask(&target), loaded.keep_mask(&target));
    }
    assert_eq!(zeros_of(&sparse), zeros_of(&loaded));

    // Masks are bits on disk: the checkpoint is the dense weights plus n/8 bytes of masks
    // (and the file's per-tensor headers, each with its checksum), not n bytes.
    let dense = dir.join("dense.bpk");
    sparse.model.clone().save_file(&dense).unwrap();
    crate::seal_burnpack(&dense).unwrap();
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
    let masked: usize = sparse
        .target_paths()
        .iter()
        .map(|t| sparse.keep_mask(t).unwrap().len())
        .sum();
    assert!(
        size(&path)
            <= size(&dense)
                + masked.div_ceil(8) as u64
                + 1024
                + 160 * sparse.target_paths().len() as u64,
        "checkpoint {} bytes, dense {} bytes, {masked} masked elements",
        size(&path),
        size(&dense)
    );

    // Checkpoints written with one byte per mask element (burn's own `save_file`, as Ember
    // wrote them before) still load.
    let old = dir.join("old.bpk");
    sparse.clone().save_file(&old).unwrap();
    assert!(size(&old) >= size(&dense) + masked as u64);
    let loaded = fresh().load_checkpoint(&old).unwrap();
    for target in sparse.target_paths() {
        assert_eq!(sparse.keep_mask(&target), loaded.keep_mask(&target));
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn masks_keeping_all_or_nothing_survive_a_checkpoint() {
    let device = Device::flex();
    let dir = tempfile_dir("all-or-nothing");
    // Schedules stop short of 1.0; 0.9999 of these few hundred elements rounds to all.
    for sparsity in [0.0, 0.9999] {
        let sparse = Sparse::new(seeded(&device, 5), plan(sparsity, Scope::LayerWise))
            .unwrap()
            .update_masks(0, None)
            .unwrap()
            .apply_masks();
        let path = dir.join(format!("{sparsity}.bpk"));
        sparse.save_checkpoint(&path).unwrap();
        let loaded = Sparse::new(seeded(&device, 6), plan(sparsity, Scope::LayerWise))
            .unwrap()
            .load_checkpoint(&path)
            .unwrap();
        for target in sparse.target_paths() {
            let mask = loaded.keep_mask(&target).unwrap();
            assert!(mask.iter().all(|k| *k == (sparsity == 0.0)), "{target}");
            assert_eq!(sparse.keep_mask(&target).unwrap(), mask);
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_damaged_checkpoint_is_an_error_naming_the_file() {
    let device = Device::flex();
    let dir = tempfile_dir("damaged");
    let sparse = Sparse::new(seeded(&device, 5), plan(0.5, Scope::Global)).unwrap();
    let path = dir.join("sparse.bpk");
    sparse.save_checkpoint(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 7, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = Sparse::new(seeded(&device, 6), plan(0.5, Scope::Global))
            .unwrap()
            .load_checkpoint(&path)
            .unwrap_err();
        assert!(
            matches!(
                err,
                SparsityError::Checkpoint { .. } | SparsityError::Damaged(_)
            ),
            "{err}"
        );
        assert!(err.to_string().contains("sparse.bpk"), "{err}");
    }
    let err = Sparse::new(seeded(&device, 6), plan(0.5, Scope::Global))
        .unwrap()
        .load_checkpoint(&dir.join("absent.bpk"))
        .unwrap_err();
    assert!(err.to_string().contains("absent.bpk"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-sparse-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn selector_matching_nothing_and_bad_sparsity_are_errors() {
    let device = Device::flex();
    let bad = SparsityPlan::new(vec![Pruner::magnitude(
        "typo",
        Selector::new(["frist.weight"]),
        SparsitySchedule::one_shot(0.5, 0),
    )]);
    let err = Sparse::new(Tiny::new(&device), bad).unwrap_err();
    assert!(matches!(err, SparsityError::EmptySelection { .. }), "{err}");
    assert!(err.to_string().contains("frist.weight"));
    let err = Sparse::new(Tiny::new(&device), plan(1.3, Scope::Global)).unwrap_err();
    assert!(err.to_string().contains("sparsity` = 1.3"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn exact_counts_on_random_tensors(seed in 0u64..1000, sparsity in 0.0f64..0.99, global in any::<bool>()) {
        let device = Device::flex();
        let scope = if global { Scope::Global } else { Scope::LayerWise };
        let sparse = Sparse::new(seeded(&device, seed), plan(sparsity, scope)).unwrap();
        let sparse = sparse.update_masks(0, None).unwrap().apply_masks();
        let layers = zeros_of(&sparse);
        if global {
            let numel: usize = layers.iter().map(|l| l.1).sum();
            let zeros: usize = layers.iter().map(|l| l.2).sum();
            prop_assert_eq!(zeros, prune_count(sparsity, numel));
        } else {
            for (_, numel, zeros) in layers {
                prop_assert_eq!(zeros, prune_count(sparsity, numel));
            }
        }
    }
}

#[test]
fn a_checkpoint_whose_pruned_weights_are_not_zero_is_refused() {
    let device = Device::flex();
    let dir = tempfile_dir("alive");
    let path = dir.join("sparse.bpk");
    let mut sparse = Sparse::new(seeded(&device, 5), plan(0.5, Scope::Global))
        .unwrap()
        .update_masks(0, None)
        .unwrap()
        .apply_masks();
    sparse.save_checkpoint(&path).unwrap();
    let fresh = || Sparse::new(seeded(&device, 6), plan(0.5, Scope::Global)).unwrap();
    assert!(fresh().load_checkpoint(&path).is_ok());
    // The same masks over weights that were never pruned: sealed, so only the invariant can
    // find it.
    sparse.model = seeded(&device, 7);
    sparse.save_checkpoint(&path).unwrap();
    let err = fresh().load_checkpoint(&path).unwrap_err().to_string();
    assert!(
        err.contains("sparse.bpk") && err.contains("non-zero weight") && err.contains("weight"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
