//! Text classification data: labelled sentences ([`TextDataset`], seeded stratified
//! [`TextSplits`]), readers for the Rotten Tomatoes snippets and GLUE's SST-2 TSV layout, and
//! tokenization with the Hugging Face `tokenizers` crate on a model's own `tokenizer.json`;
//! and language-modelling text cut into token windows ([`WindowDataset`]).

mod batch;
mod dataset;
mod sources;
mod tokenize;
mod train_bpe;
mod windows;

pub use batch::{TextBatch, TextBatcher};
pub use dataset::{TextDataset, TextItem, TextSplits};
pub use sources::{read_glue_tsv, read_rotten_tomatoes};
pub use tokenize::{TextTokenizer, TokenBatch};
pub use train_bpe::train_byte_level_bpe;
pub use windows::{
    TokenWindow, WindowBatch, WindowBatcher, WindowDataset, read_tokenizer, tokenize_file,
};
