//! Patterns: the shape of what is removed together.
//!
//! A [`Pattern`] splits each selected tensor into groups of elements that are pruned (or kept)
//! together, and says which groups of different tensors are one (an attention head spans its
//! query, key, value and output projections). The engine pools element scores into group
//! scores (the **mean** of the element scores, so that groups of different sizes compare
//! fairly: for magnitude scores this is the L1 norm of the group divided by its size), ranks
//! groups within a unit (layer-wise) or across units (global), and expands the chosen groups
//! back into element masks. N:M patterns instead keep a fixed quota inside every group.
//!
//! Layout: burn's `Linear` weight is `[in, out]`, the transpose of PyTorch's `[out, in]`. A
//! PyTorch output row (one output unit) is a burn *column*. The patterns below speak of
//! PyTorch's rows and input dimension and index burn's layout accordingly; see
//! `docs/architecture.md`.

mod block;
mod heads;
mod n_m;
mod per_output;
mod registry;
mod structured;
mod unstructured;

pub use block::Block;
pub use heads::{HeadLayout, Heads};
pub use n_m::NM;
pub use per_output::PerOutput;
pub use registry::PatternRegistry;
pub use structured::{Structured, UnitDim};
pub use unstructured::Unstructured;

/// What a pattern sees of one parameter.
#[derive(Debug, Clone, Copy)]
pub struct PatternInput<'a> {
    /// The dotted path (`encoder.layers.0.mha.query.weight`).
    pub path: &'a str,
    /// The tensor's shape in burn's layout (`Linear` weights are `[in, out]`).
    pub shape: &'a [usize],
    /// The owning module's type (`Linear`, `Conv2d`).
    pub layer_type: &'a str,
}

impl<'a> PatternInput<'a> {
    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The path of the owning module: the path without its last segment.
    pub fn module_path(&self) -> &'a str {
        self.path.rsplit_once('.').map_or("", |(module, _)| module)
    }

    /// The field name (`weight`, `bias`).
    pub fn field(&self) -> &'a str {
        self.path.rsplit('.').next().unwrap_or(self.path)
    }
}

/// How the elements of one tensor form groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups {
    /// Groups of different tensors with the same `unit` and the same group index are one
    /// group. Layer-wise scope ranks groups within a unit; for most patterns the unit is the
    /// parameter path, for attention heads the attention module.
    pub unit: String,
    /// The number of groups of this tensor (group indices are `0..count`).
    pub count: usize,
    /// The group of every element (flat, row-major), or `None` when every element is its own
    /// group (unstructured).
    pub of_element: Option<Vec<u32>>,
}

impl Groups {
    /// Every element its own group, in a unit of its own.
    pub fn elements(path: &str, numel: usize) -> Self {
        Self {
            unit: path.to_string(),
            count: numel,
            of_element: None,
        }
    }

    /// Groups from a function of the flat index.
    pub fn from_fn(unit: &str, numel: usize, count: usize, group: impl Fn(usize) -> usize) -> Self {
        Self {
            unit: unit.to_string(),
            count,
            of_element: Some((0..numel).map(|i| group(i) as u32).collect()),
        }
    }
}

/// The shape of what a pruner removes together. Implement it (one file) and register a name
/// in a [`PatternRegistry`] to use a new pattern from recipes.
pub trait Pattern: Send + Sync + std::fmt::Debug {
    /// The name in recipes and reports (`unstructured`, `2:4`, `block:4x4`).
    fn name(&self) -> String;

    /// Checks, when the pruner is bound, that the pattern fits the parameter (rank,
    /// divisibility, module type). The message names what does not fit.
    fn check(&self, param: &PatternInput<'_>) -> Result<(), String>;

    /// The groups of the parameter's elements.
    fn groups(&self, param: &PatternInput<'_>) -> Groups;

    /// `Some(_)` for quota patterns (N:M, per output): every group loses `round(s·n)` of its
    /// `n` lowest-scored elements at sparsity `s`, instead of groups being ranked against each
    /// other (N:M returns its `m`). `None` (the default) ranks whole groups.
    fn group_quota(&self) -> Option<usize> {
        None
    }

    /// The highest sparsity the pattern can reach (N:M: `(m-n)/m`); schedules that ask for
    /// more are rejected at bind time.
    fn max_sparsity(&self) -> f64 {
        1.0
    }
}
