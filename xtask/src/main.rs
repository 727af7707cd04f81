//! Project automation for Ember: `cargo xtask ci` runs `.ci/run`, as CI does.

use std::process::Command;

use anyhow::{Context, Result, bail};

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed with {status}", args.join(" "));
    }
    Ok(())
}

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "ci" => {
            // One definition of CI: the script the CI machine runs.
            let status = Command::new("bash")
                .arg(".ci/run")
                .status()
                .context("cannot run bash .ci/run")?;
            if !status.success() {
                bail!(".ci/run failed with {status}");
            }
            Ok(())
        }
        "quickstart" => cargo(&[
            "run",
            "-p",
            "ember-cli",
            "--",
            "run",
            "recipes/quickstart.toml",
        ]),
        _ => bail!(
            "usage: cargo xtask <ci|quickstart>\n  ci          bash .ci/run: fmt, clippy, the tests and the backend matrix\n  quickstart  run recipes/quickstart.toml"
        ),
    }
}
