//! The layer-by-layer pipeline: stem, then each block (and last the head) captured, solved,
//! written back and re-run pruned. What is held at once is one block's inputs for the
//! calibration set and one block's statistics, never the whole model's activations.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::store::ModuleSnapshot;
use ember_models::{Blocks, Capture};
use ember_sparsity::{SparsityError, replace_values};

use crate::solve::{LayerProblem, LayerStatistics, Needs, Solver, Structure};

/// How one linear layer is pruned: by which modifier (for errors), solver, sparsity and
/// structure.
#[derive(Debug, Clone)]
pub struct LayerJob {
    /// The modifier's name, which errors name.
    pub name: String,
    /// The solver.
    pub solver: Arc<dyn Solver>,
    /// The fraction of the layer to prune.
    pub sparsity: f64,
    /// The mask's structure.
    pub structure: Structure,
}

/// What one stage (a block, or the head) took.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTiming {
    /// `block 3` or `head`.
    pub label: String,
    /// Layers solved in it.
    pub layers: usize,
    /// Seconds for capture, solves and the pruned re-run.
    pub seconds: f64,
    /// The process's peak resident memory after it (Linux `VmHWM`), if known.
    pub peak_resident_bytes: Option<u64>,
}

/// The pruned model, the pruned elements of every solved layer (flat indices in burn's
/// `[in, out]` layout, ascending) and each stage's cost.
#[derive(Debug)]
pub struct PrunedBlocks<M> {
    /// The model with the new weights (pruned elements zero).
    pub model: M,
    /// Pruned elements by weight path.
    pub pruned: BTreeMap<String, Vec<usize>>,
    /// One entry per block, then the head.
    pub stages: Vec<StageTiming>,
}

/// The peak resident memory of this process in bytes (Linux's `VmHWM`), if known.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A parameter on the host: its shape and its values, flat in burn's layout.
type HostTensor = (Vec<usize>, Vec<f32>);

fn failure(message: String) -> SparsityError {
    SparsityError::modifier("layerwise", message)
}

/// The host values of the float parameters at `paths`, flat in burn's layout, with shapes.
fn host_values<M: ModuleSnapshot>(
    model: &M,
    paths: &BTreeSet<String>,
) -> Result<BTreeMap<String, HostTensor>, SparsityError> {
    let mut values = BTreeMap::new();
    for snapshot in model.collect(None, None, false) {
        let name = snapshot.name.clone();
        if !paths.contains(&name) {
            continue;
        }
        let data = burn::store::bridge::to_data(&snapshot)
            .map_err(|e| failure(format!("cannot read `{name}`: {e:?}")))?;
        let shape = data.shape().to_vec();
        let flat = data
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| failure(format!("`{name}` is not f32: {e:?}")))?;
        values.insert(name, (shape, flat));
    }
    Ok(values)
}

/// Where the pipeline stands: block `index`, or the head.
#[derive(Clone, Copy)]
enum Stage {
    Block(usize),
    Head,
}

/// Prunes the linear layers of `model` named in `jobs` (weight paths of its blocks' and its
/// head's linears) layer by layer on the `calibration` inputs, which are read only when a
/// solver needs statistics of the layers' inputs. `on_stage` hears of every stage as it ends
/// (to print progress).
///
/// # Errors
///
/// A [`SparsityError`] naming the modifier and the layer: a solver's refusal (a structure the
/// layer cannot take, missing statistics), a solver answering for the wrong number of
/// elements, captured inputs of another width than the weight takes.
pub fn prune_blocks<M>(
    model: M,
    calibration: impl IntoIterator<Item = M::Input>,
    jobs: &BTreeMap<String, LayerJob>,
    mut on_stage: impl FnMut(&StageTiming),
) -> Result<PrunedBlocks<M>, SparsityError>
where
    M: Blocks + Module + ModuleSnapshot,
{
    let mut model = model;
    let needs = jobs
        .values()
        .map(|job| job.solver.needs())
        .max()
        .unwrap_or(Needs::Weights);
    // The calibration set's inputs to the current block, only when a solver reads them.
    let mut hidden: Vec<M::Hidden> = if needs > Needs::Weights {
        let valid = model.valid();
        calibration.into_iter().map(|b| valid.stem(b)).collect()
    } else {
        Vec::new()
    };
    let mut pruned: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut stages = Vec::new();
    let order: Vec<Stage> = (0..model.num_blocks())
        .map(Stage::Block)
        .chain(std::iter::once(Stage::Head))
        .collect();
    for stage in order {
        let started = Instant::now();
        let (label, linears) = match stage {
            Stage::Block(b) => (format!("block {b}"), model.block_linears(b)),
            Stage::Head => ("head".to_string(), model.head_linears()),
        };
        let selected: BTreeSet<String> = linears
            .into_iter()
            .filter(|p| jobs.contains_key(p))
            .collect();
        if !selected.is_empty() {
            let current = host_values(&model, &selected)?;
            let mut statistics: BTreeMap<String, LayerStatistics> = current
                .iter()
                .map(|(path, (shape, _))| {
                    let needs = jobs[path].solver.needs();
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
                                return Err(failure(format!(
                                    "the model's blocks captured inputs {width} wide for \
                                     `{path}`, whose weight takes {}",
                                    stats.inputs()
                                )));
                            }
                            let values: Vec<f32> = x.into_data().iter::<f32>().collect();
                            stats.add_rows(&values, rows);
                        }
                    }
                }
            }
            let mut rewritten = BTreeMap::new();
            for (path, (shape, burn_flat)) in &current {
                let job = &jobs[path];
                let (indices, values) =
                    solve_layer(job, path, shape, burn_flat, &statistics[path])?;
                pruned.insert(path.clone(), indices);
                rewritten.insert(path.clone(), values);
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
        let timing = StageTiming {
            label,
            layers: selected.len(),
            seconds: started.elapsed().as_secs_f64(),
            peak_resident_bytes: peak_resident_bytes(),
        };
        on_stage(&timing);
        stages.push(timing);
    }
    Ok(PrunedBlocks {
        model,
        pruned,
        stages,
    })
}

/// Solves one layer held in burn's `[in, out]` layout: its pruned flat indices (ascending)
/// and its new values, in that layout.
fn solve_layer(
    job: &LayerJob,
    path: &str,
    shape: &[usize],
    burn_flat: &[f32],
    statistics: &LayerStatistics,
) -> Result<(Vec<usize>, Vec<f32>), SparsityError> {
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
        statistics,
    };
    let solution = job.solver.solve(&problem).map_err(|e| match e {
        SparsityError::Modifier { message, .. } => {
            SparsityError::modifier(&job.name, format!("{path}: {message}"))
        }
        other => other,
    })?;
    if solution.pruned.len() != torch.len()
        || solution
            .weight
            .as_ref()
            .is_some_and(|w| w.len() != torch.len())
    {
        return Err(SparsityError::modifier(
            &job.name,
            format!(
                "solver `{}` answered for {} elements of `{path}`, which has {}",
                job.solver.name(),
                solution.pruned.len(),
                torch.len()
            ),
        ));
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
    Ok((indices, burn_new))
}
