use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// `[model]`: which model family trains, the folder of its files when it reads any, and the
/// family's own settings.
///
/// `kind` names an entry of the [`ModelRegistry`](crate::ModelRegistry) the run is given
/// (`ember_zoo::models()` holds `mlp`, `lenet5` and `bert`); the other keys belong to that
/// family, which reads them with [`ModelSpec::settings`] and refuses the ones it does not know
/// ([`ModelEntry::validate`](crate::ModelEntry::validate)). So a family of one's own is named
/// from a recipe like a built-in one:
///
/// ```toml
/// [model]
/// kind = "mlp"
/// hidden = [300, 100]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The family's name in the model registry.
    pub kind: String,
    /// The folder of the model's files (configuration, weights, tokenizer), for families that
    /// read any. A relative path in a recipe file is relative to the file's folder, as every
    /// path of a recipe is; a family may fill it in when it is omitted
    /// ([`ModelEntry::fetch_dir`](crate::ModelEntry::fetch_dir)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Every other key of `[model]`: the family's settings.
    #[serde(flatten)]
    pub settings: toml::Table,
}

impl ModelSpec {
    /// The family's name, its key in the [`ModelRegistry`](crate::ModelRegistry).
    pub fn name(&self) -> &str {
        &self.kind
    }

    /// The settings read as the family's own type `S` (a serde struct that should deny
    /// unknown fields): a missing key takes `S`'s default, an unknown or mistyped one is an
    /// error naming `model`.
    pub fn settings<S: DeserializeOwned>(&self) -> Result<S, TrainError> {
        toml::Value::Table(self.settings.clone())
            .try_into()
            .map_err(|e: toml::de::Error| TrainError::Invalid {
                field: "model".into(),
                value: format!("kind = {:?}", self.kind),
                message: e.message().trim_end().to_string(),
            })
    }

    /// Refuses a `dir` for a family that reads no files.
    pub fn refuse_dir(&self) -> Result<(), TrainError> {
        match &self.dir {
            None => Ok(()),
            Some(dir) => Err(TrainError::Invalid {
                field: "model.dir".into(),
                value: dir.display().to_string(),
                message: format!("the `{}` model reads no files", self.kind),
            }),
        }
    }
}
