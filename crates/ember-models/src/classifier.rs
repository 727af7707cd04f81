use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Int, Tensor};
use burn::train::ClassificationOutput;

/// A model that maps a batch of images `[B, 1, H, W]` to class logits `[B, classes]`.
pub trait ImageClassifier {
    /// The logits for a batch of images.
    fn logits(&self, images: Tensor<4>) -> Tensor<2>;

    /// Logits, cross-entropy loss and targets, as burn-train's metrics expect them.
    fn classify(&self, images: Tensor<4>, targets: Tensor<1, Int>) -> ClassificationOutput {
        let output = self.logits(images);
        let loss = CrossEntropyLossConfig::new()
            .init(&output.device())
            .forward(output.clone(), targets.clone());
        ClassificationOutput {
            loss,
            output,
            targets,
        }
    }
}

/// Implements `TrainStep` and `InferenceStep` for an [`ImageClassifier`].
macro_rules! impl_classification_steps {
    ($model:ty) => {
        impl burn::train::TrainStep for $model {
            type Input = ember_data::ImageBatch;
            type Output = burn::train::ClassificationOutput;

            fn step(
                &self,
                batch: ember_data::ImageBatch,
            ) -> burn::train::TrainOutput<burn::train::ClassificationOutput> {
                let item = $crate::ImageClassifier::classify(self, batch.images, batch.targets);
                burn::train::TrainOutput::new(self, item.loss.backward(), item)
            }
        }

        impl burn::train::InferenceStep for $model {
            type Input = ember_data::ImageBatch;
            type Output = burn::train::ClassificationOutput;

            fn step(&self, batch: ember_data::ImageBatch) -> burn::train::ClassificationOutput {
                $crate::ImageClassifier::classify(self, batch.images, batch.targets)
            }
        }
    };
}

pub(crate) use impl_classification_steps;
