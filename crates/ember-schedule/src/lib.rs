#![warn(missing_docs)]
//! Pure schedules for Ember: `step -> sparsity` and `step -> learning rate`.
//!
//! Every schedule here is a plain value with no hidden state. [`SparsitySchedule`] says how
//! much of a tensor is pruned at an optimizer step (Zhu & Gupta's polynomial ramp, with the
//! large opening jump that GMP\* uses), and [`LrSchedule`] gives the learning rate, including
//! GMP\*'s sawtooth that rewinds at every pruning step. [`ScheduledLr`] adapts an
//! [`LrSchedule`] to burn's [`LrScheduler`](burn::lr_scheduler::LrScheduler) so that
//! burn-train's `Learner` can drive it.
//!
//! Steps are optimizer steps, counted from 0. Recipes that speak in epochs convert to steps
//! before they build a schedule.

mod error;
mod lr;
mod scheduler;
mod sparsity;

pub use error::ScheduleError;
pub use lr::LrSchedule;
pub use scheduler::ScheduledLr;
pub use sparsity::{Curve, SparsitySchedule};
