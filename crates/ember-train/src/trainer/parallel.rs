//! Data-parallel training on several devices through burn-train's strategy: each device
//! takes a slice of every epoch, the gradients are summed on the first (main) device, and the
//! optimizer step, with its mask update, runs there once, so every replica gets the same
//! masks. This path writes no checkpoints: a run on several devices cannot be resumed.

use burn::tensor::Device;
use burn::train::metric::{AccuracyMetric, LossMetric};
use burn::train::{ExecutionStrategy, Learner, LearnerModel, MultiDeviceOptim, SupervisedTraining};
use ember_schedule::ScheduledLr;
use ember_sparsity::first_non_finite;

use super::{Classifier, Loop, Phase};
use crate::{EpochReporter, TrainError};

/// Trains `model` through `phase` on `devices` (the first is the main device).
pub(crate) fn train<M, B>(
    lp: &Loop<'_, B>,
    devices: &[Device],
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
        ExecutionStrategy::multi(devices.to_vec(), MultiDeviceOptim::OptimMainDevice).into(),
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
