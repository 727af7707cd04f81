//! Tasks name the metrics they report: a classification run reports loss and accuracy on its
//! test split, a task that declares perplexity gets `exp(mean loss)` beside them.

mod common;

use burn::tensor::{Int, Tensor};
use ember::data::{DatasetSource, ImageBatch, ImageBatcher};
use ember::models::{ImageClassifier, Mlp};
use ember::train::task::{Metric, Task};
use ember::train::{TaskData, run_task};

/// LeNet-300-100 on images, reporting perplexity as a language model would.
struct WithPerplexity;

impl Task for WithPerplexity {
    type Model = Mlp;
    type Batch = ImageBatch;

    fn logits(model: &Mlp, batch: &ImageBatch) -> Tensor<2> {
        model.logits(batch.images.clone())
    }

    fn targets(batch: &ImageBatch) -> Tensor<1, Int> {
        batch.targets.clone()
    }

    fn metrics() -> &'static [Metric] {
        &[Metric::Loss, Metric::Perplexity, Metric::Accuracy]
    }
}

#[test]
fn reports_carry_the_metrics_the_task_names() {
    // A classification run: loss and accuracy, the accuracy the headline's.
    let dir = tempfile::tempdir().unwrap();
    let recipe = common::recipe(
        "quickstart.toml",
        &[
            "epochs=1",
            "dense.epochs=1",
            "modifiers[0].schedule.end_epoch=0",
        ],
    )
    .unwrap();
    let report = ember::train::run(&recipe, &common::options(&dir.path().join("mlp"))).unwrap();
    let metrics = &report.final_.metrics;
    assert_eq!(metrics.keys().collect::<Vec<_>>(), ["accuracy", "loss"]);
    assert_eq!(metrics["accuracy"], report.final_.accuracy);
    assert!(metrics["loss"] > 0.0 && metrics["loss"].is_finite());
    let dense = report.dense.as_ref().unwrap();
    assert_eq!(dense.metrics["accuracy"], dense.accuracy);

    // The same data and model under a task that names perplexity.
    let out = dir.path().join("perplexity");
    let options = common::options(&out);
    let splits = DatasetSource::Embedded.load().unwrap();
    let (train, valid) = splits.train.split_validation(0.1, 7);
    let data = TaskData::new(
        ImageBatcher,
        64,
        recipe.seed,
        options.main_device().unwrap(),
        [train, valid, splits.test],
    );
    let model = ember::models::MlpConfig::new().init(options.main_device().unwrap());
    let report = run_task::<WithPerplexity>(&recipe, &options, model, data).unwrap();
    let metrics = &report.final_.metrics;
    assert_eq!(
        metrics.keys().collect::<Vec<_>>(),
        ["accuracy", "loss", "perplexity"]
    );
    assert_eq!(metrics["perplexity"], metrics["loss"].exp());
    // Written to report.json and read back; printed by `ember report`.
    let read = ember::train::RunReport::read(&out.join("report.json")).unwrap();
    assert_eq!(read.final_.metrics, *metrics);
    assert!(
        read.summary().contains("final perplexity"),
        "{}",
        read.summary()
    );
    // metrics.csv has a column per metric and split, perplexity = exp(loss) in every row.
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "phase",
            "epoch",
            "train_loss",
            "train_perplexity",
            "train_accuracy",
            "valid_loss",
            "valid_perplexity",
            "valid_accuracy",
            "target_sparsity"
        ]
    );
    for line in lines {
        let cells: Vec<f64> = line
            .split(',')
            .skip(2)
            .map(|c| c.parse().unwrap())
            .collect();
        for (loss, perplexity) in [(cells[0], cells[1]), (cells[3], cells[4])] {
            assert!(
                (perplexity - loss.exp()).abs() <= 1e-5 * perplexity,
                "{line}"
            );
        }
    }
    // The loss is always logged (the plots and resumed runs read it), first.
    use ember::train::EpochRow;
    assert_eq!(
        EpochRow::csv_header(&[Metric::Accuracy]),
        EpochRow::CSV_HEADER
    );
    assert_eq!(
        EpochRow::csv_header(&[Metric::Perplexity]),
        "phase,epoch,train_loss,train_perplexity,valid_loss,valid_perplexity,target_sparsity"
    );
    // The plots read the columns by name.
    let plots = ember::plot::plot_run(&out).unwrap();
    assert!(plots.iter().any(|p| p.ends_with("curves.png")), "{plots:?}");

    // A report written before tasks named their metrics still reads, with none.
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    for phase in ["dense", "final"] {
        if let Some(phase) = old.get_mut(phase).and_then(|p| p.as_object_mut()) {
            assert!(phase.remove("metrics").is_some());
        }
    }
    let parsed: ember::train::RunReport = serde_json::from_value(old).unwrap();
    assert!(parsed.final_.metrics.is_empty());
}
