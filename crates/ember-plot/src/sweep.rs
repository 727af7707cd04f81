//! The plot of a sweep: accuracy against sparsity, one line per method.

use std::path::{Path, PathBuf};

use ember_report::SweepSummary;
use ember_report::sweep::mean_std;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::PlotError;
use crate::canvas::{DrawResult, FONT, Figure, PALETTE, WIDTH, draw_both, text};

/// Writes `accuracy-vs-sparsity.{png,svg}` into `sweep_dir` from its `summary.json` and
/// returns both paths.
///
/// Every cell is a point at its mean measured sparsity and mean test accuracy, with an error
/// bar of ± one sample standard deviation over seeds. Cells of one method (and the same
/// values of any axis whose key does not name a sparsity) are joined by a line, in order of
/// sparsity. The dense baseline, mean ± std over every run, is a grey band.
pub fn plot_sweep(sweep_dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let path = sweep_dir.join("summary.json");
    let text_in = std::fs::read_to_string(&path).map_err(|e| PlotError::Read {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let summary: SweepSummary = serde_json::from_str(&text_in).map_err(|e| PlotError::Format {
        path: path.clone(),
        expected: "an Ember sweep summary",
        message: e.to_string(),
    })?;
    if summary.cells.is_empty() {
        return Err(PlotError::Empty {
            path: sweep_dir.to_path_buf(),
            message: "the summary has no cell".into(),
        });
    }
    let mut lines: Vec<Line> = Vec::new();
    for cell in &summary.cells {
        let others: Vec<String> = cell
            .settings
            .iter()
            .filter(|(k, _)| !k.contains("sparsity"))
            .map(|(k, v)| format!("{}={v}", k.rsplit('.').next().unwrap_or(k)))
            .collect();
        let name = if others.is_empty() {
            cell.method.clone()
        } else {
            format!("{} ({})", cell.method, others.join(", "))
        };
        let point = (cell.sparsity_mean, cell.accuracy_mean, cell.accuracy_std);
        match lines.iter_mut().find(|l| l.name == name) {
            Some(line) => line.points.push(point),
            None => lines.push(Line {
                name,
                points: vec![point],
            }),
        }
    }
    for line in &mut lines {
        line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let dense: Vec<f64> = summary
        .rows
        .iter()
        .filter_map(|r| r.dense_accuracy)
        .collect();
    let dense = (!dense.is_empty()).then(|| mean_std(&dense));
    draw_both(
        sweep_dir,
        "accuracy-vs-sparsity",
        &AccuracyVsSparsity { lines, dense },
    )
}

struct Line {
    name: String,
    /// (sparsity, mean accuracy, std)
    points: Vec<(f64, f64, f64)>,
}

struct AccuracyVsSparsity {
    lines: Vec<Line>,
    dense: Option<(f64, f64)>,
}

/// The x coordinate of a sparsity: `log10` of the compression `1 / (1 − s)`, so that 50%, 90%,
/// 99% are evenly spaced, as ShrinkBench draws its curves.
fn position(sparsity: f64) -> f64 {
    -(1.0 - sparsity.min(0.999_999)).log10()
}

/// The sparsity at an x coordinate.
fn sparsity_at(position: f64) -> f64 {
    1.0 - 10f64.powf(-position)
}

impl AccuracyVsSparsity {
    /// One panel over the accuracy range `y0..y1`; points outside it are left out (the full
    /// panel shows them), lines join the points inside.
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        title: &str,
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
        legend: bool,
    ) -> DrawResult {
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|x| format!("{:.3}", sparsity_at(*x)))
            .x_desc("measured sparsity (log of compression)")
            .y_desc("test accuracy (%)")
            .label_style((FONT, 13))
            .draw()
            .map_err(text)?;
        let inside = |m: f64| (y0..=y1).contains(&m);
        if let Some((mean, std)) = self.dense {
            let grey = RGBColor(128, 128, 128);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, (mean - std).max(y0)), (x1, (mean + std).min(y1))],
                    grey.mix(0.25).filled(),
                )))
                .map_err(text)?
                .label(format!("dense {mean:.2} ± {std:.2}"))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], grey.mix(0.4).filled())
                });
            chart
                .draw_series(LineSeries::new(
                    [(x0, mean), (x1, mean)],
                    grey.stroke_width(1),
                ))
                .map_err(text)?;
        }
        for (index, line) in self.lines.iter().enumerate() {
            let color = PALETTE[index % PALETTE.len()];
            let points: Vec<(f64, f64, f64)> = line
                .points
                .iter()
                .filter(|p| inside(p.1))
                .map(|&(s, m, d)| (position(s), m, d))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|&(x, m, _)| (x, m)),
                    color.stroke_width(2),
                ))
                .map_err(text)?
                .label(&line.name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&(x, m, d)| {
                    ErrorBar::new_vertical(
                        x,
                        (m - d).max(y0),
                        m,
                        (m + d).min(y1),
                        color.stroke_width(2),
                        8,
                    )
                }))
                .map_err(text)?;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&(x, m, _)| Circle::new((x, m), 4, color.filled())),
                )
                .map_err(text)?;
        }
        if legend {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerLeft)
                .label_font((FONT, 13))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(text)?;
        }
        Ok(())
    }
}

impl Figure for AccuracyVsSparsity {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let root = root
            .titled(
                "test accuracy against sparsity (mean ± std over seeds)",
                (FONT, 22),
            )
            .map_err(text)?;
        let points = || self.lines.iter().flat_map(|l| l.points.iter());
        let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut y0, mut y1) = (100.0f64, 0.0f64);
        for &(s, m, d) in points() {
            x0 = x0.min(position(s));
            x1 = x1.max(position(s));
            y0 = y0.min(m - d);
            y1 = y1.max(m + d);
        }
        if let Some((m, d)) = self.dense {
            y0 = y0.min(m - d);
            y1 = y1.max(m + d);
        }
        let pad = ((x1 - x0) * 0.06).max(0.02);
        let x = (x0 - pad, x1 + pad);
        let y_pad = ((y1 - y0) * 0.05).max(0.2);
        let full = ((y0 - y_pad).max(0.0), (y1 + y_pad).min(100.0));
        // The zoom: from 3 points below the dense accuracy (or the best point) to the top.
        let top = self.dense.map_or(y1, |(m, _)| m.max(y1 - y_pad));
        let zoom = ((top - 3.0).max(full.0), (y1 + 0.3).min(100.0));
        if zoom.1 - zoom.0 >= full.1 - full.0 - 1e-9 {
            return self.panel(&root, "", x, full, true);
        }
        let (left, right) = root.split_horizontally(WIDTH / 2);
        self.panel(&left, "all cells", x, full, true)?;
        self.panel(&right, "within 3 points of the dense model", x, zoom, false)
    }
}
