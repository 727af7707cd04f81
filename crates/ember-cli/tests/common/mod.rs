//! What the binary's end-to-end tests share: a small recipe that trains in seconds, the
//! binary itself, and the check of a clean failure.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// An MLP on 640 embedded images: one dense epoch, two pruning epochs, 90% one-shot.
pub const RECIPE: &str = r#"
name = "small"
seed = 3
epochs = 2
model = { kind = "mlp" }
data = { source = "embedded", batch_size = 64, train_limit = 640 }
dense = { epochs = 1 }
lr = { kind = "constant", lr = 1e-3 }

[[modifiers]]
kind = "prune"
params = ['re:layers\.\d+\.weight']
schedule = { kind = "one_shot", sparsity = 0.9 }
"#;

/// Runs the binary in `cwd` with `RUST_BACKTRACE` set to `backtrace`, and Ember's default
/// cache folder.
pub fn ember_with(args: &[&str], cwd: &Path, backtrace: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", backtrace)
        .env_remove("EMBER_CACHE")
        .output()
        .expect("the ember binary runs")
}

/// Runs the binary in `cwd`, without backtraces.
pub fn ember(args: &[&str], cwd: &Path) -> Output {
    ember_with(args, cwd, "0")
}

/// Asserts success, showing the standard error otherwise.
pub fn succeeds(output: &Output) {
    assert!(output.status.success(), "failed: {}", stderr(output));
}

/// The standard error of `output`, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a clean failure: non-zero exit, no panic, and every `needles` in the message.
pub fn fails_with(output: &Output, needles: &[&str]) {
    let message = stderr(output);
    assert!(!output.status.success(), "succeeded: {message}");
    assert!(!message.contains("panicked"), "{message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "`{needle}` missing from: {message}"
        );
    }
}
