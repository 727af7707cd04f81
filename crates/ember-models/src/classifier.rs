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
