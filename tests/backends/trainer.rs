//! The trainer on every backend, and data-parallel on two devices.

use std::path::Path;

use burn::tensor::Device;
use ember::models::MlpConfig;
use ember::sparsity::Sparse;
use ember::train::recipe::Steps;
use ember::train::{Recipe, RunOptions, RunReport, with_host_rng};

use crate::devices;

/// The quick-start recipe cut down to a few hundred steps: the same model, optimizer, GMP
/// schedule shape and sawtooth, on 1,024 training images.
fn small_quickstart(extra: &[&str]) -> Recipe {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut overrides: Vec<String> = [
        "data.train_limit=1024",
        "dense.epochs=2",
        "epochs=3",
        "modifiers[0].schedule.end_epoch=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    overrides.extend(extra.iter().map(|s| s.to_string()));
    Recipe::load(&root.join("recipes/quickstart.toml"), &overrides).unwrap()
}

fn layer_zeros(report: &RunReport) -> Vec<(String, usize)> {
    report
        .layers
        .iter()
        .map(|l| (l.path.clone(), l.zeros))
        .collect()
}

#[test]
fn the_trainer_gives_the_same_sparsity_on_every_backend() {
    let recipe = small_quickstart(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut reference: Option<RunReport> = None;
    for (backend, device) in devices() {
        let options = RunOptions::new(
            dir.path().join(&backend),
            device,
            backend.clone(),
            ember::zoo::registries(),
        );
        let report = ember::train::run(&recipe, &options).unwrap();
        eprintln!(
            "{backend}: dense {:.2}%, final {:.2}%, zeros {:?}",
            report.dense.as_ref().unwrap().accuracy,
            report.final_.accuracy,
            layer_zeros(&report)
        );
        assert_eq!(report.device, backend);
        let Some(want) = &reference else {
            reference = Some(report);
            continue;
        };
        assert_eq!(report.sparsity.ratio, want.sparsity.ratio, "{backend}");
        assert_eq!(layer_zeros(&report), layer_zeros(want), "{backend}");
        let gap = (report.final_.accuracy - want.final_.accuracy).abs();
        assert!(gap <= 1.0, "{backend}: accuracy {gap:.2} points from flex");
    }
}

/// The masks of a finished run, read back from its `model.bpk`.
fn run_masks(recipe: &Recipe, dir: &Path, steps: &Steps) -> (Vec<Option<Vec<bool>>>, u64) {
    let plan = recipe.plan(steps, &Default::default()).unwrap();
    let device = Device::flex();
    let sparse = with_host_rng(|| Sparse::new(MlpConfig::new().init(&device), plan))
        .unwrap()
        .load_checkpoint(&dir.join("model.bpk"))
        .unwrap();
    let masks = sparse
        .target_paths()
        .iter()
        .map(|path| sparse.keep_mask(path))
        .collect();
    (masks, sparse.step_count())
}

#[test]
fn two_devices_keep_the_masks_of_one() {
    let dir = tempfile::tempdir().unwrap();
    // A dense model both runs start from, then one-shot pruning at the first step: the masks
    // depend only on these weights, so one device and two must choose the same ones.
    let dense = small_quickstart(&[]);
    ember::train::run(
        &dense,
        &RunOptions::new(
            dir.path().join("dense"),
            Device::flex(),
            "flex",
            ember::zoo::registries(),
        ),
    )
    .unwrap();
    let dense_path = dir.path().join("dense/dense.bpk");
    let text = format!(
        r#"
name = "one-shot-from-dense"
seed = 1
epochs = 2
[model]
kind = "mlp"
[data]
source = "embedded"
batch_size = 64
train_limit = 1024
[optimizer]
kind = "adam"
[dense]
load = {:?}
[lr]
kind = "constant"
lr = 5e-4
[[modifiers]]
kind = "prune"
params = ['re:layers\.\d+\.weight']
scope = "global"
schedule = {{ kind = "one_shot", sparsity = 0.85, at_epoch = 0 }}
"#,
        dense_path.display().to_string()
    );
    let recipe = Recipe::from_toml(&text, "one-shot-from-dense", &[]).unwrap();

    let one = dir.path().join("one");
    ember::train::run(
        &recipe,
        &RunOptions::new(&one, Device::flex(), "flex", ember::zoo::registries()),
    )
    .unwrap();
    let two = dir.path().join("two");
    let options = RunOptions::new(&two, Device::flex(), "flex,flex", ember::zoo::registries())
        .with_devices(vec![Device::flex(), Device::flex()]);
    let report = ember::train::run(&recipe, &options).unwrap();
    assert_eq!(report.device, "flex,flex");

    let single_steps = Steps::data_parallel(1024, 64, 1);
    let double_steps = Steps::data_parallel(1024, 64, 2);
    let (masks_one, steps_one) = run_masks(&recipe, &one, &single_steps);
    let (masks_two, steps_two) = run_masks(&recipe, &two, &double_steps);
    assert_eq!(steps_one, 2 * single_steps.per_epoch());
    // Each device takes half of every epoch; one optimizer step per round of two batches.
    assert_eq!(steps_two, 2 * double_steps.per_epoch());
    assert_eq!(double_steps.per_epoch(), 8);
    assert!(
        masks_one == masks_two,
        "the masks of two devices differ from one's"
    );
    assert!(masks_one.iter().all(Option::is_some));
    assert!(
        report.final_.accuracy > 50.0,
        "two devices still train: {}",
        report.final_.accuracy
    );
}

#[test]
fn distillation_from_the_dense_model_composes_with_pruning_on_every_backend() {
    let distilled = small_quickstart(&["distill.hardness=0.7", "distill.temperature=3.0"]);
    let dir = tempfile::tempdir().unwrap();
    let mut reference: Option<RunReport> = None;
    for (backend, device) in devices() {
        let options = RunOptions::new(
            dir.path().join(&backend),
            device,
            backend.clone(),
            ember::zoo::registries(),
        );
        let report = ember::train::run(&distilled, &options).unwrap();
        eprintln!(
            "{backend}: distilled final {:.2}%, zeros {:?}",
            report.final_.accuracy,
            layer_zeros(&report)
        );
        let Some(want) = &reference else {
            reference = Some(report);
            continue;
        };
        assert_eq!(layer_zeros(&report), layer_zeros(want), "{backend}");
        let gap = (report.final_.accuracy - want.final_.accuracy).abs();
        assert!(gap <= 1.0, "{backend}: accuracy {gap:.2} points from flex");
    }
    // The teacher changes what is learnt: the pruning phase's training loss is the
    // distillation loss, not the cross-entropy of the plain run.
    let plain_dir = dir.path().join("plain");
    let plain = small_quickstart(&[]);
    ember::train::run(
        &plain,
        &RunOptions::new(&plain_dir, Device::flex(), "flex", ember::zoo::registries()),
    )
    .unwrap();
    let sparse_losses = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("sparse,"))
            .map(|l| l.split(',').nth(2).unwrap().to_string())
            .collect()
    };
    let (first, _) = devices().remove(0);
    assert_ne!(
        sparse_losses(&plain_dir),
        sparse_losses(&dir.path().join(first))
    );
}
