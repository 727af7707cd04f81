#![warn(missing_docs)]
//! Plain burn models for Ember's recipes and examples: the LeNet-300-100 [`Mlp`], the
//! convolutional [`LeNet5`], [`bert`] encoders and [`llama`]-family decoders that load
//! Hugging Face checkpoints.
//!
//! These models know nothing of pruning, nor of data sets: Ember prunes any burn `Module`, and
//! these are only conveniences. The image models implement [`ImageClassifier`] (logits from a
//! batch of images); `ember-train`'s tasks turn a model into something burn-train trains.
//! Every model here is also a stack of [`Blocks`] (stem, blocks, head), which layer-by-layer
//! pipelines run one block at a time and through which [`LinearInputs`] captures what each
//! linear layer receives.

pub mod bert;
pub mod blocks;
mod classifier;
pub mod dropout;
pub mod gelu;
mod lenet5;
mod linear_inputs;
pub mod llama;
mod mlp;
mod safetensors_header;
#[cfg(test)]
mod test_support;

pub use bert::{Bert, BertConfig, BertError, BertForSequenceClassification};
pub use blocks::{Blocks, Capture};
pub use classifier::ImageClassifier;
pub use lenet5::{LeNet5, LeNet5Config};
pub use linear_inputs::LinearInputs;
pub use llama::{LlamaConfig, LlamaError, LlamaForCausalLM};
pub use mlp::{Mlp, MlpConfig};
