//! Text classification data: labelled sentences ([`TextDataset`], seeded stratified
//! [`TextSplits`]), readers for the Rotten Tomatoes snippets and GLUE's SST-2 TSV layout, and
//! tokenization with the Hugging Face `tokenizers` crate on a model's own `tokenizer.json`.

mod batch;
mod dataset;
mod sources;
mod tokenize;

pub use batch::{TextBatch, TextBatcher};
pub use dataset::{TextDataset, TextItem, TextSplits};
pub use sources::{read_glue_tsv, read_rotten_tomatoes};
pub use tokenize::{TextTokenizer, TokenBatch};
