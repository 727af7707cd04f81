//! Writes the Rotten Tomatoes splits that an `ember run` of a text recipe trains and tests on,
//! as JSON lines (`{"text": ..., "label": ...}`, [`TextSplits::write_jsonl`]), so that another
//! toolkit (PyTorch, `transformers`) can be measured on the very same sentences:
//!
//! ```sh
//! cargo run --release -p ember-data --example text_splits -- \
//!     ~/.cache/ember/data/rotten-tomatoes/rotten_tomatoes_corpus_full.csv out/ [VALIDATION TEST SEED]
//! ```
//!
//! The defaults are the MiniLM recipes': validation 0.05, test 0.1 and split seed 42.
//! `scripts/gmp_star_torch.py` reads the folder.

use std::path::PathBuf;
use std::process::ExitCode;

use ember_data::{TextSplits, read_rotten_tomatoes};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(2..=5).contains(&args.len()) {
        return Err("usage: text_splits CSV OUT_DIR [VALIDATION TEST SEED]".into());
    }
    let share = |i: usize, default: f64| -> Result<f64, String> {
        match args.get(i) {
            None => Ok(default),
            Some(text) => match text.parse::<f64>() {
                Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
                _ => Err(format!("{text:?} is not a share in [0, 1)")),
            },
        }
    };
    let (validation, test) = (share(2, 0.05)?, share(3, 0.1)?);
    if validation + test >= 1.0 {
        return Err(format!(
            "validation {validation} and test {test} leave nothing to train on"
        ));
    }
    let seed = match args.get(4) {
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| format!("seed {text:?} is not an unsigned integer"))?,
        None => 42,
    };
    let data = read_rotten_tomatoes(&PathBuf::from(&args[0])).map_err(|e| e.to_string())?;
    let splits = TextSplits::stratified(data, validation, test, seed);
    let out = PathBuf::from(&args[1]);
    splits.write_jsonl(&out).map_err(|e| e.to_string())?;
    println!(
        "{}: {} train, {} validation, {} test sentences",
        out.display(),
        splits.train.items().len(),
        splits.validation.items().len(),
        splits.test.items().len()
    );
    Ok(())
}
