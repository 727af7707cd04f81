#![warn(missing_docs)]
//! Plots of Ember runs and sweeps, each written as a PNG and an SVG of the same size.
//!
//! - [`plot_run`]: for one run directory, `sparsity.{png,svg}` (the measured sparsity of
//!   every pruned tensor, with the overall ratio) and `curves.{png,svg}` (accuracy and loss per
//!   epoch over the dense and pruning phases, with the target sparsity).
//! - [`plot_sweep`]: for a sweep directory, `accuracy-vs-sparsity.{png,svg}`: mean test
//!   accuracy against measured sparsity with ± one standard deviation as error bars, one line
//!   per method, and the dense baseline as a band.
//! - [`plot_lottery`]: for a lottery-ticket experiment, `lottery.{png,svg}`: accuracy against
//!   the weights remaining, the rewound ticket against its re-initialised control.
//!
//! Text is drawn with DejaVu Sans embedded in the binary, so plotting needs no system fonts.

mod canvas;
mod lottery;
mod metrics;
mod run;
mod sweep;

use std::path::PathBuf;

pub use canvas::{HEIGHT, WIDTH};
pub use lottery::plot_lottery;
pub use metrics::{MetricsRow, read_metrics};
pub use run::plot_run;
pub use sweep::plot_sweep;

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// An input file is missing or unreadable.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// An input file is not what its name promises.
    #[error("{path} is not {expected}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What it should be.
        expected: &'static str,
        /// What is wrong.
        message: String,
    },
    /// There is nothing to plot.
    #[error("nothing to plot in {path}: {message}")]
    Empty {
        /// The run or sweep.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// Drawing or writing the image failed.
    #[error("cannot draw {path}: {message}")]
    Draw {
        /// The image file.
        path: PathBuf,
        /// What the plotting library reported.
        message: String,
    },
}

/// The message of a failed read of a run's file, without the path a [`PlotError`] names
/// itself.
fn read_message(error: ember_report::ReportError) -> String {
    match error {
        ember_report::ReportError::ReadFile { message, .. } => message,
        other => other.to_string(),
    }
}
