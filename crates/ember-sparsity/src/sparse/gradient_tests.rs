//! Element-wise optimizers get the gradients of pruned and frozen elements unmasked
//! (`Sparse::with_elementwise_optimizer`), and every weight comes out as with masked ones.

use std::sync::Arc;

use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use ember_schedule::SparsitySchedule;

use super::tests::{Tiny, devices};
use crate::{DynamicSparse, FreezeRule, Freezer, Pruner, Scope, Selector, Sparse, SparsityPlan};

fn weights() -> Selector {
    Selector::new([r"re:.*\.weight"])
}

/// 60% of the weights pruned at step 0, then 20% of each tensor frozen at step 3 (the
/// largest of the kept ones): both masks in play, and a mask update after training began.
fn prune_and_freeze() -> SparsityPlan {
    SparsityPlan::new(vec![Pruner::magnitude(
        "prune",
        weights(),
        SparsitySchedule::one_shot(0.6, 0),
    )])
    .with_freezer(Freezer::new(
        "freeze",
        weights(),
        FreezeRule::TopMagnitude,
        SparsitySchedule::one_shot(0.2, 3),
    ))
}

/// Every weight and bias, on the host.
fn values(sparse: &Sparse<Tiny>) -> Vec<Vec<f32>> {
    let m = &sparse.model;
    let flat = |t: Tensor<2>| t.into_data().iter::<f32>().collect();
    let bias = |t: Tensor<1>| t.into_data().iter::<f32>().collect();
    vec![
        flat(m.first.weight.val()),
        bias(m.first.bias.as_ref().unwrap().val()),
        flat(m.second.weight.val()),
        bias(m.second.bias.as_ref().unwrap().val()),
    ]
}

/// `steps` steps from the same weights on the same batches. The model is drawn once and
/// cloned, and the batches are a closed form: tests run side by side share the device's
/// random generator, so two draws would not be equal.
fn trained(
    model: &Tiny,
    plan: SparsityPlan,
    elementwise: bool,
    mut optim: ModuleOptimizer,
    steps: usize,
) -> Sparse<Tiny> {
    let device = model.first.weight.val().device();
    let mut sparse = Sparse::new(model.clone(), plan)
        .unwrap()
        .with_elementwise_optimizer(elementwise);
    for step in 0..steps {
        let x: Vec<f32> = (0..16 * 16)
            .map(|i| ((i * 7 + step * 13) as f32 * 0.37).sin())
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [16, 16]), &device);
        let loss = sparse.model.forward(x).powf_scalar(2.0).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &sparse.model);
        sparse = sparse.try_optimizer_step(&mut optim, 1e-2, grads).unwrap();
    }
    sparse
}

/// A model with its weights drawn (so that clones share them).
fn model(device: &Device) -> Tiny {
    let model = Tiny::new(device);
    let _ = (model.first.weight.val(), model.second.weight.val());
    model
}

/// Equal values (a pruned weight may be +0.0 on one side and -0.0 on the other).
fn assert_same_weights(a: &Sparse<Tiny>, b: &Sparse<Tiny>) {
    for (x, y) in values(a).iter().zip(&values(b)) {
        assert_eq!(x, y, "the weights differ");
    }
}

#[test]
fn an_elementwise_optimizer_skips_the_gradient_masks_and_trains_the_same_weights() {
    for device in devices() {
        let model = model(&device.autodiff());
        let adamw = || AdamWConfig::new().with_weight_decay(0.1).init();
        let masked = trained(&model, prune_and_freeze(), false, adamw(), 8);
        let unmasked = trained(&model, prune_and_freeze(), true, adamw(), 8);
        assert!(masked.zeroes_gradients(&adamw()));
        assert!(!unmasked.zeroes_gradients(&adamw()));
        assert_same_weights(&masked, &unmasked);
        // The comparison can fail: without the write-back after the step, the unmasked
        // gradients move the pruned weights off zero.
        let pruned = unmasked.keep_mask("first.weight").unwrap();
        let first = &values(&unmasked)[0];
        assert!(pruned.iter().zip(first).all(|(keep, w)| *keep || *w == 0.0));
        assert!(pruned.iter().any(|keep| !keep), "something is pruned");
    }
}

#[test]
fn gradients_stay_masked_under_clipping_and_for_modifiers_that_release_elements() {
    for device in devices() {
        let model = model(&device.autodiff());
        // A norm over the whole tensor counts the masked elements: the unmasked gradients
        // would clip the kept ones harder.
        let clipped = || {
            AdamConfig::new()
                .with_grad_clipping(Some(GradientClippingConfig::Norm(0.05)))
                .init()
        };
        let masked = trained(&model, prune_and_freeze(), false, clipped(), 6);
        let vouched = trained(&model, prune_and_freeze(), true, clipped(), 6);
        assert!(vouched.zeroes_gradients(&clipped()));
        assert_same_weights(&masked, &vouched);

        // RigL regrows pruned connections: they must come back to the optimizer state that
        // masked gradients leave.
        let rigl = || {
            let rigl = DynamicSparse::rigl("rigl", weights(), 0.5, 0, 6, 2)
                .with_distribution(Scope::LayerWise);
            SparsityPlan::new(Vec::new()).with_modifier(Arc::new(rigl))
        };
        let adam = || AdamConfig::new().init();
        let masked = trained(&model, rigl(), false, adam(), 6);
        let vouched = trained(&model, rigl(), true, adam(), 6);
        assert!(vouched.zeroes_gradients(&adam()));
        assert_same_weights(&masked, &vouched);
    }
}
