//! What the benches share: one timed training step, with Ember or without.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor};
use ember::data::{ImageBatch, ImageBatcher, embedded_mnist_5k};
use ember::models::{ImageClassifier, Mlp};
use ember::sparsity::Sparse;

/// Reads one value of `model` back to the host, so that a step is really computed before the
/// clock stops, asynchronous backends (wgpu) included.
fn read_back(model: &Mlp) {
    let last = model.layers.len() - 1;
    let _ = model.layers[last].weight.val().sum().into_scalar::<f32>();
}

/// One training step of an MLP: forward, backward and [`Sparse::optimizer_step`] at
/// learning rate 1e-3, then one value read back.
pub fn train_step(
    sparse: Sparse<Mlp>,
    optim: &mut ModuleOptimizer,
    images: Tensor<4>,
    targets: Tensor<1, Int>,
) -> Sparse<Mlp> {
    let output = sparse.model.classify(images, targets);
    let grads = GradientsParams::from_grads(output.loss.backward(), &sparse.model);
    let sparse = sparse.optimizer_step(optim, 1e-3, grads);
    read_back(&sparse.model);
    sparse
}

/// [`train_step`] without Ember: plain burn's forward, backward and optimizer step at
/// learning rate 1e-3, then one value read back.
#[allow(dead_code)] // each bench compiles this module; not all of them use everything
pub fn plain_step(
    model: Mlp,
    optim: &mut ModuleOptimizer,
    images: Tensor<4>,
    targets: Tensor<1, Int>,
) -> Mlp {
    let output = model.classify(images, targets);
    let grads = GradientsParams::from_grads(output.loss.backward(), &model);
    let model = optim.step(1e-3, model, grads);
    read_back(&model);
    model
}

/// `count` batches of `size` images of the embedded MNIST training split on `device`, always
/// the same ones (spread evenly over the split).
#[allow(dead_code)]
pub fn mnist_batches(size: usize, count: usize, device: &Device) -> Vec<ImageBatch> {
    let train = embedded_mnist_5k().expect("embedded data").train;
    train
        .evenly_spaced(count * size)
        .items()
        .chunks(size)
        .take(count)
        .map(|items| {
            ImageBatcher
                .try_batch(items.to_vec(), device)
                .expect("a batch")
        })
        .collect()
}
