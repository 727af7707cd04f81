use ember_schedule::LrSchedule;
use serde::{Deserialize, Serialize};

use super::Steps;

/// A learning-rate schedule in a recipe, in epochs. It spans the whole phase it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSpec {
    /// The same rate throughout.
    Constant {
        /// The learning rate.
        lr: f64,
    },
    /// Linear decay from `init` to `final` over the phase.
    Linear {
        /// Rate at the start.
        init: f64,
        /// Rate at the end.
        #[serde(rename = "final")]
        final_lr: f64,
    },
    /// Cosine annealing from `init` to `min` over the phase.
    Cosine {
        /// Rate at the start.
        init: f64,
        /// Rate at the end.
        #[serde(default)]
        min: f64,
    },
    /// GMP\*'s sawtooth: warm-up for `warmup_epochs`, then linear decay from `init` to `final`
    /// that rewinds to `init` at every pruning step of the phase's prune modifiers.
    Sawtooth {
        /// Rate at the start of each tooth.
        init: f64,
        /// Rate each tooth decays to.
        #[serde(rename = "final")]
        final_lr: f64,
        /// Epochs of linear warm-up.
        #[serde(default)]
        warmup_epochs: f64,
    },
}

impl LrSpec {
    /// The schedule in steps, for a phase of `total` steps whose pruning steps are `rewinds`.
    pub fn to_schedule(&self, steps: &Steps, total: u64, rewinds: &[u64]) -> LrSchedule {
        match self {
            Self::Constant { lr } => LrSchedule::Constant { lr: *lr },
            Self::Linear { init, final_lr } => LrSchedule::Linear {
                init: *init,
                final_lr: *final_lr,
                steps: total,
            },
            Self::Cosine { init, min } => LrSchedule::Cosine {
                init: *init,
                min: *min,
                steps: total,
            },
            Self::Sawtooth {
                init,
                final_lr,
                warmup_epochs,
            } => LrSchedule::Sawtooth {
                init: *init,
                final_lr: *final_lr,
                warmup_steps: steps.at(*warmup_epochs).min(total),
                rewinds: rewinds.to_vec(),
                end: total,
            },
        }
    }
}
