use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::train::{ClassificationOutput, InferenceStep};

/// Top-1 accuracy, in percent, of `model` over every batch of `loader`.
pub fn accuracy<M, B>(model: &M, loader: &Arc<dyn DataLoader<B>>) -> f64
where
    M: Module + InferenceStep<Input = B, Output = ClassificationOutput>,
{
    let model = model.valid();
    let (mut correct, mut total) = (0usize, 0usize);
    for batch in loader.iter().flatten() {
        let output = InferenceStep::step(&model, batch);
        let predicted = output.output.argmax(1).flatten::<1>(0, 1);
        total += predicted.dims()[0];
        correct += predicted
            .equal(output.targets)
            .int()
            .sum()
            .into_data()
            .iter::<i64>()
            .next()
            .unwrap_or(0) as usize;
    }
    if total == 0 {
        0.0
    } else {
        100.0 * correct as f64 / total as f64
    }
}
