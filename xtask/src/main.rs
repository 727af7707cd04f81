//! Project automation for Ember: `cargo xtask ci` runs the same checks as CI.

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
            cargo(&["fmt", "--all", "--check"])?;
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])?;
            cargo(&["test", "--workspace"])
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
            "usage: cargo xtask <ci|quickstart>\n  ci          fmt, clippy and the test suite, as CI runs them\n  quickstart  run recipes/quickstart.toml"
        ),
    }
}
