#![warn(missing_docs)]
//! What an Ember run leaves behind: reports, sweep and lottery summaries, and files recorded
//! with SHA-256 sums.
//!
//! - [`files`]: files written atomically and recorded in their folder's `SHA256SUMS`
//!   ([`MANIFEST`]), then checked against it when read back ([`read_recorded`]);
//! - [`RunReport`]: a run's `report.json` (accuracies, per-layer sparsity measured from the
//!   weights, parameter counts, wall time);
//! - [`sweep`]: a sweep's `summary.{json,csv,md}` ([`SweepSummary`]: every run, and every
//!   cell as mean ± std over its seeds);
//! - [`lottery`]: a lottery-ticket experiment's `lottery.{json,csv,md}` ([`LotterySummary`]).
//!
//! It depends on no tensor library, so tools that only read or plot results (`ember-plot`)
//! need not build the trainer.

mod error;
pub mod files;
pub mod lottery;
mod report;
pub mod sweep;

pub use error::ReportError;
pub use files::{MANIFEST, read_recorded, write_atomically, write_recorded};
pub use lottery::{LotteryRound, LotterySummary, Rewind};
pub use report::{LayerReport, ParameterCounts, PhaseReport, RunReport, SparsitySummary};
pub use sweep::{CellSummary, SweepRow, SweepSummary, mean_std};
