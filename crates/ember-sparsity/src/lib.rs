#![warn(missing_docs)]
//! The sparsity core of Ember: modifiers (pruners, freezers, your own) with one lifecycle,
//! scorers, patterns, budgets, and the [`Sparse`] wrapper that prunes and freezes any burn
//! [`Module`](burn::module::Module) while it trains.
//!
//! A [`SparsityPlan`] lists [`Modifier`]s. A [`Pruner`] picks parameters with a [`Selector`],
//! ranks their elements with a [`Scorer`], pools the scores into the groups of a [`Pattern`]
//! (unstructured, N:M, blocks, neurons or channels, attention heads), removes the lowest
//! layer by layer, globally or by ERK ([`Scope`]) and follows a
//! [`SparsitySchedule`](ember_schedule::SparsitySchedule); a [`Freezer`] keeps elements at
//! their values. [`Sparse::new`] binds a plan to a model; [`Sparse::optimizer_step`] then runs
//! one hooked optimizer step (observe, update when due, mask gradients, step, apply), and the
//! same hook runs inside burn-train through [`TrainStep::optimize`](burn::train::TrainStep).
//!
//! Guarantees (`docs/architecture.md` lists them with their tests): pruned weights are exact
//! zeros in the parameter tensors; pruning `n` elements to sparsity `s` zeros exactly
//! [`prune_count`]`(s, n)` of them; ties break by flat index, so the same weights give the
//! same masks on every backend; the sparsity state is module state keyed by parameter path,
//! saved by burn's ordinary checkpoints; ordinary steps never copy anything to the host.

mod checksum;
mod error;
mod finite;
pub mod modifier;
mod path;
pub mod pattern;
mod plan;
mod report;
pub mod score;
pub mod select;
mod sparse;
pub mod state;
mod train_step;

pub use checksum::{ChecksumError, seal_burnpack, to_hex, verify_burnpack};
pub use error::SparsityError;
pub use finite::{NonFinite, first_non_finite};
pub use modifier::{
    DynamicSparse, Effect, FreezeRule, Freezer, MaskPruner, Modifier, Pruner, Regrowth, Scope,
    TargetView,
};
pub use path::{ParamInfo, collect_params, replace_values};
pub use pattern::{Pattern, PatternRegistry};
pub use plan::SparsityPlan;
pub use report::{LayerReport, MaskCounts, SparsityReport};
pub use score::{ScoreContext, Scorer, ScorerRegistry};
pub use select::{Selector, prune_count, pruned_flags};
pub use sparse::{Sparse, count_true, host_reads};
