//! The plot of a lottery-ticket experiment: accuracy against the weights that remain.

use std::path::{Path, PathBuf};

use ember_report::LotterySummary;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::PlotError;
use crate::canvas::{DrawResult, FONT, Figure, PALETTE, draw_both, text};

/// Writes `lottery.{png,svg}` into `dir` from its `lottery.json` and returns both paths: test
/// accuracy against the percentage of weights remaining (log scale), the ticket and the
/// re-initialised control as two lines, and the dense round as a horizontal line.
pub fn plot_lottery(dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let path = dir.join("lottery.json");
    let text_in = std::fs::read_to_string(&path).map_err(|e| PlotError::Read {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let summary: LotterySummary =
        serde_json::from_str(&text_in).map_err(|e| PlotError::Format {
            path: path.clone(),
            expected: "an Ember lottery summary",
            message: e.to_string(),
        })?;
    let dense = summary
        .rounds
        .iter()
        .find(|r| r.round == 0)
        .map(|r| r.accuracy)
        .ok_or_else(|| PlotError::Empty {
            path: dir.to_path_buf(),
            message: "no dense round".into(),
        })?;
    let arm = |name: &str| -> Vec<(f64, f64)> {
        summary
            .rounds
            .iter()
            .filter(|r| r.arm == name)
            .map(|r| (position(100.0 * r.remaining), r.accuracy))
            .collect()
    };
    draw_both(
        dir,
        "lottery",
        &LotteryFigure {
            ticket: arm("ticket"),
            control: arm("reinit"),
            dense,
        },
    )
}

/// The x coordinate of a percentage remaining: `−log10`, so that 100% is on the left and the
/// axis runs towards sparser networks with every halving the same width, as in the paper.
fn position(percent: f64) -> f64 {
    -percent.max(1e-6).log10()
}

/// The percentage at an x coordinate.
fn percent(position: f64) -> f64 {
    10f64.powf(-position)
}

struct LotteryFigure {
    ticket: Vec<(f64, f64)>,
    control: Vec<(f64, f64)>,
    dense: f64,
}

impl Figure for LotteryFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        let all = self.ticket.iter().chain(&self.control);
        let right = all.clone().map(|p| p.0).fold(position(100.0), f64::max) + 0.08;
        let left = position(100.0) - 0.08;
        let low_y = all.map(|p| p.1).fold(self.dense, f64::min);
        let high_y = self
            .ticket
            .iter()
            .chain(&self.control)
            .map(|p| p.1)
            .fold(self.dense, f64::max);
        let pad = ((high_y - low_y) * 0.05).max(0.2);
        let mut chart = ChartBuilder::on(root)
            .caption(
                "iterative magnitude pruning: test accuracy against weights remaining",
                (FONT, 22),
            )
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(64)
            .build_cartesian_2d(
                left..right,
                (low_y - pad).max(0.0)..(high_y + pad).min(100.0),
            )
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_labels(10)
            .x_label_formatter(&|x| {
                let p = percent(*x);
                if p >= 10.0 {
                    format!("{p:.0}")
                } else {
                    format!("{p:.1}")
                }
            })
            .x_desc("weights remaining (%), log scale")
            .y_desc("test accuracy (%)")
            .label_style((FONT, 14))
            .draw()
            .map_err(text)?;
        let grey = RGBColor(128, 128, 128);
        chart
            .draw_series(DashedLineSeries::new(
                [(left, self.dense), (right, self.dense)],
                8,
                5,
                grey.stroke_width(2),
            ))
            .map_err(text)?
            .label(format!("dense {:.2}", self.dense))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], grey.stroke_width(2)));
        for (name, points, color) in [
            ("winning ticket (rewound)", &self.ticket, PALETTE[0]),
            ("same masks, re-initialised", &self.control, PALETTE[1]),
        ] {
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(text)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(text)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(text)
    }
}
