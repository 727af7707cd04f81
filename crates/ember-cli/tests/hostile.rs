//! Hostile inputs against the `ember` binary, one test per class of defect a probe found: data
//! loss, writes outside `--out`, panics, silent wrong results, unbounded work and late checks.
//! Each must end in a precise error naming the field, file or flag, a non-zero exit, no panic
//! and nothing half-written.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{RECIPE, ember, ember_with, fails_with, stderr, succeeds};

/// A folder with the small recipe, and the run of it in `run/`.
fn finished_run() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.toml"), RECIPE).unwrap();
    succeeds(&ember(&["run", "small.toml", "--out", "run"], dir.path()));
    dir
}

/// Every file under `dir` with its bytes, sorted by path.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// Flips one bit in the middle of `path`.
fn flip_middle_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn an_unknown_scorer_is_refused_before_the_first_epoch() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.toml"), RECIPE).unwrap();
    let out = ember(
        &[
            "run",
            "small.toml",
            "--out",
            "run",
            "--set",
            r#"modifiers[0].scorer="nope""#,
        ],
        dir.path(),
    );
    fails_with(&out, &["unknown scorer `nope`"]);
    assert!(
        !stderr(&out).contains("[dense]"),
        "no epoch may run: {}",
        stderr(&out)
    );
    assert!(!dir.path().join("run").exists(), "no run directory is made");
}

#[test]
fn a_user_error_prints_its_message_without_a_backtrace_even_under_rust_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let out = ember_with(&["check", "missing.toml"], dir.path(), "1");
    fails_with(&out, &["error: ", "missing.toml"]);
    let message = stderr(&out).to_lowercase();
    assert!(!message.contains("backtrace"), "{message}");
}

#[test]
fn a_flipped_byte_in_a_run_file_is_refused_naming_it() {
    let dir = finished_run();
    let run = dir.path().join("run");
    succeeds(&ember(&["eval", "run"], dir.path()));
    // The model: eval and the sparse export refuse it, naming the file.
    let model = run.join("model.bpk");
    let clean = std::fs::read(&model).unwrap();
    flip_middle_byte(&model);
    fails_with(
        &ember(&["eval", "run"], dir.path()),
        &["model.bpk", "damaged"],
    );
    fails_with(
        &ember(
            &["export", "run", "--format", "sparse", "m.spt"],
            dir.path(),
        ),
        &["model.bpk", "damaged"],
    );
    assert!(!dir.path().join("m.spt").exists());
    // A flip in the header region (the tensor names, shapes and metadata).
    let mut header = clean.clone();
    header[40] ^= 0x01;
    std::fs::write(&model, &header).unwrap();
    fails_with(&ember(&["eval", "run"], dir.path()), &["model.bpk"]);
    // Bytes burn never reads (an appended byte; the same goes for alignment padding) are
    // covered by the run's SHA256SUMS, which lists the .bpk files too.
    let mut longer = clean.clone();
    longer.push(0);
    std::fs::write(&model, &longer).unwrap();
    fails_with(
        &ember(&["eval", "run"], dir.path()),
        &["model.bpk", "SHA256SUMS"],
    );
    std::fs::write(&model, &clean).unwrap();
    succeeds(&ember(&["eval", "run"], dir.path()));
    // The report and the recipe, through the run's SHA256SUMS.
    let report = run.join("report.json");
    let text = std::fs::read_to_string(&report).unwrap();
    std::fs::write(&report, text.replacen("\"final\"", "\"final\" ", 1)).unwrap();
    fails_with(
        &ember(&["report", "run"], dir.path()),
        &["report.json", "SHA256SUMS"],
    );
    std::fs::write(&report, &text).unwrap();
    let recipe = run.join("recipe.toml");
    let toml = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(&recipe, toml.replace("seed = 3", "seed = 4")).unwrap();
    fails_with(
        &ember(&["eval", "run"], dir.path()),
        &["recipe.toml", "edited after Ember wrote it"],
    );
    // The sparse export checks its own sums.
    std::fs::write(&recipe, &toml).unwrap();
    succeeds(&ember(
        &["export", "run", "--format", "sparse", "m.spt"],
        dir.path(),
    ));
    let export = dir.path().join("m.spt");
    let bytes = std::fs::read(&export).unwrap();
    let (_, _) = ember::kernels::read_sparse_file(&bytes).unwrap();
    let mut damaged = bytes.clone();
    let last = damaged.len() - 3;
    damaged[last] ^= 0x01;
    let error = ember::kernels::read_sparse_file(&damaged)
        .unwrap_err()
        .to_string();
    assert!(error.contains("damaged"), "{error}");
}

#[test]
fn exports_never_replace_what_they_did_not_write() {
    let dir = finished_run();
    let before = snapshot(&dir.path().join("run"));
    // The sparse export onto the run's own model.
    fails_with(
        &ember(
            &["export", "run", "--format", "sparse", "run/model.bpk"],
            dir.path(),
        ),
        &["run/model.bpk", "not an earlier export"],
    );
    // The Hugging Face export onto a folder of runs.
    fails_with(
        &ember(&["export", "run", "--format", "hf", "."], dir.path()),
        &["not an earlier export"],
    );
    assert_eq!(snapshot(&dir.path().join("run")), before, "nothing changed");
    // An earlier sparse export is replaced.
    for _ in 0..2 {
        succeeds(&ember(
            &["export", "run", "--format", "sparse", "m.spt"],
            dir.path(),
        ));
    }
}

#[test]
fn a_run_never_deletes_its_own_inputs() {
    let dir = finished_run();
    let before = snapshot(&dir.path().join("run"));
    // prune onto its own source, with --force.
    fails_with(
        &ember(
            &[
                "prune",
                "run",
                "--recipe",
                "small.toml",
                "--out",
                "run",
                "--force",
            ],
            dir.path(),
        ),
        &["--force would delete", "model.bpk"],
    );
    // run --force reading dense weights from the directory it clears.
    fails_with(
        &ember(
            &[
                "run",
                "small.toml",
                "--out",
                "run",
                "--force",
                "--set",
                "dense.load=\"run/dense.bpk\"",
            ],
            dir.path(),
        ),
        &["--force would delete", "dense.bpk", "dense.load"],
    );
    assert_eq!(snapshot(&dir.path().join("run")), before, "nothing changed");
}

#[test]
fn a_recipe_name_is_never_a_path() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["../../x", "/tmp/x", ".hidden"] {
        std::fs::write(
            dir.path().join("small.toml"),
            RECIPE.replace("name = \"small\"", &format!("name = {name:?}")),
        )
        .unwrap();
        fails_with(
            &ember(&["sweep", "small.toml", "--out", "sweep"], dir.path()),
            &["`name`", "plain name"],
        );
    }
    assert!(!dir.path().join("sweep").exists());
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.toml"), RECIPE).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["check", "small.toml"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the first line is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let message = stderr(&out);
    assert!(!message.contains("panicked"), "{message}");
    assert!(out.status.success(), "{message}");
}

/// Writes an MNIST-layout folder of `train` and `test` images of `side`×`side`.
fn idx_dir(dir: &Path, side: u32, train: u32, test: u32) {
    let images = |count: u32| {
        let mut bytes = vec![0, 0, 8, 3];
        for dim in [count, side, side] {
            bytes.extend_from_slice(&dim.to_be_bytes());
        }
        bytes.extend((0..count * side * side).map(|i| (i % 251) as u8));
        bytes
    };
    let labels = |count: u32| {
        let mut bytes = vec![0, 0, 8, 1];
        bytes.extend_from_slice(&count.to_be_bytes());
        bytes.extend((0..count).map(|i| (i % 10) as u8));
        bytes
    };
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in [
        ("train-images-idx3-ubyte", images(train)),
        ("train-labels-idx1-ubyte", labels(train)),
        ("t10k-images-idx3-ubyte", images(test)),
        ("t10k-labels-idx1-ubyte", labels(test)),
    ] {
        std::fs::File::create(dir.join(name))
            .unwrap()
            .write_all(&bytes)
            .unwrap();
    }
}

#[test]
fn data_the_model_cannot_use_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = RECIPE.replace(
        r#"data = { source = "embedded", batch_size = 64, train_limit = 640 }"#,
        r#"data = { source = "mnist", dir = "idx", batch_size = 64 }"#,
    );
    std::fs::write(dir.path().join("small.toml"), recipe).unwrap();
    idx_dir(&dir.path().join("idx"), 32, 64, 16);
    fails_with(
        &ember(&["run", "small.toml", "--out", "run"], dir.path()),
        &["32×32", "28×28"],
    );
    idx_dir(&dir.path().join("idx"), 28, 64, 0);
    fails_with(
        &ember(&["run", "small.toml", "--out", "run"], dir.path()),
        &["test split holds no images"],
    );
}

#[test]
fn mnist_without_a_folder_names_the_fetch_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let recipe = RECIPE.replace(
        r#"data = { source = "embedded", batch_size = 64, train_limit = 640 }"#,
        r#"data = { source = "mnist", batch_size = 64 }"#,
    );
    std::fs::write(dir.path().join("small.toml"), recipe).unwrap();
    succeeds(&ember(&["check", "small.toml"], dir.path()));
    let out = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["run", "small.toml", "--out", "run"])
        .current_dir(dir.path())
        .env("EMBER_CACHE", cache.path())
        .output()
        .unwrap();
    fails_with(&out, &["ember fetch mnist", "Ember's cache"]);
}

#[test]
fn out_of_range_values_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.toml"), RECIPE).unwrap();
    let check = |sets: &[&str]| {
        let mut args = vec!["check", "small.toml"];
        for set in sets {
            args.extend(["--set", set]);
        }
        ember(&args, dir.path())
    };
    let cases: &[(&[&str], &[&str])] = &[
        (&[r#"modifiers[0].pattern="0:4""#], &["0:4", "every weight"]),
        (
            &[r#"modifiers[0].overrides={"layers.0.weight"=1.0}"#],
            &["override", "[0, 1)"],
        ),
        (
            &[r#"data[0]="embedded""#],
            &["`data` is a table", "not a list"],
        ),
        (
            &["model.hidden=[60000,60000]"],
            &["model.hidden", "weights"],
        ),
    ];
    for (sets, needles) in cases {
        fails_with(&check(sets), needles);
    }
    std::fs::write(
        dir.path().join("warm.toml"),
        RECIPE.replace(
            r#"lr = { kind = "constant", lr = 1e-3 }"#,
            r#"lr = { kind = "sawtooth", init = 1e-3, final = 1e-4, warmup_epochs = 5 }"#,
        ),
    )
    .unwrap();
    fails_with(
        &ember(&["check", "warm.toml"], dir.path()),
        &["lr.warmup_epochs", "at most the phase's 2 epochs"],
    );
    // A device, not a file: refused before a byte is read.
    fails_with(
        &ember(&["check", "/dev/zero"], dir.path()),
        &["/dev/zero", "not a regular file"],
    );
    fails_with(
        &ember(
            &["run", "small.toml", "--devices", "flex,,flex"],
            dir.path(),
        ),
        &["device 2 of `flex,,flex` is empty"],
    );
    fails_with(
        &ember(
            &[
                "sweep",
                "small.toml",
                "--out",
                "s",
                "--seeds",
                "18446744073709551615",
            ],
            dir.path(),
        ),
        &["--seeds", "at most 1000"],
    );
    fails_with(
        &ember(
            &["eval", "nowhere", "--batch-size", "100000000000"],
            dir.path(),
        ),
        &["--batch-size"],
    );
}

#[test]
fn stale_temporaries_are_cleared_and_a_dangling_link_is_named() {
    let dir = finished_run();
    let stale = dir.path().join("run/.model.bpk.tmp-999999");
    std::fs::write(&stale, b"half").unwrap();
    succeeds(&ember(
        &["run", "small.toml", "--out", "run", "--force"],
        dir.path(),
    ));
    assert!(
        !stale.exists(),
        "a killed writer's temporary file is removed"
    );
    std::os::unix::fs::symlink("nowhere", dir.path().join("link")).unwrap();
    fails_with(
        &ember(&["run", "small.toml", "--out", "link"], dir.path()),
        &["symbolic link to nowhere", "does not exist"],
    );
}
