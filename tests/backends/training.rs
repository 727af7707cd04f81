//! Training steps agree across backends: the same losses to 1e-4, pruned weights stay exact
//! zeros and frozen weights stay bit-identical on every backend.

use burn::module::Module;
use burn::optim::{AdamWConfig, SgdConfig};
use burn::tensor::Device;
use ember::schedule::SparsitySchedule;
use ember::sparsity::{FreezeRule, Freezer, Pruner, Selector, Sparse, SparsityPlan};

use crate::{batches, devices, host, quickstart_model, small_model, train_steps};

const WEIGHTS: &str = r"re:layers\.\d+\.weight";

/// GMP on the quick-start model: half the weights at step 0, 70% from step 2.
fn gmp_plan() -> SparsityPlan {
    SparsityPlan::new(vec![Pruner::magnitude(
        "gmp",
        Selector::new([WEIGHTS]),
        SparsitySchedule::linear(0.5, 0.7, 0, 2, 2),
    )])
}

/// The losses of `steps` SGD steps of the quick-start model under GMP, one per batch.
fn losses(device: &Device, steps: usize) -> Vec<f32> {
    let sparse = Sparse::new(quickstart_model(5, device).train(), gmp_plan()).unwrap();
    let batches = batches(steps, 64, &device.clone().autodiff());
    train_steps(sparse, &mut SgdConfig::new().init(), 0.1, batches, |_| ()).1
}

#[test]
fn quickstart_losses_match_across_backends_to_1e_4() {
    let devices = devices();
    let reference = losses(&devices[0].1, 6);
    assert!(reference.iter().all(|l| l.is_finite()));
    assert!(
        reference[5] < reference[0],
        "the model learns: {reference:?}"
    );
    for (backend, device) in &devices[1..] {
        let got = losses(device, 6);
        for (step, (want, got)) in reference.iter().zip(&got).enumerate() {
            assert!(
                (want - got).abs() <= 1e-4,
                "{backend}: loss at step {step} is {got}, flex has {want}"
            );
        }
    }
}

#[test]
fn pruned_stay_zero_and_frozen_stay_bit_identical_on_every_backend() {
    for (backend, device) in devices() {
        let plan = SparsityPlan::new(vec![Pruner::magnitude(
            "p",
            Selector::new([WEIGHTS]),
            SparsitySchedule::one_shot(0.6, 0),
        )])
        .with_freezer(Freezer::new(
            "f",
            Selector::new([WEIGHTS]),
            FreezeRule::TopMagnitude,
            SparsitySchedule::one_shot(0.1, 0),
        ))
        .with_freezer(Freezer::new(
            "bias",
            Selector::new(["layers.0.bias"]),
            FreezeRule::All,
            SparsitySchedule::one_shot(0.0, 0),
        ));
        let sparse = Sparse::new(small_model(9, &device).train(), plan).unwrap();
        let bias_before = host(sparse.model.layers[0].bias.as_ref().unwrap().val());
        // AdamW with weight decay moves every weight it may touch, so a leak would show.
        let mut optim = AdamWConfig::new().with_weight_decay(0.1).init();
        let mut frozen_values = None;
        let batches = batches(8, 32, &device.autodiff());
        let (sparse, _) = train_steps(sparse, &mut optim, 1e-2, batches, |sparse| {
            let weights = host(sparse.model.layers[0].weight.val());
            let keep = sparse.keep_mask("layers.0.weight").unwrap();
            let frozen = sparse.frozen_mask("layers.0.weight").unwrap();
            for (i, w) in weights.iter().enumerate() {
                if !keep[i] {
                    // Zero of either sign: a multiply by zero keeps a negative weight's sign.
                    assert_eq!(*w, 0.0, "{backend}: pruned weight {i} is {w}");
                }
            }
            let values: Vec<u32> = weights
                .iter()
                .zip(&frozen)
                .filter(|(_, f)| **f)
                .map(|(w, _)| w.to_bits())
                .collect();
            match &frozen_values {
                None => frozen_values = Some(values),
                Some(first) => assert!(first == &values, "{backend}: a frozen weight moved"),
            }
        });
        let bias_after = host(sparse.model.layers[0].bias.as_ref().unwrap().val());
        assert_eq!(
            bias_before.iter().map(|b| b.to_bits()).collect::<Vec<_>>(),
            bias_after.iter().map(|b| b.to_bits()).collect::<Vec<_>>(),
            "{backend}: the whole-frozen bias moved"
        );
        let report = sparse.report();
        assert_eq!(
            report.selected_zeros,
            ember::sparsity::prune_count(0.6, 784 * 64 + 640)
        );
        assert_eq!(sparse.step_count(), 8, "{backend}");
    }
}

/// Ordinary steps never copy anything to the host: the step counter and schedule decisions
/// live on the host, masks are found by parameter id. Only update steps copy weights (and
/// read the masks they extend). The engine counts every copy it makes (`host_reads`).
#[test]
fn ordinary_steps_make_no_host_reads_on_every_backend() {
    for (backend, device) in devices() {
        // Updates at steps 0, 3 and 6; the other steps must not read.
        let plan = SparsityPlan::new(vec![Pruner::magnitude(
            "gmp",
            Selector::new([WEIGHTS]),
            SparsitySchedule::cubic(0.5, 0.8, 0, 6, 3),
        )])
        .with_freezer(Freezer::new(
            "f",
            Selector::new(["layers.1.weight"]),
            FreezeRule::TopMagnitude,
            SparsitySchedule::one_shot(0.1, 3),
        ));
        let sparse = Sparse::new(small_model(2, &device).train(), plan).unwrap();
        let batches = batches(9, 32, &device.clone().autodiff());
        let mut reads = Vec::new();
        let mut last = ember::sparsity::host_reads();
        train_steps(
            sparse,
            &mut AdamWConfig::new().init(),
            1e-3,
            batches,
            |_| {
                let now = ember::sparsity::host_reads();
                reads.push(now - last);
                last = now;
            },
        );
        for (step, &count) in reads.iter().enumerate() {
            if [0, 3, 6].contains(&step) {
                assert!(
                    count > 0,
                    "{backend}: the update at step {step} reads weights"
                );
            } else {
                assert_eq!(count, 0, "{backend}: step {step} read {count} tensors back");
            }
        }
    }
}
