//! The `bert` family's task: a BERT-family encoder with a classification head on token
//! batches.

use burn::tensor::{Int, Tensor};
use ember_data::TextBatch;
use ember_models::BertForSequenceClassification;

use ember_train::task::Task;

/// Classifying sentences ([`TextBatch`]es) with [`BertForSequenceClassification`].
pub struct TextClassification;

impl Task for TextClassification {
    type Model = BertForSequenceClassification;
    type Batch = TextBatch;

    fn logits(model: &BertForSequenceClassification, batch: &TextBatch) -> Tensor<2> {
        model.logits(
            batch.input_ids.clone(),
            batch.token_type_ids.clone(),
            batch.attention_mask.clone(),
        )
    }

    fn targets(batch: &TextBatch) -> Tensor<1, Int> {
        batch.targets.clone()
    }

    fn without_autodiff(batch: &TextBatch) -> TextBatch {
        TextBatch {
            input_ids: batch.input_ids.clone().inner(),
            token_type_ids: batch.token_type_ids.clone().inner(),
            attention_mask: batch.attention_mask.clone().inner(),
            targets: batch.targets.clone().inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::{Device, TensorData};
    use ember_models::BertConfig;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_teacher_computes_its_logits_off_autodiff() {
        let config: BertConfig = serde_json::from_value(json!({
            "vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 16, "hidden_act": "gelu",
            "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
            "initializer_range": 0.5
        }))
        .expect("the tiny config parses");
        let device = Device::flex().autodiff();
        device.seed(3);
        let student = config.init_classifier(2, &device);
        let ints =
            |values: [[i64; 5]; 2]| Tensor::<2, Int>::from_data(TensorData::from(values), &device);
        let batch = TextBatch {
            input_ids: ints([[2, 5, 7, 9, 0], [3, 1, 4, 1, 5]]),
            token_type_ids: ints([[0, 0, 1, 1, 0], [0, 0, 0, 1, 1]]),
            attention_mask: ints([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]),
            targets: Tensor::from_data(TensorData::from([0i64, 1]), &device),
        };
        let plain = TextClassification::without_autodiff(&batch);
        assert!(!plain.input_ids.is_autodiff() && !plain.targets.is_autodiff());
        // A distillation teacher: the model taken off autodiff.
        let teacher = student.valid();
        let off = TextClassification::logits(&teacher, &plain);
        assert!(
            !off.is_autodiff(),
            "the teacher's forward ran through autodiff"
        );
        // The same logits as through autodiff's dispatch (whose unfused layer norm and
        // softmax round differently).
        let through = TextClassification::logits(&teacher, &batch);
        assert!(through.is_autodiff());
        off.into_data().assert_approx_eq::<f32>(
            &through.into_data(),
            burn::tensor::Tolerance::rel_abs(1e-5, 1e-6),
        );
    }
}
