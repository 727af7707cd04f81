//! The backend suite: every test body here runs on each backend this build has (flex always;
//! ndarray, wgpu, tch, … with their features) and compares it with flex, the reference.
//!
//! Run it on every backend with, for example,
//! `cargo test -p ember --features ndarray,wgpu,tch --test backends` (see the README for the
//! libtorch and lavapipe set-up). `EMBER_TEST_BACKENDS=flex,cuda` limits it to the
//! backends named (flex, the reference, always runs).

mod dropout;
mod masks;
mod minilm;
mod persistence;
mod resume;
mod trainer;
mod training;

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use ember::backend::DeviceSpec;
use ember::data::{ImageBatch, ImageBatcher, embedded_mnist_5k};
use ember::models::{ImageClassifier, Mlp, MlpConfig};
use ember::sparsity::Sparse;
use ember::train::init_on_host;

/// Every compiled backend's device, flex (the reference) first; `EMBER_TEST_BACKENDS`
/// (`flex,cuda`) keeps only the backends it names, so that a binary built with GPU features
/// can run its CPU half on a machine without the GPU (`scripts/gpu-check.sh run --dry-run`).
pub fn devices() -> Vec<(String, Device)> {
    let only = std::env::var("EMBER_TEST_BACKENDS").ok();
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|list| name == "flex" || list.split(',').any(|n| n.trim() == name))
    };
    let devices: Vec<(String, Device)> = DeviceSpec::compiled()
        .into_iter()
        .filter(|spec| wanted(&spec.to_string()))
        .map(|spec| {
            let device = spec
                .device()
                .unwrap_or_else(|e| panic!("{spec} is compiled in but cannot run here: {e}"));
            (spec.to_string(), device)
        })
        .collect();
    assert_eq!(devices[0].0, "flex", "flex is the reference backend");
    eprintln!(
        "backends under test: {}",
        devices
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    devices
}

/// The quick-start model (LeNet-300-100), drawn on the host from `seed` and moved to `device`,
/// so that every backend gets bit-identical weights.
pub fn quickstart_model(seed: u64, device: &Device) -> Mlp {
    init_on_host(seed, device, |host| MlpConfig::new().init(host))
}

/// A smaller MLP (784-64-10), for the tests that train many steps.
pub fn small_model(seed: u64, device: &Device) -> Mlp {
    init_on_host(seed, device, |host| {
        MlpConfig::new().with_hidden(vec![64]).init(host)
    })
}

/// `count` batches of `size` images of the embedded MNIST training split, always the same
/// ones. The split is sorted by class, so the images are spread evenly over it and dealt out
/// round-robin: every batch holds every class.
pub fn batches(count: usize, size: usize, device: &Device) -> Vec<ImageBatch> {
    let train = embedded_mnist_5k()
        .expect("embedded data")
        .train
        .evenly_spaced(count * size);
    (0..count)
        .map(|b| {
            let items = train
                .items()
                .iter()
                .skip(b)
                .step_by(count)
                .cloned()
                .collect();
            ImageBatcher.try_batch(items, device).expect("a batch")
        })
        .collect()
}

/// Trains `sparse` one step per batch through [`Sparse::optimizer_step`], calling `after` after
/// each step; returns the model and the loss of every step.
pub fn train_steps(
    mut sparse: Sparse<Mlp>,
    optim: &mut ModuleOptimizer,
    lr: f64,
    batches: Vec<ImageBatch>,
    mut after: impl FnMut(&Sparse<Mlp>),
) -> (Sparse<Mlp>, Vec<f32>) {
    let mut losses = Vec::new();
    for batch in batches {
        let output = sparse.model.classify(batch.images, batch.targets);
        losses.push(output.loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(output.loss.backward(), &sparse.model);
        sparse = sparse.optimizer_step(optim, lr, grads);
        after(&sparse);
    }
    (sparse, losses)
}

/// A tensor's values on the host.
pub fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data")
}
