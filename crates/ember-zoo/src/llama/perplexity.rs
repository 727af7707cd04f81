//! Perplexity as SparseGPT's and Wanda's papers measure it: the text tokenized once, cut into
//! non-overlapping windows of `seqlen` tokens, `exp` of the mean next-token loss.

use std::path::Path;

use burn::data::dataloader::batcher::Batcher;
use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::activation::log_softmax;
use ember_data::{WindowBatcher, WindowDataset};
use ember_models::LlamaForCausalLM;
use ember_train::TrainError;
use serde::Serialize;

use super::CausalLm;
use ember_train::task::Task;

/// A perplexity and what it was measured on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Perplexity {
    /// `exp` of the mean loss.
    pub perplexity: f64,
    /// The mean next-token cross-entropy, in nats.
    pub loss: f64,
    /// Windows read.
    pub windows: usize,
    /// Tokens predicted (`windows × (seqlen - 1)`).
    pub tokens: usize,
}

/// The perplexity of `model` on `windows`, `batch` windows at a time, in evaluation mode; the
/// log-probabilities are summed in f64.
///
/// # Errors
///
/// [`TrainError::Decoder`] for windows longer than the model takes.
pub fn perplexity(
    model: &LlamaForCausalLM,
    max_sequence: usize,
    windows: &WindowDataset,
    batch: usize,
    device: &Device,
) -> Result<Perplexity, TrainError> {
    if windows.seqlen() > max_sequence {
        return Err(TrainError::Decoder(ember_models::LlamaError::Input(
            format!(
                "windows of {} tokens are longer than the model's {max_sequence}",
                windows.seqlen()
            ),
        )));
    }
    let model = model.valid();
    let mut total = 0f64;
    let mut tokens = 0usize;
    for chunk in windows.windows().chunks(batch.max(1)) {
        let batch = WindowBatcher.batch(chunk.to_vec(), device);
        let logits = CausalLm::logits(&model, &batch);
        let targets = CausalLm::targets(&batch);
        let rows = targets.dims()[0];
        let picked = log_softmax(logits, 1).gather(1, targets.reshape([rows, 1]));
        let values: Vec<f32> = picked.into_data().convert::<f32>().iter::<f32>().collect();
        total -= values.iter().map(|v| f64::from(*v)).sum::<f64>();
        tokens += rows;
    }
    let loss = total / tokens as f64;
    Ok(Perplexity {
        perplexity: loss.exp(),
        loss,
        windows: windows.windows().len(),
        tokens,
    })
}

/// The windows of `seqlen` tokens of the text file `text`, tokenized with `tokenizer`.
///
/// # Errors
///
/// As [`ember_data::tokenize_file`] and [`WindowDataset::new`]: an unreadable file, a text
/// shorter than one window.
pub fn text_windows(
    tokenizer: &Path,
    text: &Path,
    seqlen: usize,
) -> Result<WindowDataset, TrainError> {
    let tokenizer = ember_data::read_tokenizer(tokenizer)?;
    let tokens = ember_data::tokenize_file(&tokenizer, text)?;
    Ok(WindowDataset::new(&tokens, seqlen, text)?)
}
