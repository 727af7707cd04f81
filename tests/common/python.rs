//! The Python that tests comparing with an independent implementation run.

use std::path::PathBuf;
use std::process::Command;

/// A Python interpreter that imports every module of `modules`: `$EMBER_PYTHON`, else the venv
/// `cargo xtask python` makes (`~/.cache/ember/hf-venv`), else `python3`. `None` (and a line
/// on stderr saying which test is skipped and why) where none does, except under CI, where
/// the comparison must run and a missing Python is a failure.
pub fn python_with(modules: &[&str], test: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(python) = std::env::var_os("EMBER_PYTHON") {
        candidates.push(python.into());
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cache/ember/hf-venv/bin/python"));
    }
    candidates.push("python3".into());
    let probe = format!("import {}", modules.join(", "));
    for python in candidates {
        let works = Command::new(&python)
            .args(["-c", &probe])
            .output()
            .is_ok_and(|output| output.status.success());
        if works {
            return Some(python);
        }
    }
    let message = format!(
        "{test}: no Python with {} (set EMBER_PYTHON, or run `cargo xtask python`)",
        modules.join(", ")
    );
    assert!(std::env::var_os("CI").is_none(), "under CI, {message}");
    eprintln!("skipped {message}");
    None
}
