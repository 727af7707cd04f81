use std::path::PathBuf;

/// The cause behind a [`LlamaError`], kept so that `Error::source` chains reach it.
type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a decoder's configuration, checkpoint or input could not be used. Every variant names
/// the file (or the value) at fault; weight variants name tensors as the checkpoint spells them
/// (`model.layers.0.self_attn.q_proj.weight`).
#[derive(Debug, thiserror::Error)]
pub enum LlamaError {
    /// `config.json` could not be read, parsed or accepted.
    #[error("decoder config {}: {message}", .path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong, naming the field at fault.
        message: String,
        /// The underlying I/O or JSON error, if any.
        #[source]
        source: Option<Cause>,
    },
    /// A weights file (or the shard index) could not be read, or its tensors do not fit the
    /// model: missing, left over or mis-shaped tensors are listed by name.
    #[error("decoder weights {}: {message}", .path.display())]
    Weights {
        /// The weights file or folder.
        path: PathBuf,
        /// What is wrong, naming the tensors at fault.
        message: String,
        /// The underlying I/O or safetensors error, if any.
        #[source]
        source: Option<Cause>,
    },
    /// An input the model cannot take: a sequence longer than its positions, a token id
    /// outside its vocabulary.
    #[error("decoder input: {0}")]
    Input(String),
}

impl LlamaError {
    pub(crate) fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Config {
            path: path.into(),
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn weights(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Weights {
            path: path.into(),
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn weights_caused(
        path: impl Into<PathBuf>,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Weights {
            path: path.into(),
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}
