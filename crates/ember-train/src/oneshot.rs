//! One-shot pruning of a trained model (`ember prune`): no training, the recipe's pruners
//! applied once at their final sparsity, with calibration batches for the scorers that need
//! gradients (SNIP, movement) or activations (Wanda).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Tensor;
use burn::train::TrainStep;
use ember_sparsity::Sparse;

use crate::files::{load_weights, save_sparse};
use crate::recipe::{ModifierSpec, ScheduleSpec, Steps};
use crate::task::{Task, TaskModel};
use crate::{PhaseReport, Recipe, RunOptions, RunReport, TaskData, TrainError};

/// The inputs of a model's linear layers for one batch (see `ember_models::LinearInputs`).
pub type InputsOf<M, B> = dyn Fn(&M, &B) -> Vec<(String, Tensor<2>)>;

fn invalid(field: &str, value: String, message: String) -> TrainError {
    TrainError::Invalid {
        field: field.into(),
        value,
        message,
    }
}

/// `recipe` made one-shot: every pruner prunes once, at step 0, to its schedule's final
/// sparsity; `[dense]` and `[distill]` are dropped. Modifiers that only make sense while
/// training (RigL, SET, freezing) are refused, naming them.
pub fn one_shot_recipe(recipe: &Recipe) -> Result<Recipe, TrainError> {
    let mut recipe = recipe.clone();
    recipe.dense = None;
    recipe.distill = None;
    if recipe.modifiers.is_empty() {
        return Err(invalid(
            "modifiers",
            "[]".into(),
            "one-shot pruning needs at least one `prune` or `mask` modifier".into(),
        ));
    }
    for (index, modifier) in recipe.modifiers.iter_mut().enumerate() {
        match modifier {
            ModifierSpec::Prune(prune) => {
                let sparsity = match &prune.schedule {
                    ScheduleSpec::OneShot { sparsity, .. } => *sparsity,
                    ScheduleSpec::Linear(r) | ScheduleSpec::Cubic(r) => r.final_sparsity,
                    ScheduleSpec::Polynomial(p) => p.final_sparsity,
                };
                prune.schedule = ScheduleSpec::OneShot {
                    sparsity,
                    at_epoch: 0.0,
                };
            }
            ModifierSpec::Mask(_) | ModifierSpec::Layerwise(_) => {}
            ModifierSpec::Custom(custom) => {
                return Err(invalid(
                    &format!("modifiers[{index}].kind"),
                    custom.kind.clone(),
                    "a modifier kind of one's own runs while training (`ember run`); one-shot \
                     pruning takes `prune`, `mask` and `layerwise` modifiers"
                        .into(),
                ));
            }
            other => {
                return Err(invalid(
                    &format!("modifiers[{index}].kind"),
                    other.kind().into(),
                    "trains while it changes the model; one-shot pruning takes `prune`, \
                     `mask` and `layerwise` modifiers"
                        .into(),
                ));
            }
        }
    }
    Ok(recipe)
}

/// Where the weights a one-shot prune starts from come from.
#[derive(Debug, Clone, Copy)]
pub enum PruneSource<'a> {
    /// A run directory (its `model.bpk`, else `dense.bpk`) or a weights file: loaded into the
    /// model the family's entry built.
    Checkpoint(&'a Path),
    /// The model the entry passes already holds its weights, read from this path (a Hugging
    /// Face model folder); the path is what the report records.
    Loaded(&'a Path),
}

impl PruneSource<'_> {
    /// The path the report records, and whether the weights still have to be loaded from it.
    pub(crate) fn resolve(self) -> Result<(PathBuf, bool), TrainError> {
        match self {
            Self::Checkpoint(source) => Ok((weights_of(source)?, true)),
            Self::Loaded(path) => Ok((path.to_path_buf(), false)),
        }
    }
}

/// The weights file of `source`: a run directory's `model.bpk` (else its `dense.bpk`), or a
/// weights file itself.
pub fn weights_of(source: &Path) -> Result<PathBuf, TrainError> {
    if source.is_dir() {
        for name in ["model.bpk", "dense.bpk"] {
            if source.join(name).is_file() {
                return Ok(source.join(name));
            }
        }
        return Err(TrainError::ReadCheckpoint {
            path: source.to_path_buf(),
            message: "the directory holds neither model.bpk nor dense.bpk".into(),
        });
    }
    if source.is_file() {
        Ok(source.to_path_buf())
    } else {
        Err(TrainError::ReadCheckpoint {
            path: source.to_path_buf(),
            message: "no such file or directory".into(),
        })
    }
}

/// What the recipe's scorers need from calibration data: (gradients, activations), with the
/// name of the first modifier that needs each.
fn needs(
    recipe: &Recipe,
    options: &RunOptions,
) -> Result<(Option<String>, Option<String>), TrainError> {
    let (mut gradients, mut inputs) = (None, None);
    for (index, modifier) in recipe.modifiers.iter().enumerate() {
        if let ModifierSpec::Prune(prune) = modifier {
            let scorer = options.registries.scorers.get(&prune.scorer)?;
            let name = format!("modifiers[{index}] (scorer `{}`)", prune.scorer);
            if scorer.needs_gradient() || scorer.accumulates() {
                gradients.get_or_insert(name.clone());
            }
            if scorer.needs_inputs() {
                inputs.get_or_insert(name);
            }
        }
    }
    Ok((gradients, inputs))
}

/// Prunes the model of `source` (run directory or weights file) one-shot with `recipe`'s
/// pruners, measuring gradients and linear-layer inputs on `calibration` training batches
/// when a scorer needs them, and writes a run directory (`recipe.toml`, `model.bpk`,
/// `report.json`, `metrics.csv` without epochs) to `options.out_dir`.
///
/// Gradient scorers (SNIP) see the gradient of the last calibration batch; accumulating
/// scorers (movement, SNIP momentum) fold in every batch; Wanda's norms cover every batch.
pub fn prune_task<T: Task>(
    recipe: &Recipe,
    options: &RunOptions,
    model: T::Model,
    data: TaskData<T::Batch>,
    source: PruneSource<'_>,
    calibration: usize,
    inputs: Option<&InputsOf<T::Model, T::Batch>>,
) -> Result<RunReport, TrainError> {
    let started = Instant::now();
    if let Some(index) = recipe.prunes_layer_by_layer() {
        // Pruned here, a `layerwise` modifier would be one-pass magnitude whatever its solver.
        return Err(invalid(
            &format!("modifiers[{index}].kind"),
            "layerwise".into(),
            format!(
                "the `{}` family prunes one pass over the whole model; layer by layer needs a \
                 family that exposes its blocks (`prune_layer_by_layer`)",
                recipe.model.name()
            ),
        ));
    }
    let recipe = one_shot_recipe(recipe)?;
    let (weights, load) = source.resolve()?;
    let (needs_gradients, needs_inputs) = needs(&recipe, options)?;
    if let (0, Some(who)) = (
        calibration,
        needs_gradients.as_ref().or(needs_inputs.as_ref()),
    ) {
        return Err(invalid(
            "--calibration",
            "0".into(),
            format!(
                "{who} scores with gradients or activations: give calibration batches \
                 (e.g. --calibration 8)"
            ),
        ));
    }
    if let (Some(who), None) = (&needs_inputs, inputs) {
        return Err(invalid(
            "model.kind",
            recipe.model.name().into(),
            format!("{who} needs the inputs of linear layers, which this model does not expose"),
        ));
    }
    let Prepared {
        batches,
        model,
        dense_accuracy,
        dense_metrics,
        lock: _lock,
    } = prepare::<T>(
        &recipe,
        options,
        model,
        &data,
        (&weights, load),
        calibration,
    )?;

    let plan = recipe.plan(
        &Steps::data_parallel(data.train_len, recipe.data.batch_size, 1),
        &options.registries.for_recipe(&recipe)?,
    )?;
    let mut sparse = Sparse::new(TaskModel::<T>::new(model), plan)?;
    let mut last_grads = None;
    if needs_gradients.is_some() {
        let trainable = sparse.model.clone().train();
        for batch in &batches {
            let grads = TrainStep::step(&trainable, batch.clone()).grads;
            sparse = sparse.observe(&grads);
            last_grads = Some(grads);
        }
    }
    if let Some(inputs) = inputs.filter(|_| needs_inputs.is_some()) {
        let mut squares: BTreeMap<String, Vec<f32>> = BTreeMap::new();
        for batch in &batches {
            for (path, x) in inputs(&sparse.model.model, batch) {
                let sums: Vec<f32> = (x.clone() * x)
                    .sum_dim(0)
                    .into_data()
                    .iter::<f32>()
                    .collect();
                let total = squares.entry(path).or_insert_with(|| vec![0.0; sums.len()]);
                for (t, s) in total.iter_mut().zip(sums) {
                    *t += s;
                }
            }
        }
        let norms = squares
            .into_iter()
            .map(|(path, s)| (path, s.into_iter().map(f32::sqrt).collect()))
            .collect();
        sparse = sparse.with_input_norms(norms);
    }
    let sparse = sparse.update_masks(0, last_grads.as_ref())?.apply_masks();
    finish(
        &recipe,
        options,
        &sparse,
        &data.test,
        &weights,
        (dense_accuracy, dense_metrics),
        started,
    )
}

/// What every one-shot prune holds once it may start: the calibration batches, the source's
/// weights in the model, the claimed run directory (its recipe written) and the dense model's
/// test accuracy.
pub(crate) struct Prepared<T: Task> {
    /// The first `calibration` training batches.
    pub batches: Vec<T::Batch>,
    /// The model with the source's weights.
    pub model: T::Model,
    /// Test accuracy of the dense model, in percent.
    pub dense_accuracy: f64,
    /// The task's metrics of the dense model on the test split.
    pub dense_metrics: BTreeMap<String, f64>,
    /// The run directory's lock, held until the run is written.
    pub lock: crate::run_dir::RunLock,
}

/// Takes the calibration set (refusing a split smaller than asked), loads `weights` into
/// `model` (when `load`; else the model holds them already), claims the run directory and writes its `recipe.toml`, and measures the dense
/// model: the start `prune_task` and `prune_layer_by_layer` share.
pub(crate) fn prepare<T: Task>(
    recipe: &Recipe,
    options: &RunOptions,
    model: T::Model,
    data: &TaskData<T::Batch>,
    (weights, load): (&Path, bool),
    calibration: usize,
) -> Result<Prepared<T>, TrainError> {
    let batches: Vec<T::Batch> = data.train.iter().flatten().take(calibration).collect();
    if batches.len() < calibration {
        return Err(invalid(
            "--calibration",
            calibration.to_string(),
            format!(
                "the training split gives {} batches of {}; the calibration set cannot be \
                 smaller than asked",
                batches.len(),
                recipe.data.batch_size
            ),
        ));
    }
    let model = if load {
        load_weights(model, weights).map_err(|message| TrainError::LoadWeights {
            path: weights.to_path_buf(),
            model: recipe.model.name().into(),
            message,
        })?
    } else {
        model
    };
    let lock = crate::run_dir::claim(&options.out_dir, options.start)?;
    crate::write_recorded(
        &options.out_dir.join("recipe.toml"),
        recipe.to_toml().as_bytes(),
    )?;
    let (dense_accuracy, dense_metrics) = crate::evaluate::test_metrics(
        &TaskModel::<T>::new(model.clone()),
        &data.test,
        T::metrics(),
    );
    eprintln!(
        "[dense] test accuracy {dense_accuracy:.2}% ({})",
        weights.display()
    );
    Ok(Prepared {
        batches,
        model,
        dense_accuracy,
        dense_metrics,
        lock,
    })
}

/// Writes a one-shot run's outputs from its pruned model: `model.bpk`, `metrics.csv`
/// (no epochs) and `report.json` (the dense accuracy, the pruned model's on `test`, the
/// sparsity measured from the weights).
pub(crate) fn finish<T: Task>(
    recipe: &Recipe,
    options: &RunOptions,
    sparse: &Sparse<TaskModel<T>>,
    test: &std::sync::Arc<dyn burn::data::dataloader::DataLoader<T::Batch>>,
    weights: &Path,
    (dense_accuracy, dense_metrics): (f64, BTreeMap<String, f64>),
    started: Instant,
) -> Result<RunReport, TrainError> {
    let (final_accuracy, final_metrics) = crate::evaluate::test_metrics(sparse, test, T::metrics());
    let measured = sparse.report();
    save_sparse(sparse, &options.out_dir.join("model.bpk"))?;
    crate::write_recorded(
        &options.out_dir.join("metrics.csv"),
        format!("{}\n", crate::EpochRow::csv_header(T::metrics())).as_bytes(),
    )?;
    let (sparsity, parameters) = crate::report::sparsity_parts(&measured);
    let seconds = started.elapsed().as_secs_f64();
    let report = RunReport {
        recipe: recipe.name.clone(),
        model: recipe.model.name().to_string(),
        device: options.device_name.clone(),
        dense: Some(PhaseReport {
            accuracy: dense_accuracy,
            metrics: dense_metrics,
            epochs: 0,
            wall_seconds: 0.0,
            loaded_from: Some(weights.display().to_string()),
        }),
        final_: PhaseReport {
            accuracy: final_accuracy,
            metrics: final_metrics,
            epochs: 0,
            wall_seconds: seconds,
            loaded_from: None,
        },
        sparsity,
        parameters,
        layers: measured.layers,
        wall_seconds: seconds,
        shortfall: sparse.shortfall(0),
    };
    crate::report::write_into(report, &options.out_dir)
}
