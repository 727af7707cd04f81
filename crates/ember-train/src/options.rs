//! Where and how a recipe runs ([`RunOptions`]) and the batches a task trains on
//! ([`TaskData`]): what the runner, the drivers and every model family's entry share.

use std::path::PathBuf;
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::data::dataset::Dataset;
use burn::tensor::Device;

use crate::run_dir::Start;
use crate::trainer::parallel::DataParallel;
use crate::{Registries, TrainError};

/// Where and how to run a recipe.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run directory (created if needed).
    pub out_dir: PathBuf,
    /// The devices to train on. One device trains on it alone; several run burn-train's
    /// data-parallel strategy: each device takes a slice of every epoch, the gradients are
    /// summed on the first (main) device, and the optimizer step, with its mask update, runs
    /// there once, so every replica gets the same masks. Evaluation runs on the main device.
    pub devices: Vec<Device>,
    /// The devices' names for the report (`flex`, `wgpu`, `flex,flex`, …).
    pub device_name: String,
    /// How several devices share the work (main-device gathering, or DDP on CUDA).
    pub data_parallel: DataParallel,
    /// The names recipes may use: model families, modifier kinds, scorers, patterns.
    pub registries: Registries,
    /// What to do with a run directory that holds an earlier run's files.
    pub start: Start,
}

impl RunOptions {
    /// Options for a run on one device that resolves the recipe's names in `registries`
    /// (`ember_zoo::registries()` for Ember's model families and the built-in modifiers,
    /// scorers and patterns).
    pub fn new(
        out_dir: impl Into<PathBuf>,
        device: Device,
        device_name: impl Into<String>,
        registries: Registries,
    ) -> Self {
        Self {
            out_dir: out_dir.into(),
            devices: vec![device],
            device_name: device_name.into(),
            data_parallel: DataParallel::MainDevice,
            registries,
            start: Start::Fresh,
        }
    }

    /// The same options, treating an earlier run's files in the run directory as `start` says.
    pub fn with_start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// The same options, training data-parallel on `devices` (the first is the main device).
    pub fn with_devices(mut self, devices: Vec<Device>) -> Self {
        self.devices = devices;
        self
    }

    /// The same options, sharing the devices' work as `strategy` says. [`DataParallel::Ddp`]
    /// applies to a single device too (one rank), which exercises burn's collective path.
    pub fn with_data_parallel(mut self, strategy: DataParallel) -> Self {
        self.data_parallel = strategy;
        self
    }

    /// Whether training goes through burn-train's data-parallel strategies (several devices,
    /// or DDP on one), which write no checkpoints.
    pub fn is_data_parallel(&self) -> bool {
        self.devices.len() > 1 || self.data_parallel == DataParallel::Ddp
    }

    /// The first device, where evaluation and the optimizer step run.
    pub fn main_device(&self) -> Result<&Device, TrainError> {
        self.devices.first().ok_or_else(|| TrainError::Invalid {
            field: "devices".into(),
            value: "[]".into(),
            message: "give at least one device to train on".into(),
        })
    }
}

/// A task's batches: training, validation (what burn-train reports every epoch) and test
/// (the final numbers of the report).
pub struct TaskData<B> {
    /// Training batches, shuffled with the recipe seed.
    pub train: Arc<dyn DataLoader<B>>,
    /// Batches for the per-epoch validation metrics.
    pub valid: Arc<dyn DataLoader<B>>,
    /// Batches for the accuracies of `report.json`.
    pub test: Arc<dyn DataLoader<B>>,
    /// Examples in the training split (it sets the steps per epoch).
    pub train_len: usize,
}

impl<B: Send + Sync + Clone + core::fmt::Debug + 'static> TaskData<B> {
    /// Loaders over `[train, valid, test]` with `batcher`; training batches are shuffled with
    /// `seed`, the others keep their order.
    pub fn new<I, D, Bt>(
        batcher: Bt,
        batch_size: usize,
        seed: u64,
        device: &Device,
        [train, valid, test]: [D; 3],
    ) -> Self
    where
        I: Send + Sync + Clone + core::fmt::Debug + 'static,
        D: Dataset<I> + 'static,
        Bt: Batcher<I, B> + Clone + 'static,
    {
        let train_len = train.len();
        let builder = || {
            DataLoaderBuilder::new(batcher.clone())
                .batch_size(batch_size)
                .set_device(device.clone())
        };
        Self {
            train: builder().shuffle(seed).build(train),
            valid: builder().build(valid),
            test: builder().build(test),
            train_len,
        }
    }
}
