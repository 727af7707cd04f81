//! `ember prune` with `layerwise` modifiers: the recipe's modifiers resolved into layer jobs,
//! the calibration batches taken, and the run directory written around
//! [`ember_oneshot::prune_blocks`], the pipeline of SparseGPT's and Wanda's reference code and
//! of llm-compressor (which lives in its own crate, beside the solvers, depending on the
//! models and the sparsity core only).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::store::ModuleSnapshot;
use ember_models::Blocks;
use ember_oneshot::solve::{Needs, Solver, Structure};
use ember_oneshot::{LayerJob, prune_blocks};
use ember_sparsity::{MaskPruner, Selector, Sparse, SparsityPlan, collect_params};

use crate::oneshot::{Prepared, PruneSource, finish, one_shot_recipe, prepare};
use crate::recipe::ModifierSpec;
use crate::task::{Task, TaskModel};
use crate::{Recipe, RunOptions, RunReport, TaskData, TrainError};

fn invalid(field: String, value: String, message: String) -> TrainError {
    TrainError::Invalid {
        field,
        value,
        message,
    }
}

/// One `layerwise` modifier, resolved.
struct Job {
    name: String,
    solver: Arc<dyn Solver>,
    sparsity: f64,
    structure: Structure,
    /// The weight paths it prunes.
    paths: BTreeSet<String>,
}

/// The recipe's `layerwise` modifiers, resolved against the model: every selected parameter
/// must be the weight of a linear layer of a block or of the head, and none claimed twice.
fn jobs<M: Module + Blocks>(
    recipe: &Recipe,
    options: &RunOptions,
    model: &M,
) -> Result<Vec<Job>, TrainError> {
    let params = collect_params(model);
    let linears: BTreeSet<String> = (0..model.num_blocks())
        .flat_map(|b| model.block_linears(b))
        .chain(model.head_linears())
        .collect();
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    let mut jobs = Vec::new();
    for (index, modifier) in recipe.modifiers.iter().enumerate() {
        let ModifierSpec::Layerwise(spec) = modifier else {
            return Err(invalid(
                format!("modifiers[{index}].kind"),
                modifier.kind().into(),
                "a recipe that prunes layer by layer holds `layerwise` modifiers only".into(),
            ));
        };
        let name = spec.name_at(index);
        let field = |key: &str| format!("modifiers[{index}].{key}");
        let structure = spec.check(index)?;
        let solver = options
            .registries
            .solvers
            .get(&spec.solver)
            .map_err(|e| invalid(field("solver"), spec.solver.clone(), e.to_string()))?;
        let selected = Selector::new(spec.params.clone())
            .with_exclude(spec.exclude.clone())
            .resolve(&params, &name)?;
        let mut paths = BTreeSet::new();
        for info in selected {
            if !linears.contains(&info.path) || info.shape.len() != 2 || info.numel() == 0 {
                return Err(invalid(
                    field("params"),
                    info.path.clone(),
                    "is not the weight of a linear layer of one of the model's blocks or of its \
                     head; layer-by-layer pruning solves linear layers"
                        .into(),
                ));
            }
            if let Some(other) = claimed.insert(info.path.clone(), name.clone()) {
                return Err(invalid(
                    field("params"),
                    info.path.clone(),
                    format!("is already pruned by `{other}`"),
                ));
            }
            paths.insert(info.path);
        }
        jobs.push(Job {
            name,
            solver,
            sparsity: spec.sparsity,
            structure,
            paths,
        });
    }
    Ok(jobs)
}

/// Prunes the model of `source` (run directory or weights file) one-shot, layer by layer,
/// with `recipe`'s `layerwise` modifiers on `calibration` training batches, and writes a run
/// directory (`recipe.toml`, `model.bpk` with the masks, `report.json`, `metrics.csv`) to
/// `options.out_dir`. `input` turns a batch into the model's input. Each block's time and
/// the process's peak resident memory after it are printed and written to `layerwise.csv`.
pub fn prune_layer_by_layer<T, F>(
    recipe: &Recipe,
    options: &RunOptions,
    model: T::Model,
    data: TaskData<T::Batch>,
    source: PruneSource<'_>,
    calibration: usize,
    input: F,
) -> Result<RunReport, TrainError>
where
    T: Task,
    T::Model: Blocks + ModuleSnapshot,
    F: Fn(&T::Batch) -> <T::Model as Blocks>::Input,
{
    let started = Instant::now();
    // Everything `ember check` refuses is refused before anything is read or written.
    let recipe = crate::check_recipe(one_shot_recipe(recipe)?, options).into_result()?;
    let (weights, load) = source.resolve()?;
    let jobs = jobs(&recipe, options, &model)?;
    let needs = jobs
        .iter()
        .map(|job| job.solver.needs())
        .max()
        .unwrap_or(Needs::Weights);
    if needs > Needs::Weights && calibration == 0 {
        let who = jobs
            .iter()
            .find(|job| job.solver.needs() > Needs::Weights)
            .map_or(String::new(), |job| job.solver.name().to_string());
        return Err(invalid(
            "--calibration".into(),
            "0".into(),
            format!(
                "solver `{who}` measures the layers' inputs: give calibration batches (e.g. --calibration 8)"
            ),
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

    let layer_jobs: BTreeMap<String, LayerJob> = jobs
        .iter()
        .flat_map(|job| {
            job.paths.iter().map(move |path| {
                let layer = LayerJob {
                    name: job.name.clone(),
                    solver: job.solver.clone(),
                    sparsity: job.sparsity,
                    structure: job.structure,
                };
                (path.clone(), layer)
            })
        })
        .collect();
    let mut timings = vec!["stage,layers,seconds,peak_resident_bytes".to_string()];
    let result = prune_blocks(model, batches.iter().map(&input), &layer_jobs, |stage| {
        let peak = stage.peak_resident_bytes;
        eprintln!(
            "[layerwise] {}: {} layers in {:.2}s, peak resident {}",
            stage.label,
            stage.layers,
            stage.seconds,
            peak.map_or("unknown".into(), |b| format!(
                "{:.1} MiB",
                b as f64 / 1048576.0
            ))
        );
        timings.push(format!(
            "{},{},{:.4},{}",
            stage.label,
            stage.layers,
            stage.seconds,
            peak.map_or(String::new(), |b| b.to_string())
        ));
    })?;
    let (model, mut pruned) = (result.model, result.pruned);

    // The masks go into the run as fixed-mask pruners, so checkpoints, reports, `eval` and
    // `export` see them like any other run's.
    let mut plan = SparsityPlan::default();
    for job in &jobs {
        let masks: BTreeMap<String, Vec<usize>> = job
            .paths
            .iter()
            .map(|p| (p.clone(), pruned.remove(p).unwrap_or_default()))
            .collect();
        let selector = Selector::new(job.paths.iter().cloned());
        plan = plan.with_modifier(Arc::new(MaskPruner::new(&job.name, selector, masks)));
    }
    let sparse = Sparse::new(TaskModel::<T>::new(model), plan)?
        .update_masks(0, None)?
        .apply_masks();
    crate::write_recorded(
        &options.out_dir.join("layerwise.csv"),
        (timings.join("\n") + "\n").as_bytes(),
    )?;
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
