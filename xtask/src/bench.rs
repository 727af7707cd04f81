//! `cargo xtask bench`: every speed and size comparison of `docs/performance.md` in one run,
//! Ember and PyTorch side by side, printed as ratios and written to that file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{Build, cache, cargo_command, ember_in, hf_venv, run, short_gmp_star};

/// `ember` from a release build: every command whose time or output the tables use.
fn ember(args: &[&str]) -> Result<String> {
    ember_in(Build::Release, args)
}

/// The JSON records a bench printed on lines starting with `BENCH `.
fn bench_records(args: &[&str], envs: &[(String, String)]) -> Result<Vec<Value>> {
    let mut command = cargo_command();
    command
        // `cargo bench` builds with the bench profile, which inherits release: the only
        // build whose timings mean anything (the dev profile builds Ember's crates, and every
        // burn generic they instantiate, at opt-level 1).
        .arg("bench")
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stderr(Stdio::inherit());
    eprintln!("xtask: {command:?}");
    let output = command.output().context("cannot run cargo bench")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("cargo bench {} failed:\n{stdout}", args.join(" "));
    }
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("BENCH "))
        .map(|json| serde_json::from_str(json).context("a malformed BENCH line"))
        .collect()
}

fn f(value: &Value, key: &str) -> f64 {
    value[key].as_f64().unwrap_or(f64::NAN)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores, {}", std::env::consts::OS)
}

/// File sizes of the quick-start model at `sparsity`: dense and pruned checkpoints and the
/// sparse export.
fn sizes(sparsity: f64) -> Result<[u64; 3]> {
    let dir = cache()?.join(format!("bench/sizes-{sparsity}"));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_string_lossy().into_owned();
    ember(&[
        "run",
        "recipes/quickstart.toml",
        "--out",
        &dir_s,
        "--set",
        "data.train_limit=500",
        "--set",
        "dense.epochs=1",
        "--set",
        "epochs=2",
        "--set",
        "modifiers[0].schedule.end_epoch=1",
        "--set",
        &format!("modifiers[0].schedule.final_sparsity={sparsity}"),
    ])?;
    let spt = dir.join("model.spt");
    ember(&[
        "export",
        &dir_s,
        "--format",
        "sparse",
        &spt.to_string_lossy(),
    ])?;
    Ok([
        file_len(&dir.join("dense.bpk"))?,
        file_len(&dir.join("model.bpk"))?,
        file_len(&spt)?,
    ])
}

fn file_len(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len())
}

/// A short GMP* run made here with this build (the round trip's: 64 training sentences,
/// pruned to `sparsity` of the encoder's linear weights), kept between benches: the MiniLM
/// file sizes, and at 80% the end-to-end model unless `BENCH_MINILM_RUN` names a full run.
fn short_minilm_run(sparsity: f64) -> Result<String> {
    let dir = cache()?.join(format!("bench/minilm-{sparsity}"));
    let dir_s = dir.to_string_lossy().into_owned();
    if !dir.join("report.json").is_file() {
        let _ = std::fs::remove_dir_all(&dir);
        short_gmp_star(
            Build::Release,
            &dir_s,
            &[&format!("modifiers[0].schedule.final_sparsity={sparsity}")],
        )?;
    }
    Ok(dir_s)
}

/// MiniLM's files at `sparsity` (a short run): dense and pruned checkpoints, the Hugging Face
/// export's `model.safetensors` and the sparse export, with the sparsity reached.
fn minilm_sizes(sparsity: f64) -> Result<([u64; 4], f64)> {
    let run_dir = short_minilm_run(sparsity)?;
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&run_dir).join("report.json"))
            .context("the short MiniLM run's report.json")?,
    )?;
    let hf = cache()?.join(format!("bench/minilm-hf-{sparsity}"));
    let _ = std::fs::remove_dir_all(&hf);
    ember(&["export", &run_dir, "--format", "hf", &hf.to_string_lossy()])?;
    let spt = cache()?.join(format!("bench/minilm-{sparsity}.spt"));
    ember(&[
        "export",
        &run_dir,
        "--format",
        "sparse",
        &spt.to_string_lossy(),
    ])?;
    let run_dir = Path::new(&run_dir);
    Ok((
        [
            file_len(&run_dir.join("dense.bpk"))?,
            file_len(&run_dir.join("model.bpk"))?,
            file_len(&hf.join("model.safetensors"))?,
            file_len(&spt)?,
        ],
        f(&report["sparsity"], "ratio"),
    ))
}

/// `LIBTORCH` and `LD_LIBRARY_PATH` for the tch backend, after `scripts/setup-backends.sh tch`
/// has put libtorch 2.9.0 (from the PyPI wheel) in the cache: the script is the one place that
/// knows where.
fn libtorch_env() -> Result<Vec<(String, String)>> {
    run(Command::new("bash").args(["scripts/setup-backends.sh", "tch"]))?;
    let output = Command::new("bash")
        .args([
            "-c",
            r#"eval "$(scripts/setup-backends.sh env)" && printf '%s\n%s\n' "$LIBTORCH" "$LD_LIBRARY_PATH""#,
        ])
        .output()
        .context("cannot run scripts/setup-backends.sh env")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    match (output.status.success(), lines.next(), lines.next()) {
        (true, Some(libtorch), Some(path)) if !libtorch.is_empty() => Ok(vec![
            ("LIBTORCH".into(), libtorch.into()),
            ("LD_LIBRARY_PATH".into(), path.into()),
        ]),
        _ => bail!("scripts/setup-backends.sh env printed no libtorch: {text}"),
    }
}

/// Seconds and accuracy of `ember eval <run> --batch-size 1 --engine <engine>`.
fn eval_at_batch_1(run_dir: &str, engine: &str) -> Result<(f64, f64, u64)> {
    let started = std::time::Instant::now();
    let out = ember(&[
        "eval",
        run_dir,
        "--engine",
        engine,
        "--batch-size",
        "1",
        "--json",
    ])?;
    let seconds = started.elapsed().as_secs_f64();
    let json: Value = serde_json::from_str(&out).context("ember eval --json")?;
    let accuracy = &json["accuracy"];
    Ok((
        seconds,
        f(accuracy, "accuracy"),
        accuracy["examples"].as_u64().unwrap_or(0),
    ))
}

/// The `data.max_len` of the run in `run_dir` (its recipe.toml).
fn recipe_max_len(run_dir: &str) -> Result<u64> {
    let path = Path::new(run_dir).join("recipe.toml");
    let recipe: toml::Table = std::fs::read_to_string(&path)
        .with_context(|| format!("{}", path.display()))?
        .parse()
        .with_context(|| format!("{} is not TOML", path.display()))?;
    recipe
        .get("data")
        .and_then(|d| d.get("max_len"))
        .and_then(toml::Value::as_integer)
        .and_then(|n| u64::try_from(n).ok())
        .with_context(|| format!("{} has no data.max_len", path.display()))
}

/// Where the generated part of `docs/performance.md` starts.
const MARKER: &str = "<!-- Everything below is written by `cargo xtask bench`. -->";

/// Runs every comparison and writes `docs/performance.md`.
pub fn bench() -> Result<()> {
    let python = hf_venv()?;
    // PyTorch's products, LeNet and MiniLM steps join the alternations of Ember's
    // (`scripts/torch_worker.py`).
    let torch_python = (
        "BENCH_TORCH_PYTHON".to_string(),
        python.to_string_lossy().into_owned(),
    );
    let inference: Vec<Value> = bench_records(
        &["--bench", "sparse_inference"],
        std::slice::from_ref(&torch_python),
    )?
    .into_iter()
    .filter(|r| r["kind"] == "inference")
    .collect();
    // The training steps on every CPU backend: flex, ndarray and tch (libtorch from the PyPI
    // wheel). BENCH_FEATURES= (empty) measures flex alone.
    let features = std::env::var("BENCH_FEATURES").unwrap_or_else(|_| "ndarray,tch".to_string());
    let envs = if features.contains("tch") {
        libtorch_env()?
    } else {
        Vec::new()
    };
    let args = if features.is_empty() {
        vec![]
    } else {
        vec!["--features", features.as_str()]
    };
    let with = |extra: &[(&str, &str)]| {
        let mut all = envs.clone();
        all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all
    };
    let training = bench_records(
        &[&["--bench", "overhead"], &args[..]].concat(),
        &with(&[
            ("OVERHEAD_SPARSITY", "0.9"),
            ("OVERHEAD_BACKENDS", "flex,ndarray,tch"),
            (torch_python.0.as_str(), torch_python.1.as_str()),
        ]),
    )?;
    // The model both sides of the MiniLM step load.
    crate::fetch_minilm()?;
    let minilm_training = bench_records(
        &[&["--bench", "minilm_step"], &args[..]].concat(),
        &with(&[
            ("MINILM_BACKENDS", "flex,tch"),
            (torch_python.0.as_str(), torch_python.1.as_str()),
        ]),
    )?;

    let work = cache()?.join("bench");
    std::fs::create_dir_all(&work)?;
    let short = short_minilm_run(0.8)?;
    let minilm = std::env::var("BENCH_MINILM_RUN").unwrap_or_else(|_| short.clone());
    // PyTorch's end-to-end side: the run exported for `transformers`, and the test sentences
    // with Ember's classes (the sparse engine's, fast; the dense engine agrees, below).
    let e2e_export = work.join("e2e-hf");
    let _ = std::fs::remove_dir_all(&e2e_export);
    ember(&[
        "export",
        &minilm,
        "--format",
        "hf",
        &e2e_export.to_string_lossy(),
    ])?;
    let e2e_texts = work.join("e2e-texts.json");
    let all_sentences = usize::MAX.to_string();
    let classified = ember(&[
        "eval",
        &minilm,
        "--engine",
        "sparse",
        "--sample",
        &all_sentences,
        "--json",
    ])?;
    std::fs::write(&e2e_texts, classified)?;

    let torch_path = work.join("torch.json");
    run(Command::new(&python)
        .arg("scripts/bench_torch.py")
        .arg(&torch_path)
        .env("BENCH_E2E_EXPORT", &e2e_export)
        .env("BENCH_E2E_TEXTS", &e2e_texts)
        .env("BENCH_E2E_MAX_LEN", recipe_max_len(&minilm)?.to_string()))?;
    let torch: Value = serde_json::from_str(&std::fs::read_to_string(&torch_path)?)?;
    let torch_records = torch["records"].as_array().cloned().unwrap_or_default();
    let dense_e2e = eval_at_batch_1(&minilm, "dense")?;
    let sparse_e2e = eval_at_batch_1(&minilm, "sparse")?;
    if (dense_e2e.1 - sparse_e2e.1).abs() > 1e-9 {
        bail!(
            "the engines disagree on {minilm}: dense {:.2}%, sparse {:.2}%",
            dense_e2e.1,
            sparse_e2e.1
        );
    }
    let torch_e2e = torch_records
        .iter()
        .find(|t| t["kind"] == "eval_minilm")
        .context("bench_torch.py wrote no end-to-end record")?;
    let minilm_report: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&minilm).join("report.json"))
            .context("the MiniLM run's report.json")?,
    )?;

    let mut minilm_size_rows = BTreeMap::new();
    for sparsity in [0.8, 0.9, 0.95] {
        minilm_size_rows.insert((sparsity * 100.0) as u32, minilm_sizes(sparsity)?);
    }

    let mut sizes_rows = BTreeMap::new();
    for sparsity in [0.8, 0.9, 0.95] {
        sizes_rows.insert((sparsity * 100.0) as u32, sizes(sparsity)?);
    }

    let mut md = String::new();
    writeln!(
        md,
        "## Measurements\n\nWritten by `cargo xtask bench` on {} with PyTorch {} ({} threads) \
         in the same run. Times are medians of interleaved samples; on a shared machine \
         compare the ratios, not the absolute times.\n",
        machine(),
        torch["torch"].as_str().unwrap_or("?"),
        torch["threads"]
    )?;
    writeln!(
        md,
        "### Inference: `y = x·Wᵀ`, sparse kernels against dense\n\n\
         Ember dense is burn's flex backend; Ember sparse is `ember-kernels` (CSR, or 2:4 for \
         the 2:4 rows); PyTorch sparse is `torch.sparse.mm` on a CSR tensor. All four products \
         of a row are sampled in turn, in one alternation (PyTorch's through a \
         `scripts/torch_worker.py` worker, its OpenMP threads at `GOMP_SPINCOUNT=30000`: \
         \"Ember and PyTorch in one alternation\"), so that the ratios compare samples taken \
         milliseconds apart. Speed-ups are dense time / sparse time (> 1 is faster).\n\n\
         | layer [out×in] | batch | sparsity | Ember dense | Ember sparse | speed-up vs Ember dense | PyTorch dense | PyTorch CSR | Ember sparse vs PyTorch CSR |\n\
         |---|---|---|---|---|---|---|---|---|"
    )?;
    for r in &inference {
        let (ed, es, td, tc) = (
            f(r, "ember_dense_s"),
            f(r, "ember_sparse_s"),
            f(r, "torch_dense_s"),
            f(r, "torch_csr_s"),
        );
        writeln!(
            md,
            "| {} [{}×{}] | {} | {} | {:.1} µs | {:.1} µs | {:.2}x | {:.1} µs | {:.1} µs | {:.2}x |",
            r["layer"].as_str().unwrap_or("?"),
            r["out"],
            r["in"],
            r["batch"],
            r["sparsity"].as_str().unwrap_or("?"),
            ed * 1e6,
            es * 1e6,
            ed / es,
            td * 1e6,
            tc * 1e6,
            tc / es
        )?;
    }
    writeln!(
        md,
        "\n### Training step, LeNet-300-100, Adam\n\n\
         Ember: plain burn (dense), the model under `Sparse` at 90% global magnitude \
         sparsity, and the same three weights with their top-magnitude 90% frozen element by \
         element; the overhead is Ember's step over plain burn's in the same alternation. \
         PyTorch: eager, dense and under `torch.nn.utils.prune` at 90% (global L1), sampled \
         with plain burn and Ember 90% in a second alternation of warm samples \
         (`scripts/torch_worker.py`), from which the last two columns come.\n\n\
         | backend | batch | Ember dense | Ember 90% | overhead | Ember 90% frozen | overhead | PyTorch dense | PyTorch 90% | Ember dense / PyTorch dense | Ember 90% / PyTorch 90% |\n\
         |---|---|---|---|---|---|---|---|---|---|---|"
    )?;
    for r in &training {
        let (plain, pruned, frozen) = (f(r, "plain_s"), f(r, "ember_s"), f(r, "frozen_s"));
        let overhead = |t: f64| format!("{:+.1}%", (t / plain - 1.0) * 100.0);
        let (tdense, tpruned) = (f(r, "torch_dense_s"), f(r, "torch_pruned_s"));
        writeln!(
            md,
            "| {} | {} | {:.3} ms | {:.3} ms | {} | {:.3} ms | {} | {:.3} ms | {:.3} ms | {:.2}x | {:.2}x |",
            r["backend"].as_str().unwrap_or("?"),
            r["batch"],
            plain * 1e3,
            pruned * 1e3,
            overhead(pruned),
            frozen * 1e3,
            overhead(frozen),
            tdense * 1e3,
            tpruned * 1e3,
            f(r, "versus_plain_s") / tdense,
            f(r, "versus_pruned_s") / tpruned
        )?;
    }
    writeln!(
        md,
        "\n### Training step, MiniLM-L6 sequence classification, batch 16 × 64 tokens, AdamW\n\n\
         all-MiniLM-L6-v2 with a 2-label head, every token attended. Dense: cross-entropy. GMP*: \
         the steady state between pruning updates, 80% global magnitude sparsity of the \
         encoder's linear weights and distillation from the dense model (hardness 1, \
         temperature 2; the teacher's forward pass is part of the step). Ember 80%: the same \
         masks without the teacher, what masking alone costs. Ember: its training \
         loop's step (`TrainStep::step`, the loss read back, `optimize` under `Sparse`). \
         PyTorch: `transformers`' `BertForSequenceClassification`, eager, the student pruned \
         by `torch.nn.utils.prune` (global L1); its two steps are sampled in each row's \
         alternation with Ember's (`scripts/torch_worker.py`), so each row has its own \
         PyTorch times.\n\n\
         | backend | Ember dense | Ember 80% | overhead | Ember GMP* | PyTorch dense | PyTorch GMP* | Ember / PyTorch dense | Ember / PyTorch GMP* | GMP* / dense (Ember) |\n\
         |---|---|---|---|---|---|---|---|---|---|"
    )?;
    for r in &minilm_training {
        let (dense, sparse, gmp) = (f(r, "dense_s"), f(r, "sparse_s"), f(r, "gmp_s"));
        let (tdense, tgmp) = (f(r, "torch_dense_s"), f(r, "torch_gmp_s"));
        writeln!(
            md,
            "| {} | {:.3} s | {:.3} s | {:+.1}% | {:.3} s | {tdense:.3} s | {tgmp:.3} s | {:.2}x | {:.2}x | {:.2}x |",
            r["backend"].as_str().unwrap_or("?"),
            dense,
            sparse,
            (sparse / dense - 1.0) * 100.0,
            gmp,
            dense / tdense,
            gmp / tgmp,
            gmp / dense
        )?;
    }
    writeln!(
        md,
        "\n### End to end: pruned MiniLM on the Rotten Tomatoes test split, batch 1\n\n\
         `ember eval <run> --batch-size 1` with the dense engine (burn, flex) and with \
         `--engine sparse`, whole commands (loading included); the run is `{minilm}` at \
         {:.1}% sparsity of the encoder's linear weights.\n\n\
         PyTorch dense is `transformers` on the same sentences one at a time \
         ({} threads), its model loaded from `ember export --format hf` of the run, loading \
         included; its classes agree with Ember's on {:.2}% of the sentences.\n\n\
         | engine | examples | accuracy | wall time | sentences/s |\n|---|---|---|---|---|\n\
         | Ember dense (flex) | {} | {:.2}% | {:.1} s | {:.1} |\n\
         | Ember sparse | {} | {:.2}% | {:.1} s | {:.1} |\n\
         | PyTorch dense | {} | | {:.1} s | {:.1} |\n\n\
         Ember sparse / Ember dense: {:.2}x; Ember sparse / PyTorch dense: {:.2}x.",
        f(&minilm_report["sparsity"], "ratio") * 100.0,
        torch["threads"],
        f(torch_e2e, "agree") * 100.0,
        dense_e2e.2,
        dense_e2e.1,
        dense_e2e.0,
        dense_e2e.2 as f64 / dense_e2e.0,
        sparse_e2e.2,
        sparse_e2e.1,
        sparse_e2e.0,
        sparse_e2e.2 as f64 / sparse_e2e.0,
        torch_e2e["examples"],
        f(torch_e2e, "seconds"),
        f(torch_e2e, "examples") / f(torch_e2e, "seconds"),
        dense_e2e.0 / sparse_e2e.0,
        f(torch_e2e, "seconds") / sparse_e2e.0
    )?;
    writeln!(
        md,
        "\n### File sizes, quick-start LeNet-300-100\n\n\
         `dense.bpk` is the dense checkpoint, `model.bpk` the pruned one (masks as bits), \
         `model.spt` the sparse export (`ember export --format sparse`).\n\n\
         | sparsity | dense.bpk | model.bpk | model.bpk / dense | model.spt | model.spt / dense |\n\
         |---|---|---|---|---|---|"
    )?;
    for (s, [dense, model, spt]) in &sizes_rows {
        writeln!(
            md,
            "| {s}% | {dense} | {model} | {:.3}x | {spt} | {:.3}x |",
            *model as f64 / *dense as f64,
            *spt as f64 / *dense as f64
        )?;
    }
    writeln!(
        md,
        "\nMiniLM (short GMP* runs, `{}`; the embeddings, a third of the parameters, and the \
         rest stay dense). `model.safetensors` is the Hugging Face export, which \
         `transformers` loads: dense tensors with exact zeros, as that format has no sparse \
         layout.\n\n\
         | target | reached | dense.bpk | model.bpk | / dense | HF model.safetensors | / dense | model.spt | / dense |\n\
         |---|---|---|---|---|---|---|---|---|",
        cache()?.join("bench/minilm-<sparsity>").display()
    )?;
    for (s, ([dense, model, hf_bytes, spt_bytes], reached)) in &minilm_size_rows {
        let r = |b: &u64| *b as f64 / *dense as f64;
        writeln!(
            md,
            "| {s}% | {:.1}% | {dense} | {model} | {:.3}x | {hf_bytes} | {:.3}x | {spt_bytes} | {:.3}x |",
            reached * 100.0,
            r(model),
            r(hf_bytes),
            r(spt_bytes)
        )?;
    }
    print!("{md}");
    // The hand-written analysis above the marker stays; the tables below it are replaced.
    let path = "docs/performance.md";
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let kept = old
        .find(MARKER)
        .map_or(String::new(), |i| old[..i].to_string());
    std::fs::write(path, format!("{kept}{MARKER}\n\n{md}"))
        .context("cannot write docs/performance.md")?;
    eprintln!("xtask: wrote docs/performance.md");
    Ok(())
}
