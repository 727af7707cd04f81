//! BERT encoders that load Hugging Face checkpoints exactly (all-MiniLM-L6-v2, BERT-base…).
//!
//! - [`BertConfig`] reads a Hugging Face `config.json`; [`BertConfig::init`] builds a
//!   [`Bert`]: embeddings, burn's own post-LN `TransformerEncoder` and the pooler.
//! - [`load_hf`] builds one from a model directory; [`Bert::load_hf_weights`] and
//!   [`Bert::save_hf_weights`] move weights from and to Hugging Face safetensors through
//!   burn-store, renaming with one table ([`NameMap`]) used both ways.
//! - [`mean_pool`] is sentence-transformers' pooling and [`Bert::pool`] BERT's `[CLS]`
//!   pooler; [`BertForSequenceClassification`] adds a classification head.
//!
//! Parameters sit where Ember's recipes name them, e.g.
//! `encoder.layers.3.mha.query.weight` for Hugging Face's
//! `encoder.layer.3.attention.self.query.weight`. Every tensor the model needs must be in
//! the file, and every tensor of the file must find a parameter (apart from the
//! `embeddings.position_ids` buffer): anything else is a [`BertError`] naming the tensors.

mod blocks;
mod config;
mod encoder;
mod error;
mod load;
mod model;
mod names;

pub use blocks::{BertBatch, BertHidden};
pub use config::BertConfig;
pub use error::{BertError, ShapeMismatch};
pub use load::{load_hf, load_hf_files};
pub use model::{Bert, BertEmbeddings, BertForSequenceClassification, mean_pool};
pub use names::{Direction, NameMap};

#[cfg(test)]
mod tests;
