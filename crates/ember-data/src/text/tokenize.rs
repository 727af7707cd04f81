use std::path::{Path, PathBuf};

use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams, TruncationStrategy};

use crate::DataError;

/// A model's tokenizer (its `tokenizer.json`, read by the Hugging Face `tokenizers` crate),
/// truncating to `max_len` tokens and padding each batch to its longest sequence.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    tokenizer: Tokenizer,
    max_len: usize,
    path: PathBuf,
}

/// Token ids, attention masks (1 = token, 0 = padding) and token-type ids of a batch of
/// texts, row-major `[batch, len]`, `len` the longest sequence of the batch (at most
/// `max_len`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// Number of texts.
    pub batch: usize,
    /// Tokens per text, padding included.
    pub len: usize,
    /// Token ids.
    pub input_ids: Vec<i64>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// Segment ids (all 0 for single sentences).
    pub token_type_ids: Vec<i64>,
}

impl TextTokenizer {
    /// Reads `tokenizer.json`. `max_len` (with the special tokens) must be at least 2.
    pub fn from_file(path: &Path, max_len: usize) -> Result<Self, DataError> {
        let error = |message: String| DataError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        if max_len < 2 {
            return Err(error(format!(
                "max_len = {max_len} leaves no room for the [CLS] and [SEP] tokens"
            )));
        }
        if !path.is_file() {
            return Err(error("no such file".to_string()));
        }
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| error(e.to_string()))?;
        let pad = tokenizer.get_padding().cloned().unwrap_or_default();
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..pad
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                ..TruncationParams::default()
            }))
            .map_err(|e| error(e.to_string()))?;
        Ok(Self {
            tokenizer,
            max_len,
            path: path.to_path_buf(),
        })
    }

    /// The longest sequence a batch can have.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Tokenizes `texts` (with `[CLS]` and `[SEP]`), truncated and padded to the longest.
    pub fn encode(&self, texts: &[&str]) -> Result<TokenBatch, DataError> {
        if texts.is_empty() {
            return Ok(TokenBatch {
                batch: 0,
                len: 0,
                input_ids: Vec::new(),
                attention_mask: Vec::new(),
                token_type_ids: Vec::new(),
            });
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| DataError::Tokenizer {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let widen = |values: &[u32]| values.iter().map(|&v| i64::from(v)).collect::<Vec<_>>();
        Ok(TokenBatch {
            batch: encodings.len(),
            len,
            input_ids: encodings.iter().flat_map(|e| widen(e.get_ids())).collect(),
            attention_mask: encodings
                .iter()
                .flat_map(|e| widen(e.get_attention_mask()))
                .collect(),
            token_type_ids: encodings
                .iter()
                .flat_map(|e| widen(e.get_type_ids()))
                .collect(),
        })
    }
}
