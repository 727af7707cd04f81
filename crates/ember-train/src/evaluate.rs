use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::train::{ClassificationOutput, InferenceStep};

use serde::{Deserialize, Serialize};

/// Top-1 accuracy, in percent, of `model` over every batch of `loader`.
pub fn accuracy<M, B>(model: &M, loader: &Arc<dyn DataLoader<B>>) -> f64
where
    M: Module + InferenceStep<Input = B, Output = ClassificationOutput>,
{
    evaluate(&model.valid(), loader).accuracy().unwrap_or(0.0)
}

/// The accuracy in percent and the named `metrics` of `model` over every batch of `loader`,
/// from one pass.
pub fn test_metrics<M, B>(
    model: &M,
    loader: &Arc<dyn DataLoader<B>>,
    metrics: &[crate::task::Metric],
) -> (f64, std::collections::BTreeMap<String, f64>)
where
    M: Module + InferenceStep<Input = B, Output = ClassificationOutput>,
{
    let sums = evaluate(&model.valid(), loader);
    let named = metrics
        .iter()
        .filter_map(|m| {
            m.of(sums.mean_loss(), sums.accuracy())
                .map(|v| (m.name().to_string(), v))
        })
        .collect();
    (sums.accuracy().unwrap_or(0.0), named)
}

/// Loss and accuracy sums of `model` (already in evaluation mode) over every batch of
/// `loader`.
pub(crate) fn evaluate<M, B>(model: &M, loader: &Arc<dyn DataLoader<B>>) -> EpochSums
where
    M: InferenceStep<Input = B, Output = ClassificationOutput>,
{
    let mut sums = EpochSums::default();
    for batch in loader.iter().flatten() {
        let (loss, correct, examples) = batch_sums(&InferenceStep::step(model, batch));
        sums.add(loss, correct, examples);
    }
    sums
}

/// A batch's mean loss, correct predictions and examples (two values read from the device).
pub(crate) fn batch_sums(item: &ClassificationOutput) -> (f64, u64, u64) {
    let loss = item
        .loss
        .clone()
        .into_data()
        .convert::<f32>()
        .iter::<f32>()
        .next()
        .map_or(f64::NAN, f64::from);
    let predicted = item.output.clone().argmax(1).flatten::<1>(0, 1);
    let examples = predicted.dims()[0] as u64;
    let correct = ember_sparsity::count_true(predicted.equal(item.targets.clone())) as u64;
    (loss, correct, examples)
}

/// Running sums of one split of an epoch, from which its mean loss and accuracy follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct EpochSums {
    /// Σ batch loss × batch size.
    pub loss: f64,
    /// Correct predictions.
    pub correct: u64,
    /// Examples seen.
    pub examples: u64,
}

impl EpochSums {
    /// Adds a batch of `examples` with mean loss `loss` and `correct` right predictions.
    pub fn add(&mut self, loss: f64, correct: u64, examples: u64) {
        self.loss += loss * examples as f64;
        self.correct += correct;
        self.examples += examples;
    }

    /// The mean loss, if any example was seen.
    pub fn mean_loss(&self) -> Option<f64> {
        (self.examples > 0).then(|| self.loss / self.examples as f64)
    }

    /// The accuracy in percent, if any example was seen.
    pub fn accuracy(&self) -> Option<f64> {
        (self.examples > 0).then(|| 100.0 * self.correct as f64 / self.examples as f64)
    }
}
