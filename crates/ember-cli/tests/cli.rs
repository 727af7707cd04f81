//! The `ember` binary's device handling, run as a user runs it.

use std::process::{Command, Output};

fn ember(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("the ember binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn devices_lists_the_compiled_backends_and_the_features_of_the_others() {
    let output = ember(&["devices"]);
    assert!(output.status.success());
    let listed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(listed.lines().next(), Some("flex"), "{listed}");
    if !cfg!(feature = "cuda") {
        assert!(
            stderr(&output).contains("cuda (not built; needs --features cuda)"),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn a_device_not_compiled_in_names_its_feature() {
    if cfg!(feature = "cuda") {
        return;
    }
    let output = ember(&["run", "recipes/quickstart.toml", "--device", "cuda:1"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("device `cuda:1` is not compiled into this binary")
            && message.contains("--features cuda"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn unknown_and_malformed_devices_are_errors_not_panics() {
    for (device, expected) in [
        ("fles", "unknown device `fles`"),
        ("flex:2", "takes no index"),
        ("wgpu:first", "`first` is not a device number"),
    ] {
        let output = ember(&["run", "recipes/quickstart.toml", "--device", device]);
        assert!(!output.status.success(), "{device}");
        let message = stderr(&output);
        assert!(message.contains(expected), "{device}: {message}");
        assert!(!message.contains("panicked"), "{device}: {message}");
    }
    let output = ember(&["run", "recipes/quickstart.toml", "--devices", ","]);
    assert!(stderr(&output).contains("the device list is empty"));
}

#[test]
fn a_misspelt_recipe_variable_is_named_and_other_ember_variables_are_ignored() {
    let check = |key: &str| {
        Command::new(env!("CARGO_BIN_EXE_ember"))
            .args(["check", "recipes/quickstart.toml"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .env(key, "/tmp/x")
            .output()
            .expect("the ember binary runs")
    };
    let output = check("EMBER_RECIPE__CAHCE");
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("unknown field `cahce`") && message.contains("EMBER_RECIPE__CAHCE"),
        "{message}"
    );
    // Ember.js sets EMBER_ENV; it is none of Ember's business.
    let output = check("EMBER_ENV");
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn eval_and_export_answer_for_an_image_run_and_refuse_what_they_cannot_do() {
    let missing = ember(&["eval", "/nonexistent/ember-run"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("not an Ember run"),
        "{}",
        stderr(&missing)
    );

    let dir = std::env::temp_dir().join(format!("ember-cli-eval-{}", std::process::id()));
    let run_dir = dir.to_string_lossy().into_owned();
    let run = ember(&[
        "run",
        "recipes/quickstart.toml",
        "--out",
        &run_dir,
        "--set",
        "data.train_limit=300",
        "--set",
        "dense.epochs=1",
        "--set",
        "epochs=2",
        "--set",
        "modifiers[0].schedule.end_epoch=1",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));

    let eval = ember(&["eval", &run_dir]);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let text = String::from_utf8_lossy(&eval.stdout);
    assert!(
        text.contains("test accuracy") && text.contains("500 examples"),
        "{text}"
    );

    // The sparse engine gives the dense engine's answer.
    let sparse = ember(&["eval", &run_dir, "--engine", "sparse"]);
    assert!(sparse.status.success(), "{}", stderr(&sparse));
    assert_eq!(String::from_utf8_lossy(&sparse.stdout), text);
    let engine = ember(&["eval", &run_dir, "--engine", "onnx"]);
    assert!(!engine.status.success());
    assert!(
        stderr(&engine).contains("unknown engine"),
        "{}",
        stderr(&engine)
    );

    // The sparse export holds the checkpoint's model tensors bit for bit, in under a fifth
    // of their dense bytes at 90% sparsity.
    let file = dir.join("model.spt");
    let export = ember(&[
        "export",
        &run_dir,
        "--format",
        "sparse",
        &file.to_string_lossy(),
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    let (tensors, _) = ember::kernels::read_sparse_file(&std::fs::read(&file).unwrap()).unwrap();
    let checkpoint = ember::train::checkpoint_tensors(&dir.join("model.bpk")).unwrap();
    // Bit for bit, but for the sign of the pruned zeros: the export writes -0.0 as absent.
    let bits = |ts: &[ember::kernels::NamedTensor]| -> Vec<(String, Vec<u32>)> {
        ts.iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.values
                        .iter()
                        .map(|v| if *v == 0.0 { 0 } else { v.to_bits() })
                        .collect(),
                )
            })
            .collect()
    };
    assert_eq!(bits(&tensors), bits(&checkpoint));
    assert!(
        tensors
            .iter()
            .all(|t| t.values.iter().all(|v| v.to_bits() != (-0.0f32).to_bits())),
        "pruned -0.0 written as absent"
    );
    assert_eq!(
        tensors.len(),
        6,
        "three weights and three biases, no sparsity state"
    );
    let dense_bytes: usize = checkpoint.iter().map(|t| 4 * t.values.len()).sum();
    let size = std::fs::metadata(&file).unwrap().len() as f64;
    assert!(size < 0.2 * dense_bytes as f64, "{size} of {dense_bytes}");

    let texts = ember(&["eval", &run_dir, "--text", "a fine film"]);
    assert!(!texts.status.success());
    assert!(
        stderr(&texts).contains("classifies images"),
        "{}",
        stderr(&texts)
    );

    let out = dir.join("hf").to_string_lossy().into_owned();
    let export = ember(&["export", &run_dir, "--format", "hf", &out]);
    assert!(!export.status.success());
    assert!(
        stderr(&export).contains("has no Hugging Face export"),
        "{}",
        stderr(&export)
    );
    assert!(!dir.join("hf").exists());
    let format = ember(&["export", &run_dir, "--format", "onnx", &out]);
    assert!(!format.status.success());
    assert!(
        stderr(&format).contains("unknown export format"),
        "{}",
        stderr(&format)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory for one test's outputs.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-cli-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    dir
}

/// The quick start cut to one dense and two pruning epochs.
const SHORT: [&str; 6] = [
    "--set",
    "epochs=2",
    "--set",
    "dense.epochs=1",
    "--set",
    "modifiers[0].schedule.end_epoch=1",
];

#[test]
fn a_sweep_runs_every_cell_and_seed_summarises_them_and_resumes() {
    let out = scratch("sweep");
    let out_arg = out.display().to_string();
    let mut args = vec![
        "sweep",
        "recipes/quickstart.toml",
        "--grid",
        "modifiers[0].schedule.final_sparsity=0.6,0.95",
        "--grid",
        "modifiers[0].scorer=magnitude,lamp",
        "--seeds",
        "2",
        "--out",
        &out_arg,
    ];
    args.extend(SHORT);
    let output = ember(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "a header and four cells: {csv}");
    assert!(lines[1].starts_with("quickstart,0.6,magnitude,2,"), "{csv}");
    assert!(lines[4].starts_with("quickstart,0.95,lamp,2,"), "{csv}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let rows = summary["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    // Each run reached its cell's sparsity, and the two seeds are different runs.
    for row in rows {
        let target: f64 = row["settings"][0][1].as_str().unwrap().parse().unwrap();
        assert!(
            (row["sparsity"].as_f64().unwrap() - target).abs() < 1e-4,
            "{row}"
        );
        // Each row carries its run's named test metrics.
        assert_eq!(row["metrics"]["accuracy"], row["accuracy"], "{row}");
        assert!(row["metrics"]["loss"].as_f64().unwrap() > 0.0, "{row}");
    }
    let seeds: std::collections::BTreeSet<u64> =
        rows.iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds.len(), 2);
    assert!(
        out.join("quickstart/final_sparsity=0.95/scorer=lamp/seed-2/report.json")
            .is_file()
    );
    for plot in [
        "accuracy-vs-sparsity.png",
        "accuracy-vs-sparsity.svg",
        "quickstart/final_sparsity=0.95/scorer=lamp/seed-2/sparsity.png",
        "quickstart/final_sparsity=0.95/scorer=lamp/seed-2/curves.svg",
    ] {
        assert!(out.join(plot).is_file(), "{plot}");
    }

    // Again: every run is found finished, nothing retrains, and the summary is the same.
    let again = ember(&args);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        stderr(&again).matches("done, skipped").count(),
        8,
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        csv
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn bad_sweeps_fail_before_anything_is_written() {
    let out = scratch("bad-sweep");
    let out_arg = out.display().to_string();
    for (grid, expected) in [
        (
            "modifiers[0].schedule.final_sparsty=0.5",
            "unknown field `final_sparsty`",
        ),
        ("modifiers[0].scorer=", "lists no values"),
        (
            "modifiers[0].scorer=magnitude,magnitude",
            "lists `magnitude` twice",
        ),
        (
            "modifiers[0].schedule.final_sparsity=0.9,0.90",
            "changes nothing",
        ),
        ("modifiers[0].scorer=movment", "unknown scorer"),
        ("modifiers[99999999].name=x", "at most 1024"),
    ] {
        let mut args = vec![
            "sweep",
            "recipes/quickstart.toml",
            "--grid",
            grid,
            "--out",
            &out_arg,
        ];
        args.extend(SHORT);
        let output = ember(&args);
        let message = stderr(&output);
        assert!(!output.status.success(), "{grid}");
        assert!(message.contains(expected), "{grid}: {message}");
        assert!(!message.contains("panicked"), "{grid}: {message}");
        assert!(!out.exists(), "{grid}: nothing is written");
    }
    let output = ember(&[
        "sweep",
        "recipes/quickstart.toml",
        "--seeds",
        "0",
        "--out",
        &out_arg,
    ]);
    assert!(
        stderr(&output).contains("at least one seed"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists());
}

#[test]
fn one_axis_sets_each_recipes_own_key_through_alternatives() {
    let out = scratch("alternatives");
    std::fs::create_dir_all(&out).unwrap();
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    // RigL on the quick start: a recipe whose sparsity key is `sparsity`, not a schedule's.
    let quickstart = std::fs::read_to_string(root.join("recipes/quickstart.toml")).unwrap();
    let (head, _) = quickstart.split_once("[[modifiers]]").unwrap();
    let rigl = head.replace("name = \"quickstart\"", "name = \"rigl\"")
        + "[[modifiers]]\nkind = \"rigl\"\nparams = ['re:layers\\.\\d+\\.weight']\n\
           sparsity = 0.5\nend_epoch = 1\nevery_epochs = 0.25\n";
    let rigl_path = out.join("rigl.toml");
    std::fs::write(&rigl_path, rigl).unwrap();
    let sweep_dir = out.join("sweep");
    let (rigl_arg, sweep_arg) = (
        rigl_path.display().to_string(),
        sweep_dir.display().to_string(),
    );
    // No alternative fits: an error naming the axis and the recipe, nothing written.
    let output = ember(&[
        "sweep",
        &rigl_arg,
        "--grid",
        "modifiers[0].schedule.final_sparsity|modifiers[0].final=0.8",
        "--out",
        &sweep_arg,
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("accepts none of its keys"),
        "{}",
        stderr(&output)
    );
    assert!(!sweep_dir.exists());
    let output = ember(&[
        "sweep",
        "recipes/quickstart.toml",
        &rigl_arg,
        "--grid",
        "modifiers[0].schedule.final_sparsity|modifiers[0].sparsity=0.8",
        "--grid",
        "modifiers[0].schedule.end_epoch|modifiers[0].end_epoch=1",
        "--out",
        &sweep_arg,
        "--set",
        "epochs=2",
        "--set",
        "dense.epochs=1",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sweep_dir.join("summary.json")).unwrap())
            .unwrap();
    let cells = summary["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    for cell in cells {
        assert!(
            (cell["sparsity_mean"].as_f64().unwrap() - 0.8).abs() < 1e-4,
            "{cell}"
        );
    }
    assert!(
        sweep_dir
            .join("rigl/final_sparsity=0.8/end_epoch=1/seed-1/report.json")
            .is_file()
    );
    std::fs::remove_dir_all(&out).ok();
}

/// The quick start with a learning rate of 1e-30 (a recipe's must be > 0): every Adam step
/// moves a weight by about 1e-30, far below the spacing of f32 values near the weights, so
/// every round ends with exactly the weights it started from.
fn frozen_quickstart(dir: &std::path::Path) -> String {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let text = std::fs::read_to_string(root.join("recipes/quickstart.toml")).unwrap();
    let (head, _) = text.split_once("[lr]").unwrap();
    let recipe =
        head.replace("epochs = 12", "epochs = 1") + "[lr]\nkind = \"constant\"\nlr = 1e-30\n";
    let path = dir.join("frozen.toml");
    std::fs::write(&path, recipe).unwrap();
    path.display().to_string()
}

#[test]
fn lottery_rounds_rewind_survivors_to_their_initial_values_bit_for_bit() {
    let out = scratch("lottery");
    std::fs::create_dir_all(&out).unwrap();
    let recipe = frozen_quickstart(&out);
    let dir = out.join("lottery");
    let dir_arg = dir.display().to_string();
    let output = ember(&[
        "lottery",
        &recipe,
        "--rounds",
        "2",
        "--rate",
        "0.2",
        "--control",
        "--out",
        &dir_arg,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let tensors =
        |round: &str| ember::train::checkpoint_tensors(&dir.join(round).join("model.bpk")).unwrap();
    let initial = tensors("ticket/round-00");
    for round in ["ticket/round-01", "ticket/round-02"] {
        let masks: std::collections::BTreeMap<String, Vec<usize>> = serde_json::from_str(
            &std::fs::read_to_string(dir.join(round).join("masks.json")).unwrap(),
        )
        .unwrap();
        for (start, now) in initial.iter().zip(tensors(round)) {
            assert_eq!(start.name, now.name);
            let pruned: std::collections::BTreeSet<usize> = masks
                .get(&now.name)
                .map(|m| m.iter().copied().collect())
                .unwrap_or_default();
            for (i, (a, b)) in start.values.iter().zip(&now.values).enumerate() {
                if pruned.contains(&i) {
                    assert_eq!(*b, 0.0, "{round} {} [{i}] is pruned", now.name);
                } else {
                    assert_eq!(a.to_bits(), b.to_bits(), "{round} {} [{i}]", now.name);
                }
            }
        }
        // 20% of what remains, per tensor: the closed form of two rounds.
        let expected = |n: usize, rounds: usize| {
            (0..rounds).fold(n, |left, _| left - ember::sparsity::prune_count(0.2, left))
        };
        let r = if round.ends_with('1') { 1 } else { 2 };
        assert_eq!(
            masks["layers.0.weight"].len(),
            235_200 - expected(235_200, r)
        );
        assert_eq!(masks["layers.2.weight"].len(), 1_000 - expected(1_000, r));
    }
    // The control keeps the masks but not the values.
    let control = tensors("reinit/round-01");
    let weight = |t: &[ember::kernels::NamedTensor]| {
        t.iter()
            .find(|t| t.name == "layers.0.weight")
            .unwrap()
            .values
            .clone()
    };
    let differ = weight(&initial)
        .iter()
        .zip(&weight(&control))
        .filter(|(a, b)| b.to_bits() != 0 && a.to_bits() != b.to_bits())
        .count();
    // Every survivor of the 80% kept (188,160 weights) has a new value.
    assert!(differ > 180_000, "re-initialised: {differ} values differ");
    let md = std::fs::read_to_string(dir.join("lottery.md")).unwrap();
    assert!(md.contains("| 2 | 64.0% |"), "{md}");
    assert!(dir.join("lottery.png").is_file() && dir.join("lottery.svg").is_file());
    // A per-tensor rate for a tensor that is not pruned is an error, not a silent no-op.
    let typo = out.join("typo").display().to_string();
    let output = ember(&[
        "lottery",
        &recipe,
        "--rounds",
        "1",
        "--rate-for",
        "layers.9.weight=0.1",
        "--out",
        &typo,
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("layers.9.weight"),
        "{}",
        stderr(&output)
    );
    // Bad input: a rate outside (0, 1) fails before anything is written.
    let bad = out.join("bad").display().to_string();
    let output = ember(&["lottery", &recipe, "--rate", "1.5", "--out", &bad]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--rate 1.5"),
        "{}",
        stderr(&output)
    );
    assert!(!out.join("bad").exists());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn one_shot_pruning_with_wanda_and_its_errors() {
    let out = scratch("prune");
    let trained = out.join("trained").display().to_string();
    let output = ember(&[
        "run",
        "recipes/quickstart.toml",
        "--out",
        &trained,
        "--set",
        "epochs=1",
        "--set",
        "dense.epochs=1",
        "--set",
        "modifiers[0].schedule.end_epoch=0",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let wanda = [
        "--set",
        "modifiers[0].scorer=wanda",
        "--set",
        "modifiers[0].scope=layer_wise",
        "--set",
        "modifiers[0].pattern=per_output",
        "--set",
        "modifiers[0].schedule.final_sparsity=0.5",
    ];
    let pruned = out.join("wanda");
    let pruned_arg = pruned.display().to_string();
    // The dense weights of the run (its model.bpk is already pruned to 90%).
    let dense = out.join("trained/dense.bpk").display().to_string();
    let mut args = vec![
        "prune",
        &dense,
        "--recipe",
        "recipes/quickstart.toml",
        "--calibration",
        "4",
        "--out",
        &pruned_arg,
    ];
    args.extend(wanda);
    let output = ember(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    // Every output neuron of every layer lost exactly half of its inputs.
    let tensors = ember::train::checkpoint_tensors(&pruned.join("model.bpk")).unwrap();
    for tensor in tensors.iter().filter(|t| t.name.ends_with("weight")) {
        let [inputs, outputs] = tensor.shape[..] else {
            panic!("{:?}", tensor.shape)
        };
        for o in 0..outputs {
            let zeros = (0..inputs)
                .filter(|i| tensor.values[i * outputs + o] == 0.0)
                .count();
            assert_eq!(zeros, inputs / 2, "{} output {o}", tensor.name);
        }
    }
    assert!(pruned.join("sparsity.png").is_file());

    // Errors: each names the problem, exits non-zero, panics nowhere and writes nothing.
    let bad = out.join("bad");
    let bad_arg = bad.display().to_string();
    let base = |extra: &[&str]| {
        let mut args = vec![
            "prune",
            trained.as_str(),
            "--recipe",
            "recipes/quickstart.toml",
            "--out",
            bad_arg.as_str(),
        ];
        args.extend_from_slice(extra);
        ember(&args)
    };
    for (extra, expected) in [
        (
            &["--set", "modifiers[0].scorer=snip"][..],
            "give calibration batches",
        ),
        (&wanda[..], "give calibration batches"),
        (
            &["--set", "data.train_limit=0", "--calibration", "2"][..],
            "calibration set",
        ),
        (&["--calibration", "100000"][..], "gives 64 batches"),
    ] {
        let output = base(extra);
        let message = stderr(&output);
        assert!(!output.status.success(), "{extra:?}");
        assert!(message.contains(expected), "{extra:?}: {message}");
        assert!(!message.contains("panicked"), "{message}");
        assert!(!bad.exists(), "{extra:?} wrote {}", bad.display());
    }
    let output = ember(&[
        "prune",
        out.join("nowhere").to_str().unwrap(),
        "--recipe",
        "recipes/quickstart.toml",
        "--out",
        &bad_arg,
    ]);
    assert!(
        stderr(&output).contains("no such file or directory"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn late_rewinding_starts_every_round_from_the_weights_after_k_epochs() {
    let out = scratch("late-rewind");
    std::fs::create_dir_all(&out).unwrap();
    let recipe = frozen_quickstart(&out);
    let dir = out.join("lottery");
    let dir_arg = dir.display().to_string();
    let lottery = |rewind: &str| {
        ember(&[
            "lottery", &recipe, "--rounds", "1", "--rewind", rewind, "--set", "epochs=2", "--out",
            &dir_arg,
        ])
    };
    for bad in ["epoch:0", "epoch:2", "epoch:x"] {
        let output = lottery(bad);
        assert!(!output.status.success(), "{bad}");
        assert!(stderr(&output).contains(bad), "{bad}: {}", stderr(&output));
        assert!(!stderr(&output).contains("panicked"));
    }
    let output = lottery("epoch:1");
    assert!(output.status.success(), "{}", stderr(&output));
    let point = dir.join("ticket/rewind-epoch-01/model.bpk");
    let round = std::fs::read_to_string(dir.join("ticket/round-01/recipe.toml")).unwrap();
    // The pruned round trains the one epoch left, from the rewind point.
    assert!(round.contains("epochs = 1"), "{round}");
    assert!(round.contains(&point.display().to_string()), "{round}");
    let start = ember::train::checkpoint_tensors(&point).unwrap();
    let after = ember::train::checkpoint_tensors(&dir.join("ticket/round-01/model.bpk")).unwrap();
    for (a, b) in start.iter().zip(&after) {
        for (x, y) in a.values.iter().zip(&b.values) {
            assert!(*y == 0.0 || x.to_bits() == y.to_bits(), "{}", a.name);
        }
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn ddp_is_refused_where_burn_has_no_all_reduce() {
    let out = tempfile::tempdir().unwrap();
    let output = ember(&[
        "run",
        "recipes/quickstart.toml",
        "--devices",
        "flex,flex",
        "--parallel",
        "ddp",
        "--out",
        out.path().join("run").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("--parallel ddp needs cuda devices (`flex` is not)")
            && message.contains("--parallel main"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
    assert!(!out.path().join("run").exists(), "nothing was written");
}
