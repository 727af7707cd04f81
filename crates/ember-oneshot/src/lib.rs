#![warn(missing_docs)]
//! One-shot pruning with calibration data, layer by layer, as SparseGPT's and Wanda's
//! reference code and llm-compressor run it.
//!
//! - [`solve`]: the solvers, one linear layer at a time: [`solve::Magnitude`],
//!   [`solve::Wanda`] and [`solve::SparseGpt`] behind the [`solve::Solver`] trait and its
//!   registry, with the calibration statistics they read ([`solve::LayerStatistics`]) and the
//!   mask structures they produce ([`solve::Structure`]).
//! - [`prune_blocks`]: the pipeline over any model that exposes its blocks
//!   ([`ember_models::Blocks`]): the calibration inputs through the stem once, then block
//!   after block, the selected layers' inputs captured into statistics, the layers solved and
//!   written back, and the block re-run pruned to feed the next.
//!
//! It depends on the models and the sparsity core only; `ember-train` wraps it into
//! `ember prune` (recipes, run directories, reports).

mod pipeline;
pub mod solve;

pub use pipeline::{LayerJob, PrunedBlocks, StageTiming, peak_resident_bytes, prune_blocks};
