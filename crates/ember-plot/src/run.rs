//! The plots of one run: per-layer sparsity and training curves.

use std::path::{Path, PathBuf};

use ember_report::RunReport;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::canvas::{DrawResult, FONT, Figure, PALETTE, draw_both, text};
use crate::{MetricsRow, PlotError, read_metrics};

/// Writes `sparsity.{png,svg}` (when the run pruned anything) and `curves.{png,svg}` (when it
/// trained an epoch) into `run_dir` from its `report.json` and `metrics.csv`, and returns the
/// paths written.
pub fn plot_run(run_dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let report_path = run_dir.join("report.json");
    let report_text = ember_report::read_recorded(&report_path).map_err(|e| PlotError::Read {
        path: report_path.clone(),
        message: crate::read_message(e),
    })?;
    let report: RunReport = serde_json::from_str(&report_text).map_err(|e| PlotError::Format {
        path: report_path.clone(),
        expected: "an Ember report",
        message: e.to_string(),
    })?;
    let metrics = read_metrics(&run_dir.join("metrics.csv"))?;
    // The title names the model and the data set as well as the recipe.
    let subject = format!(
        "{} ({} on {})",
        report.recipe,
        report.model,
        data_set_of(run_dir).unwrap_or_else(|| "unknown data".into())
    );
    let layers: Vec<(String, f64)> = report
        .layers
        .iter()
        .filter(|l| l.selected)
        .map(|l| (l.path.clone(), l.sparsity))
        .collect();
    // A dense-only run has no pruned tensor, and a run of zero epochs no curve: each plot
    // is drawn when there is something to show, and the caller prints what was written.
    let mut written = Vec::new();
    if !layers.is_empty() {
        written.extend(draw_both(
            run_dir,
            "sparsity",
            &LayerSparsity {
                title: format!(
                    "{subject}: sparsity per tensor (overall {:.4})",
                    report.sparsity.ratio
                ),
                layers,
                overall: report.sparsity.ratio,
            },
        )?);
    }
    if !metrics.is_empty() {
        written.extend(draw_both(
            run_dir,
            "curves",
            &Curves {
                title: format!("{subject}: training curves"),
                rows: metrics,
            },
        )?);
    }
    Ok(written)
}

/// The data set of the run in `run_dir`, as its `recipe.toml` names it (`mnist`,
/// `rotten_tomatoes`, …).
fn data_set_of(run_dir: &Path) -> Option<String> {
    // Through the run's SHA256SUMS, as a plain TOML table: the plot needs no trainer.
    let text = ember_report::files::read_recorded(&run_dir.join("recipe.toml")).ok()?;
    let recipe: toml::Table = text.parse().ok()?;
    Some(recipe.get("data")?.get("source")?.as_str()?.to_string())
}

/// An axis label for whole epochs only: plotters also places ticks between them.
fn whole_epoch(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 && *x >= 1.0 {
        format!("{}", x.round() as i64)
    } else {
        String::new()
    }
}

/// A named column of `metrics.csv` and its colour.
type Series = (&'static str, fn(&MetricsRow) -> f64, RGBColor);

/// A bar per pruned tensor, and the overall ratio as a dashed line.
struct LayerSparsity {
    title: String,
    layers: Vec<(String, f64)>,
    overall: f64,
}

impl Figure for LayerSparsity {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let n = self.layers.len();
        let names: Vec<String> = self.layers.iter().map(|(p, _)| p.clone()).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 22))
            .margin(16)
            .x_label_area_size(if n > 8 { 110 } else { 50 })
            .y_label_area_size(60)
            // A segmented range of `0..m` has `m + 1` segments.
            .build_cartesian_2d((0..n.saturating_sub(1).max(1)).into_segmented(), 0f64..1f64)
            .map_err(text)?;
        // Every tensor is named up to twenty; beyond that every k-th.
        let label_every = n.div_ceil(20).max(1);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) if i % label_every == 0 => {
                    names.get(*i).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .x_label_style((FONT, 13).into_font().transform(if n > 8 {
                FontTransform::Rotate90
            } else {
                FontTransform::None
            }))
            .y_desc("sparsity (zeros / elements)")
            .label_style((FONT, 14))
            .draw()
            .map_err(text)?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(PALETTE[0].filled())
                    .margin(12)
                    .data(self.layers.iter().enumerate().map(|(i, (_, s))| (i, *s))),
            )
            .map_err(text)?
            .label("measured sparsity")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], PALETTE[0].filled()));
        chart
            .draw_series(DashedLineSeries::new(
                [
                    (SegmentValue::Exact(0), self.overall),
                    (SegmentValue::Last, self.overall),
                ],
                8,
                5,
                PALETTE[1].stroke_width(2),
            ))
            .map_err(text)?
            .label(format!("overall {:.4}", self.overall))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], PALETTE[1].stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(text)
    }
}

/// Accuracy (or the task's other metric, such as perplexity) per epoch over both phases
/// (top), loss and target sparsity (bottom).
struct Curves {
    title: String,
    rows: Vec<MetricsRow>,
}

impl Figure for Curves {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let root = root.titled(&self.title, (FONT, 22)).map_err(text)?;
        let (top, bottom) = root.split_vertically(300);
        let epochs = self.rows.len() as f64;
        // Epochs run on across phases: the pruning phase's first epoch follows the last dense.
        let x = |i: usize| i as f64 + 1.0;
        let dense_epochs = self.rows.iter().filter(|r| r.phase == "dense").count() as f64;
        // The top panel: accuracy when the task reports it (classifiers), else the first
        // other metric it reports (perplexity for a language model).
        let first = self.rows.first();
        let metric = match first {
            Some(row) if row.metric("accuracy").is_some() => Some("accuracy".to_string()),
            Some(row) => row.metrics.keys().next().cloned(),
            None => None,
        };
        let value = |r: &MetricsRow, train: bool| {
            metric
                .as_deref()
                .and_then(|m| r.metric(m))
                .map_or(f64::NAN, |(t, v)| if train { t } else { v })
        };
        let values = self
            .rows
            .iter()
            .flat_map(|r| [value(r, true), value(r, false)])
            .filter(|v| v.is_finite());
        let (low, high, unit) = match metric.as_deref() {
            Some("accuracy") | None => {
                let low = values.fold(100.0f64, f64::min);
                (
                    (low - 1.0).clamp(0.0, 99.0).floor(),
                    100.0,
                    "accuracy (%)".to_string(),
                )
            }
            Some(other) => {
                let (low, high) =
                    values.fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
                let low = if low.is_finite() { low } else { 0.0 };
                let span = (high - low).max(1e-3);
                (
                    (low - 0.05 * span).max(0.0),
                    high + 0.05 * span,
                    other.to_string(),
                )
            }
        };
        let mut chart = ChartBuilder::on(&top)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.5f64..epochs + 0.5, low..high)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_labels(self.rows.len().clamp(2, 20) + 1)
            .x_label_formatter(&whole_epoch)
            .y_desc(unit)
            .label_style((FONT, 14))
            .draw()
            .map_err(text)?;
        let name = metric.clone().unwrap_or_else(|| "accuracy".into());
        let series = [
            (format!("train {name}"), true, PALETTE[0]),
            (format!("validation {name}"), false, PALETTE[1]),
        ];
        for (label, train, color) in series {
            let points: Vec<(f64, f64)> = self
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| (x(i), value(r, train)))
                .filter(|(_, v)| v.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(text)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.filled())),
                )
                .map_err(text)?;
        }
        if dense_epochs > 0.0 && dense_epochs < epochs {
            chart
                .draw_series(DashedLineSeries::new(
                    [(dense_epochs + 0.5, low), (dense_epochs + 0.5, high)],
                    6,
                    4,
                    BLACK.stroke_width(1),
                ))
                .map_err(text)?
                .label("dense | pruning")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(text)?;

        let top_loss = self
            .rows
            .iter()
            .flat_map(|r| [r.train_loss, r.valid_loss])
            .filter(|l| l.is_finite())
            .fold(0.0f64, f64::max)
            .max(1e-3)
            * 1.1;
        let mut chart = ChartBuilder::on(&bottom)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .right_y_label_area_size(60)
            .build_cartesian_2d(0.5f64..epochs + 0.5, 0f64..top_loss)
            .map_err(text)?
            .set_secondary_coord(0.5f64..epochs + 0.5, 0f64..1f64);
        chart
            .configure_mesh()
            .x_labels(self.rows.len().clamp(2, 20) + 1)
            .x_label_formatter(&whole_epoch)
            .x_desc("epoch (dense, then pruning)")
            .y_desc("loss")
            .label_style((FONT, 14))
            .draw()
            .map_err(text)?;
        chart
            .configure_secondary_axes()
            .y_desc("target sparsity")
            .label_style((FONT, 14))
            .draw()
            .map_err(text)?;
        let losses: [Series; 2] = [
            ("train loss", |r| r.train_loss, PALETTE[0]),
            ("validation loss", |r| r.valid_loss, PALETTE[1]),
        ];
        for (name, value, color) in losses {
            chart
                .draw_series(LineSeries::new(
                    self.rows.iter().enumerate().map(|(i, r)| (x(i), value(r))),
                    color.stroke_width(2),
                ))
                .map_err(text)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        // The target holds still between pruning steps and jumps at them: a staircase, one
        // level per epoch, not a line through the epochs' ends.
        let target = PALETTE[2];
        chart
            .draw_secondary_series(LineSeries::new(
                self.rows.iter().enumerate().flat_map(|(i, r)| {
                    [
                        (x(i) - 0.5, r.target_sparsity),
                        (x(i) + 0.5, r.target_sparsity),
                    ]
                }),
                target.stroke_width(3),
            ))
            .map_err(text)?
            .label("target sparsity (right axis)")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], target.stroke_width(3)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(text)
    }
}
