//! One-shot pruning layer by layer (`layerwise` modifiers, `ember prune`): exact structures,
//! the pipeline feeding pruned outputs forward, and its errors.

mod common;

use std::path::{Path, PathBuf};

use ember::train::recipe::{LayerwiseSpec, ModifierSpec};
use ember::train::{Recipe, RunReport, TrainError};

/// A LeNet-300-100 trained one dense epoch on the embedded subset; returns its dense weights.
fn dense(dir: &Path) -> PathBuf {
    let recipe = common::recipe(
        "quickstart.toml",
        &[
            "epochs=1",
            "dense.epochs=1",
            "modifiers[0].schedule.end_epoch=0",
        ],
    )
    .unwrap();
    ember::train::run(&recipe, &common::options(&dir.join("trained"))).unwrap();
    dir.join("trained/dense.bpk")
}

fn layerwise(solver: &str, pattern: &str, sparsity: f64) -> Recipe {
    let mut recipe = common::recipe("quickstart.toml", &[]).unwrap();
    recipe.modifiers = vec![ModifierSpec::Layerwise(LayerwiseSpec {
        name: None,
        params: vec![r"re:layers\.\d+\.weight".into()],
        exclude: Vec::new(),
        solver: solver.into(),
        sparsity,
        pattern: pattern.into(),
    })];
    recipe
}

fn prune(
    recipe: &Recipe,
    source: &Path,
    out: &Path,
    calibration: usize,
) -> Result<RunReport, TrainError> {
    ember::zoo::models()
        .get("mlp")?
        .prune(recipe, &common::options(out), source, calibration)
}

/// The pruned flat indices (burn's `[in, out]` layout) of every weight of a run.
fn zeros_of(run: &Path) -> Vec<(String, [usize; 2], Vec<bool>)> {
    ember::train::checkpoint_tensors(&run.join("model.bpk"))
        .unwrap()
        .into_iter()
        .filter(|t| t.name.ends_with("weight"))
        .map(|t| {
            let shape = [t.shape[0], t.shape[1]];
            (t.name, shape, t.values.iter().map(|v| *v == 0.0).collect())
        })
        .collect()
}

#[test]
fn wanda_and_magnitude_prune_every_layer_with_its_structure_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let source = dense(dir.path());

    // Wanda within each output row: every output unit loses exactly half of its inputs.
    let out = dir.path().join("wanda");
    let report = prune(&layerwise("wanda", "per_output", 0.5), &source, &out, 4).unwrap();
    assert!(report.final_.accuracy > 50.0, "{}", report.final_.accuracy);
    for (name, [inputs, outputs], zeros) in zeros_of(&out) {
        for o in 0..outputs {
            let lost = (0..inputs).filter(|i| zeros[i * outputs + o]).count();
            assert_eq!(lost, inputs / 2, "{name} output {o}");
        }
    }
    // The run reads back like any other: `ember eval` on both engines gives the report's
    // accuracy, and the sparse export holds the masks' zeros.
    let entry = ember::zoo::models().get("mlp").unwrap();
    let saved = Recipe::load(&out.join("recipe.toml"), &[]).unwrap();
    let registries = ember::zoo::registries();
    for evaluation in [
        entry
            .evaluate(
                &out,
                &saved,
                &registries,
                &burn::tensor::Device::flex(),
                &[],
            )
            .unwrap(),
        entry
            .evaluate_sparse(&out, &saved, &registries, &[])
            .unwrap(),
    ] {
        match evaluation {
            ember::train::Evaluation::Accuracy { accuracy, .. } => {
                assert!(
                    (accuracy - report.final_.accuracy).abs() < 1e-9,
                    "{accuracy}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    let export = ember::train::export_sparse(&out, &dir.path().join("wanda.sparse")).unwrap();
    assert_eq!(
        export.zeros,
        report.parameters.total - report.parameters.nonzero
    );
    let stages = std::fs::read_to_string(out.join("layerwise.csv")).unwrap();
    let rows: Vec<&str> = stages
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(rows, ["block 0", "block 1", "head"]);

    // Magnitude 2:4: two of every four consecutive inputs of every output unit.
    let out = dir.path().join("magnitude");
    prune(&layerwise("magnitude", "2:4", 0.5), &source, &out, 0).unwrap();
    for (name, [inputs, outputs], zeros) in zeros_of(&out) {
        for o in 0..outputs {
            for group in (0..inputs).step_by(4) {
                let lost = (group..group + 4)
                    .filter(|i| zeros[i * outputs + o])
                    .count();
                assert_eq!(lost, 2, "{name} output {o} inputs {group}..");
            }
        }
    }
}

#[test]
fn later_layers_see_the_outputs_of_the_pruned_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let source = dense(dir.path());
    // The same Wanda, once layer by layer, once with every layer's inputs taken from the
    // dense model in one pass (the `prune` modifier with the `wanda` scorer), on the same
    // calibration batches.
    let sequential = dir.path().join("sequential");
    prune(
        &layerwise("wanda", "per_output", 0.5),
        &source,
        &sequential,
        4,
    )
    .unwrap();
    let whole = dir.path().join("whole");
    let recipe = common::recipe(
        "quickstart.toml",
        &[
            "modifiers[0].scorer=wanda",
            "modifiers[0].scope=layer_wise",
            "modifiers[0].pattern=per_output",
            "modifiers[0].schedule.final_sparsity=0.5",
        ],
    )
    .unwrap();
    ember::zoo::models()
        .get("mlp")
        .unwrap()
        .prune(&recipe, &common::options(&whole), &source, 4)
        .unwrap();
    let (a, b) = (zeros_of(&sequential), zeros_of(&whole));
    // The first layer reads the images, which pruning does not change: the same masks.
    assert_eq!(a[0].0, "layers.0.weight");
    assert_eq!(a[0].2, b[0].2);
    // The next ones read what the pruned layers before them give: other masks.
    assert_ne!(
        a[1].2, b[1].2,
        "layers.1 was scored on the dense model's activations"
    );
    assert_ne!(
        a[2].2, b[2].2,
        "layers.2 was scored on the dense model's activations"
    );
}

#[test]
fn bad_layerwise_recipes_are_refused_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let source = dense(dir.path());
    let out = dir.path().join("bad");
    let refused = |recipe: Recipe, calibration: usize| -> String {
        let error = prune(&recipe, &source, &out, calibration)
            .unwrap_err()
            .to_string();
        assert!(!out.exists(), "nothing written for: {error}");
        error
    };
    let message = refused(layerwise("wanda", "per_output", 0.5), 0);
    assert!(message.contains("calibration"), "{message}");
    let message = refused(layerwise("sparsegpt_typo", "unstructured", 0.5), 2);
    assert!(
        message.contains("sparsegpt_typo") && message.contains("known"),
        "{message}"
    );
    let message = refused(layerwise("magnitude", "2:4", 0.7), 0);
    assert!(message.contains("modifiers[0].sparsity"), "{message}");
    let mut bias = layerwise("magnitude", "unstructured", 0.5);
    if let ModifierSpec::Layerwise(spec) = &mut bias.modifiers[0] {
        spec.params = vec!["layers.0.bias".into()];
    }
    let message = refused(bias, 0);
    assert!(
        message.contains("layers.0.bias") && message.contains("linear layer"),
        "{message}"
    );
    // Training with it is refused before anything runs: it is `ember prune`'s.
    let error = ember::train::run(
        &layerwise("magnitude", "unstructured", 0.5),
        &common::options(&out),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("ember prune"), "{error}");
    assert!(!out.exists());
}
