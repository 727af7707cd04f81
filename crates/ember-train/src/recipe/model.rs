use std::path::PathBuf;

use ember_models::{LeNet5Config, MlpConfig};
use serde::{Deserialize, Serialize};

/// `[model]`: which built-in model to train. Omitted sizes take the defaults of the model's
/// burn `Config` (`MlpConfig::new()`, `LeNet5Config::new()`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSpec {
    /// A multi-layer perceptron; LeNet-300-100 by default.
    Mlp {
        /// Hidden layer widths (default `[300, 100]`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hidden: Option<Vec<usize>>,
    },
    /// LeNet-5 (Caffe variant: 20 and 50 channels, 500 hidden).
    Lenet5 {
        /// Width of the hidden fully connected layer (default 500).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hidden: Option<usize>,
    },
    /// A pretrained BERT-family encoder (BERT, MiniLM, …) from a Hugging Face directory
    /// (`config.json`, `model.safetensors`, `tokenizer.json`) with a fresh classification
    /// head, for text data sets.
    Bert {
        /// The model directory. `ember run` fills in all-MiniLM-L6-v2 from Ember's cache
        /// (fetching it first) when it is omitted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dir: Option<PathBuf>,
        /// Classes of the classification head (default 2).
        #[serde(default = "default_num_labels")]
        num_labels: usize,
    },
}

fn default_num_labels() -> usize {
    2
}

impl ModelSpec {
    /// The model's short name (`mlp`, `lenet5`, `bert`), its key in the
    /// [`ModelRegistry`](crate::ModelRegistry).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Mlp { .. } => "mlp",
            Self::Lenet5 { .. } => "lenet5",
            Self::Bert { .. } => "bert",
        }
    }

    /// The burn config of an MLP spec.
    pub fn mlp_config(hidden: &Option<Vec<usize>>) -> MlpConfig {
        let config = MlpConfig::new();
        match hidden {
            Some(hidden) => config.with_hidden(hidden.clone()),
            None => config,
        }
    }

    /// The burn config of a LeNet-5 spec.
    pub fn lenet5_config(hidden: &Option<usize>) -> LeNet5Config {
        let config = LeNet5Config::new();
        match hidden {
            Some(hidden) => config.with_hidden(*hidden),
            None => config,
        }
    }
}
