//! The inputs of every linear layer of a BERT classifier, for activation-aware pruning
//! (Wanda).

use burn::module::Module;
use burn::nn::attention::MhaInput;
use burn::tensor::{Int, Tensor};

use super::BertForSequenceClassification;
use crate::LinearInputs;

/// A batch as the classifier reads it: `(input_ids, token_type_ids, attention_mask)`, each
/// `[batch, seq]`, the mask 1 for tokens and 0 for padding.
pub type BertBatch = (Tensor<2, Int>, Tensor<2, Int>, Tensor<2, Int>);

impl BertForSequenceClassification {
    /// The encoder recomputed layer by layer as burn's post-norm `TransformerEncoderLayer`
    /// computes it, in evaluation mode: each linear layer's weight path with its input as
    /// `[rows, in_features]`, and the last hidden states (which equal [`super::Bert::forward`]'s;
    /// the tests check it). Token rows of padding are zeroed, so they add nothing to a norm.
    fn traced(
        &self,
        (input_ids, token_type_ids, attention_mask): BertBatch,
    ) -> (Vec<(String, Tensor<2>)>, Tensor<3>) {
        let model = self.valid();
        let [batch, seq] = input_ids.dims();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &input_ids.device())
            .unsqueeze::<2>()
            .repeat_dim(0, batch);
        let mut x = model
            .bert
            .embeddings
            .forward(input_ids, token_type_ids, positions);
        let padding = attention_mask.clone().equal_elem(0);
        let tokens: Tensor<2> = attention_mask.float().reshape([batch * seq, 1]);
        let rows = |t: Tensor<3>| -> Tensor<2> {
            let width = t.dims()[2];
            t.reshape([batch * seq, width]) * tokens.clone()
        };
        let mut inputs = Vec::new();
        for (i, layer) in model.bert.encoder.layers.iter().enumerate() {
            let at = |name: &str| format!("bert.encoder.layers.{i}.{name}.weight");
            let mha = &layer.mha;
            for name in ["mha.query", "mha.key", "mha.value"] {
                inputs.push((at(name), rows(x.clone())));
            }
            let attention = mha.forward(MhaInput::self_attn(x.clone()).mask_pad(padding.clone()));
            // The output projection's input: the attention weights applied to the values,
            // heads merged, as inside `MultiHeadAttention::forward`.
            let values = mha
                .value
                .forward(x.clone())
                .reshape([batch, seq, mha.n_heads, mha.d_k])
                .swap_dims(1, 2);
            let context =
                attention
                    .weights
                    .matmul(values)
                    .swap_dims(1, 2)
                    .reshape([batch, seq, mha.d_model]);
            inputs.push((at("mha.output"), rows(context)));
            let attended = layer.norm_1.forward(x + attention.context);
            inputs.push((at("pwff.linear_inner"), rows(attended.clone())));
            let inner = layer
                .pwff
                .activation
                .forward(layer.pwff.linear_inner.forward(attended.clone()));
            inputs.push((at("pwff.linear_outer"), rows(inner.clone())));
            x = layer
                .norm_2
                .forward(attended + layer.pwff.linear_outer.forward(inner));
        }
        let first: Tensor<2> = x.clone().narrow(1, 0, 1).squeeze_dim(1);
        inputs.push(("bert.pooler.weight".to_string(), first.clone()));
        let pooled = model.bert.pooler.forward(first).tanh();
        inputs.push(("classifier.weight".to_string(), pooled));
        (inputs, x)
    }
}

impl LinearInputs<BertBatch> for BertForSequenceClassification {
    /// Every linear layer: query, key, value and output of each attention, both feed-forward
    /// layers, the pooler and the classifier; padding rows zeroed.
    fn linear_inputs(&self, batch: BertBatch) -> Vec<(String, Tensor<2>)> {
        self.traced(batch).0
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use burn::store::ModuleSnapshot;

    use crate::bert::BertConfig;

    #[test]
    fn the_trace_computes_the_encoder_and_names_every_linear_weight() {
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
        let (inputs, hidden) = model.traced((ids.clone(), types.clone(), mask.clone()));

        let want: Vec<f32> = model
            .bert
            .forward(ids, types, mask)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let got: Vec<f32> = hidden.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{g} vs {w}");
        }

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
