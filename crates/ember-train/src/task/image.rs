//! Image classification: any [`ImageClassifier`] on MNIST-style batches.

use std::marker::PhantomData;

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Int, Tensor};
use ember_data::ImageBatch;
use ember_models::ImageClassifier;

use super::Task;

/// Classifying [`ImageBatch`]es with a model `M`.
pub struct ImageClassification<M>(PhantomData<fn() -> M>);

impl<M> Task for ImageClassification<M>
where
    M: ImageClassifier + Module + ModuleDisplay + core::fmt::Display + 'static,
{
    type Model = M;
    type Batch = ImageBatch;

    fn logits(model: &M, batch: &ImageBatch) -> Tensor<2> {
        model.logits(batch.images.clone())
    }

    fn targets(batch: &ImageBatch) -> Tensor<1, Int> {
        batch.targets.clone()
    }

    fn without_autodiff(batch: &ImageBatch) -> ImageBatch {
        ImageBatch {
            images: batch.images.clone().inner(),
            targets: batch.targets.clone().inner(),
        }
    }
}
