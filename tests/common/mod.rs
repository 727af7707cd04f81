//! Helpers shared by the end-to-end tests; each test file uses a subset.
#![allow(dead_code)]

pub mod http;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ember::train::{Recipe, RunOptions};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Loads a recipe of `recipes/` with overrides.
pub fn recipe(name: &str, overrides: &[&str]) -> Result<Recipe, ember::train::TrainError> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Recipe::load(&root().join("recipes").join(name), &overrides)
}

/// Run options on flex into `out`.
pub fn options(out: &Path) -> RunOptions {
    RunOptions::new(out, Device::flex(), "flex", ember::zoo::registries())
}

/// The names in `dir`, sorted (none when it does not exist).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
