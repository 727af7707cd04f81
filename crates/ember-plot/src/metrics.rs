//! `metrics.csv`, the per-epoch log every run writes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::PlotError;

/// One row of `metrics.csv`: one epoch of one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRow {
    /// `dense` or `sparse`.
    pub phase: String,
    /// The epoch within its phase, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation loss.
    pub valid_loss: f64,
    /// The target sparsity at the end of the epoch.
    pub target_sparsity: f64,
    /// Every other metric the task reports, by name, for training and validation
    /// (`accuracy` for classifiers, `perplexity` for language models).
    pub metrics: BTreeMap<String, (f64, f64)>,
}

impl MetricsRow {
    /// Training and validation values of `metric`, when the run reports it.
    pub fn metric(&self, metric: &str) -> Option<(f64, f64)> {
        self.metrics.get(metric).copied()
    }
}

/// The columns every `metrics.csv` has, whatever its task reports besides.
const REQUIRED: [&str; 5] = [
    "phase",
    "epoch",
    "train_loss",
    "valid_loss",
    "target_sparsity",
];

/// Reads a run's `metrics.csv` (`phase,epoch`, `train_<metric>` and `valid_<metric>` for each
/// metric the task reports, `target_sparsity`), refusing a header without the required
/// columns or a malformed row by line number.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>, PlotError> {
    // Through the run's SHA256SUMS, which lists it.
    let text = ember_report::read_recorded(path).map_err(|e| PlotError::Read {
        path: path.to_path_buf(),
        message: crate::read_message(e),
    })?;
    let format = |message: String| PlotError::Format {
        path: path.to_path_buf(),
        expected: "an Ember metrics.csv",
        message,
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").trim().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    if let Some(missing) = REQUIRED.iter().find(|name| column(name).is_none()) {
        return Err(format(format!(
            "the header {:?} has no `{missing}` column",
            header.join(",")
        )));
    }
    // The other metrics: a `train_<name>` column with its `valid_<name>`.
    let others: Vec<(String, usize, usize)> = header
        .iter()
        .filter_map(|h| h.strip_prefix("train_"))
        .filter(|name| *name != "loss")
        .filter_map(|name| {
            Some((
                name.to_string(),
                column(&format!("train_{name}"))?,
                column(&format!("valid_{name}"))?,
            ))
        })
        .collect();
    let at = |name: &str| column(name).expect("checked above");
    lines
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != header.len() {
                return Err(format(format!(
                    "line {} has {} fields, expected {}",
                    i + 2,
                    fields.len(),
                    header.len()
                )));
            }
            let number = |k: usize| -> Result<f64, PlotError> {
                fields[k]
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format(format!("line {}: field {} is not a number", i + 2, k + 1)))
            };
            let metrics = others
                .iter()
                .map(|(name, train, valid)| Ok((name.clone(), (number(*train)?, number(*valid)?))))
                .collect::<Result<_, PlotError>>()?;
            Ok(MetricsRow {
                phase: fields[at("phase")].to_string(),
                epoch: number(at("epoch"))? as usize,
                train_loss: number(at("train_loss"))?,
                valid_loss: number(at("valid_loss"))?,
                target_sparsity: number(at("target_sparsity"))?,
                metrics,
            })
        })
        .collect()
}
