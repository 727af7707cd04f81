//! The metrics a task reports, by name.

use serde::{Deserialize, Serialize};

/// A metric a [`Task`](super::Task) reports on its test split (`report.json`'s `metrics`):
/// each follows from the mean loss and the share of right predictions that every task sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The mean cross-entropy per example (per token for sequence tasks).
    Loss,
    /// Top-1 accuracy in percent (next-token accuracy for sequence tasks).
    Accuracy,
    /// `exp(mean loss)`: language modelling's perplexity when examples are tokens.
    Perplexity,
}

impl Metric {
    /// The metric's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Loss => "loss",
            Self::Accuracy => "accuracy",
            Self::Perplexity => "perplexity",
        }
    }

    /// The metric from a split's mean loss and accuracy (`None` when nothing was seen).
    pub fn of(self, mean_loss: Option<f64>, accuracy: Option<f64>) -> Option<f64> {
        match self {
            Self::Loss => mean_loss,
            Self::Accuracy => accuracy,
            Self::Perplexity => mean_loss.map(f64::exp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perplexity_is_the_exponential_of_the_mean_loss() {
        let loss = Some(2.0f64.ln());
        assert_eq!(Metric::Perplexity.of(loss, Some(50.0)), Some(2.0));
        assert_eq!(Metric::Loss.of(loss, Some(50.0)), loss);
        assert_eq!(Metric::Accuracy.of(loss, Some(50.0)), Some(50.0));
        assert_eq!(Metric::Perplexity.of(None, None), None);
    }
}
