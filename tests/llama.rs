//! The `llama` family end to end on a tiny corpus: training from scratch reports perplexity,
//! every one-shot solver prunes each decoder layer's seven projections layer by layer with
//! exact counts (and SparseGPT rewrites the weights it keeps), the pruned run evaluates and
//! exports to a Hugging Face folder whose perplexity is the run's; bad inputs are refused.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ember::train::{Evaluation, Recipe};

/// A corpus folder: three splits of English text and a byte-level BPE trained on them.
fn corpus(dir: &Path) -> PathBuf {
    let folder = dir.join("corpus");
    std::fs::create_dir_all(&folder).unwrap();
    let text = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut splits = [String::new(), String::new(), String::new()];
    for (i, line) in lines.iter().enumerate() {
        splits[usize::from(i % 10 == 3) + 2 * usize::from(i % 10 == 7)].push_str(line);
        splits[usize::from(i % 10 == 3) + 2 * usize::from(i % 10 == 7)].push('\n');
    }
    for (name, text) in ["train.txt", "valid.txt", "test.txt"].iter().zip(&splits) {
        std::fs::write(folder.join(name), text).unwrap();
    }
    ember::data::train_byte_level_bpe(
        &[&folder.join("train.txt")],
        512,
        &folder.join("tokenizer.json"),
    )
    .unwrap();
    folder
}

fn recipe(corpus: &Path, extra: &[&str]) -> Recipe {
    try_recipe(corpus, extra).unwrap()
}

fn try_recipe(corpus: &Path, extra: &[&str]) -> Result<Recipe, ember::train::TrainError> {
    let mut overrides = vec![
        format!("data.dir=\"{}\"", corpus.display()),
        "data.source=\"corpus\"".to_string(),
        "data.seqlen=32".into(),
        "data.batch_size=8".into(),
        "model.hidden_size=32".into(),
        "model.num_hidden_layers=2".into(),
        "model.num_attention_heads=4".into(),
        "model.num_key_value_heads=2".into(),
        "model.intermediate_size=48".into(),
        "epochs=1".into(),
    ];
    overrides.extend(extra.iter().map(|s| s.to_string()));
    common::recipe(
        "llama-kjv.toml",
        &overrides.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// Why the recipe with `extra` is refused, at load or by `check_recipe`.
fn refused(corpus: &Path, extra: &[&str], options: &ember::train::RunOptions) -> String {
    match try_recipe(corpus, extra) {
        Err(error) => error.to_string(),
        Ok(recipe) => ember::train::check_recipe(recipe, options)
            .into_result()
            .expect_err("refused")
            .to_string(),
    }
}

fn one_shot(corpus: &Path, solver: &str, pattern: &str) -> Recipe {
    let overrides = [
        format!("data.dir=\"{}\"", corpus.display()),
        "data.source=\"corpus\"".to_string(),
        "data.seqlen=32".into(),
        "data.batch_size=8".into(),
        format!("modifiers[0].pattern=\"{pattern}\""),
    ];
    common::recipe(
        &format!("oneshot-{solver}-llama.toml"),
        &overrides.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .unwrap()
}

fn weights(run: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    ember::train::checkpoint_tensors(&run.join("model.bpk"))
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.shape, t.values))
        .collect()
}

#[test]
fn trains_prunes_layer_by_layer_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let trained = dir.path().join("trained");
    let report = ember::train::run(&recipe(&corpus, &[]), &common::options(&trained)).unwrap();
    let perplexity = report.final_.metrics["perplexity"];
    // Trained a little: far below the uniform guess over its vocabulary.
    assert!(perplexity.is_finite() && perplexity < 400.0, "{perplexity}");

    let entry = ember::zoo::models().get("llama").unwrap();
    let dense = weights(&trained);
    let selected = |name: &str| name.starts_with("model.layers.") && name.ends_with("_proj.weight");
    for (solver, pattern) in [
        ("magnitude", "unstructured"),
        ("wanda", "per_output"),
        ("sparsegpt", "unstructured"),
        ("sparsegpt", "2:4"),
    ] {
        let out = dir
            .path()
            .join(format!("{solver}-{}", pattern.replace(':', "-")));
        entry
            .prune(
                &one_shot(&corpus, solver, pattern),
                &common::options(&out),
                &trained,
                2,
            )
            .unwrap_or_else(|e| panic!("{solver} {pattern}: {e}"));
        let pruned = weights(&out);
        let mut projections = 0;
        for ((name, shape, values), (_, _, before)) in pruned.iter().zip(&dense) {
            let zeros = values.iter().filter(|v| **v == 0.0).count();
            if !selected(name) {
                assert_eq!(
                    values, before,
                    "{solver}: {name} is not selected and must not move"
                );
                continue;
            }
            projections += 1;
            assert_eq!(zeros, values.len() / 2, "{solver} {pattern}: {name}");
            if pattern == "2:4" {
                // burn's layout is [in, out]: groups of 4 inputs of one output.
                let (inputs, outputs) = (shape[0], shape[1]);
                for o in 0..outputs {
                    for g in 0..inputs / 4 {
                        let kept = (0..4)
                            .filter(|k| values[(g * 4 + k) * outputs + o] != 0.0)
                            .count();
                        assert_eq!(kept, 2, "{name}: output {o} group {g}");
                    }
                }
            }
            let moved = values
                .iter()
                .zip(before)
                .filter(|(a, b)| **a != 0.0 && a != b)
                .count();
            // SparseGPT updates what it keeps; the others leave kept weights alone.
            assert_eq!(
                moved > 0,
                solver == "sparsegpt",
                "{solver} {name}: {moved} moved"
            );
        }
        assert_eq!(projections, 14, "two layers of seven projections");
        // The pruned run evaluates and exports; the folder's perplexity is the run's.
        let recipe = Recipe::load(&out.join("recipe.toml"), &[]).unwrap();
        let registries = ember::zoo::registries();
        let Evaluation::Perplexity { perplexity, .. } = entry
            .evaluate(&out, &recipe, &registries, &Device::flex(), &[])
            .unwrap()
        else {
            panic!("a language model evaluates to a perplexity")
        };
        let hf = dir
            .path()
            .join(format!("{solver}-{}-hf", pattern.replace(':', "-")));
        ember::train::export_hf(&out, &hf, &registries).unwrap();
        let folder = ember::zoo::llama::perplexity_of(
            &hf,
            &corpus.join("test.txt"),
            Some(32),
            8,
            &Device::flex(),
            &registries,
        )
        .unwrap();
        assert!(
            (folder.perplexity - perplexity).abs() <= 1e-4 * perplexity,
            "{solver}: exported {} vs run {perplexity}",
            folder.perplexity
        );
    }
}

#[test]
fn bad_llama_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let registries = ember::zoo::registries();
    let options = common::options(&dir.path().join("out"));
    // Heads that do not split the width, and sizes beside a pretrained folder.
    let error = refused(&corpus, &["model.num_attention_heads=5"], &options);
    assert!(error.contains("num_attention_heads"), "{error}");
    let error = refused(&corpus, &["model.dir=\"/nonexistent\""], &options);
    assert!(error.contains("hidden_size"), "{error}");
    // A window longer than the text, and an image data set.
    let text = dir.path().join("short.txt");
    std::fs::write(&text, "In the beginning.").unwrap();
    let trained = dir.path().join("trained");
    ember::train::run(
        &recipe(&corpus, &["data.train_limit=4"]),
        &common::options(&trained),
    )
    .unwrap();
    let error = ember::zoo::llama::perplexity_of(
        &trained,
        &text,
        Some(32),
        8,
        &Device::flex(),
        &registries,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("do not fill one window"), "{error}");
    let error = ember::zoo::llama::perplexity_of(
        &trained,
        &text,
        Some(4096),
        8,
        &Device::flex(),
        &registries,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("longer than"), "{error}");
    let error = refused(&corpus, &["data.source=\"embedded\""], &options);
    assert!(error.contains("seqlen"), "{error}");
}

/// Training methods apply to the decoder as to any model: GMP's cubic schedule over the
/// projections reaches its sparsity exactly, with the embedding frozen beside it.
#[test]
fn gmp_and_freezing_train_the_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let file = dir.path().join("gmp.toml");
    let text = format!(
        r#"name = "llama-gmp"
seed = 2
epochs = 2

[model]
kind = "llama"
hidden_size = 32
num_hidden_layers = 2
num_attention_heads = 4
num_key_value_heads = 2
intermediate_size = 48

[data]
source = "corpus"
dir = "{}"
seqlen = 32
batch_size = 8

[optimizer]
kind = "adamw"

[lr]
kind = "constant"
lr = 1e-3

[[modifiers]]
kind = "prune"
name = "gmp"
params = ['re:model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight']
scorer = "magnitude"
scope = "global"
schedule = {{ kind = "cubic", init_sparsity = 0.5, final_sparsity = 0.8, start_epoch = 0, end_epoch = 1, every_epochs = 0.5 }}

[[modifiers]]
kind = "freeze"
name = "embeddings"
params = ["model.embed_tokens.weight"]
rule = "all"
"#,
        corpus.display()
    );
    std::fs::write(&file, text).unwrap();
    let recipe = Recipe::load(&file, &[]).unwrap();
    let out = dir.path().join("gmp");
    let report = ember::train::run(&recipe, &common::options(&out)).unwrap();
    assert!(report.final_.metrics["perplexity"].is_finite());
    let pruned: usize = weights(&out)
        .iter()
        .filter(|(name, _, _)| name.starts_with("model.layers.") && name.ends_with("_proj.weight"))
        .map(|(_, _, values)| values.iter().filter(|v| **v == 0.0).count())
        .sum();
    let total: usize = weights(&out)
        .iter()
        .filter(|(name, _, _)| name.starts_with("model.layers.") && name.ends_with("_proj.weight"))
        .map(|(_, _, values)| values.len())
        .sum();
    assert_eq!(pruned, (0.8 * total as f64).round() as usize);
}
