//! Plots are valid images of the promised size, drawn from real run and sweep files, and bad
//! inputs are errors naming the file.

use std::path::{Path, PathBuf};

use ember_plot::{HEIGHT, PlotError, WIDTH, plot_run, plot_sweep};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-plot-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const REPORT: &str = r#"{
  "recipe": "tiny", "model": "mlp", "device": "flex",
  "dense": {"accuracy": 97.5, "epochs": 2, "wall_seconds": 1.0},
  "final": {"accuracy": 97.0, "epochs": 3, "wall_seconds": 1.0},
  "sparsity": {"ratio": 0.9, "selected_numel": 1100, "selected_zeros": 990, "compression": 10.0},
  "parameters": {"total": 1120, "nonzero": 130, "frozen": 0, "trainable": 130},
  "layers": [
    {"path": "layers.0.weight", "layer_type": "Linear", "numel": 1000, "zeros": 920,
     "sparsity": 0.92, "selected": true, "frozen": 0, "trainable": 80},
    {"path": "layers.0.bias", "layer_type": "Linear", "numel": 20, "zeros": 0,
     "sparsity": 0.0, "selected": false, "frozen": 0, "trainable": 20},
    {"path": "layers.1.weight", "layer_type": "Linear", "numel": 100, "zeros": 70,
     "sparsity": 0.7, "selected": true, "frozen": 0, "trainable": 30}
  ],
  "wall_seconds": 2.0
}"#;

const METRICS: &str =
    "phase,epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,target_sparsity
dense,1,0.5,85.0,0.4,88.0,0.0
dense,2,0.3,92.0,0.3,93.0,0.0
sparse,1,0.35,91.0,0.32,92.5,0.5
sparse,2,0.3,92.5,0.3,93.0,0.8
sparse,3,0.28,93.0,0.29,93.2,0.9
";

/// Decodes a PNG and checks its size; checks an SVG's declared size and that it closes.
fn assert_image(path: &Path) {
    match path.extension().and_then(|e| e.to_str()) {
        Some("png") => {
            let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!((image.width(), image.height()), (WIDTH, HEIGHT));
            // Not a blank canvas: something other than white was drawn.
            let rgb = image.to_rgb8();
            let inked = rgb.pixels().filter(|p| p.0 != [255, 255, 255]).count();
            assert!(
                inked > 5_000,
                "{}: only {inked} non-white pixels",
                path.display()
            );
        }
        Some("svg") => {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(text.contains(&format!("width=\"{WIDTH}\"")), "{text:.200}");
            assert!(
                text.contains(&format!("height=\"{HEIGHT}\"")),
                "{text:.200}"
            );
            assert!(text.trim_end().ends_with("</svg>"));
            assert!(text.contains("<text"), "labels are text elements");
        }
        other => panic!("unexpected plot {other:?}"),
    }
}

#[test]
fn a_run_gets_sparsity_and_curve_plots_as_png_and_svg() {
    let dir = scratch("run");
    std::fs::write(dir.join("report.json"), REPORT).unwrap();
    std::fs::write(dir.join("metrics.csv"), METRICS).unwrap();
    std::fs::write(
        dir.join("recipe.toml"),
        "name = \"tiny\"\n\n[data]\nsource = \"mnist\"\nbatch_size = 64\n",
    )
    .unwrap();
    let written = plot_run(&dir).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["sparsity.png", "sparsity.svg", "curves.png", "curves.svg"]
    );
    for path in &written {
        assert_image(path);
    }
    let svg = std::fs::read_to_string(dir.join("sparsity.svg")).unwrap();
    assert!(svg.contains("layers.1.weight") && !svg.contains("layers.0.bias"));
    // The title names the data set, read from the run's `recipe.toml`.
    assert!(svg.contains("tiny (mlp on mnist)"), "{svg:.400}");
    // No temporary file is left beside them.
    let leftovers = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sweep_gets_accuracy_against_sparsity() {
    let dir = scratch("sweep");
    let row = |method: &str, s: f64, seed: u64, acc: f64| {
        format!(
            r#"{{"method": "{method}", "settings": [["modifiers[0].schedule.final_sparsity", "{s}"]],
               "seed": {seed}, "dense_accuracy": 98.0, "accuracy": {acc}, "sparsity": {s}, "dir": "x"}}"#
        )
    };
    let mut rows = Vec::new();
    for (method, drop) in [("global", 0.5), ("random", 3.0)] {
        for s in [0.5, 0.9, 0.98] {
            for seed in 0..3 {
                rows.push(row(
                    method,
                    s,
                    seed,
                    98.0 - drop * s * 4.0 + seed as f64 * 0.1,
                ));
            }
        }
    }
    let rows: Vec<ember_report::sweep::SweepRow> =
        serde_json::from_str(&format!("[{}]", rows.join(","))).unwrap();
    let summary =
        ember_report::SweepSummary::new(vec!["modifiers[0].schedule.final_sparsity".into()], rows);
    summary.write(&dir).unwrap();
    let written = plot_sweep(&dir).unwrap();
    assert_eq!(written.len(), 2);
    for path in &written {
        assert_image(path);
    }
    let svg = std::fs::read_to_string(dir.join("accuracy-vs-sparsity.svg")).unwrap();
    assert!(svg.contains("global") && svg.contains("random") && svg.contains("dense 98.00"));
    std::fs::remove_dir_all(&dir).ok();
}

/// A language model's log: loss and perplexity, no accuracy. The curves plot the perplexity
/// on its own scale in the top panel.
#[test]
fn a_run_without_accuracy_plots_its_other_metric() {
    let dir = scratch("perplexity");
    std::fs::write(dir.join("report.json"), REPORT).unwrap();
    std::fs::write(
        dir.join("metrics.csv"),
        "phase,epoch,train_loss,train_perplexity,valid_loss,valid_perplexity,target_sparsity
dense,1,3.0,20.09,3.2,24.53,0.0
sparse,1,3.1,22.20,3.3,27.11,0.5
sparse,2,3.05,21.12,3.25,25.79,0.8
",
    )
    .unwrap();
    let written = plot_run(&dir).unwrap();
    for path in &written {
        assert_image(path);
    }
    let svg = std::fs::read_to_string(dir.join("curves.svg")).unwrap();
    assert!(svg.contains("validation perplexity"), "{svg:.400}");
    assert!(!svg.contains("accuracy"), "no accuracy is drawn");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_inputs_are_errors_naming_the_file() {
    let dir = scratch("bad");
    assert!(matches!(plot_run(&dir), Err(PlotError::Read { .. })));
    std::fs::write(dir.join("report.json"), REPORT).unwrap();
    std::fs::write(dir.join("metrics.csv"), "epoch,loss\n1,0.5\n").unwrap();
    let err = plot_run(&dir).unwrap_err().to_string();
    assert!(
        err.contains("metrics.csv") && err.contains("header"),
        "{err}"
    );
    std::fs::write(
        dir.join("metrics.csv"),
        METRICS.replace("sparse,2,0.3,", "sparse,2,x,"),
    )
    .unwrap();
    let err = plot_run(&dir).unwrap_err().to_string();
    assert!(err.contains("line 5"), "{err}");
    std::fs::write(dir.join("report.json"), "{").unwrap();
    let err = plot_run(&dir).unwrap_err().to_string();
    assert!(
        err.contains("report.json") && err.contains("not an Ember report"),
        "{err}"
    );
    std::fs::write(dir.join("summary.json"), "[]").unwrap();
    let err = plot_sweep(&dir).unwrap_err().to_string();
    assert!(err.contains("summary.json"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
