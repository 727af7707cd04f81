//! Project automation for Ember: `cargo xtask ci` runs `.ci/run`, as CI does.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <ci|quickstart|bench-select>
  ci            bash .ci/run: fmt, clippy, the tests and the backend matrix
  quickstart    run recipes/quickstart.toml
  bench-select  time Ember's selection against numpy.partition (benches/select.rs), with
                numpy from a venv in ~/.cache/ember/bench-venv (made on first use)";

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

/// `cargo bench --bench select` with numpy from `$HOME/.cache/ember/bench-venv`, which is
/// created (`python3 -m venv`, `pip install numpy`) when missing.
fn bench_select() -> Result<()> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let venv = PathBuf::from(home).join(".cache/ember/bench-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        if let Some(parent) = venv.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let has_numpy = Command::new(&python)
        .args(["-c", "import numpy"])
        .status()
        .is_ok_and(|status| status.success());
    if !has_numpy {
        run(Command::new(&python).args(["-m", "pip", "install", "numpy"]))?;
    }
    run(cargo_command()
        .args(["bench", "--profile", "dev", "--bench", "select"])
        .env("SELECT_BENCH_PYTHON", &python))
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
        _ => bail!("{USAGE}"),
    }
}
