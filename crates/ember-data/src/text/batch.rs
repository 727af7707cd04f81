//! Turning labelled sentences into token tensors.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{DataError, TextItem, TextTokenizer, TokenBatch};

/// A batch of tokenized sentences ready for a BERT-family model, `[batch, len]` each, `len`
/// the longest sentence of this batch (at most the tokenizer's `max_len`).
#[derive(Clone, Debug)]
pub struct TextBatch {
    /// Token ids.
    pub input_ids: Tensor<2, Int>,
    /// Segment ids (all 0 for single sentences).
    pub token_type_ids: Tensor<2, Int>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Tensor<2, Int>,
    /// Class labels, `[batch]`.
    pub targets: Tensor<1, Int>,
}

impl TextBatch {
    /// Moves a tokenized batch and its labels to `device`.
    pub fn from_tokens(tokens: TokenBatch, labels: Vec<i64>, device: &Device) -> Self {
        let shape = [tokens.batch, tokens.len];
        let int =
            |values: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(values, shape), device);
        let count = labels.len();
        Self {
            input_ids: int(tokens.input_ids),
            token_type_ids: int(tokens.token_type_ids),
            attention_mask: int(tokens.attention_mask),
            targets: Tensor::<1, Int>::from_data(TensorData::new(labels, [count]), device),
        }
    }
}

/// Batches [`TextItem`]s: tokenizes the sentences together (padding to the batch's longest,
/// not to `max_len`, so short sentences cost short sequences) and stacks the labels.
#[derive(Clone, Debug)]
pub struct TextBatcher {
    tokenizer: Arc<TextTokenizer>,
}

impl TextBatcher {
    /// A batcher over `tokenizer`.
    pub fn new(tokenizer: Arc<TextTokenizer>) -> Self {
        Self { tokenizer }
    }

    /// Builds a batch, reporting a tokenizer failure or an empty batch as an error.
    ///
    /// # Errors
    ///
    /// [`DataError::InvalidBatch`] for no items; [`DataError::Tokenizer`] if the tokenizer
    /// fails.
    pub fn try_batch(&self, items: Vec<TextItem>, device: &Device) -> Result<TextBatch, DataError> {
        if items.is_empty() {
            return Err(DataError::InvalidBatch {
                reason: "no items".to_owned(),
            });
        }
        let texts: Vec<&str> = items.iter().map(|item| item.text.as_str()).collect();
        let tokens = self.tokenizer.encode(&texts)?;
        let labels = items.iter().map(|item| item.label as i64).collect();
        Ok(TextBatch::from_tokens(tokens, labels, device))
    }
}

impl Batcher<TextItem, TextBatch> for TextBatcher {
    /// Builds a batch.
    ///
    /// # Panics
    ///
    /// With the [`DataError`] message where [`TextBatcher::try_batch`] fails: burn's data
    /// loader cannot carry an error. A tokenizer that loaded does not fail on text.
    fn batch(&self, items: Vec<TextItem>, device: &Device) -> TextBatch {
        match self.try_batch(items, device) {
            Ok(batch) => batch,
            Err(err) => panic!("{err}"),
        }
    }
}
