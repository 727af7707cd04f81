//! Language-modelling data: a text tokenized once and cut into non-overlapping windows of
//! `seqlen` tokens, the protocol of SparseGPT's and Wanda's perplexity (and of their
//! calibration sets).

use std::path::Path;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};
use tokenizers::Tokenizer;

use crate::DataError;

/// One window of token ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenWindow(pub Vec<i64>);

/// Windows of one split, all `seqlen` long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowDataset {
    windows: Vec<TokenWindow>,
    seqlen: usize,
}

impl WindowDataset {
    /// The non-overlapping windows of `seqlen` tokens of `tokens`, in order; the tail shorter
    /// than a window is left out.
    ///
    /// # Errors
    ///
    /// [`DataError::Text`] (naming `what`) when `seqlen < 2` (no token to predict) or the
    /// tokens do not fill one window.
    pub fn new(tokens: &[u32], seqlen: usize, what: &Path) -> Result<Self, DataError> {
        let error = |message: String| DataError::Text {
            path: what.to_path_buf(),
            message,
        };
        if seqlen < 2 {
            return Err(error(format!(
                "windows of {seqlen} token(s) leave nothing to predict: seqlen must be at least 2"
            )));
        }
        if tokens.len() < seqlen {
            return Err(error(format!(
                "{} tokens do not fill one window of {seqlen}",
                tokens.len()
            )));
        }
        let windows = tokens
            .chunks_exact(seqlen)
            .map(|w| TokenWindow(w.iter().map(|&t| i64::from(t)).collect()))
            .collect();
        Ok(Self { windows, seqlen })
    }

    /// The first `count` windows (all when fewer).
    pub fn take(mut self, count: usize) -> Self {
        self.windows.truncate(count);
        self
    }

    /// Tokens per window.
    pub fn seqlen(&self) -> usize {
        self.seqlen
    }

    /// The windows.
    pub fn windows(&self) -> &[TokenWindow] {
        &self.windows
    }
}

impl Dataset<TokenWindow> for WindowDataset {
    /// # Panics
    /// If `index >= len()`, as burn's `Dataset` contract asks.
    fn get(&self, index: usize) -> Result<TokenWindow, DatasetError> {
        Ok(self.windows[index].clone())
    }

    fn len(&self) -> usize {
        self.windows.len()
    }
}

/// Reads the UTF-8 text of `path` and tokenizes it once with `tokenizer` (no special tokens
/// added, no truncation).
///
/// # Errors
///
/// [`DataError::Text`] for an unreadable or non-UTF-8 file; [`DataError::Tokenizer`] when the
/// tokenizer fails.
pub fn tokenize_file(tokenizer: &Tokenizer, path: &Path) -> Result<Vec<u32>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::Text {
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| DataError::Text {
        path: path.to_path_buf(),
        message: format!("not UTF-8 text: {e}"),
    })?;
    tokenize_text(tokenizer, &text, path)
}

/// Tokenizes `text` (read from `path`, named in errors) line by line, joining the lines'
/// tokens with the newline's: one long string in one call is slow in `tokenizers`, and a
/// byte-level BPE never merges across a newline anyway.
fn tokenize_text(tokenizer: &Tokenizer, text: &str, path: &Path) -> Result<Vec<u32>, DataError> {
    let error = |e: tokenizers::Error| DataError::Tokenizer {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let pieces: Vec<&str> = text.split_inclusive('\n').collect();
    let encodings = tokenizer.encode_batch(pieces, false).map_err(error)?;
    Ok(encodings
        .iter()
        .flat_map(|e| e.get_ids().iter().copied())
        .collect())
}

/// Reads a `tokenizer.json` for whole texts: no padding, no truncation.
///
/// # Errors
///
/// [`DataError::Tokenizer`] naming the file.
pub fn read_tokenizer(path: &Path) -> Result<Tokenizer, DataError> {
    let error = |message: String| DataError::Tokenizer {
        path: path.to_path_buf(),
        message,
    };
    if !path.is_file() {
        return Err(error("no such file".into()));
    }
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| error(e.to_string()))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| error(e.to_string()))?;
    Ok(tokenizer)
}

/// A batch of windows, `[batch, seqlen]`.
#[derive(Debug, Clone)]
pub struct WindowBatch {
    /// Token ids.
    pub tokens: Tensor<2, Int>,
}

/// Stacks [`TokenWindow`]s (all of one length) into a [`WindowBatch`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowBatcher;

impl Batcher<TokenWindow, WindowBatch> for WindowBatcher {
    /// # Panics
    ///
    /// For no windows or windows of different lengths: a [`WindowDataset`] holds neither.
    fn batch(&self, items: Vec<TokenWindow>, device: &Device) -> WindowBatch {
        let seqlen = items.first().map_or(0, |w| w.0.len());
        assert!(
            seqlen > 0 && items.iter().all(|w| w.0.len() == seqlen),
            "windows of one length"
        );
        let rows = items.len();
        let values: Vec<i64> = items.into_iter().flat_map(|w| w.0).collect();
        WindowBatch {
            tokens: Tensor::from_data(TensorData::new(values, [rows, seqlen]), device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_non_overlapping_and_the_tail_is_left_out() {
        let tokens: Vec<u32> = (0..10).collect();
        let data = WindowDataset::new(&tokens, 4, Path::new("t.txt")).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data.get(1).unwrap().0, [4, 5, 6, 7]);
        let short = WindowDataset::new(&tokens[..3], 4, Path::new("t.txt")).unwrap_err();
        assert!(
            short.to_string().contains("do not fill one window"),
            "{short}"
        );
        assert!(WindowDataset::new(&tokens, 1, Path::new("t.txt")).is_err());
        let batch = WindowBatcher.batch(data.windows().to_vec(), &Device::flex());
        assert_eq!(batch.tokens.dims(), [2, 4]);
    }
}
