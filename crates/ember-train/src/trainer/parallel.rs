//! Data-parallel training on several devices through burn-train's strategies, in one of two
//! ways ([`DataParallel`]):
//!
//! - **main device** (any backend): each device takes a slice of every epoch, the gradients
//!   are summed on the first (main) device, and the optimizer step, with its mask update,
//!   runs there once, so every replica gets the same masks;
//! - **DDP** (CubeCL's CUDA runtime): every device holds a replica and runs its own optimizer
//!   step on gradients that burn's collective all-reduces (summed, as the main-device
//!   strategy sums them) after each backward pass.
//!   Every rank starts from the same weights and applies the same gradients, and Ember's mask
//!   selection is a deterministic function of (weights, gradients, step), so every rank
//!   selects the same masks without exchanging them.
//!
//! This path writes no checkpoints: a run on several devices cannot be resumed.

use burn::tensor::Device;
use burn::tensor::distributed::{DistributedConfig, ReduceOperation};
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{ExecutionStrategy, Learner, LearnerModel, MultiDeviceOptim, SupervisedTraining};
use ember_schedule::ScheduledLr;
use ember_sparsity::first_non_finite;

use super::{Classifier, Loop, Phase};
use crate::{EpochReporter, TrainError};

/// How a run on several devices shares the work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataParallel {
    /// burn-train's multi-device strategy: gradients gathered on the first device, one
    /// optimizer step there, the model copied back to the others. Works on every backend.
    #[default]
    MainDevice,
    /// burn-train's distributed data parallel: a replica and an optimizer per device,
    /// gradients summed by burn's collective all-reduce. burn 0.22 implements the
    /// all-reduce for CubeCL's CUDA runtime only (NCCL); on other backends it panics, so
    /// the CLI accepts it for `cuda` devices alone.
    Ddp,
}

/// Refuses a DDP run whose ranks would get different numbers of batches. burn-train gives
/// each of `ranks` devices `len / ranks` training items and the last one the remainder; every
/// rank all-reduces its gradients after each batch, so a rank with a batch more than the
/// others would wait for them forever.
pub(crate) fn check_ddp_slices(
    train_len: usize,
    batch_size: usize,
    ranks: usize,
) -> Result<(), TrainError> {
    if ranks < 2 || batch_size == 0 {
        return Ok(());
    }
    let batches = |items: usize| items.div_ceil(batch_size);
    let share = train_len / ranks;
    let last = train_len - share * (ranks - 1);
    if batches(share) == batches(last) {
        return Ok(());
    }
    // The largest limit that gives every rank a whole number of batches.
    let fit = (train_len / (ranks * batch_size)).max(1) * ranks * batch_size;
    Err(TrainError::Invalid {
        field: "data.train_limit".into(),
        value: train_len.to_string(),
        message: format!(
            "under DDP on {ranks} devices the training split of {train_len} examples gives \
             the ranks {} and {} batches of {batch_size}, and a rank with a batch more would \
             wait for the others' gradients forever; set data.train_limit to {fit}, a \
             multiple of devices × batch size",
            batches(share),
            batches(last),
        ),
    })
}

/// Trains `model` through `phase` on `devices` (the first is the main device).
pub(crate) fn train<M, B>(
    lp: &Loop<'_, B>,
    devices: &[Device],
    strategy: DataParallel,
    phase: Phase,
    model: M,
) -> Result<M, TrainError>
where
    M: LearnerModel + Classifier<B>,
    B: Send + Sync + Clone + core::fmt::Debug + 'static,
{
    // `train()` puts the parameters on the autodiff device with their gradient requirement
    // restored, whatever state the model arrives in (fresh, loaded, or validated).
    let learner = Learner::new(
        model.train(),
        lp.optimizer.init(),
        ScheduledLr::new(phase.lr),
    );
    let target = phase.target;
    let reporter = EpochReporter::new(phase.name, target, lp.rows.clone());
    let training = SupervisedTraining::new(
        lp.run_dir.join(phase.name),
        lp.train.clone(),
        lp.valid.clone(),
    )
    .metrics((AccuracyMetric::new(), LossMetric::new()))
    .renderer(Box::new(reporter))
    .num_epochs(phase.epochs)
    .with_training_strategy(
        match strategy {
            DataParallel::MainDevice => {
                ExecutionStrategy::multi(devices.to_vec(), MultiDeviceOptim::OptimMainDevice)
            }
            DataParallel::Ddp => ExecutionStrategy::ddp(
                devices.to_vec(),
                // Summed, as the main-device strategy sums the devices' gradients: a recipe
                // trains the same under both.
                DistributedConfig {
                    all_reduce_op: ReduceOperation::Sum,
                },
            ),
        }
        .into(),
    );
    let result = training.launch(learner);
    if let Some(error) = result.error {
        return Err(TrainError::Training {
            phase: phase.name.to_string(),
            message: error.to_string(),
        });
    }
    if let Some(bad) = first_non_finite(&result.model) {
        return Err(TrainError::Diverged {
            phase: phase.name.to_string(),
            epoch: phase.epochs,
            step: 0,
            message: format!(
                "after the phase, the first non-finite parameter is {bad} (data-parallel runs \
                 are checked at the end of each phase only)"
            ),
        });
    }
    Ok(result.model)
}

#[cfg(test)]
mod tests {
    use super::check_ddp_slices;

    #[test]
    fn ddp_ranks_must_get_the_same_number_of_batches() {
        // 4,500 items on 2 ranks: 2,250 each, 36 batches of 64 each.
        assert!(check_ddp_slices(4500, 64, 2).is_ok());
        // 129 items on 2 ranks: 64 and 65, one batch against two.
        let err = check_ddp_slices(129, 64, 2).unwrap_err().to_string();
        assert!(
            err.contains("1 and 2 batches") && err.contains("data.train_limit"),
            "{err}"
        );
        // One rank, or equal counts with a short last batch, are fine.
        assert!(check_ddp_slices(129, 64, 1).is_ok());
        assert!(check_ddp_slices(130, 64, 2).is_ok());
    }
}
