//! The `llama` family's task: next-token prediction on windows of a corpus.

use burn::tensor::{Int, Tensor};
use ember_data::WindowBatch;
use ember_models::LlamaForCausalLM;
use ember_train::task::{Metric, Task};

/// Causal language modelling: every position of a window predicts the next token, so a
/// window of `seqlen` tokens gives `seqlen - 1` rows of logits and targets (what
/// `transformers` computes with `labels = input_ids`). Its test metrics are the per-token
/// loss, next-token accuracy and perplexity.
pub struct CausalLm;

impl Task for CausalLm {
    type Model = LlamaForCausalLM;
    type Batch = WindowBatch;

    fn logits(model: &LlamaForCausalLM, batch: &WindowBatch) -> Tensor<2> {
        let [rows, seqlen] = batch.tokens.dims();
        let inputs = batch.tokens.clone().narrow(1, 0, seqlen - 1);
        let logits = model.forward(inputs);
        let [_, _, vocab] = logits.dims();
        logits.reshape([rows * (seqlen - 1), vocab])
    }

    fn targets(batch: &WindowBatch) -> Tensor<1, Int> {
        let [rows, seqlen] = batch.tokens.dims();
        batch
            .tokens
            .clone()
            .narrow(1, 1, seqlen - 1)
            .reshape([rows * (seqlen - 1)])
    }

    fn without_autodiff(batch: &WindowBatch) -> WindowBatch {
        WindowBatch {
            tokens: batch.tokens.clone().inner(),
        }
    }

    fn metrics() -> &'static [Metric] {
        &[Metric::Loss, Metric::Accuracy, Metric::Perplexity]
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};
    use ember_models::LlamaConfig;

    use super::*;

    #[test]
    fn the_teacher_computes_its_logits_off_autodiff() {
        // Under the lock on burn's process-wide generator: other tests draw from it too.
        ember_train::with_host_rng(|| {
            let device = Device::flex().autodiff();
            device.seed(3);
            let student = LlamaConfig::llama(50, 16, 2, 4, 2, 24, 32).init(&device);
            let tokens: Vec<i64> = (0..2 * 7).map(|i| (i * 7 + 3) % 50).collect();
            let batch = WindowBatch {
                tokens: Tensor::from_data(TensorData::new(tokens, [2, 7]), &device),
            };
            let plain = CausalLm::without_autodiff(&batch);
            assert!(!plain.tokens.is_autodiff());
            crate::test_support::assert_the_teacher_computes_off_autodiff::<CausalLm>(
                &student, &batch,
            );
        })
    }
}
