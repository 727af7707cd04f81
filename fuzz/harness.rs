//! The bodies of Ember's fuzz targets: every parser that reads untrusted bytes, fed whatever
//! the fuzzer makes. A target may return an error for bad input; it must never panic, abort or
//! allocate without bound.
//!
//! Shared by the `cargo fuzz` targets (`fuzz/fuzz_targets/*.rs`) and by the corpus replay test
//! (`tests/fuzz_corpus.rs`), which runs every committed corpus input on stable Rust in CI.

// Each includer uses some of the targets only.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::Device;
use ember_models::{BertConfig, MlpConfig};
use ember_sparsity::Sparse;
use ember_train::Recipe;
use ember_train::recipe::Steps;

/// A target's body.
pub type Target = fn(&[u8]);

/// The targets by name, as `cargo xtask fuzz` and the corpus directories name them.
pub const TARGETS: &[(&str, Target)] = &[
    ("recipe", recipe),
    ("idx", idx),
    ("sparse_file", sparse_file),
    ("checkpoint", checkpoint),
    ("hf_model", hf_model),
    ("manifest", manifest),
];

/// Splits `data` at its first NUL byte.
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// A scratch file for loaders that read paths, unique to this process.
fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ember-fuzz-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("the scratch file is writable");
    path
}

/// A recipe's TOML text, then `--set` overrides one per line after a NUL byte: the loader
/// with its environment and override layers, and the validation.
pub fn recipe(data: &[u8]) {
    let (text, overrides) = split(data);
    let text = String::from_utf8_lossy(text);
    let overrides: Vec<String> = String::from_utf8_lossy(overrides)
        .lines()
        .map(str::to_string)
        .collect();
    let _ = Recipe::from_toml(&text, "fuzz", &overrides);
}

/// An IDX image or label file, raw or gzip.
pub fn idx(data: &[u8]) {
    let _ = ember_data::parse_idx_images(data, "fuzz");
    let _ = ember_data::parse_idx_labels(data, "fuzz");
}

/// Ember's compressed sparse file.
pub fn sparse_file(data: &[u8]) {
    let _ = ember_kernels::read_sparse_file(data);
}

/// A run's checkpoint (`model.bpk`): read as `ember export` and `ember eval --engine sparse`
/// read it, and loaded with its sparsity state into a small pruned MLP as a resumed run does.
pub fn checkpoint(data: &[u8]) {
    let path = scratch("model.bpk", data);
    let _ = ember_train::checkpoint_tensors(&path);
    let device = Device::flex();
    let model = MlpConfig::new().with_hidden(vec![3]).init(&device);
    let recipe = Recipe::from_toml(CHECKPOINT_RECIPE, "fuzz", &[]).expect("the recipe is valid");
    let plan = recipe
        .plan(&Steps::new(1), &ember_train::Registries::default())
        .expect("the plan binds");
    if let Ok(sparse) = Sparse::new(model, plan) {
        let _ = sparse.load_checkpoint(&path);
    }
    let _ = std::fs::remove_file(path);
}

/// A run directory's `SHA256SUMS`, then a file's bytes after a NUL byte: the file is read
/// through the manifest as `ember report` reads `report.json`.
pub fn manifest(data: &[u8]) {
    let (sums, file) = split(data);
    let dir = std::env::temp_dir().join(format!("ember-fuzz-{}-manifest", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the scratch folder is writable");
    std::fs::write(dir.join(ember_train::MANIFEST), sums).expect("writable");
    std::fs::write(dir.join("report.json"), file).expect("writable");
    let _ = ember_train::read_recorded(&dir.join("report.json"));
    let _ = std::fs::remove_dir_all(dir);
}

/// The recipe of [`checkpoint`]'s model: a 784-3-10 MLP, its weights pruned.
const CHECKPOINT_RECIPE: &str = r#"
epochs = 1
model = { kind = "mlp", hidden = [3] }
data = { source = "embedded" }
lr = { kind = "constant", lr = 1e-3 }
modifiers = [
  { kind = "prune", params = ['re:layers\.\d+\.weight'], schedule = { kind = "one_shot", sparsity = 0.5 } },
]
"#;

/// A Hugging Face BERT folder: `config.json`, then the `model.safetensors` bytes after a
/// NUL byte. Configs of small models are built and the weights loaded into them.
pub fn hf_model(data: &[u8]) {
    let (config, weights) = split(data);
    let config_path = scratch("config.json", config);
    let weights_path = scratch("model.safetensors", weights);
    if let Ok(config) = BertConfig::from_file(&config_path) {
        let small = config.vocab_size * config.hidden_size <= 1 << 16
            && config.num_hidden_layers <= 4
            && config.hidden_size * config.intermediate_size <= 1 << 16
            && config.max_position_embeddings <= 1 << 10
            && config.type_vocab_size <= 16;
        if small {
            let _ = config.init(&Device::flex()).load_hf_weights(&weights_path);
        }
    }
    let _ = std::fs::remove_file(config_path);
    let _ = std::fs::remove_file(weights_path);
}
