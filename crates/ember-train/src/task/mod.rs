//! Tasks: what a model computes on a batch, so that one runner trains image and text
//! classifiers, and sequence models, alike.
//!
//! A [`Task`] names its batch type, maps a model and a batch to logits and targets (a row per
//! example, or per position of a sequence) and names the [`Metric`]s the run reports.
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

pub use distill::{Distillation, distillation_loss, hidden_state_loss};
pub use image::ImageClassification;
pub use metric::Metric;
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

    /// Class logits `[rows, classes]` of `model` on `batch`: one row per example for a
    /// classifier, one per position for a sequence task (a language model's `[batch · seq,
    /// vocab]`, so that the loss and accuracy are per token).
    fn logits(model: &Self::Model, batch: &Self::Batch) -> Tensor<2>;

    /// The true classes `[batch]` of `batch`.
    fn targets(batch: &Self::Batch) -> Tensor<1, Int>;

    /// `batch` with its tensors taken off autodiff ([`Tensor::inner`]), for the distillation
    /// teacher.
    ///
    /// The teacher runs off autodiff, but the batches come from the student's autodiff
    /// device, and one autodiff operand sends a whole forward pass through autodiff's
    /// dispatch (and, for layer norm and softmax, through their unfused default bodies: the
    /// MiniLM teacher took 0.19 s of a 0.85 s step that way instead of 0.15 s). The default
    /// returns `batch` unchanged: the same logits, computed the slow way.
    fn without_autodiff(batch: &Self::Batch) -> Self::Batch {
        batch.clone()
    }

    /// Whether [`Task::logits_and_states`] returns hidden states, so that a recipe may
    /// distil them (`distill.hidden > 0`); a run refuses that recipe before training when it
    /// is false.
    const HIDDEN_STATES: bool = false;

    /// [`Task::logits`] together with the output of every encoder layer, `[batch, seq,
    /// hidden]` each with padding positions zeroed, for layer-wise distillation. The default
    /// (a task without hidden states, [`Task::HIDDEN_STATES`] false) returns no layers.
    fn logits_and_states(model: &Self::Model, batch: &Self::Batch) -> (Tensor<2>, Vec<Tensor<3>>) {
        (Self::logits(model, batch), Vec::new())
    }

    /// Whether [`Task::cut_tokens`] cuts tokens, so that a recipe may ask for
    /// `distill.token_cutoff > 0`; a run refuses that recipe before training when it is
    /// false.
    const CUTS_TOKENS: bool = false;

    /// `batch` with each token cut from attention with probability `fraction` (drawn from
    /// the batch's device), for distillation on a larger transfer set
    /// ([`Distillation::token_cutoff`]). The default, for a task without tokens
    /// ([`Task::CUTS_TOKENS`] false), returns `batch` unchanged.
    fn cut_tokens(batch: &Self::Batch, fraction: f64) -> Self::Batch {
        let _ = fraction;
        batch.clone()
    }

    /// The metrics the run reports on the test split, by name (`report.json`'s `metrics`):
    /// loss and accuracy by default; a language model adds perplexity.
    fn metrics() -> &'static [Metric] {
        &[Metric::Loss, Metric::Accuracy]
    }
}
