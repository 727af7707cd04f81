//! A sweep's `summary.json`, `summary.csv` and `summary.md`: every run of a sweep (methods ×
//! a grid of recipe keys × seeds), and every cell as mean ± standard deviation over its seeds.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ReportError, write_recorded};

/// What one run of a sweep measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// The method.
    pub method: String,
    /// The grid's values.
    pub settings: Vec<(String, String)>,
    /// The seed.
    pub seed: u64,
    /// Dense test accuracy, when the recipe has a dense phase.
    pub dense_accuracy: Option<f64>,
    /// Final test accuracy.
    pub accuracy: f64,
    /// Measured sparsity of the pruned parameters.
    pub sparsity: f64,
    /// The run directory, relative to the sweep's.
    pub dir: String,
    /// The final model's test metrics, by name, as its task reports them (`loss`,
    /// `accuracy`, `perplexity`, …); empty in summaries written before tasks named them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// Mean and sample standard deviation of one cell over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    /// The method.
    pub method: String,
    /// The grid's values.
    pub settings: Vec<(String, String)>,
    /// Runs (seeds) in the cell.
    pub runs: usize,
    /// Mean final accuracy (percent).
    pub accuracy_mean: f64,
    /// Its sample standard deviation (0 for one run).
    pub accuracy_std: f64,
    /// Mean measured sparsity.
    pub sparsity_mean: f64,
    /// Mean dense accuracy, when there is a dense phase.
    pub dense_mean: Option<f64>,
    /// Its sample standard deviation.
    pub dense_std: Option<f64>,
    /// Mean and sample standard deviation of every named metric its runs all report.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, (f64, f64)>,
}

/// `summary.json`: every run and every cell of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    /// The grid's keys, in axis order.
    pub keys: Vec<String>,
    /// Every run.
    pub rows: Vec<SweepRow>,
    /// Every cell, in the order the sweep runs them.
    pub cells: Vec<CellSummary>,
}

/// Mean and sample standard deviation (`n − 1`; 0 for fewer than two values).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

impl SweepSummary {
    /// Groups `rows` into cells (method and settings), in the order they first appear.
    pub fn new(keys: Vec<String>, rows: Vec<SweepRow>) -> Self {
        let mut order: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for row in &rows {
            let cell = (row.method.clone(), row.settings.clone());
            if !order.contains(&cell) {
                order.push(cell);
            }
        }
        let cells = order
            .into_iter()
            .map(|(method, settings)| {
                let of_cell: Vec<&SweepRow> = rows
                    .iter()
                    .filter(|r| r.method == method && r.settings == settings)
                    .collect();
                let accuracy: Vec<f64> = of_cell.iter().map(|r| r.accuracy).collect();
                let sparsity: Vec<f64> = of_cell.iter().map(|r| r.sparsity).collect();
                let dense: Vec<f64> = of_cell.iter().filter_map(|r| r.dense_accuracy).collect();
                let (accuracy_mean, accuracy_std) = mean_std(&accuracy);
                let (dense_mean, dense_std) = if dense.is_empty() {
                    (None, None)
                } else {
                    let (m, s) = mean_std(&dense);
                    (Some(m), Some(s))
                };
                // A metric counts when every run of the cell reports it.
                let metrics = of_cell
                    .first()
                    .map(|first| {
                        first
                            .metrics
                            .keys()
                            .filter_map(|name| {
                                let values: Option<Vec<f64>> = of_cell
                                    .iter()
                                    .map(|r| r.metrics.get(name).copied())
                                    .collect();
                                Some((name.clone(), mean_std(&values?)))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                CellSummary {
                    method,
                    settings,
                    runs: of_cell.len(),
                    accuracy_mean,
                    accuracy_std,
                    sparsity_mean: mean_std(&sparsity).0,
                    dense_mean,
                    dense_std,
                    metrics,
                }
            })
            .collect();
        Self { keys, rows, cells }
    }

    /// The cells as CSV: method, one column per key, runs, accuracy mean and std, sparsity,
    /// dense mean and std.
    pub fn to_csv(&self) -> String {
        let mut text = String::from("method");
        for key in &self.keys {
            text += &format!(",{}", csv_field(key));
        }
        text += ",runs,accuracy_mean,accuracy_std,sparsity_mean,dense_mean,dense_std\n";
        for cell in &self.cells {
            text += &csv_field(&cell.method);
            for (_, value) in &cell.settings {
                text += &format!(",{}", csv_field(value));
            }
            let optional = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
            text += &format!(
                ",{},{:.4},{:.4},{:.6},{},{}\n",
                cell.runs,
                cell.accuracy_mean,
                cell.accuracy_std,
                cell.sparsity_mean,
                optional(cell.dense_mean),
                optional(cell.dense_std)
            );
        }
        text
    }

    /// The cells as a Markdown table, accuracy as `mean ± std`; with one grid axis, followed
    /// by the same accuracies pivoted: a row per method, a column per value of the axis.
    pub fn to_markdown(&self) -> String {
        let mut text = self.long_table();
        if self.keys.len() == 1 {
            text += "\n";
            text += &self.pivot_table();
        }
        text
    }

    /// Methods by the one axis's values.
    fn pivot_table(&self) -> String {
        let value_of = |cell: &CellSummary| {
            cell.settings
                .first()
                .map_or(String::new(), |(_, v)| v.clone())
        };
        let mut values: Vec<String> = Vec::new();
        let mut methods: Vec<String> = Vec::new();
        for cell in &self.cells {
            if !values.contains(&value_of(cell)) {
                values.push(value_of(cell));
            }
            if !methods.contains(&cell.method) {
                methods.push(cell.method.clone());
            }
        }
        let mut text = format!("| method \\ `{}` |", markdown_cell(&self.keys[0]));
        for value in &values {
            text += &format!(" {value} |");
        }
        text += "\n| --- |";
        text += &" ---: |".repeat(values.len());
        text += "\n";
        for method in &methods {
            text += &format!("| {method} |");
            for value in &values {
                let cell = self
                    .cells
                    .iter()
                    .find(|c| &c.method == method && &value_of(c) == value);
                text += &match cell {
                    Some(c) => format!(" {:.2} ± {:.2} |", c.accuracy_mean, c.accuracy_std),
                    None => " |".to_string(),
                };
            }
            text += "\n";
        }
        text
    }

    fn long_table(&self) -> String {
        let mut header = String::from("| method |");
        let mut rule = String::from("| --- |");
        for key in &self.keys {
            header += &format!(" `{}` |", markdown_cell(key));
            rule += " ---: |";
        }
        header += " runs | test accuracy (%) | measured sparsity | dense accuracy (%) |\n";
        rule += " ---: | ---: | ---: | ---: |\n";
        let mut text = header + &rule;
        for cell in &self.cells {
            text += &format!("| {} |", cell.method);
            for (_, value) in &cell.settings {
                text += &format!(" {value} |");
            }
            let dense = match (cell.dense_mean, cell.dense_std) {
                (Some(m), Some(s)) => format!("{m:.2} ± {s:.2}"),
                _ => "n/a".into(),
            };
            text += &format!(
                " {} | {:.2} ± {:.2} | {:.4} | {dense} |\n",
                cell.runs, cell.accuracy_mean, cell.accuracy_std, cell.sparsity_mean
            );
        }
        text
    }

    /// Writes `summary.json`, `summary.csv` and `summary.md` into `dir`, each atomically.
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        let json = serde_json::to_string_pretty(self).expect("a summary always serialises");
        write_recorded(&dir.join("summary.json"), json.as_bytes())?;
        write_recorded(&dir.join("summary.csv"), self.to_csv().as_bytes())?;
        write_recorded(&dir.join("summary.md"), self.to_markdown().as_bytes())
    }
}

/// `text` safe inside a Markdown table cell: its pipes (alternative keys `a|b`) escaped.
fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_standard_deviation_match_the_closed_form() {
        let (mean, std) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(mean, 5.0);
        assert!((std - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[3.0]), (3.0, 0.0));
    }

    #[test]
    fn cells_group_rows_over_seeds() {
        let row = |method: &str, s: &str, seed, accuracy| SweepRow {
            method: method.into(),
            settings: vec![("k".into(), s.into())],
            seed,
            dense_accuracy: Some(98.0),
            accuracy,
            sparsity: 0.5,
            dir: String::new(),
            metrics: [("perplexity".to_string(), accuracy / 10.0)].into(),
        };
        let summary = SweepSummary::new(
            vec!["k".into()],
            vec![
                row("a", "1", 0, 90.0),
                row("a", "1", 1, 92.0),
                row("b", "1", 0, 80.0),
            ],
        );
        assert_eq!(summary.cells.len(), 2);
        assert_eq!(summary.cells[0].runs, 2);
        assert_eq!(summary.cells[0].accuracy_mean, 91.0);
        assert!((summary.cells[0].accuracy_std - 2f64.sqrt()).abs() < 1e-12);
        // Named metrics: mean and sample deviation over the cell's runs (9.0 and 9.2).
        let (mean, std) = summary.cells[0].metrics["perplexity"];
        assert!((mean - 9.1).abs() < 1e-12 && (std - 0.02f64.sqrt()).abs() < 1e-12);
        let csv = summary.to_csv();
        assert!(csv.starts_with("method,k,runs,"), "{csv}");
        assert!(
            csv.contains("a,1,2,91.0000,1.4142,0.500000,98.0000,0.0000"),
            "{csv}"
        );
        let md = summary.to_markdown();
        assert!(md.contains("| a | 1 | 2 | 91.00 ± 1.41 |"), "{md}");
        // With one axis, the pivot: a row per method, a column per value.
        assert!(md.contains("| method \\ `k` | 1 |"), "{md}");
        assert!(md.contains("| b | 80.00 ± 0.00 |"), "{md}");
    }
}
