//! The trainer's side of `report.json`: the report types live in [`ember_report`]; filling
//! the sparsity parts from a measurement and writing the report (a missed target an error)
//! need the sparsity core and [`TrainError`].

use std::path::Path;

use ember_report::{ParameterCounts, RunReport, SparsitySummary};
use ember_sparsity::SparsityReport;

use crate::TrainError;

/// Writes `report` to `dir/report.json` (atomically) and returns it; a run that missed a
/// target gets [`TrainError::Shortfall`] instead, its report written all the same.
pub(crate) fn write_into(report: RunReport, dir: &Path) -> Result<RunReport, TrainError> {
    let json = serde_json::to_string_pretty(&report).expect("a report always serialises");
    crate::write_recorded(&dir.join("report.json"), json.as_bytes())?;
    match report.shortfall {
        Some(message) => Err(TrainError::Shortfall {
            dir: dir.to_path_buf(),
            message,
        }),
        None => Ok(report),
    }
}

/// Fills the sparsity parts of a report from a measurement.
pub(crate) fn sparsity_parts(measured: &SparsityReport) -> (SparsitySummary, ParameterCounts) {
    let nonzero = measured.selected_numel - measured.selected_zeros;
    (
        SparsitySummary {
            ratio: measured.ratio,
            selected_numel: measured.selected_numel,
            selected_zeros: measured.selected_zeros,
            // Every element pruned counts as one survivor, so the figure stays finite (JSON
            // has no infinity).
            compression: measured.selected_numel as f64 / nonzero.max(1) as f64,
        },
        ParameterCounts {
            total: measured.total_numel,
            nonzero: measured.total_numel - measured.total_zeros,
            frozen: measured.total_frozen,
            trainable: measured.trainable,
        },
    )
}
