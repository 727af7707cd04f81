//! Llama-family decoders saved by Python `transformers` (`scripts/tiny_decoders.py`: a Llama
//! in F32, a Qwen2 with q/k/v biases and a tied head in F16 shards with an index, a Mistral in
//! BF16), loaded by Ember: logits equal `transformers`' to 1e-4 of the largest. Skips where
//! Python `transformers` is absent; runs under CI, where `cargo xtask python` installs it.

#[path = "common/python.rs"]
mod python;

use std::path::Path;
use std::process::Command;

use burn::tensor::{Device, Int, Tensor, TensorData};
use ember::models::LlamaForCausalLM;

/// Saves the three tiny models into `dir`, or `None` when Python cannot.
pub fn tiny_decoders(dir: &Path, test: &str) -> Option<()> {
    let python = python::python_with(&["torch", "transformers", "tokenizers"], test)?;
    let status = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tiny_decoders.py"))
        .arg(dir)
        .status()
        .expect("python runs");
    assert!(status.success(), "scripts/tiny_decoders.py failed");
    Some(())
}

#[test]
fn logits_match_transformers_on_llama_qwen2_and_mistral() {
    let dir = tempfile::tempdir().unwrap();
    if tiny_decoders(dir.path(), "logits_match_transformers").is_none() {
        return;
    }
    let device = Device::flex();
    for name in ["llama", "qwen2", "mistral"] {
        let folder = dir.path().join(name);
        let (model, config) =
            LlamaForCausalLM::load_hf(&folder, &device).unwrap_or_else(|e| panic!("{name}: {e}"));
        let reference: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join("reference.json")).unwrap()).unwrap();
        let rows = reference["input_ids"].as_array().unwrap();
        let ids: Vec<i64> = rows
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()))
            .collect();
        let (batch, seq) = (rows.len(), ids.len() / rows.len());
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, seq]), &device);
        let ours: Vec<f32> = model.forward(ids).into_data().iter::<f32>().collect();
        let theirs: Vec<f64> = reference["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{name}");
        assert_eq!(ours.len(), batch * seq * config.vocab_size);
        let largest = theirs.iter().fold(0f64, |m, v| m.max(v.abs()));
        let gap = ours
            .iter()
            .zip(&theirs)
            .fold(0f64, |m, (a, b)| m.max((f64::from(*a) - b).abs()));
        eprintln!("{name}: largest logit {largest:.4}, largest gap {gap:.2e}");
        assert!(
            gap <= 1e-4 * largest,
            "{name}: logits differ by {gap} (largest {largest})"
        );
    }
}

/// `scripts/hf_perplexity.py` on `folder`: `transformers`' perplexity with the papers'
/// protocol.
fn transformers_perplexity(folder: &Path, text: &Path, seqlen: usize) -> f64 {
    let python = python::python_with(&["torch", "transformers"], "transformers_perplexity")
        .expect("checked by the caller");
    let output = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/hf_perplexity.py"))
        .arg(folder)
        .arg(text)
        .arg(seqlen.to_string())
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "hf_perplexity.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .trim()
        .strip_prefix("perplexity ")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no perplexity in {stdout:?}"))
}

#[test]
fn perplexity_matches_transformers_and_survives_pruning_and_export() {
    let dir = tempfile::tempdir().unwrap();
    if tiny_decoders(dir.path(), "perplexity_matches_transformers").is_none() {
        return;
    }
    let device = Device::flex();
    let registries = ember::zoo::registries();
    let text = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tiny_decoders.py");
    for name in ["llama", "qwen2", "mistral"] {
        let folder = dir.path().join(name);
        let ours =
            ember::zoo::llama::perplexity_of(&folder, &text, Some(48), 4, &device, &registries)
                .unwrap();
        let theirs = transformers_perplexity(&folder, &text, 48);
        eprintln!("{name}: ember {} transformers {theirs}", ours.perplexity);
        assert!(
            (ours.perplexity - theirs).abs() <= 1e-3 * theirs,
            "{name}: {} vs {theirs}",
            ours.perplexity
        );
    }
    // The sharded F16 Qwen2 (biases, tied head), pruned from its folder with SparseGPT at 2:4
    // on calibration windows of a corpus, exported: `transformers` reads the export with the
    // perplexity Ember measures on the pruned run.
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let source = std::fs::read_to_string(&text).unwrap();
    for split in ["train.txt", "valid.txt", "test.txt"] {
        std::fs::write(corpus.join(split), &source).unwrap();
    }
    let recipe = ember::train::Recipe::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/oneshot-sparsegpt-llama.toml"),
        &[
            "data.source=\"corpus\"".into(),
            format!("data.dir=\"{}\"", corpus.display()),
            "data.seqlen=48".into(),
            "data.batch_size=4".into(),
            "modifiers[0].pattern=\"2:4\"".into(),
        ],
    )
    .unwrap();
    let out = dir.path().join("pruned");
    let options = ember::train::RunOptions::new(&out, device.clone(), "flex", registries.clone());
    ember::zoo::models()
        .get("llama")
        .unwrap()
        .prune(&recipe, &options, &dir.path().join("qwen2"), 2)
        .unwrap();
    let export = dir.path().join("pruned-hf");
    ember::train::export_hf(&out, &export, &registries).unwrap();
    let ours =
        ember::zoo::llama::perplexity_of(&out, &text, Some(48), 4, &device, &registries).unwrap();
    let theirs = transformers_perplexity(&export, &text, 48);
    eprintln!("qwen2 2:4: ember {} transformers {theirs}", ours.perplexity);
    assert!(
        (ours.perplexity - theirs).abs() <= 1e-3 * theirs,
        "pruned qwen2: {} vs {theirs}",
        ours.perplexity
    );
}
