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
}
