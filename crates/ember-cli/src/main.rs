#![warn(missing_docs)]
//! The `ember` command: runs pruning recipes and reads the reports they leave behind.
//!
//! # Feature flags
//! - `flex` (default): burn's pure-Rust CPU backend.
//! - `ndarray`: burn's ndarray CPU backend.

mod device;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ember_sparsity::ScorerRegistry;
use ember_train::{Recipe, RunOptions, RunReport};

/// Prune and freeze burn neural networks.
///
/// Start with `ember run recipes/quickstart.toml`: it trains LeNet-300-100 on the MNIST subset
/// embedded in Ember, prunes it to 90% sparsity with gradual magnitude pruning, and writes a
/// run directory with report.json, metrics.csv and the resolved recipe.
#[derive(Parser, Debug)]
#[command(name = "ember", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a recipe: dense training (or loading), then pruning, then a report.
    Run {
        /// The recipe file (TOML), e.g. recipes/quickstart.toml.
        recipe: PathBuf,
        /// The run directory [default: runs/<recipe file stem>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a recipe value, e.g. --set epochs=4 --set data.dir=/data/mnist
        /// (repeatable; values are read as TOML, else as strings).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// The device: flex or ndarray (each needs its cargo feature).
        #[arg(long, default_value = "flex")]
        device: String,
    },
    /// Print the report of a finished run.
    Report {
        /// The run directory (holding report.json).
        run_dir: PathBuf,
        /// Print the raw JSON instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Check a recipe and print it with every default filled in, without running it.
    Check {
        /// The recipe file.
        recipe: PathBuf,
        /// Overrides, as for `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// List the devices this binary was built with.
    Devices,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run {
            recipe,
            out,
            overrides,
            device,
        } => {
            let parsed = Recipe::load(&recipe, &overrides)?;
            let (device, device_name) = device::parse(&device)?;
            let out_dir = out.unwrap_or_else(|| {
                let stem = recipe.file_stem().map(|s| s.to_string_lossy().into_owned());
                PathBuf::from("runs").join(stem.unwrap_or_else(|| "run".into()))
            });
            eprintln!(
                "ember: running {} on {device_name} into {}",
                recipe.display(),
                out_dir.display()
            );
            let options = RunOptions {
                out_dir: out_dir.clone(),
                device,
                device_name,
                scorers: ScorerRegistry::default(),
            };
            let report = ember_train::run(&parsed, &options)?;
            println!("{}", report.summary());
            println!("run directory: {}", out_dir.display());
        }
        Command::Report { run_dir, json } => {
            let path = run_dir.join("report.json");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let report: RunReport = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an Ember report", path.display()))?;
            if json {
                println!("{text}");
            } else {
                println!("{}", report.summary());
            }
        }
        Command::Check { recipe, overrides } => {
            let parsed = Recipe::load(&recipe, &overrides)?;
            println!("{}", parsed.to_toml());
        }
        Command::Devices => {
            for name in device::available() {
                println!("{name}");
            }
        }
    }
    Ok(())
}
