//! `ember-custom`: the `ember` command line with `logreg` and `gmp_star` registered.

use std::process::ExitCode;

fn main() -> ExitCode {
    ember_cli::main_with(ember_example_custom_family::registries())
}
