//! `lenet5`: LeNet-5 (Caffe variant: 20 and 50 channels, 500 hidden) on 28×28 images
//! ([`ember_models::LeNet5`]).
//!
//! ```toml
//! [model]
//! kind = "lenet5"
//! hidden = 500   # the default
//! ```

use burn::tensor::Device;
use ember_models::{LeNet5, LeNet5Config};
use ember_train::TrainError;
use ember_train::recipe::ModelSpec;
use serde::Deserialize;

use crate::ImageFamily;

/// `[model]` settings of `kind = "lenet5"`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeNet5Settings {
    /// Width of the hidden fully connected layer (default 500).
    #[serde(default)]
    pub hidden: Option<usize>,
}

impl LeNet5Settings {
    /// The burn config these settings describe.
    pub fn config(&self) -> LeNet5Config {
        let config = LeNet5Config::new();
        match self.hidden {
            Some(hidden) => config.with_hidden(hidden),
            None => config,
        }
    }
}

fn check(spec: &ModelSpec) -> Result<(), TrainError> {
    let settings: LeNet5Settings = spec.settings()?;
    if let Some(hidden) = settings.hidden {
        crate::check_size("model.hidden", hidden, 1 << 16)?;
    }
    Ok(())
}

fn build(spec: &ModelSpec, device: &Device) -> Result<LeNet5, TrainError> {
    Ok(spec.settings::<LeNet5Settings>()?.config().init(device))
}

/// The `lenet5` family's entry.
pub(crate) fn entry() -> ImageFamily<LeNet5> {
    ImageFamily::new(check, build).with_blocks()
}
