//! A BERT classifier as stem → encoder layers → head, for layer-by-layer pipelines and for
//! the inputs of every linear layer (Wanda).

use burn::nn::attention::MhaInput;
use burn::tensor::{Bool, Int, Tensor};

use super::BertForSequenceClassification;
use crate::LinearInputs;
use crate::blocks::{Blocks, Capture, linear_inputs_of};

/// A batch as the classifier reads it: `(input_ids, token_type_ids, attention_mask)`, each
/// `[batch, seq]`, the mask 1 for tokens and 0 for padding.
pub type BertBatch = (Tensor<2, Int>, Tensor<2, Int>, Tensor<2, Int>);

/// What flows between BERT's encoder layers.
#[derive(Debug, Clone)]
pub struct BertHidden {
    /// The hidden states, `[batch, seq, hidden_size]`.
    pub states: Tensor<3>,
    /// Padding positions (true), `[batch, seq]`: masked out of every attention.
    pub padding: Tensor<2, Bool>,
    /// 1 for tokens and 0 for padding, `[batch · seq, 1]`: padding rows of a captured input
    /// are zeroed, so they add nothing to a norm or a Gram matrix.
    pub tokens: Tensor<2>,
}

impl BertHidden {
    /// `t` as `[batch · seq, width]` rows, padding rows zeroed.
    fn rows(&self, t: Tensor<3>) -> Tensor<2> {
        let [batch, seq, width] = t.dims();
        t.reshape([batch * seq, width]) * self.tokens.clone()
    }
}

/// The stem is the embeddings; each encoder layer is a block (burn's post-norm
/// `TransformerEncoderLayer`, computed step by step so that the attention output projection's
/// input can be captured); the head is the pooler and the classifier.
impl Blocks for BertForSequenceClassification {
    type Input = BertBatch;
    type Hidden = BertHidden;

    fn stem(&self, (input_ids, token_type_ids, attention_mask): BertBatch) -> BertHidden {
        let [batch, seq] = input_ids.dims();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &input_ids.device())
            .unsqueeze::<2>()
            .repeat_dim(0, batch);
        let states = self
            .bert
            .embeddings
            .forward(input_ids, token_type_ids, positions);
        BertHidden {
            states,
            padding: attention_mask.clone().equal_elem(0),
            tokens: attention_mask.float().reshape([batch * seq, 1]),
        }
    }

    fn num_blocks(&self) -> usize {
        self.bert.encoder.layers.len()
    }

    fn block_linears(&self, index: usize) -> Vec<String> {
        [
            "mha.query",
            "mha.key",
            "mha.value",
            "mha.output",
            "pwff.linear_inner",
            "pwff.linear_outer",
        ]
        .iter()
        .map(|name| format!("bert.encoder.layers.{index}.{name}.weight"))
        .collect()
    }

    fn block(&self, index: usize, hidden: BertHidden, capture: &mut Capture) -> BertHidden {
        let layer = &self.bert.encoder.layers[index];
        let mut paths = self.block_linears(index).into_iter();
        let mut next = || paths.next().expect("six linear layers per block");
        let x = hidden.states.clone();
        for _ in 0..3 {
            capture.record(next(), || hidden.rows(x.clone()));
        }
        let mha = &layer.mha;
        let attention =
            mha.forward(MhaInput::self_attn(x.clone()).mask_pad(hidden.padding.clone()));
        // The output projection's input: the attention weights applied to the values, heads
        // merged, as inside `MultiHeadAttention::forward`.
        capture.record(next(), || {
            let [batch, seq, _] = x.dims();
            let values = mha
                .value
                .forward(x.clone())
                .reshape([batch, seq, mha.n_heads, mha.d_k])
                .swap_dims(1, 2);
            let context = attention
                .weights
                .clone()
                .matmul(values)
                .swap_dims(1, 2)
                .reshape([batch, seq, mha.d_model]);
            hidden.rows(context)
        });
        let attended = layer.norm_1.forward(x + attention.context);
        capture.record(next(), || hidden.rows(attended.clone()));
        let inner = layer
            .pwff
            .activation
            .forward(layer.pwff.linear_inner.forward(attended.clone()));
        capture.record(next(), || hidden.rows(inner.clone()));
        let states = layer
            .norm_2
            .forward(attended + layer.pwff.linear_outer.forward(inner));
        BertHidden { states, ..hidden }
    }

    fn head_linears(&self) -> Vec<String> {
        vec!["bert.pooler.weight".into(), "classifier.weight".into()]
    }

    fn head(&self, hidden: BertHidden, capture: &mut Capture) -> Tensor<2> {
        let first: Tensor<2> = hidden.states.narrow(1, 0, 1).squeeze_dim(1);
        capture.record("bert.pooler.weight", || first.clone());
        let pooled = self.bert.pooler.forward(first).tanh();
        capture.record("classifier.weight", || pooled.clone());
        self.classifier.forward(pooled)
    }
}

impl LinearInputs<BertBatch> for BertForSequenceClassification {
    /// Every linear layer: query, key, value and output of each attention, both feed-forward
    /// layers, the pooler and the classifier; padding rows zeroed.
    fn linear_inputs(&self, batch: BertBatch) -> Vec<(String, Tensor<2>)> {
        linear_inputs_of(self, batch)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use burn::store::ModuleSnapshot;

    use crate::bert::BertConfig;
    use crate::blocks::{Blocks, Capture, run_blocks};

    /// `got` equals `want` to 1e-5 relative.
    fn close<const D: usize>(got: Tensor<D>, want: Tensor<D>) {
        assert_eq!(got.dims(), want.dims());
        let got: Vec<f32> = got.into_data().try_to_vec::<f32>().unwrap();
        let want: Vec<f32> = want.into_data().try_to_vec::<f32>().unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{g} vs {w}");
        }
    }

    #[test]
    fn the_blocks_compute_the_model_and_name_every_linear_weight() {
        let device = Device::flex();
        device.seed(5);
        let config: BertConfig = serde_json::from_str(
            r#"{"vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 2,
                "num_attention_heads": 2, "intermediate_size": 12,
                "max_position_embeddings": 16, "type_vocab_size": 2}"#,
        )
        .unwrap();
        let model = config.init_classifier(3, &device);
        let ids = Tensor::<2, Int>::from_ints([[2, 5, 7, 9, 0], [3, 4, 0, 0, 0]], &device);
        let types = Tensor::<2, Int>::zeros([2, 5], &device);
        let mask = Tensor::<2, Int>::from_ints([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]], &device);
        let batch = (ids.clone(), types.clone(), mask.clone());
        // Block by block: the encoder's states after the last block, and the logits.
        let mut hidden = model.stem(batch.clone());
        for index in 0..model.num_blocks() {
            hidden = model.block(index, hidden, &mut Capture::off());
        }
        close(
            hidden.states.clone(),
            model.bert.forward(ids.clone(), types.clone(), mask.clone()),
        );
        close(
            model.head(hidden, &mut Capture::off()),
            model.logits(ids, types, mask),
        );
        let mut capture = Capture::on();
        run_blocks(&model, batch, &mut capture);
        let inputs = capture.into_inputs();

        let paths: Vec<&str> = inputs.iter().map(|(p, _)| p.as_str()).collect();
        let params: Vec<String> = model
            .collect(None, None, false)
            .iter()
            .map(|t| t.name.clone())
            .collect();
        for path in &paths {
            assert!(
                params.iter().any(|p| p == path),
                "{path} is not a parameter"
            );
        }
        assert_eq!(paths.len(), 2 * 6 + 2);
        // In the order and under the names the model declares for its blocks and head.
        let declared: Vec<String> = (0..model.num_blocks())
            .flat_map(|i| model.block_linears(i))
            .chain(model.head_linears())
            .collect();
        assert_eq!(paths, declared);
        // Padding rows are zero: row 4 of the first sentence, rows 2..5 of the second.
        let (_, query) = &inputs[0];
        assert_eq!(query.dims(), [10, 8]);
        let row_sums: Vec<f32> = query
            .clone()
            .abs()
            .sum_dim(1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (row, sum) in row_sums.iter().enumerate() {
            assert_eq!(*sum == 0.0, [4, 7, 8, 9].contains(&row), "row {row}: {sum}");
        }
    }
}
