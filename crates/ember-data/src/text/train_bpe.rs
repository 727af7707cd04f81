//! A byte-level BPE tokenizer trained on a corpus, for language models trained from scratch.

use std::path::Path;

use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::DataError;

/// Trains a GPT-2-style byte-level BPE of `vocab_size` tokens (the 256 byte symbols and the
/// special token `<|endoftext|>` included) on the text files `files`, and saves it as a
/// `tokenizer.json` at `out` that the `tokenizers` crate and Python `transformers` read.
///
/// # Errors
///
/// [`DataError::Tokenizer`] naming `out` when training or saving fails, or `vocab_size` is
/// below the 257 symbols every byte-level BPE holds.
pub fn train_byte_level_bpe(
    files: &[&Path],
    vocab_size: usize,
    out: &Path,
) -> Result<(), DataError> {
    let error = |message: String| DataError::Tokenizer {
        path: out.to_path_buf(),
        message,
    };
    if vocab_size < 257 {
        return Err(error(format!(
            "a vocabulary of {vocab_size} cannot hold the 256 bytes and <|endoftext|>"
        )));
    }
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .special_tokens(vec![AddedToken::from("<|endoftext|>", true)])
        .build()
        .into();
    let mut tokenizer = Tokenizer::new(BPE::default());
    let byte_level = ByteLevel::new(false, true, true);
    tokenizer.with_pre_tokenizer(Some(byte_level));
    tokenizer.with_decoder(Some(byte_level));
    tokenizer.with_post_processor(Some(byte_level));
    let files = files.iter().map(|f| f.display().to_string()).collect();
    tokenizer
        .train_from_files(&mut trainer, files)
        .map_err(|e| error(format!("cannot train: {e}")))?;
    tokenizer
        .save(out, false)
        .map_err(|e| error(format!("cannot save: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trained_tokenizer_round_trips_text() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("corpus.txt");
        let line = "In the beginning God created the heaven and the earth.\n";
        std::fs::write(&text, line.repeat(50)).unwrap();
        let out = dir.path().join("tokenizer.json");
        train_byte_level_bpe(&[&text], 300, &out).unwrap();
        let tokenizer = crate::read_tokenizer(&out).unwrap();
        // At most the size asked for (this text runs out of pairs to merge first).
        assert!((257..=300).contains(&tokenizer.get_vocab_size(true)));
        let encoding = tokenizer.encode(line, false).unwrap();
        assert!(
            encoding.get_ids().len() < line.len() / 2,
            "merges were learned"
        );
        assert_eq!(tokenizer.decode(encoding.get_ids(), false).unwrap(), line);
        assert!(train_byte_level_bpe(&[&text], 100, &out).is_err());
    }
}
