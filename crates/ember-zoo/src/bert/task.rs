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

    const HIDDEN_STATES: bool = true;

    /// The logits and every encoder layer's output, padding rows zeroed so that they add no
    /// error to a layer-wise distillation loss.
    fn logits_and_states(
        model: &BertForSequenceClassification,
        batch: &TextBatch,
    ) -> (Tensor<2>, Vec<Tensor<3>>) {
        let (logits, states) = model.logits_and_states(
            batch.input_ids.clone(),
            batch.token_type_ids.clone(),
            batch.attention_mask.clone(),
        );
        let tokens: Tensor<3> = batch.attention_mask.clone().float().unsqueeze_dim(2);
        let states = states.into_iter().map(|s| s * tokens.clone()).collect();
        (logits, states)
    }

    const CUTS_TOKENS: bool = true;

    fn cut_tokens(batch: &TextBatch, fraction: f64) -> TextBatch {
        batch.with_tokens_cut(fraction)
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

    /// A two-layer BERT config; `dropout` false sets both dropout rates to 0.
    fn tiny_config(dropout: bool) -> BertConfig {
        let mut json = json!({
            "vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 16, "hidden_act": "gelu",
            "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
            "initializer_range": 0.5
        });
        if !dropout {
            json["hidden_dropout_prob"] = json!(0.0);
            json["attention_probs_dropout_prob"] = json!(0.0);
        }
        serde_json::from_value(json).expect("the tiny config parses")
    }

    /// Two sentences of five tokens, the first padded at its end.
    fn tiny_batch(device: &Device) -> TextBatch {
        let ints =
            |values: [[i64; 5]; 2]| Tensor::<2, Int>::from_data(TensorData::from(values), device);
        TextBatch {
            input_ids: ints([[2, 5, 7, 9, 0], [3, 1, 4, 1, 5]]),
            token_type_ids: ints([[0, 0, 1, 1, 0], [0, 0, 0, 1, 1]]),
            attention_mask: ints([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]),
            targets: Tensor::from_data(TensorData::from([0i64, 1]), device),
        }
    }

    #[test]
    fn the_teacher_computes_its_logits_off_autodiff() {
        // Under the lock on burn's process-wide generator: other tests draw from it too.
        ember_train::with_host_rng(|| {
            let config = tiny_config(true);
            let device = Device::flex().autodiff();
            device.seed(3);
            let student = config.init_classifier(2, &device);
            let batch = tiny_batch(&device);
            let plain = TextClassification::without_autodiff(&batch);
            // Layer-wise states: one per layer, the same logits, padding rows zero.
            let (logits, states) = TextClassification::logits_and_states(&student.valid(), &plain);
            assert_eq!(states.len(), 2);
            logits.into_data().assert_approx_eq::<f32>(
                &TextClassification::logits(&student.valid(), &plain).into_data(),
                burn::tensor::Tolerance::rel_abs(1e-6, 1e-7),
            );
            for state in &states {
                assert_eq!(state.dims(), [2, 5, 8]);
                // The first sentence's hidden vector at `position`.
                let at = |position: usize| -> Vec<f32> {
                    let row = state.clone().narrow(0, 0, 1).narrow(1, position, 1);
                    row.into_data().try_to_vec::<f32>().unwrap()
                };
                let (padding, token) = (at(4), at(3));
                assert!(
                    padding.iter().all(|v| *v == 0.0),
                    "padding row not zeroed: {padding:?}"
                );
                assert!(token.iter().any(|v| *v != 0.0));
            }
            assert!(!plain.input_ids.is_autodiff() && !plain.targets.is_autodiff());
            crate::test_support::assert_the_teacher_computes_off_autodiff::<TextClassification>(
                &student, &batch,
            );
        })
    }

    /// A student and a teacher of the tiny config without dropout (so that a training
    /// forward is the one recomputed by hand), drawn from seed 7, and the tiny batch.
    fn student_teacher_batch() -> (
        BertForSequenceClassification,
        BertForSequenceClassification,
        TextBatch,
    ) {
        let config = tiny_config(false);
        let device = Device::flex().autodiff();
        device.seed(7);
        let student = config.init_classifier(2, &device);
        let teacher = config.init_classifier(2, &device);
        (student, teacher, tiny_batch(&device))
    }

    /// The training loss of one distillation step of `student` against `teacher` on `batch`.
    fn distilled_loss(
        student: &BertForSequenceClassification,
        teacher: &BertForSequenceClassification,
        settings: ember_train::task::Distillation,
        batch: &TextBatch,
    ) -> f64 {
        use burn::train::TrainStep;
        use ember_train::task::TaskModel;

        let model: TaskModel<TextClassification> =
            TaskModel::new(student.clone()).with_teacher(teacher.clone(), settings);
        let output = TrainStep::step(&model, batch.clone());
        assert!(!output.grads.is_empty(), "the student gets gradients");
        f64::from(output.item.loss.into_data().iter::<f32>().next().unwrap())
    }

    /// With `distill.hidden = β` the training loss is the logits' distillation loss plus β
    /// times the layer-wise error between the student's and the teacher's masked states.
    #[test]
    fn the_layer_wise_term_adds_beta_times_the_hidden_state_error() {
        // Under the lock on burn's process-wide generator: other tests draw from it too.
        ember_train::with_host_rng(|| {
            use ember_train::task::{Distillation, hidden_state_loss};

            let (student, teacher, batch) = student_teacher_batch();
            let loss = |hidden: f64| {
                let settings = Distillation {
                    hidden,
                    ..Distillation::logits(1.0, 2.0)
                };
                distilled_loss(&student, &teacher, settings, &batch)
            };
            let plain = TextClassification::without_autodiff(&batch);
            let (_, s) = TextClassification::logits_and_states(&student.valid(), &plain);
            let (_, t) = TextClassification::logits_and_states(&teacher.valid(), &plain);
            let error = f64::from(
                hidden_state_loss(s, t)
                    .into_data()
                    .iter::<f32>()
                    .next()
                    .unwrap(),
            );
            assert!(error > 0.0, "two initialisations differ");
            let (without, with) = (loss(0.0), loss(2.5));
            assert!(
                (with - without - 2.5 * error).abs() < 1e-4 * (1.0 + with.abs()),
                "{with} - {without} != 2.5 x {error}"
            );
        })
    }

    /// With `distill.token_cutoff` the teacher and the student read the same cut batch,
    /// drawn from the step's seed: the loss is the plain distillation loss on the batch that
    /// `with_tokens_cut` gives under that seed, and not the loss on the whole sentences.
    #[test]
    fn the_token_cutoff_distils_on_the_sentences_both_models_read_cut() {
        // Under the lock on burn's process-wide generator: other tests draw from it too.
        ember_train::with_host_rng(|| {
            use ember_train::task::Distillation;

            let (student, teacher, batch) = student_teacher_batch();
            let device = batch.input_ids.device();
            let loss = |batch: &TextBatch, token_cutoff: f64| {
                let settings = Distillation {
                    token_cutoff,
                    ..Distillation::logits(1.0, 2.0)
                };
                distilled_loss(&student, &teacher, settings, batch)
            };
            let mask = |b: &TextBatch| b.attention_mask.to_data().iter::<i64>().collect::<Vec<_>>();
            device.seed(11);
            let cut = batch.with_tokens_cut(0.5);
            assert_ne!(mask(&cut), mask(&batch), "seed 11 cuts some token");
            let by_hand = loss(&cut, 0.0);
            device.seed(11);
            let in_step = loss(&batch, 0.5);
            assert_eq!(
                in_step.to_bits(),
                by_hand.to_bits(),
                "{in_step} vs {by_hand}"
            );
            assert_ne!(in_step, loss(&batch, 0.0), "the cut changes the loss");
        })
    }
}
