//! Ember's training loop for one device: burn's `Learner` pieces (train step, optimizer,
//! learning-rate scheduler) driven by a loop that Ember owns, so that it can
//!
//! - write a [checkpoint](checkpoint) every `checkpoint.every_steps` steps and at every epoch
//!   end, holding everything needed to continue bit for bit: model and sparsity state,
//!   optimizer, scheduler, the position in the shuffled data, partial metric sums;
//! - resume from such a checkpoint: the data order is the same because the shuffle of epoch
//!   `e` is the `e`-th draw of the loader's generator (the earlier draws are replayed, the
//!   batches already trained on are skipped), and dropout draws the same masks because the
//!   device is re-seeded from `(seed, phase, step)` before every step;
//! - stop at the first non-finite loss, and never write a checkpoint whose weights are not
//!   finite, naming the phase, epoch, step and the first parameter concerned.
//!
//! Several devices train through burn-train's data-parallel strategy ([`parallel`]), which
//! checkpoints nothing; a run on several devices cannot be resumed.

pub(crate) mod checkpoint;
pub(crate) mod parallel;
mod resumable;

use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::data::dataloader::DataLoader;
use burn::lr_scheduler::LrSchedulerRecord;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::module::Module;
use burn::tensor::Device;
use burn::train::{ClassificationOutput, InferenceStep, TrainStep};
use ember_schedule::{LrSchedule, ScheduledLr};
use ember_sparsity::first_non_finite;

use checkpoint::{Checkpoint, EpochSums, TrainingState};

use crate::evaluate::{batch_sums, evaluate};
use crate::progress::ProgressLine;
use crate::recipe::{CheckpointSpec, OptimizerSpec};
use crate::{EpochRow, TrainError};

/// A classifier as burn trains it: a training step and an inference step on batches `B`,
/// both giving class logits, loss and targets.
pub(crate) trait Classifier<B>:
    TrainStep<Input = B, Output = ClassificationOutput>
    + InferenceStep<Input = B, Output = ClassificationOutput>
{
}

impl<B, M> Classifier<B> for M where
    M: TrainStep<Input = B, Output = ClassificationOutput>
        + InferenceStep<Input = B, Output = ClassificationOutput>
{
}

/// A model the loop can checkpoint: its weights (and, for a pruned model, its sparsity state)
/// saved to and restored from one file.
pub(crate) trait Resumable: Module + Sized {
    /// Writes the model to `path`.
    fn save_to(&self, path: &Path) -> Result<(), TrainError>;
    /// Restores the model written by [`Resumable::save_to`].
    fn load_from(self, path: &Path) -> Result<Self, TrainError>;
}

/// What the loop trains with, the same for every phase of a run.
pub(crate) struct Loop<'a, B> {
    /// The run directory (checkpoints go to its `checkpoints/`).
    pub run_dir: &'a Path,
    /// The device.
    pub device: &'a Device,
    /// Shuffled training batches.
    pub train: &'a Arc<dyn DataLoader<B>>,
    /// Validation batches.
    pub valid: &'a Arc<dyn DataLoader<B>>,
    /// The optimizer.
    pub optimizer: &'a OptimizerSpec,
    /// How often to checkpoint, and how many checkpoints to keep.
    pub checkpoints: CheckpointSpec,
    /// The recipe seed (per-step device seeds derive from it).
    pub seed: u64,
    /// The metric rows of the run, shared with the caller.
    pub rows: &'a Arc<Mutex<Vec<EpochRow>>>,
}

/// One phase: its name, length, learning rate and target sparsity per epoch.
pub(crate) struct Phase {
    /// `dense` or `sparse`.
    pub name: &'static str,
    /// Epochs to train.
    pub epochs: usize,
    /// The learning rate per step.
    pub lr: LrSchedule,
    /// The scheduled sparsity at the end of each epoch (from 1), for the metric rows.
    pub target: Box<dyn Fn(usize) -> f64 + Send + Sync>,
    /// Steps at which the sparsity state updates (named pause points for crash tests).
    pub update_steps: Vec<u64>,
}

/// Trains `model` through `phase`, from `resume` when given (a checkpoint of this phase).
/// Returns the model in evaluation mode.
pub(crate) fn train<M, B>(
    lp: &Loop<'_, B>,
    phase: &Phase,
    model: M,
    resume: Option<&Checkpoint>,
) -> Result<M, TrainError>
where
    M: Resumable + Classifier<B>,
    B: Send + Sync + Clone + core::fmt::Debug + 'static,
{
    let mut optimizer = lp.optimizer.init();
    let mut scheduler = ModuleLrScheduler::new(ScheduledLr::new(phase.lr.clone()));
    let mut state = TrainingState {
        format: checkpoint::FORMAT,
        phase: phase.name.to_string(),
        epoch: 1,
        batches_done: 0,
        step: 0,
        sums: EpochSums::default(),
        rows: lp.rows.lock().expect("rows lock").clone(),
        seed: Some(lp.seed),
    };
    let mut model = model;
    if let Some(from) = resume {
        state = from.state()?;
        if let Some(seed) = state.seed
            && seed != lp.seed
        {
            return Err(TrainError::ReadCheckpoint {
                path: from.dir.clone(),
                message: format!(
                    "it was written by a run with seed {seed}, and this run's seed is {}: it \
                     belongs to another run",
                    lp.seed
                ),
            });
        }
        state.seed = Some(lp.seed);
        model = model.load_from(&from.model())?;
        let unreadable =
            |path: std::path::PathBuf, e: burn::store::RecordError| TrainError::ReadCheckpoint {
                path,
                message: e.to_string(),
            };
        crate::files::verify(&from.optimizer(), true)?;
        crate::files::verify(&from.scheduler(), true)?;
        optimizer = optimizer
            .load(from.optimizer())
            .map_err(|e| unreadable(from.optimizer(), e))?;
        let record = LrSchedulerRecord::load(from.scheduler())
            .map_err(|e| unreadable(from.scheduler(), e))?;
        scheduler = scheduler.load_record(record);
        *lp.rows.lock().expect("rows lock") = state.rows.clone();
        eprintln!(
            "[{}] resuming at epoch {}, step {} ({})",
            phase.name,
            state.epoch.min(phase.epochs),
            state.step,
            from.dir.display()
        );
    }

    let autodiff = lp.device.clone().autodiff();
    let mut model = model.train().fork(&autodiff);
    // One fork of the loader's generator per phase, as burn-train's strategy made: a resumed
    // run shuffles exactly as the original did.
    let train = lp.train.to_device(&autodiff);
    let valid = lp.valid.to_device(lp.device);
    for _ in 1..state.epoch.min(phase.epochs + 1) {
        drop(train.iter());
    }
    let every = lp.checkpoints.every_steps;

    if state.epoch == 1 && state.batches_done == 0 && phase.epochs > 0 {
        eprintln!("[{}] {} epochs", phase.name, phase.epochs);
    }
    while state.epoch <= phase.epochs {
        let mut progress = ProgressLine::new(phase.name, state.epoch, phase.epochs, "train");
        let mut iterator = train.iter();
        let mut index = 0usize;
        while let Some(batch) = iterator.next() {
            let batch = batch.map_err(|e| TrainError::Training {
                phase: phase.name.to_string(),
                message: format!("cannot load a training batch: {e}"),
            })?;
            index += 1;
            if index <= state.batches_done {
                continue;
            }
            crate::init::seed_device(lp.device, step_seed(lp.seed, phase.name, state.step));
            let output = TrainStep::step(&model, batch);
            let (loss, correct, examples) = batch_sums(&output.item);
            if !loss.is_finite() {
                return Err(diverged(
                    phase.name,
                    &state,
                    &model,
                    format!("the loss is {loss}"),
                ));
            }
            let lr = scheduler.step();
            model = model.optimize(&mut optimizer, lr, output.grads);
            let updated = phase.update_steps.contains(&state.step);
            state.step += 1;
            state.batches_done = index;
            state.sums.add(loss, correct, examples);
            crate::pause::point(|| format!("step:{}:{}", phase.name, state.step));
            if updated {
                crate::pause::point(|| format!("update:{}", state.step - 1));
            }
            progress.update(
                iterator.progress().items_processed,
                iterator.progress().items_total,
            );
            if every > 0 && state.step.is_multiple_of(every) {
                save(lp, &state, &model, &optimizer, &scheduler)?;
            }
        }
        let valid_sums = evaluate(&model.valid(), &valid);
        let row = EpochRow {
            phase: phase.name.to_string(),
            epoch: state.epoch,
            train_loss: state.sums.mean_loss(),
            train_accuracy: state.sums.accuracy(),
            valid_loss: valid_sums.mean_loss(),
            valid_accuracy: valid_sums.accuracy(),
            target_sparsity: (phase.target)(state.epoch),
        };
        row.print(phase.epochs);
        lp.rows.lock().expect("rows lock").push(row.clone());
        state.rows.push(row);
        state.epoch += 1;
        state.batches_done = 0;
        state.sums = EpochSums::default();
        // Every epoch ends here, with the weights checked before they are saved: a phase
        // that returns holds finite weights, whether it trained or resumed from its end.
        save(lp, &state, &model, &optimizer, &scheduler)?;
    }
    Ok(model.valid())
}

/// Writes a checkpoint of the loop's state, after checking that every weight is finite: a
/// checkpoint is always one worth resuming from.
fn save<M: Resumable>(
    lp: &Loop<'_, impl Sized>,
    state: &TrainingState,
    model: &M,
    optimizer: &burn::optim::ModuleOptimizer,
    scheduler: &ModuleLrScheduler,
) -> Result<(), TrainError> {
    if let Some(bad) = first_non_finite(model) {
        return Err(diverged_weights(state, bad));
    }
    checkpoint::write(lp.run_dir, state, lp.checkpoints.keep, |c| {
        model.save_to(&c.model())?;
        let failed = |path: std::path::PathBuf, e: burn::store::RecordError| TrainError::Write {
            path,
            message: e.to_string(),
        };
        optimizer
            .save(c.optimizer())
            .map_err(|e| failed(c.optimizer(), e))?;
        scheduler
            .to_record()
            .save(c.scheduler())
            .map_err(|e| failed(c.scheduler(), e))?;
        crate::files::seal(&c.optimizer())?;
        crate::files::seal(&c.scheduler())?;
        for file in [c.model(), c.optimizer(), c.scheduler()] {
            crate::files::record_file(&file)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The device seed of a step: a hash of the run seed, the phase and the step, so that the
/// random draws of a step (dropout) do not depend on where the process started.
fn step_seed(seed: u64, phase: &str, step: u64) -> u64 {
    let phase = phase.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    let mut z = seed ^ phase.rotate_left(17) ^ step.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The error for a non-finite loss: where it happened, and the first non-finite weight.
fn diverged<M: Module>(phase: &str, state: &TrainingState, model: &M, what: String) -> TrainError {
    let weights = match first_non_finite(model) {
        Some(bad) => format!("the first non-finite parameter is {bad}"),
        None => "every weight is still finite (the loss overflowed)".to_string(),
    };
    TrainError::Diverged {
        phase: phase.to_string(),
        epoch: state.epoch,
        step: state.step + 1,
        message: format!("{what}; {weights}"),
    }
}

fn diverged_weights(state: &TrainingState, bad: ember_sparsity::NonFinite) -> TrainError {
    TrainError::Diverged {
        phase: state.phase.clone(),
        epoch: state.last_epoch(),
        step: state.step,
        message: format!("the first non-finite parameter is {bad}"),
    }
}

#[cfg(test)]
mod tests {
    use super::step_seed;

    #[test]
    fn step_seeds_differ_by_step_phase_and_seed() {
        let a = step_seed(1, "dense", 0);
        assert_ne!(a, step_seed(1, "dense", 1));
        assert_ne!(a, step_seed(1, "sparse", 0));
        assert_ne!(a, step_seed(2, "dense", 0));
        assert_eq!(a, step_seed(1, "dense", 0));
    }
}
