//! One-shot solvers: what a layer-by-layer pruning pipeline (SparseGPT's and Wanda's, and
//! llm-compressor's) calls for each linear layer, with that layer's calibration statistics.
//!
//! A [`Solver`] gets a [`LayerProblem`] (the weight in PyTorch's `[out, in]` layout, the
//! target sparsity, the [`Structure`] the mask must have and the [`LayerStatistics`] it asked
//! for) and returns a [`LayerSolution`]: the pruned elements and, for solvers that reconstruct
//! the layer, new values for the weights it keeps. [`Magnitude`], [`Wanda`] and [`SparseGpt`] are built in; a new
//! solver is one file and one [`SolverRegistry::register`] line.

mod magnitude;
mod sparsegpt;
mod statistics;
mod structure;
mod wanda;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use magnitude::Magnitude;
pub use sparsegpt::SparseGpt;
pub use statistics::LayerStatistics;
pub use structure::Structure;
pub use wanda::Wanda;

use ember_sparsity::SparsityError;

/// The statistics of a layer's inputs that a solver needs, gathered over calibration data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Needs {
    /// The weights alone.
    Weights,
    /// The L2 norm of every input feature, `‖X_j‖₂` (Wanda).
    InputNorms,
    /// The Gram matrix `XᵀX` of the inputs, `[in, in]` in f64 (SparseGPT's Hessian is twice
    /// it).
    Gram,
}

/// One linear layer to prune.
#[derive(Debug, Clone, Copy)]
pub struct LayerProblem<'a> {
    /// The weight's parameter path (`bert.encoder.layers.0.mha.query.weight`).
    pub path: &'a str,
    /// The weight in PyTorch's layout: `outputs` rows of `inputs` values.
    pub weight: &'a [f32],
    /// Output features (rows).
    pub outputs: usize,
    /// Input features (columns).
    pub inputs: usize,
    /// The fraction of the weight to prune (for N:M, `(m - n) / m`).
    pub sparsity: f64,
    /// What the mask must look like.
    pub structure: Structure,
    /// What was measured of the layer's inputs (as much as [`Solver::needs`] asked for).
    pub statistics: &'a LayerStatistics,
}

/// What a solver decided for one layer, in PyTorch's `[out, in]` layout.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSolution {
    /// Pruned elements (`true`), exactly [`LayerProblem::structure`]'s count.
    pub pruned: Vec<bool>,
    /// New values of the whole weight, for solvers that reconstruct what they keep
    /// (pruned elements must be zero); `None` leaves the kept weights as they were.
    pub weight: Option<Vec<f32>>,
}

/// A one-shot pruning method for one linear layer at a time.
pub trait Solver: Send + Sync + std::fmt::Debug {
    /// The name recipes use.
    fn name(&self) -> &str;

    /// The calibration statistics it needs.
    fn needs(&self) -> Needs;

    /// Prunes one layer.
    fn solve(&self, problem: &LayerProblem<'_>) -> Result<LayerSolution, SparsityError>;
}

/// Solvers by name: `magnitude`, `wanda` and `sparsegpt` are built in.
#[derive(Clone)]
pub struct SolverRegistry {
    solvers: BTreeMap<String, Arc<dyn Solver>>,
}

impl std::fmt::Debug for SolverRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.solvers.keys()).finish()
    }
}

impl Default for SolverRegistry {
    fn default() -> Self {
        let mut registry = Self {
            solvers: BTreeMap::new(),
        };
        registry.register(Arc::new(Magnitude));
        registry.register(Arc::new(Wanda));
        registry.register(Arc::new(SparseGpt::default()));
        registry
    }
}

impl SolverRegistry {
    /// Adds (or replaces) a solver under its own name.
    pub fn register(&mut self, solver: Arc<dyn Solver>) {
        self.solvers.insert(solver.name().to_string(), solver);
    }

    /// The solver `name`; the error lists the known ones.
    pub fn get(&self, name: &str) -> Result<Arc<dyn Solver>, SparsityError> {
        self.solvers.get(name).cloned().ok_or_else(|| {
            SparsityError::modifier(
                "layerwise",
                format!(
                    "no solver `{name}`; known: {}",
                    self.solvers.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
}

/// The elements of `problem` to prune by `scores` (`[out, in]`, lowest pruned first), with
/// the problem's structure and exact counts: what score-based solvers share.
pub fn prune_lowest(scores: &[f32], problem: &LayerProblem<'_>) -> Vec<bool> {
    problem
        .structure
        .choose(scores, problem.outputs, problem.inputs, problem.sparsity)
}

/// Checks that the problem's shapes agree and its structure fits them, naming the layer: what
/// a solver should call first.
pub fn check_shapes(problem: &LayerProblem<'_>) -> Result<(), SparsityError> {
    let want = problem.outputs * problem.inputs;
    if want == 0 || problem.weight.len() != want {
        return Err(SparsityError::modifier(
            problem.path,
            format!(
                "the weight holds {} values, not {} × {}",
                problem.weight.len(),
                problem.outputs,
                problem.inputs
            ),
        ));
    }
    problem
        .structure
        .check(problem.inputs, problem.sparsity)
        .map_err(|message| SparsityError::modifier(problem.path, message))
}
