//! Pruning from a hand-written training loop: the only Ember-specific line in the loop is
//! `sparse.optimizer_step(..)`, which replaces `optim.step(..)`.
//!
//! ```sh
//! cargo run --example custom_loop
//! ```
//! Trains LeNet-300-100 on the embedded MNIST subset for three epochs while pruning every
//! weight matrix to 80% with a cubic schedule, then prints the measured sparsity.

use burn::data::dataloader::DataLoaderBuilder;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use ember::data::{ImageBatcher, embedded_mnist_5k};
use ember::models::{ImageClassifier, MlpConfig};
use ember::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::flex().autodiff();
    device.seed(7);
    let splits = embedded_mnist_5k()?;
    let loader = DataLoaderBuilder::new(ImageBatcher)
        .batch_size(64)
        .shuffle(7)
        .set_device(device.clone())
        .build(splits.train);
    let steps_per_epoch = 4500u64.div_ceil(64);

    // Prune all weight matrices (not the biases) from 50% to 80% over the first two epochs.
    let schedule = SparsitySchedule::cubic(0.5, 0.8, 0, 2 * steps_per_epoch, steps_per_epoch / 2);
    let plan = SparsityPlan::new(vec![Pruner::magnitude(
        "gmp",
        Selector::new([r"re:layers\.\d+\.weight"]),
        schedule,
    )]);
    let mut sparse = Sparse::new(MlpConfig::new().init(&device), plan)?;
    let mut optim = AdamConfig::new().init();

    for epoch in 1..=3 {
        let mut last_loss = 0.0;
        for batch in loader.iter().flatten() {
            let output = sparse.model.classify(batch.images, batch.targets);
            last_loss = output.loss.clone().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(output.loss.backward(), &sparse.model);
            // The one extra call: masks are selected when due, gradients of pruned weights are
            // zeroed, the optimizer steps, and pruned weights are zeroed again.
            sparse = sparse.optimizer_step(&mut optim, 1e-3, grads);
        }
        let report = sparse.report();
        println!(
            "epoch {epoch}: last loss {last_loss:.4}, sparsity {:.4} ({} of {} weights are zero)",
            report.ratio, report.selected_zeros, report.selected_numel
        );
    }
    Ok(())
}
