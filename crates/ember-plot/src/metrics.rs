//! `metrics.csv`, the per-epoch log every run writes.

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
    /// Training accuracy (percent).
    pub train_accuracy: f64,
    /// Validation loss.
    pub valid_loss: f64,
    /// Validation accuracy (percent).
    pub valid_accuracy: f64,
    /// The target sparsity at the end of the epoch.
    pub target_sparsity: f64,
}

const HEADER: &str =
    "phase,epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,target_sparsity";

/// Reads a run's `metrics.csv`, refusing a wrong header or a malformed row by line number.
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
    match lines.next() {
        Some(header) if header.trim() == HEADER => {}
        other => {
            return Err(format(format!(
                "the header is {:?}, expected {HEADER:?}",
                other.unwrap_or("")
            )));
        }
    }
    lines
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            let number = |k: usize| -> Result<f64, PlotError> {
                fields
                    .get(k)
                    .and_then(|f| f.trim().parse::<f64>().ok())
                    .ok_or_else(|| {
                        format(format!("line {}: field {} is not a number", i + 2, k + 1))
                    })
            };
            if fields.len() != 7 {
                return Err(format(format!(
                    "line {} has {} fields, expected 7",
                    i + 2,
                    fields.len()
                )));
            }
            Ok(MetricsRow {
                phase: fields[0].to_string(),
                epoch: number(1)? as usize,
                train_loss: number(2)?,
                train_accuracy: number(3)?,
                valid_loss: number(4)?,
                valid_accuracy: number(5)?,
                target_sparsity: number(6)?,
            })
        })
        .collect()
}
