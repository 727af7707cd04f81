//! The runner: a recipe's dense phase and pruning phase, on one device in Ember's loop or
//! data-parallel through burn-train, leaving the run directory behind.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::LearnerModel;
use ember_sparsity::{Sparse, first_non_finite};

use crate::evaluate::test_metrics;
use crate::files::{load_weights, save_module, save_sparse};
use crate::recipe::{DenseSpec, Recipe, Steps};
use crate::run_dir::{self, Start};
use crate::task::{Task, TaskModel};
use crate::trainer::checkpoint::{self, Checkpoint};
use crate::trainer::parallel::DataParallel;
use crate::trainer::{self, Classifier, Loop, Phase, Resumable};
use crate::{EpochRow, PhaseReport, RunOptions, RunReport, TaskData, TrainError};

/// What every phase of a run shares.
struct Context<'a, B> {
    recipe: &'a Recipe,
    options: &'a RunOptions,
    steps: Steps,
    data: TaskData<B>,
    rows: Arc<Mutex<Vec<EpochRow>>>,
    /// The newest checkpoint when resuming.
    resume: Option<Checkpoint>,
}

impl<B> Context<'_, B> {
    /// The training loop's settings for this run.
    fn training_loop(&self) -> Result<Loop<'_, B>, TrainError> {
        Ok(Loop {
            run_dir: &self.options.out_dir,
            device: self.options.main_device()?,
            train: &self.data.train,
            valid: &self.data.valid,
            optimizer: &self.recipe.optimizer,
            checkpoints: self.recipe.checkpoint,
            seed: self.recipe.seed,
            rows: &self.rows,
        })
    }

    /// The checkpoint to resume `phase` from, if the newest checkpoint is of that phase.
    fn resume_for(&self, phase: &str) -> Option<&Checkpoint> {
        self.resume.as_ref().filter(|c| c.phase == phase)
    }

    /// Whether the run resumes in the pruning phase (the dense phase is over).
    fn dense_done(&self) -> bool {
        self.resume_for("sparse").is_some()
    }
}

/// Runs `recipe`: takes the run directory (a lock, and `options.start` applied to an earlier
/// run's files), writes `recipe.toml`, then hands the run to the model's entry in
/// `options.registries.models`, which loads the data, builds the model and calls [`run_task`]. A
/// finished run removes its checkpoints.
pub fn run(recipe: &Recipe, options: &RunOptions) -> Result<RunReport, TrainError> {
    if let Some(index) = recipe.prunes_layer_by_layer() {
        return Err(TrainError::Invalid {
            field: format!("modifiers[{index}].kind"),
            value: "layerwise".into(),
            message: "prunes one-shot, layer by layer, with calibration data: run it with \
                      `ember prune SOURCE --recipe …`, not `ember run`"
                .into(),
        });
    }
    // Everything `ember check` refuses is refused here, before the data or a step.
    crate::check_recipe(recipe.clone(), options).into_result()?;
    if options.start == Start::Force {
        run_dir::refuse_inputs_inside(&options.out_dir, &recipe.input_paths())?;
    }
    let _lock = run_dir::claim(&options.out_dir, options.start)?;
    let recipe_path = options.out_dir.join("recipe.toml");
    let recipe_toml = recipe.to_toml();
    if options.start == Start::Resume {
        if options.out_dir.join("report.json").is_file() {
            return Err(TrainError::RunDir {
                dir: options.out_dir.clone(),
                message: "the run there has finished (report.json is written); there is \
                          nothing to resume"
                    .into(),
            });
        }
        if let Ok(existing) = std::fs::read_to_string(&recipe_path)
            && existing != recipe_toml
        {
            return Err(TrainError::RunDir {
                dir: options.out_dir.clone(),
                message: "its recipe.toml differs from the recipe to resume with; resume \
                          with the run's own recipe (ember run --resume DIR alone)"
                    .into(),
            });
        }
        if options.is_data_parallel() && checkpoint::latest(&options.out_dir).is_some() {
            return Err(TrainError::RunDir {
                dir: options.out_dir.clone(),
                message: "data-parallel runs write no checkpoints; resume on one device".into(),
            });
        }
        let devices_path = options.out_dir.join(run_dir::DEVICES_FILE);
        if devices_path.is_file() {
            let trained_on = crate::read_recorded(&devices_path)?;
            let trained_on = trained_on.trim();
            if trained_on.contains(',') {
                return Err(TrainError::RunDir {
                    dir: options.out_dir.clone(),
                    message: format!(
                        "it trained data-parallel on {trained_on}, which writes no \
                         checkpoints: there is nothing to resume; run its recipe again with \
                         --devices {trained_on} --force"
                    ),
                });
            }
        }
    }
    crate::write_recorded(&recipe_path, recipe_toml.as_bytes())?;
    crate::write_recorded(
        &options.out_dir.join(run_dir::DEVICES_FILE),
        format!("{}\n", options.device_name).as_bytes(),
    )?;
    let result = options
        .registries
        .models
        .get(recipe.model.name())?
        .run(recipe, options);
    // A run that got to its report is over (a missed target included): nothing to resume.
    if matches!(&result, Ok(_) | Err(TrainError::Shortfall { .. })) {
        checkpoint::remove_all(&options.out_dir)?;
    }
    result
}

/// Runs `recipe` as task `T` on `model` and `data`: the dense phase (trained or loaded), then
/// the pruning phase (distilling from the dense model when the recipe says so), writing
/// `metrics.csv`, `report.json`, `model.bpk` (and `dense.bpk`) to the run directory. With
/// `options.start` = [`Start::Resume`], it continues from the newest checkpoint there.
///
/// This is the whole runner: a model of your own runs through it by implementing
/// [`Task`] (see `docs/extending.md`).
pub fn run_task<T: Task>(
    recipe: &Recipe,
    options: &RunOptions,
    model: T::Model,
    data: TaskData<T::Batch>,
) -> Result<RunReport, TrainError> {
    let started = Instant::now();
    crate::init::seed_device(options.main_device()?, recipe.seed);
    if data.train_len == 0
        && (recipe.epochs > 0
            || recipe
                .dense
                .as_ref()
                .is_some_and(|d| d.epochs > 0 && d.load.is_none()))
    {
        return Err(TrainError::Invalid {
            field: "data".into(),
            value: format!("{:?}", recipe.data.source),
            message: "the training split is empty (check data.train_limit and the data files); \
                      a run cannot train on no examples"
                .into(),
        });
    }
    // Before the dense phase, so that a recipe this task cannot run costs no training.
    if let Some(d) = recipe.distill {
        let settings = [
            (
                "distill.hidden",
                d.hidden,
                T::HIDDEN_STATES,
                "has no hidden states to distil (layer-wise distillation needs an encoder, \
                 e.g. bert)",
            ),
            (
                "distill.token_cutoff",
                d.token_cutoff,
                T::CUTS_TOKENS,
                "reads no tokens to cut (token cutoff needs a text model, e.g. bert)",
            ),
        ];
        if let Some((field, value, _, why)) = settings
            .into_iter()
            .find(|(_, value, supported, _)| *value > 0.0 && !supported)
        {
            return Err(TrainError::Invalid {
                field: field.into(),
                value: value.to_string(),
                message: format!("model kind {:?} {why}; set it to 0", recipe.model.name()),
            });
        }
    }
    if options.data_parallel == DataParallel::Ddp {
        trainer::parallel::check_ddp_slices(
            data.train_len,
            recipe.data.batch_size,
            options.devices.len(),
        )?;
    }
    let steps = Steps::data_parallel(
        data.train_len,
        recipe.data.batch_size,
        options.devices.len(),
    );
    let resume = match options.start {
        Start::Resume => checkpoint::latest(&options.out_dir),
        _ => None,
    };
    let context = Context {
        recipe,
        options,
        steps,
        data,
        rows: Arc::default(),
        resume,
    };
    let mut report = run_model::<T>(&context, TaskModel::new(model))?;

    let mut csv = vec![EpochRow::csv_header(T::metrics())];
    csv.extend(
        context
            .rows
            .lock()
            .expect("rows lock")
            .iter()
            .map(|row| row.to_csv(T::metrics())),
    );
    crate::write_recorded(
        &options.out_dir.join("metrics.csv"),
        (csv.join("\n") + "\n").as_bytes(),
    )?;

    report.wall_seconds = started.elapsed().as_secs_f64();
    crate::report::write_into(report, &options.out_dir)
}

fn run_model<T: Task>(
    context: &Context<'_, T::Batch>,
    model: TaskModel<T>,
) -> Result<RunReport, TrainError> {
    let recipe = context.recipe;
    let out = &context.options.out_dir;
    let (model, dense) = match &recipe.dense {
        None => (model, None),
        Some(spec) => dense_phase(context, model, spec)?,
    };

    let started = Instant::now();
    let plan = recipe.plan(
        &context.steps,
        &context.options.registries.for_recipe(recipe)?,
    )?;
    let model = match recipe.distill {
        // The teacher is the dense model as it stands now: fine-tuned, or loaded. At
        // hardness 0 without the layer-wise term the loss is plain cross-entropy: no teacher,
        // no wasted forward passes.
        Some(settings) if settings.needs_teacher() => {
            let teacher = model.model.clone();
            model.with_teacher(teacher, settings)
        }
        _ => model,
    };
    let sparse =
        Sparse::new(model, plan)?.with_elementwise_optimizer(recipe.optimizer.is_elementwise());
    let total = context.steps.at(recipe.epochs as f64);
    let rewinds: Vec<u64> = sparse
        .update_steps()
        .into_iter()
        .filter(|&s| s < total)
        .collect();
    let lr = recipe.lr.to_schedule(&context.steps, total, &rewinds);
    let sparse = if recipe.epochs > 0 {
        let per_epoch = context.steps.per_epoch();
        let targets: Vec<f64> = (1..=recipe.epochs as u64)
            .map(|epoch| sparse.scheduled_sparsity(epoch * per_epoch - 1))
            .collect();
        let phase = Phase {
            name: "sparse",
            epochs: recipe.epochs,
            lr,
            target: Box::new(move |epoch: usize| {
                targets.get(epoch.wrapping_sub(1)).copied().unwrap_or(0.0)
            }),
            update_steps: rewinds,
        };
        train_phase(context, phase, sparse)?
    } else {
        sparse
    };
    if let Some(message) = sparse.failure() {
        return Err(TrainError::Training {
            phase: "sparse".to_string(),
            message: format!("a sparsity update failed at {message}"),
        });
    }
    let (final_accuracy, final_metrics) = test_metrics(&sparse, &context.data.test, T::metrics());
    let measured = sparse.report();
    let shortfall = match total {
        0 => None,
        last => sparse.shortfall(last - 1),
    };
    save_sparse(&sparse, &out.join("model.bpk"))?;
    let (sparsity, parameters) = crate::report::sparsity_parts(&measured);
    Ok(RunReport {
        recipe: recipe.name.clone(),
        model: recipe.model.name().to_string(),
        device: context.options.device_name.clone(),
        dense,
        final_: PhaseReport {
            accuracy: final_accuracy,
            metrics: final_metrics,
            epochs: recipe.epochs,
            wall_seconds: started.elapsed().as_secs_f64(),
            loaded_from: None,
        },
        sparsity,
        parameters,
        layers: measured.layers,
        wall_seconds: 0.0,
        shortfall,
    })
}

fn dense_phase<T: Task>(
    context: &Context<'_, T::Batch>,
    model: TaskModel<T>,
    spec: &DenseSpec,
) -> Result<(TaskModel<T>, Option<PhaseReport>), TrainError> {
    let started = Instant::now();
    let dense_file = context.options.out_dir.join("dense.bpk");
    let (model, loaded_from, epochs) = if let Some(path) = &spec.load {
        let model = load_weights(model, path).map_err(|message| TrainError::LoadWeights {
            path: path.clone(),
            model: context.recipe.model.name().to_string(),
            message,
        })?;
        if let Some(bad) = first_non_finite(&model) {
            return Err(TrainError::LoadWeights {
                path: path.clone(),
                model: context.recipe.model.name().to_string(),
                message: format!("the weights are not finite: {bad}"),
            });
        }
        (model, Some(path.display().to_string()), 0)
    } else if spec.epochs > 0 && context.dense_done() {
        // Resuming in the pruning phase: the dense model is the one this run saved.
        let model =
            load_weights(model, &dense_file).map_err(|message| TrainError::ReadCheckpoint {
                path: dense_file.clone(),
                message: format!("the dense model of the run to resume: {message}"),
            })?;
        // The pruning phase's loader is the second fork of the shuffling generator, as in
        // the run that was interrupted.
        drop(context.data.train.to_device(context.options.main_device()?));
        (model, None, spec.epochs)
    } else if spec.epochs > 0 {
        let total = context.steps.at(spec.epochs as f64);
        let phase = Phase {
            name: "dense",
            epochs: spec.epochs,
            lr: spec.lr.to_schedule(&context.steps, total, &[]),
            target: Box::new(|_| 0.0),
            update_steps: Vec::new(),
        };
        let model = train_phase(context, phase, model)?;
        save_module(model.clone(), &dense_file)?;
        (model, None, spec.epochs)
    } else {
        return Ok((model, None));
    };
    let (accuracy, metrics) = test_metrics(&model, &context.data.test, T::metrics());
    eprintln!("[dense] test accuracy {accuracy:.2}%");
    Ok((
        model,
        Some(PhaseReport {
            accuracy,
            metrics,
            epochs,
            wall_seconds: started.elapsed().as_secs_f64(),
            loaded_from,
        }),
    ))
}

/// Trains one phase: Ember's loop on one device (checkpointed, resumable), burn-train's
/// data-parallel strategy on several.
fn train_phase<M, B>(context: &Context<'_, B>, phase: Phase, model: M) -> Result<M, TrainError>
where
    M: LearnerModel + Resumable + Classifier<B>,
    B: Send + Sync + Clone + core::fmt::Debug + 'static,
{
    let training_loop = context.training_loop()?;
    let options = context.options;
    if options.is_data_parallel() {
        return trainer::parallel::train(
            &training_loop,
            &options.devices,
            options.data_parallel,
            phase,
            model,
        );
    }
    let resume = context.resume_for(phase.name);
    trainer::train(&training_loop, &phase, model, resume)
}
