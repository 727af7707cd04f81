use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use serde::{Deserialize, Serialize};

use crate::task::Metric;

/// The metrics of one epoch of one phase: a row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// `dense` or `sparse`.
    pub phase: String,
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: Option<f64>,
    /// Training accuracy, in percent.
    pub train_accuracy: Option<f64>,
    /// Mean validation loss.
    pub valid_loss: Option<f64>,
    /// Validation accuracy, in percent.
    pub valid_accuracy: Option<f64>,
    /// The sparsity the schedule demands at the end of the epoch.
    pub target_sparsity: f64,
}

impl EpochRow {
    /// Prints the one-line summary of the epoch on stderr (`total_epochs` in the phase).
    pub fn print(&self, total_epochs: usize) {
        let cell =
            |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
        eprintln!(
            "[{}] epoch {}/{}  train loss {}  valid loss {}  valid acc {}%  target sparsity {:.4}",
            self.phase,
            self.epoch,
            total_epochs,
            cell(self.train_loss, 4),
            cell(self.valid_loss, 4),
            cell(self.valid_accuracy, 2),
            self.target_sparsity
        );
    }

    /// The CSV header of a classification task (loss and accuracy):
    /// [`EpochRow::csv_header`] of [`Task::metrics`](crate::task::Task::metrics)'s default.
    pub const CSV_HEADER: &'static str =
        "phase,epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,target_sparsity";

    /// The columns' metrics for a task reporting `metrics`: the loss first (every run's
    /// log has it), then the others in the task's order.
    fn columns(metrics: &[Metric]) -> Vec<Metric> {
        std::iter::once(Metric::Loss)
            .chain(metrics.iter().copied().filter(|m| *m != Metric::Loss))
            .collect()
    }

    /// The CSV header for a task reporting `metrics`: `phase,epoch`, then `train_<metric>`
    /// and `valid_<metric>` for the loss and each other metric, then `target_sparsity`.
    pub fn csv_header(metrics: &[Metric]) -> String {
        let mut columns = vec!["phase".to_string(), "epoch".to_string()];
        for split in ["train", "valid"] {
            columns.extend(
                Self::columns(metrics)
                    .iter()
                    .map(|m| format!("{split}_{}", m.name())),
            );
        }
        columns.push("target_sparsity".into());
        columns.join(",")
    }

    /// The row as CSV under [`EpochRow::csv_header`] of `metrics` (empty cells for missing
    /// values).
    pub fn to_csv(&self, metrics: &[Metric]) -> String {
        let cell = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        let mut cells = vec![self.phase.clone(), self.epoch.to_string()];
        for (loss, accuracy) in [
            (self.train_loss, self.train_accuracy),
            (self.valid_loss, self.valid_accuracy),
        ] {
            cells.extend(
                Self::columns(metrics)
                    .iter()
                    .map(|m| cell(m.of(loss, accuracy))),
            );
        }
        cells.push(format!("{:.6}", self.target_sparsity));
        cells.join(",")
    }
}

#[derive(Default)]
struct Mean {
    sum: f64,
    count: f64,
    last_final: Option<f64>,
}

impl Mean {
    fn add(&mut self, entry: &NumericEntry) {
        match entry {
            NumericEntry::Value(v) => {
                self.sum += v;
                self.count += 1.0;
            }
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } => {
                self.sum += aggregated_value * *count as f64;
                self.count += *count as f64;
            }
            NumericEntry::Final(v) => self.last_final = Some(*v),
        }
    }

    fn value(&self) -> Option<f64> {
        self.last_final
            .or((self.count > 0.0).then(|| self.sum / self.count))
    }
}

/// A quiet burn-train renderer: a progress line on stderr every few seconds, one summary line
/// per epoch, and the epoch's metrics collected as [`EpochRow`]s.
pub struct EpochReporter {
    phase: String,
    target_sparsity: Box<dyn Fn(usize) -> f64 + Send + Sync>,
    rows: Arc<Mutex<Vec<EpochRow>>>,
    names: HashMap<MetricId, String>,
    means: HashMap<(&'static str, String), Mean>,
    split: &'static str,
    split_total: usize,
    epoch: usize,
    total_epochs: usize,
    line: ProgressLine,
}

impl EpochReporter {
    /// A reporter for `phase`; `target_sparsity(epoch)` gives the scheduled sparsity at the
    /// end of an epoch (from 1). Rows are pushed to `rows`.
    pub fn new(
        phase: &str,
        target_sparsity: impl Fn(usize) -> f64 + Send + Sync + 'static,
        rows: Arc<Mutex<Vec<EpochRow>>>,
    ) -> Self {
        Self {
            phase: phase.to_string(),
            target_sparsity: Box::new(target_sparsity),
            rows,
            names: HashMap::new(),
            means: HashMap::new(),
            split: "train",
            split_total: 0,
            epoch: 1,
            total_epochs: 0,
            line: ProgressLine::new(phase, 1, 0, "train"),
        }
    }

    fn record(&mut self, split: &'static str, state: MetricState) {
        if let MetricState::Numeric(entry, Some(value)) = state
            && let Some(name) = self.names.get(&entry.metric_id)
        {
            self.means
                .entry((split, name.clone()))
                .or_default()
                .add(&value);
        }
    }

    fn take(&mut self, split: &'static str, name: &str) -> Option<f64> {
        self.means
            .remove(&(split, name.to_string()))
            .and_then(|m| m.value())
    }

    fn finish_epoch(&mut self) {
        let row = EpochRow {
            phase: self.phase.clone(),
            epoch: self.epoch,
            train_loss: self.take("train", "Loss"),
            train_accuracy: self.take("train", "Accuracy"),
            valid_loss: self.take("valid", "Loss"),
            valid_accuracy: self.take("valid", "Accuracy"),
            target_sparsity: (self.target_sparsity)(self.epoch),
        };
        row.print(self.total_epochs);
        self.means.clear();
        self.rows.lock().expect("rows lock").push(row);
    }
}

impl MetricsRendererTraining for EpochReporter {
    fn update_train(&mut self, state: MetricState) {
        self.record("train", state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record("valid", state);
    }
}

impl MetricsRendererEvaluation for EpochReporter {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
}

impl TrainingProgressLogger for EpochReporter {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        self.epoch = starting_epoch.max(1);
        eprintln!("[{}] {} epochs", self.phase, total_epochs);
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.epoch = epoch + 1;
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = if split == "valid" { "valid" } else { "train" };
        self.split_total = total_items;
        self.line = ProgressLine::new(&self.phase, self.epoch, self.total_epochs, self.split);
    }

    fn update_split(&mut self, items_processed: usize) {
        self.line.update(items_processed, self.split_total);
    }

    fn end_split(&mut self) {
        if self.split == "valid" {
            self.finish_epoch();
        }
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for EpochReporter {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for EpochReporter {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
    }
}

/// A progress line on stderr at most every ten seconds: phase, epoch, split, share done,
/// throughput and time left.
pub(crate) struct ProgressLine {
    label: String,
    split: &'static str,
    started: Instant,
    last_print: Instant,
}

impl ProgressLine {
    /// A line for `split` of `epoch` of `total_epochs` in `phase`, starting now.
    pub(crate) fn new(phase: &str, epoch: usize, total_epochs: usize, split: &'static str) -> Self {
        Self {
            label: format!("[{phase}] epoch {epoch}/{total_epochs}"),
            split,
            started: Instant::now(),
            last_print: Instant::now(),
        }
    }

    /// Prints the line if ten seconds have passed since the last one.
    pub(crate) fn update(&mut self, done: usize, total: usize) {
        if self.last_print.elapsed() < Duration::from_secs(10) || total == 0 {
            return;
        }
        self.last_print = Instant::now();
        let (rate, eta) = throughput(done, total, self.started.elapsed());
        eprintln!(
            "{}  {} {:>3}% ({done}/{total})  {rate:.1} examples/s  ETA {eta}",
            self.label,
            self.split,
            100 * done / total,
        );
        std::io::stderr().flush().ok();
    }
}

/// Examples per second so far, and the time left at that rate as `1h02m03s`, `4m05s` or
/// `17s` (`?` before the first example).
fn throughput(done: usize, total: usize, elapsed: Duration) -> (f64, String) {
    let seconds = elapsed.as_secs_f64();
    if done == 0 || seconds <= 0.0 {
        return (0.0, "?".to_string());
    }
    let rate = done as f64 / seconds;
    let left = (total.saturating_sub(done) as f64 / rate).round() as u64;
    let eta = match (left / 3600, left / 60 % 60, left % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    };
    (rate, eta)
}

#[cfg(test)]
mod throughput_tests {
    use super::*;

    #[test]
    fn rate_and_eta_follow_from_the_counts() {
        let (rate, eta) = throughput(300, 1500, Duration::from_secs(60));
        assert!((rate - 5.0).abs() < 1e-12);
        assert_eq!(eta, "4m00s");
        assert_eq!(throughput(10, 20, Duration::from_secs(5)).1, "5s");
        assert_eq!(throughput(1, 7202, Duration::from_secs(1)).1, "2h00m01s");
        assert_eq!(throughput(0, 10, Duration::from_secs(3)).1, "?");
    }
}
