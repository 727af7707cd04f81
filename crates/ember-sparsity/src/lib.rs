#![warn(missing_docs)]
//! The sparsity core of Ember: parameter selection, scores, masks, and the [`Sparse`] wrapper
//! that prunes any burn [`Module`](burn::module::Module) while it trains.
//!
//! A [`SparsityPlan`] lists [`Pruner`]s. Each pruner picks parameters with a [`Selector`],
//! ranks their elements with a [`Scorer`], removes the lowest-scored elements layer by layer
//! or globally ([`Scope`]) and follows a [`SparsitySchedule`](ember_schedule::SparsitySchedule).
//! [`Sparse::new`] binds a plan to a model; [`Sparse::optimizer_step`] then runs one hooked
//! optimizer step (select masks when due, mask gradients, step, re-apply masks), and the
//! same hook runs inside burn-train through [`TrainStep::optimize`](burn::train::TrainStep).
//!
//! Guarantees (see `DESIGN.md`): pruned weights are exact zeros in the parameter tensors;
//! pruning `n` elements to sparsity `s` zeros exactly [`prune_count`]`(s, n)` of them; ties
//! break by flat index, so the same weights give the same masks on every backend; masks and the
//! step counter are module state, saved by burn's ordinary checkpoints.

mod error;
mod freeze;
mod path;
mod plan;
mod report;
pub mod score;
pub mod select;
mod sparse;
mod train_step;

pub use error::SparsityError;
pub use path::{ParamInfo, collect_params};
pub use plan::{FreezeRule, Freezer, Pattern, Pruner, Scope, SparsityPlan};
pub use report::{LayerReport, MaskCounts, SparsityReport};
pub use score::{ScoreContext, Scorer, ScorerRegistry};
pub use select::{Selector, prune_count, pruned_flags};
pub use sparse::Sparse;
