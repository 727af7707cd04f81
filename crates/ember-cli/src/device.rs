//! Picking a burn device by name, at the edge of the program.

use anyhow::{Result, bail};
use burn::tensor::Device;

/// Every device name Ember knows, compiled in or not.
const KNOWN: [&str; 2] = ["flex", "ndarray"];

/// The device names this binary was built with.
pub fn available() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    names
}

/// The device called `name`, or an error naming the cargo feature that would enable it.
pub fn parse(name: &str) -> Result<(Device, String)> {
    match name {
        #[cfg(feature = "flex")]
        "flex" => Ok((Device::flex(), name.to_string())),
        #[cfg(feature = "ndarray")]
        "ndarray" => Ok((Device::ndarray(), name.to_string())),
        known if KNOWN.contains(&known) => bail!(
            "device `{known}` is not compiled into this binary; rebuild with `--features {known}` (available: {})",
            available().join(", ")
        ),
        other => bail!(
            "unknown device `{other}`; this binary can use: {}",
            available().join(", ")
        ),
    }
}
