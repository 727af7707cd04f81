//! The crate's own model family and modifier kind, run from its recipe through Ember's runtime,
//! and refused by a runtime that was not given them.

use std::path::Path;

use burn::tensor::Device;
use ember::train::{Recipe, RunOptions, check_recipe, run};

fn recipe_with(overrides: &[&str]) -> Recipe {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipe.toml");
    let mut all = vec!["epochs=3", "dense.epochs=1", "modifiers[0].epochs=2"];
    all.extend_from_slice(overrides);
    let all: Vec<String> = all.into_iter().map(String::from).collect();
    Recipe::load(&path, &all).expect("the example recipe loads")
}

fn recipe() -> Recipe {
    recipe_with(&[])
}

#[test]
fn the_recipe_trains_its_own_model_with_its_own_modifier() {
    let dir = tempfile::tempdir().unwrap();
    let registries = ember_example_custom_family::registries();
    let options = RunOptions::new(dir.path(), Device::flex(), "flex", registries);
    let report = run(&recipe(), &options).expect("the run finishes");
    assert_eq!(report.model, "logreg");
    // One 784 × 10 weight, pruned to exactly 90% by global magnitude: 7,056 of 7,840.
    let weight = report
        .layers
        .iter()
        .find(|layer| layer.path == "linear.weight")
        .expect("the report lists the weight");
    assert_eq!((weight.numel, weight.zeros), (7840, 7056));
    assert_eq!(report.sparsity.selected_zeros, 7056);
    // It learned: logistic regression on MNIST is far above chance (10%).
    assert!(report.final_.accuracy > 60.0, "{}", report.final_.accuracy);
}

#[test]
fn ember_s_own_registries_refuse_both_names() {
    let options = RunOptions::new("unused", Device::flex(), "flex", ember::zoo::registries());
    let found = check_recipe(recipe(), &options).errors;
    let message = found[0].to_string();
    assert!(
        message.contains("logreg") && message.contains("no such model family"),
        "{message}"
    );
    // With the family but not the modifier kind, the modifier is named.
    let mut registries = ember::zoo::registries();
    registries.models = ember_example_custom_family::registries().models;
    let options = RunOptions::new("unused", Device::flex(), "flex", registries);
    let message = check_recipe(recipe(), &options).errors[0].to_string();
    assert!(
        message.contains("gmp_star") && message.contains("no such modifier kind"),
        "{message}"
    );
}

#[test]
fn the_modifier_kind_checks_its_settings_before_training() {
    let options = RunOptions::new(
        "unused",
        Device::flex(),
        "flex",
        ember_example_custom_family::registries(),
    );
    for (key, field) in [
        ("modifiers[0].sparsity=1.5", "modifiers[0].sparsity"),
        ("modifiers[0].epochs=9", "modifiers[0].epochs"),
        ("modifiers[0].jump=-1", "modifiers[0].jump"),
        ("modifiers[0].sparsty=0.5", "sparsty"),
    ] {
        let message = check_recipe(recipe_with(&[key]), &options).errors[0].to_string();
        assert!(message.contains(field), "{key}: {message}");
    }
    let mut typo = recipe();
    typo.model
        .settings
        .insert("bais".into(), toml::Value::Boolean(false));
    let message = check_recipe(typo, &options).errors[0].to_string();
    assert!(message.contains("bais"), "{message}");
}
