#![warn(missing_docs)]
//! Ember: prune and freeze the weights of any burn model while it trains.
//!
//! This facade re-exports Ember's crates:
//! - [`schedule`]: pure sparsity and learning-rate schedules (cubic GMP, sawtooth, …);
//! - [`sparsity`]: selectors, scorers, masks and the [`Sparse`](sparsity::Sparse) wrapper;
//! - [`oneshot`]: one-shot pruning layer by layer with calibration data and its solvers
//!   (magnitude, Wanda, SparseGPT);
//! - [`models`]: the burn modules: LeNet-300-100, LeNet-5, BERT and Llama-family decoders with
//!   Hugging Face import;
//! - [`data`]: MNIST-family readers and the embedded quick-start data set;
//! - [`train`]: the runtime: recipes, the registries their names resolve in, experiments and
//!   run reports;
//! - [`zoo`]: the model families recipes name (`mlp`, `lenet5`, `bert`, `llama`), with their tasks,
//!   Hugging Face export and sparse engines;
//! - [`kernels`]: sparse CPU kernels and the compressed sparse file;
//! - [`report`]: run reports, sweep and lottery summaries, files recorded with SHA-256 sums;
//! - [`plot`]: plots of runs, sweeps and lottery experiments.
//!
//! - [`backend`]: device names (`flex`, `wgpu`, `tch`, `cuda:1`) and the features behind them.
//!
//! # Feature flags
//! One per backend; enable any mix and pick at run time with [`backend::DeviceSpec`].
//! - `flex` (default): burn's pure-Rust CPU backend.
//! - `ndarray`: burn's ndarray CPU backend.
//! - `wgpu`: CubeCL on wgpu (Vulkan, Metal, DX12; lavapipe on a CPU-only Linux box);
//!   `vulkan` and `metal` pin the graphics API.
//! - `tch`: libtorch on the CPU; `tch-cuda` adds libtorch's CUDA devices.
//! - `cuda`: CubeCL's native CUDA runtime.

pub mod backend;
pub mod fetch;

pub use ember_data as data;
pub use ember_kernels as kernels;
pub use ember_models as models;
pub use ember_oneshot as oneshot;
pub use ember_plot as plot;
pub use ember_report as report;
pub use ember_schedule as schedule;
pub use ember_sparsity as sparsity;
pub use ember_train as train;
pub use ember_zoo as zoo;

/// The names most programs need.
pub mod prelude {
    pub use ember_schedule::{LrSchedule, ScheduledLr, SparsitySchedule};
    pub use ember_sparsity::{Pruner, Scope, Selector, Sparse, SparsityPlan, SparsityReport};
}
