use std::fmt;
use std::path::PathBuf;

/// The cause behind a [`BertError`], kept so that `Error::source` chains reach it.
type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How many tensor names an error message lists before it only counts the rest.
const LISTED: usize = 8;

/// Why a BERT configuration or checkpoint could not be used.
///
/// Every variant names the file it is about; the weight variants name the tensors, as the
/// checkpoint spells them (Hugging Face names such as
/// `encoder.layer.0.attention.self.query.weight`).
#[derive(Debug, thiserror::Error)]
pub enum BertError {
    /// `config.json` could not be read, parsed or accepted.
    #[error("BERT config {}: {message}", .path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong, naming the field where one is at fault.
        message: String,
        /// The underlying I/O or JSON error, if any.
        #[source]
        source: Option<Cause>,
    },
    /// The weights file could not be read, or a tensor in it could not be loaded.
    #[error("BERT weights {}: {message}", .path.display())]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong, naming the tensors where some are at fault.
        message: String,
        /// The underlying I/O or safetensors error, if any.
        #[source]
        source: Option<Cause>,
    },
    /// The model has parameters that the weights file does not hold.
    #[error(
        "BERT weights {}: the file lacks {} tensor(s) the model needs: {}",
        .path.display(),
        .tensors.len(),
        list(.tensors)
    )]
    Missing {
        /// The weights file.
        path: PathBuf,
        /// The missing tensors, named as the file would name them.
        tensors: Vec<String>,
    },
    /// The weights file holds tensors that no parameter of the model takes.
    #[error(
        "BERT weights {}: the file has {} tensor(s) the model has no place for: {}",
        .path.display(),
        .tensors.len(),
        list(.tensors)
    )]
    Unused {
        /// The weights file.
        path: PathBuf,
        /// The tensors left over, named as the file names them.
        tensors: Vec<String>,
    },
    /// Tensors of the file do not have the shapes of the model's parameters: the file was
    /// written for another configuration (another hidden size, vocabulary, layer width…).
    #[error(
        "BERT weights {}: {} tensor(s) do not fit the model built from the config: {}",
        .path.display(),
        .mismatches.len(),
        list(.mismatches)
    )]
    Shape {
        /// The weights file.
        path: PathBuf,
        /// Every tensor whose shape differs.
        mismatches: Vec<ShapeMismatch>,
    },
}

/// One tensor whose shape in the file differs from the model's parameter.
///
/// Both shapes are in burn's layout, where a `Linear` weight is `[in, out]`: the transpose of
/// the `[out, in]` that PyTorch writes in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// The tensor, named as the file names it.
    pub tensor: String,
    /// The shape the model's parameter has.
    pub expected: Vec<usize>,
    /// The shape the file's tensor has (after the transpose of `Linear` weights).
    pub found: Vec<usize>,
}

impl fmt::Display for ShapeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (model {:?}, file {:?})",
            self.tensor, self.expected, self.found
        )
    }
}

impl BertError {
    /// A [`BertError::Config`] without an underlying cause.
    pub(crate) fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Config {
            path: path.into(),
            message: message.into(),
            source: None,
        }
    }

    /// A [`BertError::Weights`] without an underlying cause.
    pub(crate) fn weights(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Weights {
            path: path.into(),
            message: message.into(),
            source: None,
        }
    }

    /// A [`BertError::Weights`] caused by `source`.
    pub(crate) fn weights_caused(
        path: impl Into<PathBuf>,
        message: impl Into<String>,
        source: impl Into<Cause>,
    ) -> Self {
        Self::Weights {
            path: path.into(),
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// The first [`LISTED`] items, comma-separated, then how many more there are.
fn list<T: fmt::Display>(items: &[T]) -> String {
    let mut text = items
        .iter()
        .take(LISTED)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LISTED {
        text.push_str(&format!(" and {} more", items.len() - LISTED));
    }
    text
}
