#![warn(missing_docs)]
//! Ember's model families, each in one folder: its `[model]` settings, its
//! [`ModelEntry`](ember_train::ModelEntry) (how a recipe naming it is checked, trained,
//! evaluated, pruned one-shot and exported), its task, and its sparse engine.
//!
//! - [`mlp`]: multilayer perceptrons on 28×28 images, LeNet-300-100 by default, with
//!   [`SparseMlp`];
//! - [`lenet5`]: LeNet-5 on 28×28 images;
//! - [`bert`]: pretrained BERT-family encoders with a classification head on text, with their
//!   Hugging Face export and [`SparseBert`];
//! - [`llama`]: Llama-family decoder language models (Llama, Qwen2, Mistral) on a text
//!   corpus, trained from scratch or from a Hugging Face folder, with perplexity and the
//!   Hugging Face export.
//!
//! [`models`] is the registry with all four; [`registries`] adds the built-in modifiers,
//! scorers and patterns, and is what the `ember` binary runs with. The burn
//! modules themselves live in `ember-models`; the runtime that trains them, in `ember-train`,
//! which names no family. A family of one's own is registered the same way
//! ([`ModelRegistry::register`]); `examples/custom-family` shows it.

pub mod bert;
mod image;
pub mod lenet5;
pub mod llama;
pub mod mlp;
#[cfg(test)]
mod test_support;

use ember_train::{ModelRegistry, Registries, TrainError};

pub use bert::{SparseBert, TextClassification};
pub use image::{ImageFamily, LinearInputsOf};
pub use mlp::SparseMlp;

/// The registry of Ember's model families: `mlp`, `lenet5`, `bert` and `llama`.
pub fn models() -> ModelRegistry {
    let mut models = ModelRegistry::default();
    models.register("mlp", mlp::entry());
    models.register("lenet5", lenet5::entry());
    models.register("bert", bert::BertEntry);
    models.register("llama", llama::LlamaEntry);
    models
}

/// The registries the `ember` binary runs with: [`models`], and the built-in modifiers,
/// scorers and patterns.
pub fn registries() -> Registries {
    Registries::new(models())
}

/// `value` must lie in `1..=limit`: a size read from a recipe, checked before anything is
/// allocated, so that a typo is an error naming the field rather than an abort.
pub(crate) fn check_size(field: &str, value: usize, limit: usize) -> Result<(), TrainError> {
    let message = if value == 0 {
        "must be at least 1".to_string()
    } else if value > limit {
        format!("must be at most {limit}")
    } else {
        return Ok(());
    };
    Err(TrainError::Invalid {
        field: field.into(),
        value: value.to_string(),
        message,
    })
}
