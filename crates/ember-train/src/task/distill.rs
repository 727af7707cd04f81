//! Knowledge distillation from a dense teacher: the logits (Hinton et al. 2015), as GMP*
//! uses it, and optionally every encoder layer's hidden states (TinyBERT, Jiao et al. 2020;
//! Prune Once for All, Zafrir et al. 2021), which keeps a pruned student's representations
//! close to the dense model's layer by layer instead of only at the output.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

/// `[distill]`: how much of the loss comes from the teacher, and at what temperature.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distillation {
    /// `h` in `(1-h)·CE + h·T²·KL`: 0 is plain cross-entropy, 1 learns from the teacher
    /// alone (GMP*'s setting).
    pub hardness: f64,
    /// `T`: both sets of logits are divided by it before the softmax; larger values expose
    /// more of the teacher's ranking of the wrong classes.
    pub temperature: f64,
    /// `β`, the weight of the layer-wise term `β · mean_l MSE(student_l, teacher_l)` over
    /// the encoder layers' hidden states ([`hidden_state_loss`]). 0 (the default) distils
    /// the logits alone; a model kind without hidden states refuses a positive value.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hidden: f64,
    /// The probability, in [0, 1), with which each token of each training sentence is cut
    /// from attention before the teacher and the student read it (token cutoff, Shen et al.
    /// 2020; [`Task::cut_tokens`]). Every step cuts anew, so the student matches the teacher
    /// on many shortened variants of each sentence instead of only on the sentences
    /// themselves: a larger transfer set from the same data, as TinyBERT's augmentation gives
    /// distillation. 0 (the default) cuts nothing; a model kind without tokens refuses a
    /// positive value.
    ///
    /// [`Task::cut_tokens`]: crate::task::Task::cut_tokens
    #[serde(default, skip_serializing_if = "is_zero")]
    pub token_cutoff: f64,
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

impl Distillation {
    /// Distillation from the teacher's logits alone: `hardness` and `temperature`, no
    /// layer-wise term, no token cutoff.
    pub fn logits(hardness: f64, temperature: f64) -> Self {
        Self {
            hardness,
            temperature,
            hidden: 0.0,
            token_cutoff: 0.0,
        }
    }

    /// Whether the run needs the teacher: for the soft term (`hardness > 0`) or the
    /// layer-wise one (`hidden > 0`). At neither the loss is plain cross-entropy.
    pub fn needs_teacher(&self) -> bool {
        self.hardness > 0.0 || self.hidden > 0.0
    }

    /// Checks `0 ≤ hardness ≤ 1`, `temperature > 0`, `hidden ≥ 0` and `0 ≤ token_cutoff < 1`
    /// (and that a cutoff has a teacher to read the cut sentences), naming the field that
    /// is not.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(0.0..=1.0).contains(&self.hardness) {
            return Err(("distill.hardness", "must lie in [0, 1]".to_string()));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err((
                "distill.temperature",
                "must be a positive number".to_string(),
            ));
        }
        if !(self.hidden.is_finite() && self.hidden >= 0.0) {
            return Err(("distill.hidden", "must be a finite number ≥ 0".to_string()));
        }
        if !(0.0..1.0).contains(&self.token_cutoff) {
            return Err(("distill.token_cutoff", "must lie in [0, 1)".to_string()));
        }
        if self.token_cutoff > 0.0 && !self.needs_teacher() {
            return Err((
                "distill.token_cutoff",
                "cuts the tokens the teacher and the student read, but hardness = 0 and \
                 hidden = 0 train without a teacher; set hardness > 0 or the cutoff to 0"
                    .to_string(),
            ));
        }
        Ok(())
    }
}

/// `(1-h)·CE(student, targets) + h·T²·KL(softmax(teacher/T) ‖ softmax(student/T))`, the KL
/// averaged over the batch. The `T²` keeps the soft term's gradients on the scale of the hard
/// one's as `T` changes. The teacher's logits are treated as constants.
///
/// # Shapes
///
/// - `student`, `teacher`: `[batch, classes]`
/// - `targets`: `[batch]`
pub fn distillation_loss(
    student: Tensor<2>,
    teacher: Tensor<2>,
    targets: Tensor<1, Int>,
    settings: Distillation,
) -> Tensor<1> {
    let Distillation {
        hardness,
        temperature,
        ..
    } = settings;
    let [batch, _] = student.dims();
    let teacher = teacher.detach();
    let log_student = log_softmax(student.clone() / temperature, 1);
    let log_teacher = log_softmax(teacher.clone() / temperature, 1);
    let p_teacher = softmax(teacher / temperature, 1);
    let kl = (p_teacher * (log_teacher - log_student))
        .sum()
        .div_scalar(batch as f64);
    let soft = kl.mul_scalar(hardness * temperature * temperature);
    if hardness >= 1.0 {
        return soft;
    }
    let hard = CrossEntropyLossConfig::new()
        .init(&student.device())
        .forward(student, targets);
    hard.mul_scalar(1.0 - hardness) + soft
}

/// The mean over layers of the mean squared difference between the student's and the
/// teacher's hidden states: `mean_l mean((student_l - teacher_l)²)`. The teacher's states are
/// treated as constants. Positions a task zeroes in both (padding) add zero error.
///
/// # Shapes
///
/// - `student`, `teacher`: one `[batch, seq, hidden]` tensor per layer, as many of each
///
/// # Panics
///
/// If the two lists are empty or differ in length, or a pair differs in shape: a task that
/// offers hidden states returns the same layers for both models.
pub fn hidden_state_loss(student: Vec<Tensor<3>>, teacher: Vec<Tensor<3>>) -> Tensor<1> {
    assert!(
        !student.is_empty() && student.len() == teacher.len(),
        "hidden-state distillation needs the same, non-empty list of layers from both models \
         ({} and {})",
        student.len(),
        teacher.len()
    );
    let layers = student.len();
    student
        .into_iter()
        .zip(teacher)
        .map(|(s, t)| {
            assert_eq!(
                s.dims(),
                t.dims(),
                "a student and a teacher layer differ in shape"
            );
            (s - t.detach()).square().mean()
        })
        .reduce(|a, b| a + b)
        .expect("at least one layer")
        .div_scalar(layers as f64)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn logits(values: [[f32; 3]; 2]) -> Tensor<2> {
        Tensor::from_data(TensorData::from(values), &Device::flex())
    }

    fn scalar(t: Tensor<1>) -> f64 {
        f64::from(t.into_data().iter::<f32>().next().unwrap())
    }

    /// The closed form, computed in f64 on the host.
    fn by_hand(s: [[f64; 3]; 2], t: [[f64; 3]; 2], y: [usize; 2], h: f64, temp: f64) -> f64 {
        let log_softmax = |row: [f64; 3], temp: f64| {
            let z: Vec<f64> = row.iter().map(|v| v / temp).collect();
            let max = z.iter().cloned().fold(f64::MIN, f64::max);
            let lse = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            z.iter().map(|v| v - lse).collect::<Vec<_>>()
        };
        let (mut ce, mut kl) = (0.0, 0.0);
        for i in 0..2 {
            ce -= log_softmax(s[i], 1.0)[y[i]];
            let (ls, lt) = (log_softmax(s[i], temp), log_softmax(t[i], temp));
            kl += (0..3).map(|c| lt[c].exp() * (lt[c] - ls[c])).sum::<f64>();
        }
        (1.0 - h) * ce / 2.0 + h * temp * temp * kl / 2.0
    }

    #[test]
    fn matches_the_closed_form() {
        let s = [[1.5, -0.5, 0.25], [0.1, 2.0, -1.0]];
        let t = [[3.0, 0.0, -1.0], [-0.5, 1.0, 0.5]];
        let as_f32 = |m: [[f64; 3]; 2]| m.map(|row| row.map(|v| v as f32));
        let targets = Tensor::<1, Int>::from_data(TensorData::from([0i64, 2]), &Device::flex());
        for (h, temp) in [(0.0, 1.0), (1.0, 2.0), (0.5, 4.0), (1.0, 5.5)] {
            let settings = Distillation::logits(h, temp);
            let got = scalar(distillation_loss(
                logits(as_f32(s)),
                logits(as_f32(t)),
                targets.clone(),
                settings,
            ));
            let want = by_hand(s, t, [0, 2], h, temp);
            assert!((got - want).abs() < 1e-5, "h={h} T={temp}: {got} vs {want}");
        }
    }

    #[test]
    fn vanishes_when_the_student_is_the_teacher() {
        let s = logits([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]]);
        let targets = Tensor::<1, Int>::from_data(TensorData::from([0i64, 1]), &Device::flex());
        let settings = Distillation::logits(1.0, 3.0);
        let loss = scalar(distillation_loss(s.clone(), s, targets, settings));
        assert!(loss.abs() < 1e-6, "{loss}");
    }

    #[test]
    fn rejects_out_of_range_settings() {
        let bad = Distillation::logits(1.5, 2.0);
        assert_eq!(bad.validate().unwrap_err().0, "distill.hardness");
        let bad = Distillation::logits(1.0, 0.0);
        assert_eq!(bad.validate().unwrap_err().0, "distill.temperature");
        for hidden in [-0.5, f64::NAN, f64::INFINITY] {
            let bad = Distillation {
                hidden,
                ..Distillation::logits(1.0, 2.0)
            };
            assert_eq!(bad.validate().unwrap_err().0, "distill.hidden");
        }
        for token_cutoff in [-0.1, 1.0, f64::NAN] {
            let bad = Distillation {
                token_cutoff,
                ..Distillation::logits(1.0, 2.0)
            };
            assert_eq!(bad.validate().unwrap_err().0, "distill.token_cutoff");
        }
        let without_teacher = Distillation {
            token_cutoff: 0.1,
            ..Distillation::logits(0.0, 2.0)
        };
        let (field, message) = without_teacher.validate().unwrap_err();
        assert_eq!(field, "distill.token_cutoff");
        assert!(message.contains("without a teacher"), "{message}");
        let layer_wise = Distillation {
            token_cutoff: 0.1,
            hidden: 1.0,
            ..Distillation::logits(0.0, 2.0)
        };
        assert_eq!(layer_wise.validate(), Ok(()));
    }

    #[test]
    fn hidden_state_loss_is_the_mean_over_layers_of_the_mean_squared_error() {
        let device = Device::flex();
        let layer =
            |values: [[[f32; 2]; 2]; 1]| Tensor::<3>::from_data(TensorData::from(values), &device);
        // Layer 1: errors 1, -2, 0, 3 → MSE 14/4 = 3.5; layer 2: all 0.5 → 0.25.
        let student = vec![
            layer([[[1.0, -2.0], [0.0, 3.0]]]),
            layer([[[0.5, 0.5], [0.5, 0.5]]]),
        ];
        let teacher = vec![layer([[[0.0; 2]; 2]]), layer([[[0.0; 2]; 2]])];
        let loss = scalar(hidden_state_loss(student.clone(), teacher));
        assert!((loss - (3.5 + 0.25) / 2.0).abs() < 1e-6, "{loss}");
        // No error against itself.
        let loss = scalar(hidden_state_loss(student.clone(), student));
        assert_eq!(loss, 0.0);
    }
}
