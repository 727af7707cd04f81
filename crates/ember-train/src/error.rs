use std::path::PathBuf;

use ember_data::DataError;
use ember_models::{BertError, LlamaError};
use ember_report::ReportError;
use ember_sparsity::SparsityError;

/// Everything that can stop an experiment.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The recipe file cannot be read.
    #[error("cannot read recipe {path}: {source}")]
    ReadRecipe {
        /// The recipe path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The recipe is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("recipe {origin}: {message}")]
    Parse {
        /// Where the recipe came from.
        origin: String,
        /// What is wrong, with the key path and line where known.
        message: String,
    },
    /// A recipe value (or a command-line flag, `--sample`) is out of range.
    #[error("{}", describe_invalid(field, value, message))]
    Invalid {
        /// The dotted path of the field (`modifiers[0].schedule.final_sparsity`), or the flag
        /// (`--calibration`).
        field: String,
        /// The value given.
        value: String,
        /// What is expected.
        message: String,
    },
    /// A recipe with several problems, refused before any work (as `ember check` lists them).
    #[error("{first}\n{}", others.iter().map(|o| format!("error: {o}")).collect::<Vec<_>>().join("\n"))]
    Refused {
        /// The first problem.
        first: Box<TrainError>,
        /// The others, one line each.
        others: Vec<String>,
    },
    /// A file of a run cannot be read, or does not match the SHA-256 recorded for it.
    #[error("cannot read {}: {message}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A file Ember wrote does not match its checksums: it was damaged after it was written.
    #[error(transparent)]
    Damaged(#[from] ember_sparsity::ChecksumError),
    /// A `--set key=value` override is malformed.
    #[error("override `{0}` must have the form key=value")]
    Override(String),
    /// The data set cannot be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A pretrained model cannot be read (config, weights).
    #[error(transparent)]
    Model(#[from] BertError),
    /// A decoder language model cannot be read (config, weights) or given this input.
    #[error(transparent)]
    Decoder(#[from] LlamaError),
    /// The sparsity plan does not fit the model.
    #[error(transparent)]
    Sparsity(#[from] SparsityError),
    /// A weights file cannot be loaded into this model.
    #[error("cannot load weights {path} into the `{model}` model: {message}")]
    LoadWeights {
        /// The file.
        path: PathBuf,
        /// The model kind of the recipe.
        model: String,
        /// What burn reported.
        message: String,
    },
    /// A checkpoint cannot be read.
    #[error("cannot read checkpoint {path}: {message}")]
    ReadCheckpoint {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Writing an output file failed.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A sweep's grid, seeds or recipes do not make a sweep.
    #[error("{}", grid_message(axis, message))]
    Grid {
        /// The grid axis (or key) at fault; empty when the sweep as a whole is.
        axis: String,
        /// What is wrong.
        message: String,
    },
    /// A run directory cannot be used for this run.
    #[error("run directory {dir}: {message}")]
    RunDir {
        /// The directory.
        dir: PathBuf,
        /// Why not.
        message: String,
    },
    /// A lottery-ticket experiment's settings do not make one.
    #[error("lottery: {0}")]
    Lottery(String),
    /// Training produced a NaN or infinite loss or weight. The last checkpoint written holds
    /// finite weights.
    #[error(
        "training diverged in phase `{phase}` at epoch {epoch}, step {step}: {message}; lower \
         the learning rate, or resume from the last checkpoint with other settings"
    )]
    Diverged {
        /// The phase (`dense` or `sparse`).
        phase: String,
        /// The epoch (from 1).
        epoch: usize,
        /// The optimizer step of the phase (from 1).
        step: u64,
        /// What was not finite, and the first parameter concerned.
        message: String,
    },
    /// The run finished without reaching what its recipe asked for (recorded in
    /// `report.json` as `shortfall`).
    #[error("the run in {dir} missed its target: {message}")]
    Shortfall {
        /// The run directory.
        dir: PathBuf,
        /// What was missed.
        message: String,
    },
    /// burn-train stopped with an error.
    #[error("training phase `{phase}` failed: {message}")]
    Training {
        /// The phase (`dense` or `sparse`).
        phase: String,
        /// What burn-train reported.
        message: String,
    },
}

impl From<ReportError> for TrainError {
    /// Each variant becomes [`TrainError`]'s of the same name, with the same message.
    fn from(error: ReportError) -> Self {
        match error {
            ReportError::ReadFile { path, message } => Self::ReadFile { path, message },
            ReportError::Write { path, message } => Self::Write { path, message },
        }
    }
}

fn grid_message(axis: &str, message: &str) -> String {
    if axis.is_empty() {
        format!("sweep: {message}")
    } else {
        format!("sweep grid `{axis}`: {message}")
    }
}

/// How an [`TrainError::Invalid`] reads: a flag is named as a flag, not as a recipe field.
fn describe_invalid(field: &str, value: &str, message: &str) -> String {
    if field.starts_with("--") {
        format!("{field} ({value}): {message}")
    } else {
        format!("recipe field `{field}` = {value}: {message}")
    }
}
