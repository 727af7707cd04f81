//! Pruning and freezing together, end to end on the embedded data: the report shows the
//! requested pruned and frozen fractions exactly, and the two sets never overlap.

mod common;

use ember::sparsity::prune_count;

const GMPF: &str = r#"
name = "gmpf-small"
seed = 5
epochs = 4
[model]
kind = "mlp"
hidden = [64]
[data]
source = "embedded"
batch_size = 100
train_limit = 1000
[lr]
kind = "sawtooth"
init = 1e-3
final = 1e-4
[[modifiers]]
kind = "prune"
params = ['re:layers\.\d+\.weight']
schedule = { kind = "linear", init_sparsity = 0.2, final_sparsity = 0.4, start_epoch = 0, end_epoch = 2, every_epochs = 2 }
[[modifiers]]
kind = "freeze"
params = ['re:layers\.\d+\.weight']
rule = "top_magnitude"
schedule = { kind = "linear", init_fraction = 0.1, final_fraction = 0.2, start_epoch = 1, end_epoch = 3, every_epochs = 2 }
"#;

#[test]
fn gmpf_reports_exact_pruned_and_frozen_fractions() {
    let recipe = ember::train::Recipe::from_toml(GMPF, "gmpf-small", &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = ember::train::run(&recipe, &common::options(dir.path())).unwrap();
    let numel = 784 * 64 + 64 * 10;
    assert_eq!(report.sparsity.selected_numel, numel);
    assert_eq!(report.sparsity.selected_zeros, prune_count(0.4, numel));
    let frozen: usize = report.layers.iter().map(|l| l.frozen).sum();
    assert_eq!(frozen, prune_count(0.2, numel));
    assert_eq!(report.parameters.frozen, frozen);
    assert_eq!(
        report.parameters.trainable,
        report.parameters.total - prune_count(0.4, numel) - frozen
    );
    // Frozen weights are kept weights: none of them is zero.
    for layer in report.layers.iter().filter(|l| l.selected) {
        assert_eq!(
            layer.trainable,
            layer.numel - layer.zeros - layer.frozen,
            "{}",
            layer.path
        );
    }
    let json = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    assert!(json.contains("\"frozen\""));
}

#[test]
fn distillation_an_mlp_cannot_take_is_refused_before_training() {
    // An MLP has no encoder layers to distil and no tokens to cut.
    for (setting, field) in [
        ("hidden = 1.0", "distill.hidden"),
        ("token_cutoff = 0.1", "distill.token_cutoff"),
    ] {
        let text = GMPF.replace(
            "[lr]",
            &format!(
                "[dense]\nepochs = 1\n[distill]\nhardness = 1.0\ntemperature = 2.0\n{setting}\n[lr]"
            ),
        );
        let recipe = ember::train::Recipe::from_toml(&text, "gmpf-distill", &[]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let error = ember::train::run(&recipe, &common::options(dir.path()))
            .expect_err("an MLP cannot take this setting");
        let message = error.to_string();
        assert!(message.contains(field), "{setting}: {message}");
        assert!(
            !dir.path().join("dense.bpk").exists(),
            "{setting}: the dense phase ran before the refusal"
        );
    }
}

#[test]
fn distillation_keeps_the_exact_pruned_and_frozen_counts() {
    // The same rounds, after a dense epoch, with the dense model as the teacher.
    let text = GMPF.replace(
        "[lr]",
        "[dense]\nepochs = 1\n[distill]\nhardness = 0.5\ntemperature = 4.0\n[lr]",
    );
    let recipe = ember::train::Recipe::from_toml(&text, "gmpf-distilled", &[]).unwrap();
    assert!(recipe.distill.is_some());
    let dir = tempfile::tempdir().unwrap();
    let report = ember::train::run(&recipe, &common::options(dir.path())).unwrap();
    let numel = 784 * 64 + 64 * 10;
    assert_eq!(report.sparsity.selected_zeros, prune_count(0.4, numel));
    let frozen: usize = report.layers.iter().map(|l| l.frozen).sum();
    assert_eq!(frozen, prune_count(0.2, numel));
    assert!(report.dense.is_some());
}
