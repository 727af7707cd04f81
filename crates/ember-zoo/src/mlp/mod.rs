//! `mlp`: multilayer perceptrons on 28×28 images, LeNet-300-100 by default
//! ([`ember_models::Mlp`]), with a sparse engine ([`SparseMlp`]).
//!
//! ```toml
//! [model]
//! kind = "mlp"
//! hidden = [300, 100]   # the default
//! ```

mod sparse;

use burn::tensor::Device;
use ember_models::{Mlp, MlpConfig};
use ember_train::TrainError;
use ember_train::recipe::ModelSpec;
use serde::Deserialize;

pub use sparse::SparseMlp;
pub(crate) use sparse::linear_weight;

use crate::ImageFamily;

/// The most weights an `mlp` recipe may ask for, 2^30 (4 GiB of f32): the model is built on
/// the host by `ember check`, so a mistyped width must be refused before it is allocated.
pub const MAX_MLP_WEIGHTS: u64 = 1 << 30;

/// `[model]` settings of `kind = "mlp"`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpSettings {
    /// Hidden layer widths (default `[300, 100]`, LeNet-300-100).
    #[serde(default)]
    pub hidden: Option<Vec<usize>>,
}

impl MlpSettings {
    /// The burn config these settings describe.
    pub fn config(&self) -> MlpConfig {
        let config = MlpConfig::new();
        match &self.hidden {
            Some(hidden) => config.with_hidden(hidden.clone()),
            None => config,
        }
    }
}

fn check(spec: &ModelSpec) -> Result<(), TrainError> {
    let settings: MlpSettings = spec.settings()?;
    let Some(hidden) = &settings.hidden else {
        return Ok(());
    };
    let invalid = |field: String, value: String, message: String| TrainError::Invalid {
        field,
        value,
        message,
    };
    // 784 inputs and 10 outputs (MNIST); a wider input only makes it larger.
    let widths: Vec<u64> = std::iter::once(784)
        .chain(hidden.iter().map(|w| *w as u64))
        .chain(std::iter::once(10))
        .collect();
    let weights: u64 = widths.windows(2).map(|w| w[0].saturating_mul(w[1])).sum();
    if weights > MAX_MLP_WEIGHTS {
        return Err(invalid(
            "model.hidden".into(),
            format!("{hidden:?}"),
            format!(
                "gives {weights} weights; an `mlp` has at most {MAX_MLP_WEIGHTS} (4 GB of f32)"
            ),
        ));
    }
    if hidden.len() > 64 {
        return Err(invalid(
            "model.hidden (layers)".into(),
            hidden.len().to_string(),
            "must be at most 64".into(),
        ));
    }
    for (i, width) in hidden.iter().enumerate() {
        crate::check_size(&format!("model.hidden[{i}]"), *width, 1 << 16)?;
    }
    Ok(())
}

fn build(spec: &ModelSpec, device: &Device) -> Result<Mlp, TrainError> {
    Ok(spec.settings::<MlpSettings>()?.config().init(device))
}

/// The `mlp` family's entry.
pub(crate) fn entry() -> ImageFamily<Mlp> {
    ImageFamily::new(check, build)
        .with_blocks()
        .with_sparse_engine(SparseMlp::from_model)
}
