//! Every shipped recipe parses, and overrides layer over the file.

mod common;

use ember::train::recipe::{LrSpec, ModifierSpec, ScheduleSpec, Steps};

#[test]
fn every_shipped_recipe_is_valid() {
    let dir = common::root().join("recipes");
    let mut count = 0;
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // The method comparison's recipes, one folder down.
    paths.extend(
        std::fs::read_dir(dir.join("compare"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    for path in paths {
        if path.extension().is_some_and(|e| e == "toml") {
            let recipe = ember::train::Recipe::load(&path, &[]);
            assert!(
                recipe.is_ok(),
                "{}: {}",
                path.display(),
                recipe.unwrap_err()
            );
            count += 1;
        }
    }
    assert!(count >= 13, "found {count} recipes");
}

#[test]
fn set_overrides_replace_file_values() {
    let recipe = common::recipe(
        "quickstart.toml",
        &[
            "epochs=14",
            "data.batch_size=32",
            "modifiers[0].schedule.final_sparsity=0.95",
            "modifiers[0].scope=\"layer_wise\"",
        ],
    )
    .unwrap();
    assert_eq!(recipe.epochs, 14);
    assert_eq!(recipe.data.batch_size, 32);
    let ModifierSpec::Prune(prune) = &recipe.modifiers[0] else {
        panic!("the quick-start modifier prunes");
    };
    let ScheduleSpec::Cubic(ramp) = &prune.schedule else {
        panic!("the quick-start schedule is cubic");
    };
    assert_eq!(ramp.final_sparsity, 0.95);
    assert_eq!(prune.scope, ember::sparsity::Scope::LayerWise);
}

#[test]
fn the_sawtooth_rewinds_at_the_pruning_steps_of_the_recipe() {
    let recipe = common::recipe("quickstart.toml", &[]).unwrap();
    let steps = Steps::new(71); // ceil(4500 / 64)
    let plan = recipe.plan(&steps, &Default::default()).unwrap();
    let updates = plan.modifiers[0].schedule().update_steps();
    assert_eq!(updates, (0..=8).map(|e| e * 71).collect::<Vec<u64>>());
    let total = steps.at(recipe.epochs as f64);
    let lr = recipe.lr.to_schedule(&steps, total, &updates);
    let LrSpec::Sawtooth { init, final_lr, .. } = recipe.lr else {
        panic!("the quick-start learning rate is a sawtooth");
    };
    for &step in &updates {
        assert_eq!(lr.lr(step), init, "rewind at step {step}");
        assert!(lr.lr(step + 70) < init);
    }
    assert_eq!(lr.lr(total), final_lr);
    // The cubic schedule in steps matches the closed form at every update.
    for &step in &updates {
        let progress = step as f64 / (8.0 * 71.0);
        let expected = 0.9 + (0.5 - 0.9) * (1.0 - progress).powi(3);
        assert!((plan.modifiers[0].schedule().sparsity(step) - expected).abs() < 1e-12);
    }
}
