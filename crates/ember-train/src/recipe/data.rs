use std::path::PathBuf;

use ember_data::DatasetSource;
use serde::{Deserialize, Serialize};

/// Where the images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The 5,000-image MNIST subset embedded in Ember (4,500 train / 500 test).
    Embedded,
    /// Full MNIST from `dir` (IDX files, raw or gzip).
    Mnist,
    /// Fashion-MNIST from `dir` (default: Debian's `/usr/share/datasets/fashion-mnist`).
    FashionMnist,
}

/// `[data]`: the data set and how it is batched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// The data set.
    pub source: SourceKind,
    /// The directory of `mnist` / `fashion_mnist` files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Images per batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Use only `train_limit` training images, evenly spaced over the training split so that
    /// every class keeps its share (for quick experiments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
}

fn default_batch_size() -> usize {
    128
}

impl DataSpec {
    /// The data source this spec names. `mnist` needs `dir`; the error says so.
    pub fn source(&self) -> Result<DatasetSource, String> {
        match (self.source, &self.dir) {
            (SourceKind::Embedded, _) => Ok(DatasetSource::Embedded),
            (SourceKind::Mnist, Some(dir)) => Ok(DatasetSource::Mnist(dir.clone())),
            (SourceKind::Mnist, None) => {
                Err("`source = \"mnist\"` needs `dir`, the folder of the IDX files".to_string())
            }
            (SourceKind::FashionMnist, dir) => Ok(DatasetSource::FashionMnist(
                dir.clone()
                    .unwrap_or_else(|| PathBuf::from(DatasetSource::FASHION_MNIST_DEBIAN_DIR)),
            )),
        }
    }
}
