//! The `ember` binary: the command line over Ember's model families and built-in modifiers.

use std::process::ExitCode;

fn main() -> ExitCode {
    ember_cli::main_with(ember::zoo::registries())
}
