//! all-MiniLM-L6-v2 gives Python's embeddings on every backend: the fixture's sentences that
//! fit in 64 tokens, in one padded batch, mean-pooled, within 1e-4 of `transformers`.

// The suite compares embeddings only; the tokenizer test (`tests/minilm.rs`) reads the rest.
#[allow(dead_code)]
#[path = "../common/minilm.rs"]
mod reference;

use crate::devices;
use reference::{fixture, largest_gap};

#[test]
fn minilm_embeddings_match_python_on_every_backend() {
    let fixture = fixture();
    let real_len = |s: &reference::Sentence| s.attention_mask.iter().filter(|m| **m == 1).count();
    let rows: Vec<_> = fixture
        .sentences
        .iter()
        .filter(|s| real_len(s) <= 64)
        .collect();
    assert!(rows.len() >= 8, "the fixture has short sentences");
    // Padding beyond the longest of these rows changes nothing: cut it off.
    let len = rows.iter().map(|s| real_len(s)).max().unwrap_or(1);
    for (backend, device) in devices() {
        let gap = largest_gap(&rows, len, &device);
        eprintln!("{backend}: largest difference from Python {gap:.2e}");
        assert!(gap <= 1e-4, "{backend}: largest difference {gap}");
    }
}
