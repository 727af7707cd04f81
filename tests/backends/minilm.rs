//! all-MiniLM-L6-v2 gives Python's embeddings on every backend: the fixture's sentences that
//! fit in 64 tokens, in one padded batch, mean-pooled, within 1e-4 of `transformers` and of
//! flex. On stand-in weights (the GPU check's) only the comparison with flex holds.

// The suite compares embeddings only; the tokenizer test (`tests/minilm.rs`) reads the rest.
#[allow(dead_code)]
#[path = "../common/minilm.rs"]
mod reference;

use crate::devices;
use reference::{embeddings, fixture, gap, stand_in_weights};

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
    let python: Vec<f32> = rows
        .iter()
        .flat_map(|s| s.embedding.iter().copied())
        .collect();
    let stand_in = stand_in_weights();
    if stand_in {
        eprintln!(
            "the model holds stand-in weights (the GPU check's): every backend is compared \
             with flex, and none with Python's embeddings of the published weights"
        );
    }
    let mut flex: Option<Vec<f32>> = None;
    for (backend, device) in devices() {
        let got = embeddings(&rows, len, &device);
        if !stand_in {
            let from_python = gap(&got, &python);
            eprintln!("{backend}: largest difference from Python {from_python:.2e}");
            assert!(
                from_python <= 1e-4,
                "{backend}: largest difference {from_python}"
            );
        }
        match &flex {
            None => flex = Some(got),
            Some(want) => {
                let from_flex = gap(&got, want);
                eprintln!("{backend}: largest difference from flex {from_flex:.2e}");
                assert!(from_flex <= 1e-4, "{backend}: {from_flex} from flex");
            }
        }
    }
}
