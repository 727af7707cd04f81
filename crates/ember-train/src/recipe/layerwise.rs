use ember_oneshot::solve::Structure;
use serde::{Deserialize, Serialize};

use crate::TrainError;

fn invalid(field: String, value: String, message: String) -> TrainError {
    TrainError::Invalid {
        field,
        value,
        message,
    }
}

/// A layer-by-layer one-shot pruner (`kind = "layerwise"`) as a recipe writes it, run by
/// `ember prune` with calibration data the way SparseGPT's and Wanda's code and
/// llm-compressor run them: block after block, every selected linear layer pruned to
/// `sparsity` by its `solver` from its own inputs, which the pruned earlier blocks produce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerwiseSpec {
    /// A name for reports (default `layerwise<i>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Parameter patterns: weights of the linear layers of the model's blocks and head.
    pub params: Vec<String>,
    /// Patterns to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// The solver: `magnitude`, `wanda`, or any name in the run's solver registry.
    #[serde(default = "default_solver")]
    pub solver: String,
    /// The fraction of every selected layer to prune (for N:M, `(M - N) / M`).
    pub sparsity: f64,
    /// The mask's structure: `unstructured` (default), `per_output` (each output row loses
    /// the same fraction, as Wanda compares) or `N:M` (`2:4`).
    #[serde(default = "default_structure")]
    pub pattern: String,
}

fn default_solver() -> String {
    "magnitude".into()
}

fn default_structure() -> String {
    "unstructured".into()
}

impl LayerwiseSpec {
    /// The mask structure `pattern` names.
    pub fn structure(&self) -> Result<Structure, String> {
        Structure::parse(&self.pattern)
    }

    /// Checks what a `layerwise` modifier says without the model: its structure and a sparsity
    /// that structure can take. [`Recipe::validate`](crate::Recipe::validate) calls it.
    pub fn check(&self, index: usize) -> Result<Structure, TrainError> {
        let spec = self;
        let field = |key: &str| format!("modifiers[{index}].{key}");
        let structure = spec
            .structure()
            .map_err(|message| invalid(field("pattern"), spec.pattern.clone(), message))?;
        if !(0.0..1.0).contains(&spec.sparsity) {
            return Err(invalid(
                field("sparsity"),
                spec.sparsity.to_string(),
                "must lie in [0, 1)".into(),
            ));
        }
        if let Some(fixed) = structure.fixed_sparsity()
            && (fixed - spec.sparsity).abs() > 1e-9
        {
            return Err(invalid(
                field("sparsity"),
                spec.sparsity.to_string(),
                format!("pattern `{}` prunes exactly {fixed}", spec.pattern),
            ));
        }
        Ok(structure)
    }

    /// The name reports and errors use.
    pub fn name_at(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("layerwise{index}"))
    }
}
