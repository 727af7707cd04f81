//! `cargo xtask fuzz [--seconds N] [TARGET...]`: every `cargo fuzz` target of `fuzz/`, each for
//! N seconds on nightly, starting from the committed corpus in `fuzz/corpus/<target>`. Inputs
//! the fuzzer adds go to a working copy outside the repository; a crash stops the run and its
//! input is left in `fuzz/artifacts/<target>/` to be added to `fuzz/regressions/`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cache, run};

pub(crate) fn fuzz(args: &[String]) -> Result<()> {
    ensure_cargo_fuzz()?;
    // The targets as `fuzz/Cargo.toml` declares them: one list, read from there.
    let listed = Command::new("cargo")
        .args(["+nightly", "fuzz", "list", "--fuzz-dir", "fuzz"])
        .output()
        .context("cannot run `cargo fuzz list`")?;
    if !listed.status.success() {
        bail!(
            "`cargo fuzz list` failed: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
    }
    let known: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let mut seconds = 60u64;
    let mut targets = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--seconds" {
            let value = rest.next().context("--seconds needs a number")?;
            seconds = value
                .parse()
                .with_context(|| format!("--seconds {value}: not a number of seconds"))?;
        } else if known.contains(arg) {
            targets.push(arg.as_str());
        } else {
            bail!(
                "unknown fuzz target `{arg}`; the targets: {}",
                known.join(", ")
            );
        }
    }
    if targets.is_empty() {
        targets = known.iter().map(String::as_str).collect();
    }
    let work = cache()?.join("fuzz-corpus");
    for target in targets {
        // The fuzzer writes new inputs into its first corpus directory: a copy outside the
        // repository, seeded from the committed one.
        let corpus = work.join(target);
        std::fs::create_dir_all(&corpus)?;
        let committed = PathBuf::from("fuzz/corpus").join(target);
        for entry in std::fs::read_dir(&committed)
            .with_context(|| format!("cannot read {}", committed.display()))?
        {
            let entry = entry?;
            std::fs::copy(entry.path(), corpus.join(entry.file_name()))?;
        }
        let mut command = Command::new("cargo");
        command
            .args(["+nightly", "fuzz", "run", "--fuzz-dir", "fuzz", target])
            .arg(&corpus)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-rss_limit_mb=4096",
                "-print_final_stats=1",
            ]);
        let regressions = PathBuf::from("fuzz/regressions").join(target);
        if regressions.is_dir() {
            command.arg(&regressions);
        }
        // The fuzz build has its own target directory, outside the clone.
        command.env("CARGO_TARGET_DIR", cache()?.join("fuzz-target"));
        run(&mut command)?;
    }
    Ok(())
}

/// Installs cargo-fuzz from crates.io when `cargo fuzz` is missing.
fn ensure_cargo_fuzz() -> Result<()> {
    let present = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}
