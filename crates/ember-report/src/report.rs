//! `report.json`: what one run measured.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ReportError, read_recorded};

/// The measured sparsity of one parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    /// The dotted path.
    pub path: String,
    /// The owning module type.
    pub layer_type: String,
    /// Number of elements.
    pub numel: usize,
    /// Number of elements that are exactly zero in the weights.
    pub zeros: usize,
    /// `zeros / numel`.
    pub sparsity: f64,
    /// Whether a pruner selects this parameter.
    pub selected: bool,
    /// Number of frozen elements (all of them for a tensor frozen whole).
    pub frozen: usize,
    /// Number of elements the optimizer may still change: not pruned, not frozen.
    pub trainable: usize,
}

/// What one training phase achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseReport {
    /// Top-1 test accuracy in percent.
    pub accuracy: f64,
    /// Epochs trained in this phase (0 when the weights were loaded).
    pub epochs: usize,
    /// Wall-clock seconds of the phase.
    pub wall_seconds: f64,
    /// The weights file the phase started from, when it loaded one instead of training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_from: Option<String>,
    /// The task's metrics on the test split, by name (`loss`, `accuracy`, `perplexity`, …);
    /// empty in reports written before tasks named their metrics.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// Sparsity totals of a run, measured from the final weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparsitySummary {
    /// Zeros / elements over the parameters the recipe prunes.
    pub ratio: f64,
    /// Elements of the pruned parameters.
    pub selected_numel: usize,
    /// Zeros among them.
    pub selected_zeros: usize,
    /// Compression of the pruned parameters: elements / non-zeros (1 when nothing is pruned).
    pub compression: f64,
}

/// Parameter counts of the final model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterCounts {
    /// All float parameters.
    pub total: usize,
    /// Those that are not zero.
    pub nonzero: usize,
    /// Those that are frozen.
    pub frozen: usize,
    /// Those the optimizer may still change (neither pruned nor frozen).
    pub trainable: usize,
}

/// `report.json`: everything a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The recipe's name.
    pub recipe: String,
    /// The model kind.
    pub model: String,
    /// The device the run trained on.
    pub device: String,
    /// The dense baseline, when the recipe has a dense phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense: Option<PhaseReport>,
    /// The pruned model at the end of the run.
    #[serde(rename = "final")]
    pub final_: PhaseReport,
    /// Sparsity totals.
    pub sparsity: SparsitySummary,
    /// Parameter counts.
    pub parameters: ParameterCounts,
    /// Every float parameter with its measured sparsity.
    pub layers: Vec<LayerReport>,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
    /// What the run failed to reach (a sparsity target), if anything: such a run exits with
    /// an error after writing its files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortfall: Option<String>,
}

impl RunReport {
    /// Reads a run's `report.json`, checked against its directory's manifest.
    ///
    /// # Errors
    /// [`ReportError::ReadFile`] when the file cannot be read, does not match its recorded
    /// SHA-256, or is not an Ember report.
    pub fn read(path: &Path) -> Result<Self, ReportError> {
        let error = |message: String| ReportError::ReadFile {
            path: path.to_path_buf(),
            message,
        };
        let text = read_recorded(path)?;
        serde_json::from_str(&text).map_err(|e| error(format!("not an Ember report: {e}")))
    }

    /// A human-readable summary, as `ember report` prints it.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "recipe {}  model {}  device {}  wall {:.1}s\n",
            self.recipe, self.model, self.device, self.wall_seconds
        );
        if let Some(dense) = &self.dense {
            text += &format!("dense accuracy   {:.2}%\n", dense.accuracy);
        }
        text += &format!("final accuracy   {:.2}%\n", self.final_.accuracy);
        // Metrics beyond the headline accuracy and the loss (perplexity, …), by name.
        for (name, value) in &self.final_.metrics {
            if name != "accuracy" && name != "loss" {
                text += &format!("final {name:<10} {value:.4}\n");
            }
        }
        if let Some(shortfall) = &self.shortfall {
            text += &format!("TARGET MISSED    {shortfall}\n");
        }
        text += &format!(
            "sparsity         {:.4} ({} of {} pruned weights are zero, {:.1}x compression)\n",
            self.sparsity.ratio,
            self.sparsity.selected_zeros,
            self.sparsity.selected_numel,
            self.sparsity.compression
        );
        text += &format!(
            "parameters       {} total, {} non-zero, {} frozen, {} trainable\n\n{:<32} {:>10} {:>10} {:>9} {:>10}\n",
            self.parameters.total,
            self.parameters.nonzero,
            self.parameters.frozen,
            self.parameters.trainable,
            "layer",
            "numel",
            "zeros",
            "sparsity",
            "frozen"
        );
        for layer in &self.layers {
            text += &format!(
                "{:<32} {:>10} {:>10} {:>9.4} {:>10}{}\n",
                layer.path,
                layer.numel,
                layer.zeros,
                layer.sparsity,
                layer.frozen,
                if layer.selected || layer.frozen > 0 {
                    ""
                } else {
                    "  (not pruned)"
                }
            );
        }
        text
    }
}
