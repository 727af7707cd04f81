//! Bad input gets a clear error that names the problem, never a panic.

mod common;

use ember::train::{Recipe, TrainError};

const QUICK: &str = r#"
epochs = 1
[model]
kind = "mlp"
hidden = [8]
[data]
source = "embedded"
train_limit = 256
[lr]
kind = "constant"
lr = 1e-3
[[modifiers]]
kind = "prune"
params = ['re:layers\.\d+\.weight']
schedule = { kind = "one_shot", sparsity = 0.5 }
"#;

fn message(result: Result<Recipe, TrainError>) -> String {
    result.expect_err("the recipe must be rejected").to_string()
}

#[test]
fn a_typo_in_a_key_names_the_key_and_the_line() {
    let text = QUICK.replace("sparsity = 0.5", "sparsty = 0.5");
    let msg = message(Recipe::from_toml(&text, "typo.toml", &[]));
    assert!(msg.contains("sparsty"), "{msg}");
    // The entry of the array of tables that holds the typo.
    assert!(msg.contains("line 12"), "{msg}");
    let text = QUICK.replace("epochs = 1", "epochs = 1\nepochz = 3");
    let msg = message(Recipe::from_toml(&text, "typo.toml", &[]));
    assert!(msg.contains("epochz") && msg.contains("line 3"), "{msg}");
}

#[test]
fn a_sparsity_of_1_3_names_the_field() {
    let text = QUICK.replace("sparsity = 0.5", "sparsity = 1.3");
    let msg = message(Recipe::from_toml(&text, "bad.toml", &[]));
    assert!(
        msg.contains("modifiers[0].schedule.sparsity") && msg.contains("1.3"),
        "{msg}"
    );
    let msg = message(common::recipe(
        "quickstart.toml",
        &["modifiers[0].schedule.final_sparsity=1.3"],
    ));
    assert!(
        msg.contains("modifiers[0].schedule.final_sparsity"),
        "{msg}"
    );
}

#[test]
fn a_schedule_that_ends_after_training_is_rejected() {
    let msg = message(common::recipe("quickstart.toml", &["epochs=4"]));
    assert!(msg.contains("end_epoch") && msg.contains("epochs"), "{msg}");
}

#[test]
fn a_regex_that_matches_nothing_is_an_error_at_run_time() {
    let text = QUICK.replace(r"re:layers\.\d+\.weight", r"re:encoder\..*");
    let recipe = Recipe::from_toml(&text, "nothing.toml", &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = ember::train::run(&recipe, &common::options(dir.path())).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(r"re:encoder\..*") && msg.contains("matches no parameter"),
        "{msg}"
    );
    assert!(
        msg.contains("layers.0.weight"),
        "lists the real paths: {msg}"
    );
}

#[test]
fn malformed_overrides_and_unknown_scorers_are_reported() {
    let msg = message(common::recipe("quickstart.toml", &["epochs"]));
    assert!(msg.contains("key=value"), "{msg}");
    let text = QUICK.replace(
        "kind = \"prune\"",
        "kind = \"prune\"\nscorer = \"magnitud\"",
    );
    let recipe = Recipe::from_toml(&text, "scorer.toml", &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let msg = ember::train::run(&recipe, &common::options(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("magnitud") && msg.contains("magnitude, movement, random, snip"),
        "{msg}"
    );
}

#[test]
fn a_truncated_data_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // Write a tiny valid-looking but truncated IDX image file plus labels.
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28];
    images.extend(vec![0u8; 100]);
    std::fs::write(dir.path().join("train-images-idx3-ubyte"), &images).unwrap();
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        [0, 0, 8, 1, 0, 0, 0, 2, 1, 2],
    )
    .unwrap();
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), &images).unwrap();
    std::fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        [0, 0, 8, 1, 0, 0, 0, 2, 1, 2],
    )
    .unwrap();
    let text = QUICK.replace(
        "source = \"embedded\"",
        &format!(
            "source = \"mnist\"\ndir = {:?}",
            dir.path().display().to_string()
        ),
    );
    let recipe = Recipe::from_toml(&text, "truncated.toml", &[]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let msg = ember::train::run(&recipe, &common::options(out.path()))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("train-images-idx3-ubyte"), "{msg}");
    assert!(msg.to_lowercase().contains("truncated"), "{msg}");
}

#[test]
fn weights_of_another_model_are_refused() {
    // Save LeNet-5 weights, then ask an MLP recipe to load them as its dense model.
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("lenet5.bpk");
    let device = burn::tensor::Device::flex();
    burn::module::Module::save_file(ember::models::LeNet5Config::new().init(&device), &weights)
        .unwrap();
    let text = QUICK.replace(
        "[lr]",
        &format!("[dense]\nload = {:?}\n[lr]", weights.display().to_string()),
    );
    let recipe = Recipe::from_toml(&text, "load.toml", &[]).unwrap();
    let msg = ember::train::run(&recipe, &common::options(&dir.path().join("run")))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("lenet5.bpk") && msg.contains("mlp"), "{msg}");
}

#[test]
fn freeze_modifiers_are_checked_per_rule() {
    let base = QUICK.replace(
        "[[modifiers]]",
        "[[modifiers]]\nkind = \"freeze\"\nparams = ['layers.0.weight']\nRULE\n[[modifiers]]",
    );
    let with = |rule: &str| base.replace("RULE", rule);
    let msg = message(Recipe::from_toml(
        &with("rule = \"all\"\nschedule = { kind = \"one_shot\", fraction = 0.5 }"),
        "f.toml",
        &[],
    ));
    assert!(
        msg.contains("modifiers[0].schedule") && msg.contains("all"),
        "{msg}"
    );
    let msg = message(Recipe::from_toml(
        &with("rule = \"top_magnitude\""),
        "f.toml",
        &[],
    ));
    assert!(
        msg.contains("modifiers[0].schedule") && msg.contains("missing"),
        "{msg}"
    );
    let msg = message(Recipe::from_toml(&with("rule = \"mask\""), "f.toml", &[]));
    assert!(msg.contains("modifiers[0].mask_file"), "{msg}");
    let msg = message(Recipe::from_toml(
        &with("rule = \"top_magnitude\"\nschedule = { kind = \"one_shot\", fraction = 1.5 }"),
        "f.toml",
        &[],
    ));
    assert!(
        msg.contains("modifiers[0].schedule.sparsity") && msg.contains("1.5"),
        "{msg}"
    );
    let msg = message(Recipe::from_toml(
        &with("rule = \"freeze_all\""),
        "f.toml",
        &[],
    ));
    assert!(msg.contains("freeze_all"), "{msg}");
    // A whole-tensor freeze of a pruned tensor is refused when the plan is bound.
    let recipe = Recipe::from_toml(&with("rule = \"all\""), "f.toml", &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let msg = ember::train::run(&recipe, &common::options(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("layers.0.weight"), "{msg}");
}
