//! What the benches share: one timed training step.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Int, Tensor};
use ember::models::{ImageClassifier, Mlp};
use ember::sparsity::Sparse;

/// One training step of an MLP: forward, backward and [`Sparse::optimizer_step`] at
/// learning rate 1e-3. One value is then read back, so that the step is really computed
/// before the clock stops, asynchronous backends (wgpu) included.
pub fn train_step(
    sparse: Sparse<Mlp>,
    optim: &mut ModuleOptimizer,
    images: Tensor<4>,
    targets: Tensor<1, Int>,
) -> Sparse<Mlp> {
    let output = sparse.model.classify(images, targets);
    let grads = GradientsParams::from_grads(output.loss.backward(), &sparse.model);
    let sparse = sparse.optimizer_step(optim, 1e-3, grads);
    let last = sparse.model.layers.len() - 1;
    let _ = sparse.model.layers[last]
        .weight
        .val()
        .sum()
        .into_scalar::<f32>();
    sparse
}
