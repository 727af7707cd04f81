//! Tasks: what a model computes on a batch, so that one runner trains image and text
//! classifiers alike.
//!
//! A [`Task`] names its batch type and maps a model and a batch to class logits and targets.
//! [`TaskModel`] wraps a model for burn-train: it implements `TrainStep` (cross-entropy, or
//! knowledge distillation from a frozen teacher, see [`Distillation`]) and `InferenceStep`,
//! and is transparent to burn's module visitors, so parameter paths, records and Ember's masks
//! are those of the model itself.

mod distill;
mod image;
mod metric;
mod model;

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Int, Tensor};

pub use distill::{Distillation, distillation_loss};
pub use image::ImageClassification;
pub use metric::{Metric, Output};
pub use model::TaskModel;

/// A classification problem over some batch type.
///
/// Implement it for a model of your own (see `docs/extending.md`) and run it with
/// [`run_task`](crate::run_task).
pub trait Task: Send + Sync + 'static {
    /// The model.
    type Model: Module + ModuleDisplay + core::fmt::Display + 'static;
    /// One batch, as the data loader hands it over.
    type Batch: Clone + Send + Sync + core::fmt::Debug + 'static;

    /// Class logits `[batch, classes]` of `model` on `batch`.
    fn logits(model: &Self::Model, batch: &Self::Batch) -> Tensor<2>;

    /// The true classes `[batch]` of `batch`.
    fn targets(batch: &Self::Batch) -> Tensor<1, Int>;

    /// What the logits and targets are: one class per example (the default), or one per
    /// position of a sequence, flattened to rows.
    fn output() -> Output {
        Output::Classification
    }

    /// The metrics the run reports on the test split, by name (`report.json`'s `metrics`):
    /// loss and accuracy by default; a language model adds perplexity.
    fn metrics() -> &'static [Metric] {
        &[Metric::Loss, Metric::Accuracy]
    }
}
