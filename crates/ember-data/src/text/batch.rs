//! Turning labelled sentences into token tensors.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

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

    /// The batch with tokens cut from attention at random (token cutoff, Shen et al. 2020):
    /// every token of every sentence is cut with probability `fraction`, drawn from the
    /// device's generator, except the first (`[CLS]`, which the classifier reads) and the
    /// last (`[SEP]`). A cut token stays in place but no position attends to it, as if the
    /// sentence had been written without it. Ids, segments and labels are unchanged, so a
    /// teacher and a student given the same cut batch read the same shortened sentences.
    ///
    /// Each call draws a new cut: on a device seeded per step, as Ember's trainer seeds it,
    /// the cuts are the same in every run and after a resume.
    pub fn with_tokens_cut(&self, fraction: f64) -> Self {
        let mask = self.attention_mask.clone();
        let [batch, len] = mask.dims();
        if fraction <= 0.0 || len < 3 {
            return self.clone();
        }
        let device = mask.device();
        // A sentence's last token is a real one followed by padding or by the batch's end.
        let next = Tensor::cat(
            vec![
                mask.clone().slice([0..batch, 1..len]),
                Tensor::<2, Int>::zeros([batch, 1], &device),
            ],
            1,
        );
        let last = mask.clone().equal_elem(1).bool_and(next.equal_elem(0));
        let first = Tensor::<1, Int>::arange(0..len as i64, &device)
            .equal_elem(0)
            .unsqueeze::<2>()
            .repeat_dim(0, batch);
        let drawn = Tensor::<2>::random([batch, len], Distribution::Uniform(0.0, 1.0), &device)
            .lower_elem(fraction);
        let cut = drawn.bool_and(first.bool_or(last).bool_not());
        Self {
            attention_mask: mask.mask_fill(cut, 0),
            ..self.clone()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of `lens.len()` sentences of those lengths, padded to the longest, with token
    /// ids 1, 2, … so that every position is told apart.
    fn batch(lens: &[usize]) -> TextBatch {
        let len = *lens.iter().max().expect("at least one sentence");
        let mut ids = Vec::new();
        let mut mask = Vec::new();
        for &n in lens {
            for j in 0..len {
                ids.push(if j < n { j as i64 + 1 } else { 0 });
                mask.push(i64::from(j < n));
            }
        }
        let tokens = TokenBatch {
            batch: lens.len(),
            len,
            input_ids: ids,
            attention_mask: mask,
            token_type_ids: vec![0; lens.len() * len],
        };
        TextBatch::from_tokens(tokens, vec![0; lens.len()], &Device::default())
    }

    fn rows(t: &Tensor<2, Int>) -> Vec<Vec<i64>> {
        let [_, len] = t.dims();
        let values: Vec<i64> = t.to_data().iter::<i64>().collect();
        values.chunks(len).map(<[i64]>::to_vec).collect()
    }

    /// burn's generator is process-wide: the tests that draw from it take turns, so that no
    /// draw falls between another test's seed and its own draws.
    static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn generator() -> std::sync::MutexGuard<'static, ()> {
        GENERATOR
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[test]
    fn cutting_every_token_keeps_each_sentences_first_and_last_and_no_padding() {
        let _turn = generator();
        let lens = [2, 5, 9, 1, 3];
        let b = batch(&lens);
        let cut = b.with_tokens_cut(1.0);
        for (row, &n) in rows(&cut.attention_mask).iter().zip(&lens) {
            let expected: Vec<i64> = (0..9)
                .map(|j| i64::from(j < n && (j == 0 || j == n - 1)))
                .collect();
            assert_eq!(row, &expected, "a sentence of {n} tokens");
        }
        assert_eq!(rows(&cut.input_ids), rows(&b.input_ids));
        assert_eq!(rows(&cut.token_type_ids), rows(&b.token_type_ids));
    }

    #[test]
    fn no_fraction_and_no_room_leave_the_batch_as_it_is() {
        let b = batch(&[4, 7]);
        assert_eq!(
            rows(&b.with_tokens_cut(0.0).attention_mask),
            rows(&b.attention_mask)
        );
        let short = batch(&[2, 1]);
        assert_eq!(
            rows(&short.with_tokens_cut(1.0).attention_mask),
            rows(&short.attention_mask)
        );
    }

    #[test]
    fn a_fraction_cuts_that_share_of_the_inner_tokens_alone_and_a_seed_repeats_it() {
        // 64 sentences of 40 tokens: 38 inner tokens each, 2,432 that may be cut.
        let b = batch(&[40; 64]);
        let _turn = generator();
        let device = Device::default();
        device.seed(7);
        let first = rows(&b.with_tokens_cut(0.25).attention_mask);
        device.seed(7);
        let again = rows(&b.with_tokens_cut(0.25).attention_mask);
        assert_eq!(first, again, "the same seed gives the same cut");
        let mut cut = 0;
        for row in &first {
            assert_eq!((row[0], row[39]), (1, 1), "first and last tokens are kept");
            cut += row.iter().filter(|&&m| m == 0).count();
        }
        // Binomial(2432, 0.25): mean 608, sd 21.4; five sd either side.
        assert!((501..=715).contains(&cut), "{cut} of 2432 cut at 25%");
    }
}
