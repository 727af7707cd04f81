//! One-shot pruning layer by layer with calibration data (`ember prune` with `layerwise`
//! modifiers): the pipeline of SparseGPT's and Wanda's reference code and of llm-compressor.
//!
//! The calibration batches go through the model's stem once; then, for each block (and last
//! the head), the block runs on every batch with its linear layers' inputs captured and
//! folded into each selected layer's [`LayerStatistics`] as they come, every selected layer is
//! solved (its mask chosen, its kept weights rewritten if the solver reconstructs), the new
//! weights go into the model, and the block runs again, pruned, to give the next block its
//! inputs. What is held at once is one block's inputs for the calibration set and one block's
//! statistics, never the whole model's activations.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::store::ModuleSnapshot;
use ember_models::{Blocks, Capture};
use ember_sparsity::solve::{LayerProblem, LayerStatistics, Needs, Solver, Structure};
use ember_sparsity::{
    MaskPruner, Selector, Sparse, SparsityError, SparsityPlan, collect_params, replace_values,
};

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

/// A parameter on the host: its shape and its values, flat in burn's layout.
type HostTensor = (Vec<usize>, Vec<f32>);

/// The host values of the float parameters at `paths`, flat in burn's layout, with shapes.
fn host_values<M: ModuleSnapshot>(
    model: &M,
    paths: &BTreeSet<String>,
) -> Result<BTreeMap<String, HostTensor>, TrainError> {
    let mut values = BTreeMap::new();
    for snapshot in model.collect(None, None, false) {
        let name = snapshot.name.clone();
        if !paths.contains(&name) {
            continue;
        }
        let data = burn::store::bridge::to_data(&snapshot).map_err(|e| TrainError::Training {
            phase: "layerwise".into(),
            message: format!("cannot read `{name}`: {e:?}"),
        })?;
        let shape = data.shape().to_vec();
        let flat =
            data.convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| TrainError::Training {
                    phase: "layerwise".into(),
                    message: format!("`{name}` is not f32: {e:?}"),
                })?;
        values.insert(name, (shape, flat));
    }
    Ok(values)
}

/// The peak resident memory of this process in bytes (Linux's `VmHWM`), if known.
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Where the pipeline stands: block `index`, or the head.
#[derive(Clone, Copy)]
enum Stage {
    Block(usize),
    Head,
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

    let mut model = model;
    let job_of: BTreeMap<&str, &Job> = jobs
        .iter()
        .flat_map(|job| job.paths.iter().map(move |p| (p.as_str(), job)))
        .collect();
    // The calibration set's inputs to the current block, only when a solver reads them.
    let mut hidden: Vec<<T::Model as Blocks>::Hidden> = if needs > Needs::Weights {
        let valid = model.valid();
        batches.iter().map(|b| valid.stem(input(b))).collect()
    } else {
        Vec::new()
    };
    let mut pruned: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut timings = vec!["stage,layers,seconds,peak_resident_bytes".to_string()];
    let stages: Vec<Stage> = (0..model.num_blocks())
        .map(Stage::Block)
        .chain(std::iter::once(Stage::Head))
        .collect();
    for stage in stages {
        let stage_started = Instant::now();
        let (label, linears) = match stage {
            Stage::Block(b) => (format!("block {b}"), model.block_linears(b)),
            Stage::Head => ("head".to_string(), model.head_linears()),
        };
        let selected: BTreeSet<String> = linears
            .into_iter()
            .filter(|p| job_of.contains_key(p.as_str()))
            .collect();
        if !selected.is_empty() {
            let current = host_values(&model, &selected)?;
            let mut statistics: BTreeMap<String, LayerStatistics> = current
                .iter()
                .map(|(path, (shape, _))| {
                    let needs = job_of[path.as_str()].solver.needs();
                    (path.clone(), LayerStatistics::new(shape[0], needs))
                })
                .collect();
            let reading: Vec<String> = statistics
                .iter()
                .filter(|(_, s)| s.reads_inputs())
                .map(|(path, _)| path.clone())
                .collect();
            if !reading.is_empty() {
                let valid = model.valid();
                for h in &hidden {
                    let mut capture = Capture::only(reading.iter().cloned());
                    match stage {
                        Stage::Block(b) => drop(valid.block(b, h.clone(), &mut capture)),
                        Stage::Head => drop(valid.head(h.clone(), &mut capture)),
                    }
                    for (path, x) in capture.into_inputs() {
                        if let Some(stats) = statistics.get_mut(&path) {
                            let [rows, width] = x.dims();
                            if width != stats.inputs() {
                                return Err(TrainError::Training {
                                    phase: "layerwise".into(),
                                    message: format!(
                                        "the model's blocks captured inputs {width} wide for \
                                         `{path}`, whose weight takes {}",
                                        stats.inputs()
                                    ),
                                });
                            }
                            let values: Vec<f32> = x.into_data().iter::<f32>().collect();
                            stats.add_rows(&values, rows);
                        }
                    }
                }
            }
            let mut rewritten = BTreeMap::new();
            for (path, (shape, burn_flat)) in &current {
                let job = job_of[path.as_str()];
                let [inputs, outputs] = [shape[0], shape[1]];
                // burn's Linear weight is [in, out]; solvers work in PyTorch's [out, in].
                let mut torch = vec![0.0f32; burn_flat.len()];
                for j in 0..inputs {
                    for i in 0..outputs {
                        torch[i * inputs + j] = burn_flat[j * outputs + i];
                    }
                }
                let problem = LayerProblem {
                    path,
                    weight: &torch,
                    outputs,
                    inputs,
                    sparsity: job.sparsity,
                    structure: job.structure,
                    statistics: &statistics[path],
                };
                let solution = job.solver.solve(&problem).map_err(|e| match e {
                    SparsityError::Modifier { message, .. } => TrainError::Sparsity(
                        SparsityError::modifier(&job.name, format!("{path}: {message}")),
                    ),
                    other => TrainError::Sparsity(other),
                })?;
                if solution.pruned.len() != torch.len()
                    || solution
                        .weight
                        .as_ref()
                        .is_some_and(|w| w.len() != torch.len())
                {
                    return Err(TrainError::Sparsity(SparsityError::modifier(
                        &job.name,
                        format!(
                            "solver `{}` answered for {} elements of `{path}`, which has {}",
                            job.solver.name(),
                            solution.pruned.len(),
                            torch.len()
                        ),
                    )));
                }
                let kept = solution.weight.unwrap_or(torch);
                let mut burn_new = vec![0.0f32; burn_flat.len()];
                let mut indices = Vec::new();
                for j in 0..inputs {
                    for i in 0..outputs {
                        let (t, b) = (i * inputs + j, j * outputs + i);
                        if solution.pruned[t] {
                            indices.push(b);
                        } else {
                            burn_new[b] = kept[t];
                        }
                    }
                }
                indices.sort_unstable();
                pruned.insert(path.clone(), indices);
                rewritten.insert(path.clone(), burn_new);
            }
            model = replace_values(model, &rewritten)?;
        }
        // The next block's inputs come from this block pruned.
        if let Stage::Block(b) = stage
            && needs > Needs::Weights
        {
            let valid = model.valid();
            hidden = hidden
                .into_iter()
                .map(|h| valid.block(b, h, &mut Capture::off()))
                .collect();
        }
        let seconds = stage_started.elapsed().as_secs_f64();
        let peak = peak_resident_bytes();
        eprintln!(
            "[layerwise] {label}: {} layers in {seconds:.2}s, peak resident {}",
            selected.len(),
            peak.map_or("unknown".into(), |b| format!(
                "{:.1} MiB",
                b as f64 / 1048576.0
            ))
        );
        timings.push(format!(
            "{label},{},{seconds:.4},{}",
            selected.len(),
            peak.map_or(String::new(), |b| b.to_string())
        ));
    }
    drop(hidden);

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
