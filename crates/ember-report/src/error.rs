use std::path::PathBuf;

/// Why a run's file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file of a run cannot be read, or does not match the SHA-256 recorded for it.
    #[error("cannot read {}: {message}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
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
}
