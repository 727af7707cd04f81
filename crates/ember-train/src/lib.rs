#![warn(missing_docs)]
//! Ember's trainer: TOML [`Recipe`]s become experiments that train a dense baseline and then
//! prune it, leaving a run directory behind. One device trains in Ember's own loop over
//! burn's train step, optimizer and scheduler, which checkpoints atomically, resumes bit for
//! bit (`ember run --resume`), and stops at the first non-finite loss; several devices train
//! through burn-train's data-parallel strategy. A run directory is locked while its run is
//! live ([`run_dir`]).
//!
//! One runner ([`run_task`]) serves every [`task::Task`] (classification of any batch, with
//! optional distillation). The runtime names no model family: recipes pick theirs through the
//! [`ModelRegistry`] they run with (`ember_zoo::models()` holds Ember's `mlp`, `lenet5` and
//! `bert`), whose [`ModelEntry`] trains, evaluates, prunes one-shot and exports it.
//! [`export_hf`] writes a family's Hugging Face folder, [`export_sparse`] any run's model as
//! Ember's compressed sparse file.
//!
//! Three drivers compose ordinary runs: [`Sweep`] (methods × a grid of recipe keys × seeds,
//! summarised as mean ± std), [`Lottery`] (iterative magnitude pruning with rewinding and a
//! re-initialised control) and [`prune_task`] (one-shot pruning of a trained model with
//! calibration data, `ember prune`).
//!
//! A run directory holds `recipe.toml` (the resolved recipe), `metrics.csv` (one row per phase
//! and epoch), `report.json` ([`RunReport`]: accuracies, per-layer sparsity measured from the
//! weights, wall time), the final weights `model.bpk`, and `checkpoints/` while it runs.
//! The report and summary types, and the recorded files, come from [`ember_report`], which
//! reads them without the trainer; they are re-exported here under their old paths.
//!
//! This crate never names a backend: the caller passes a `burn::tensor::Device`.

pub mod allocator;
mod check;
mod error;
mod evaluate;
mod experiment;
mod export_hf;
pub mod files;
mod init;
pub mod layerwise;
pub mod lottery;
pub mod oneshot;
mod options;
mod pause;
mod progress;
pub mod recipe;
mod registries;
mod registry;
mod report;
pub mod run_dir;
mod sparse_file;
pub mod sweep;
pub mod task;
mod trainer;

pub use check::{CheckReport, check, check_recipe};
pub use ember_report::{PhaseReport, RunReport};
pub use error::TrainError;
pub use evaluate::accuracy;
pub use experiment::{run, run_task};
pub use export_hf::{HfExport, export_hf};
pub use files::{MANIFEST, read_recorded, write_atomically, write_recorded};
pub use init::{init_on_host, seed_device, try_init_on_host, with_host_rng};
pub use lottery::{Lottery, LotterySummary, Rewind};
pub use oneshot::prune_task;
pub use options::{RunOptions, TaskData};
pub use progress::{EpochReporter, EpochRow};
pub use recipe::Recipe;
pub use registries::Registries;
pub use registry::{Evaluation, ModelEntry, ModelRegistry, Prediction, load_run};
pub use run_dir::Start;
pub use sparse_file::{SparseExport, checkpoint_tensors, export_sparse};
pub use sweep::{GridAxis, Sweep, SweepSummary};
pub use trainer::parallel::DataParallel;
