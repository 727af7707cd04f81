use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};
use serde::{Deserialize, Serialize};

/// `[optimizer]`: the optimizer of every phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// Adam with optional L2 weight decay.
    Adam {
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f32,
    },
    /// AdamW (decoupled weight decay).
    Adamw {
        /// Decoupled weight decay.
        #[serde(default = "default_adamw_decay")]
        weight_decay: f32,
    },
    /// SGD with optional momentum and weight decay.
    Sgd {
        /// Momentum (0 for none).
        #[serde(default)]
        momentum: f64,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f32,
    },
}

fn default_adamw_decay() -> f32 {
    1e-2
}

impl Default for OptimizerSpec {
    fn default() -> Self {
        Self::Adam { weight_decay: 0.0 }
    }
}

impl OptimizerSpec {
    /// The optimizer, fresh (no state).
    pub fn init(&self) -> ModuleOptimizer {
        let decay = |penalty: f32| (penalty > 0.0).then(|| WeightDecayConfig::new(penalty));
        match self {
            Self::Adam { weight_decay } => AdamConfig::new()
                .with_weight_decay(decay(*weight_decay))
                .init(),
            Self::Adamw { weight_decay } => {
                AdamWConfig::new().with_weight_decay(*weight_decay).init()
            }
            Self::Sgd {
                momentum,
                weight_decay,
            } => SgdConfig::new()
                .with_momentum((*momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(*momentum)
                        .with_dampening(0.0)
                }))
                .with_weight_decay(decay(*weight_decay))
                .init(),
        }
    }

    /// Whether the optimizer updates each element from that element's gradient and state
    /// alone: true of every optimizer a recipe can name (Adam, AdamW and SGD, with momentum
    /// and weight decay; none clips gradients), so pruned and frozen elements' gradients need
    /// not be zeroed before it ([`ember_sparsity::Sparse::with_elementwise_optimizer`]). An
    /// optimizer added here that mixes elements (LAMB's trust ratio, Adafactor's factored
    /// moments, Muon) must answer `false`.
    pub fn is_elementwise(&self) -> bool {
        match self {
            Self::Adam { .. } | Self::Adamw { .. } | Self::Sgd { .. } => true,
        }
    }

    /// Checks the ranges; returns the offending field and message.
    pub fn validate(&self) -> Result<(), (&'static str, String, &'static str)> {
        let (wd, momentum) = match self {
            Self::Adam { weight_decay } | Self::Adamw { weight_decay } => (*weight_decay, 0.0),
            Self::Sgd {
                momentum,
                weight_decay,
            } => (*weight_decay, *momentum),
        };
        if !(wd.is_finite() && wd >= 0.0) {
            return Err((
                "optimizer.weight_decay",
                wd.to_string(),
                "must be a finite number >= 0",
            ));
        }
        if !(0.0..1.0).contains(&momentum) {
            return Err((
                "optimizer.momentum",
                momentum.to_string(),
                "must lie in [0, 1)",
            ));
        }
        Ok(())
    }
}
