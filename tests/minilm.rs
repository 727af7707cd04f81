//! all-MiniLM-L6-v2 through Ember against Python `transformers` and `sentence-transformers`:
//! the tokenizer's ids, and the mean-pooled embeddings of all ten fixture sentences in one
//! batch padded to 256 tokens (short, long and truncated, non-ASCII, emoji), on flex. The
//! backend suite (`tests/backends/minilm.rs`) repeats the embeddings on every backend.

#[path = "common/minilm.rs"]
mod minilm;

use burn::tensor::Device;
use ember::data::TextTokenizer;
use minilm::{fixture, largest_gap, model_dir, stand_in_weights};

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

#[test]
fn mean_pooled_embeddings_match_python_to_1e_4() {
    assert!(
        !stand_in_weights(),
        "{} holds stand-in weights (scripts/stand_in_weights.py); this test needs the \
         published all-MiniLM-L6-v2 that Python's embeddings came from",
        model_dir().display()
    );
    let fixture = fixture();
    assert!(fixture.sentences.len() >= 8);
    let rows: Vec<_> = fixture.sentences.iter().collect();
    let len = rows[0].input_ids.len();
    let gap = largest_gap(&rows, len, &Device::flex());
    eprintln!(
        "largest difference from Python over {} sentences: {gap:.2e}",
        rows.len()
    );
    assert!(gap <= 1e-4, "largest difference {gap}");
}
