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
fn a_stray_ember_variable_is_named_in_the_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["check", "recipes/quickstart.toml"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env("EMBER_CAHCE", "/tmp/x")
        .output()
        .expect("the ember binary runs");
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("unknown field `cahce`") && message.contains("EMBER_CAHCE"),
        "{message}"
    );
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
    let bits = |ts: &[ember::kernels::NamedTensor]| -> Vec<(String, Vec<u32>)> {
        ts.iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.values.iter().map(|v| v.to_bits()).collect(),
                )
            })
            .collect()
    };
    assert_eq!(bits(&tensors), bits(&checkpoint));
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
        stderr(&export).contains("image model"),
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
