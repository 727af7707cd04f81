//! One drawing routine, two files: every plot is drawn once per backend (bitmap and SVG)
//! through a function generic over plotters' `DrawingBackend`.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::PlotError;

/// Width of every plot, in pixels.
pub const WIDTH: u32 = 960;
/// Height of every plot, in pixels.
pub const HEIGHT: u32 = 600;

/// The font family every text element names.
pub(crate) const FONT: &str = "sans-serif";

/// Colours of successive series, distinguishable in print and for most colour vision.
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The embedded font is a valid TrueType file; registration cannot fail on it.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// A drawing error of any backend, as text.
pub(crate) type DrawResult = Result<(), String>;

/// Turns a plotters error into text.
pub(crate) fn text<E: std::fmt::Debug>(error: E) -> String {
    format!("{error:?}")
}

/// A figure that can draw itself on any plotters backend.
pub(crate) trait Figure {
    /// Draws the figure on `root`, which is already filled white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

/// Draws `figure` into `<stem>.png` and `<stem>.svg` in `dir` and returns both paths. Each
/// file is drawn under a temporary name and renamed into place, so a failed plot never
/// leaves a truncated image under the final name.
pub(crate) fn draw_both(
    dir: &Path,
    stem: &str,
    figure: &impl Figure,
) -> Result<Vec<PathBuf>, PlotError> {
    register_font();
    let mut written = Vec::new();
    for extension in ["png", "svg"] {
        let path = dir.join(format!("{stem}.{extension}"));
        // The temporary name keeps the extension: the bitmap backend picks its encoder by it.
        let temp = dir.join(format!(".tmp-{}-{stem}.{extension}", std::process::id()));
        let error = |message: String| PlotError::Draw {
            path: path.clone(),
            message,
        };
        let drawn = if extension == "png" {
            let root = BitMapBackend::new(&temp, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&WHITE)
                .map_err(text)
                .and_then(|()| figure.draw(&root))
                .and_then(|()| root.present().map_err(text))
        } else {
            let root = SVGBackend::new(&temp, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&WHITE)
                .map_err(text)
                .and_then(|()| figure.draw(&root))
                .and_then(|()| root.present().map_err(text))
        };
        if let Err(message) = drawn {
            std::fs::remove_file(&temp).ok();
            return Err(error(message));
        }
        std::fs::rename(&temp, &path).map_err(|e| error(e.to_string()))?;
        written.push(path);
    }
    Ok(written)
}
