//! Ember's cache: where `ember fetch` puts data sets and models, and where recipes that name a
//! data set without a folder look for it.

use std::path::PathBuf;

use crate::DataError;

/// The environment variable that moves Ember's cache (default `$HOME/.cache/ember`).
pub const CACHE_VAR: &str = "EMBER_CACHE";

/// Ember's cache folder: `$EMBER_CACHE` when set and not empty, else `$HOME/.cache/ember`.
///
/// # Errors
/// [`DataError::Cache`] when neither variable is set.
pub fn cache_dir() -> Result<PathBuf, DataError> {
    if let Some(dir) = std::env::var_os(CACHE_VAR).filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| PathBuf::from(home).join(".cache/ember"))
        .ok_or(DataError::Cache)
}

/// The cache folder of a data set that `ember fetch <name>` fills: `<cache>/data/<name>`.
///
/// # Errors
/// As for [`cache_dir`].
pub fn data_dir(name: &str) -> Result<PathBuf, DataError> {
    Ok(cache_dir()?.join("data").join(name))
}
