//! Every way a recipe or a run can miss what it asks for ends in a clear message naming the
//! problem, a non-zero exit code, no panic and no half-written run.

mod common;

use common::{RECIPE, ember, fails_with, stderr};

fn setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.toml"), RECIPE).unwrap();
    (dir, "small.toml".into())
}

#[test]
fn check_binds_the_recipe_to_the_model_and_reports_every_problem_at_once() {
    let (dir, recipe) = setup();
    let check = |sets: &[&str]| {
        let mut args = vec!["check", recipe.as_str()];
        for set in sets {
            args.extend(["--set", set]);
        }
        ember(&args, dir.path())
    };
    assert!(check(&[]).status.success(), "{}", stderr(&check(&[])));
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[r#"modifiers[0].params=["re:(unclosed"]"#],
            &["not a valid regex"],
        ),
        (
            &[r#"modifiers[0].params=["re:nothing"]"#],
            &["matches no parameter", "layers.0.weight"],
        ),
        (
            &[r#"modifiers[0].scorer="nope""#],
            &["unknown scorer `nope`"],
        ),
        (
            &[r#"modifiers[0].layer_types=["Linaer"]"#],
            &["layer_types [\"Linaer\"]", "Linear"],
        ),
        (
            &[
                r#"modifiers[1]={kind="prune", params=["layers.0.weight"], schedule={kind="one_shot", sparsity=0.5}}"#,
            ],
            &["`layers.0.weight` is selected by both"],
        ),
    ];
    for (sets, needles) in cases {
        fails_with(&check(sets), needles);
    }
    // A mask file that is not there.
    let masked = RECIPE.replace(
        "kind = \"prune\"\nparams",
        "kind = \"mask\"\nmask_file = \"absent.json\"\nparams",
    );
    let masked = masked.replace("schedule = { kind = \"one_shot\", sparsity = 0.9 }", "");
    std::fs::write(dir.path().join("mask.toml"), masked).unwrap();
    fails_with(
        &ember(&["check", "mask.toml"], dir.path()),
        &["absent.json"],
    );
    // Two problems in two modifiers: both reported, in one go.
    let both = check(&[
        r#"modifiers[0].scorer="nope""#,
        r#"modifiers[1]={kind="prune", params=["re:absent"], schedule={kind="one_shot", sparsity=0.5}}"#,
    ]);
    fails_with(
        &both,
        &["unknown scorer `nope`", "`re:absent`", "2 problem(s)"],
    );
}

#[test]
fn sizes_and_keys_are_checked_before_anything_is_allocated() {
    let (dir, recipe) = setup();
    let cases: &[(&str, &[&str])] = &[
        (
            "data.batch_size=1000000000",
            &["data.batch_size", "at most 65536"],
        ),
        (
            "data.batch_size=18446744073709551615",
            &["data.batch_size", "at most"],
        ),
        ("model.hidden=[0]", &["model.hidden[0]", "at least 1"]),
        ("epochs=1000000000", &["`epochs`", "at most"]),
        ("modifiers[100000000].name=x", &["index `[100000000]`"]),
        (
            "modifiers[5].name=x",
            &["`modifiers[5]` does not exist", "has 1 entries"],
        ),
        ("modifiers[1]kind=x", &["did you mean `modifiers[1].kind`"]),
        ("data.validation=1.5", &["data.validation", "[0, 1)"]),
        ("checkpoint.keep=0", &["checkpoint.keep"]),
    ];
    for (set, needles) in cases {
        let out = dir.path().join("never");
        let run = ember(
            &["run", &recipe, "--out", out.to_str().unwrap(), "--set", set],
            dir.path(),
        );
        fails_with(&run, needles);
        assert!(
            !out.exists(),
            "{set}: nothing is written for a refused recipe"
        );
    }
    // A decreasing schedule: masks only grow.
    let decreasing = RECIPE.replace(
        "schedule = { kind = \"one_shot\", sparsity = 0.9 }",
        "schedule = { kind = \"linear\", init_sparsity = 0.9, final_sparsity = 0.5, start_epoch = 0, end_epoch = 1, every_epochs = 1 }",
    );
    std::fs::write(dir.path().join("decreasing.toml"), decreasing).unwrap();
    fails_with(
        &ember(&["check", "decreasing.toml"], dir.path()),
        &["modifiers[0].schedule.final_sparsity", "masks only grow"],
    );
}

#[test]
fn runs_that_cannot_reach_their_target_fail() {
    let (dir, recipe) = setup();
    // No training data.
    let out = dir.path().join("empty");
    let empty = ember(
        &[
            "run",
            &recipe,
            "--out",
            out.to_str().unwrap(),
            "--set",
            "data.train_limit=0",
        ],
        dir.path(),
    );
    fails_with(&empty, &["the training split is empty"]);
    assert!(!out.join("report.json").exists());

    // A freeze of half the weights under a 90% pruning target: the report says what was
    // missed, and the exit code is not 0.
    let out = dir.path().join("frozen");
    let frozen = ember(
        &[
            "run",
            &recipe,
            "--out",
            out.to_str().unwrap(),
            "--set",
            "modifiers[0].schedule.at_epoch=1",
            "--set",
            r#"modifiers[1]={kind="freeze", params=["re:layers\\.\\d+\\.weight"], rule="top_magnitude", schedule={kind="one_shot", fraction=0.5}}"#,
        ],
        dir.path(),
    );
    fails_with(
        &frozen,
        &[
            "missed its target",
            "0.9000",
            "frozen weights cannot be pruned",
        ],
    );
    let report = std::fs::read_to_string(out.join("report.json")).unwrap();
    assert!(report.contains("\"shortfall\""), "{report}");
    assert!(
        !out.join("checkpoints").exists(),
        "a run that reported keeps no checkpoints"
    );
    let shown = ember(&["report", out.to_str().unwrap()], dir.path());
    assert!(String::from_utf8_lossy(&shown.stdout).contains("TARGET MISSED"));

    // Not a shortfall: a per-output quota rounds each unit on its own (0.55 of 784 inputs is
    // 431.2, so each of 300 units loses 431), which exact counting allows.
    let out = dir.path().join("quota");
    let quota = ember(
        &[
            "run",
            &recipe,
            "--out",
            out.to_str().unwrap(),
            "--set",
            "modifiers[0].pattern=\"per_output\"",
            "--set",
            "modifiers[0].scope=\"layer_wise\"",
            "--set",
            "modifiers[0].schedule.sparsity=0.55",
        ],
        dir.path(),
    );
    assert!(quota.status.success(), "{}", stderr(&quota));
}

#[test]
fn recipe_paths_are_relative_to_the_recipe_file_and_overrides_to_the_working_directory() {
    let (dir, _) = setup();
    let nested = dir.path().join("recipes");
    std::fs::create_dir(&nested).unwrap();
    let text = RECIPE.replace(
        "dense = { epochs = 1 }",
        "dense = { load = \"weights/dense.bpk\" }",
    );
    std::fs::write(nested.join("r.toml"), text).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let recipe = nested.join("r.toml");
    let checked = ember(&["check", recipe.to_str().unwrap()], elsewhere.path());
    let printed = String::from_utf8_lossy(&checked.stdout);
    let want = std::path::absolute(nested.join("weights/dense.bpk")).unwrap();
    assert!(
        printed.contains(&want.display().to_string()),
        "{printed}{}",
        stderr(&checked)
    );
    let overridden = ember(
        &[
            "check",
            recipe.to_str().unwrap(),
            "--set",
            "dense.load=\"other.bpk\"",
        ],
        elsewhere.path(),
    );
    let want = std::path::absolute(elsewhere.path().join("other.bpk")).unwrap();
    assert!(String::from_utf8_lossy(&overridden.stdout).contains(&want.display().to_string()));
}
