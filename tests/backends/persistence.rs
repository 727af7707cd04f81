//! Sparsity state written on one backend loads on another: masks, frozen values and the step
//! counter are ordinary module state in a burnpack file.

use burn::module::Module;
use burn::optim::SgdConfig;
use burn::tensor::Device;
use ember::schedule::SparsitySchedule;
use ember::sparsity::{FreezeRule, Freezer, Pruner, Selector, Sparse, SparsityPlan};

use crate::{batches, devices, host, small_model, train_steps};

fn plan() -> SparsityPlan {
    SparsityPlan::new(vec![Pruner::magnitude(
        "p",
        Selector::new([r"re:layers\.\d+\.weight"]),
        SparsitySchedule::one_shot(0.8, 0),
    )])
    .with_freezer(Freezer::new(
        "f",
        Selector::new(["layers.1.weight"]),
        FreezeRule::TopMagnitude,
        SparsitySchedule::one_shot(0.25, 0),
    ))
}

/// A pruned-and-frozen model after three SGD steps (masks chosen at step 0).
fn pruned(device: &Device) -> Sparse<ember::models::Mlp> {
    let sparse = Sparse::new(small_model(4, device).train(), plan()).unwrap();
    let batches = batches(3, 32, &device.clone().autodiff());
    train_steps(sparse, &mut SgdConfig::new().init(), 0.1, batches, |_| ()).0
}

#[test]
fn checkpoints_move_between_backends() {
    let devices = devices();
    let dir = tempfile::tempdir().unwrap();
    for (from_name, from) in &devices {
        let saved = pruned(from);
        let path = dir.path().join(format!("{from_name}.bpk"));
        saved.save_checkpoint(&path).unwrap();
        for (to_name, to) in &devices {
            let empty = Sparse::new(small_model(99, to), plan()).unwrap();
            let loaded = empty.load_checkpoint(&path).unwrap_or_else(|e| {
                panic!("a checkpoint from {from_name} does not load on {to_name}: {e}")
            });
            for path in ["layers.0.weight", "layers.1.weight"] {
                assert_eq!(
                    saved.keep_mask(path),
                    loaded.keep_mask(path),
                    "{from_name} -> {to_name}: {path}"
                );
            }
            assert_eq!(
                saved.frozen_mask("layers.1.weight"),
                loaded.frozen_mask("layers.1.weight"),
                "{from_name} -> {to_name}"
            );
            assert_eq!(loaded.step_count(), 3, "{from_name} -> {to_name}");
            let want: Vec<u32> = host(saved.model.layers[1].weight.val())
                .iter()
                .map(|w| w.to_bits())
                .collect();
            let got: Vec<u32> = host(loaded.model.layers[1].weight.val())
                .iter()
                .map(|w| w.to_bits())
                .collect();
            assert!(want == got, "{from_name} -> {to_name}: weights differ");
        }
    }
}
