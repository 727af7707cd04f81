//! `ember check`: everything `ember run` would refuse, found without training.

use std::path::Path;

use burn::tensor::Device;

use crate::recipe::{Recipe, Steps};
use crate::{RunOptions, TrainError};

/// What [`check`] found.
#[derive(Debug)]
pub struct CheckReport {
    /// The recipe, when it parses.
    pub recipe: Option<Recipe>,
    /// Every problem found, in recipe order.
    pub errors: Vec<TrainError>,
    /// Whether the plan was bound to the model (`false` when the model kind cannot be built
    /// before the run, e.g. a BERT directory that `ember run` fills in).
    pub bound: bool,
}

/// Loads the recipe at `path` with `overrides`, validates it, then builds the model on the
/// host (no training, no data, no pretrained weights) and binds each modifier to it on its own
/// and all of them together: invalid patterns, patterns matching nothing, unknown scorers or
/// patterns, unsupported layer types, missing mask files and tensors claimed by two modifiers
/// are all reported, each once, rather than the first alone after a dense phase.
pub fn check(path: &Path, overrides: &[String], options: &RunOptions) -> CheckReport {
    let recipe = match Recipe::load_unvalidated(path, overrides) {
        Ok(recipe) => recipe,
        Err(error) => {
            return CheckReport {
                recipe: None,
                errors: vec![error],
                bound: false,
            };
        }
    };
    let mut errors = Vec::new();
    if let Err(error) = recipe.validate() {
        errors.push(error);
    }
    let mut bound = false;
    match options.models.get(recipe.model.name()) {
        Err(error) => errors.push(error),
        Ok(entry) => {
            let host = Device::flex();
            let steps = Steps::new(1);
            let (scorers, patterns) = (&options.scorers, &options.patterns);
            let mut each_binds = true;
            for index in 0..recipe.modifiers.len() {
                let bound_one = recipe
                    .plan_of(index, &steps, scorers, patterns)
                    .and_then(|plan| entry.bind(&recipe, plan, &host));
                match bound_one {
                    Ok(done) => bound |= done,
                    Err(error) => {
                        each_binds = false;
                        errors.push(error);
                    }
                }
            }
            if each_binds {
                // Together: what no modifier shows alone (a tensor claimed twice).
                match recipe
                    .plan(&steps, scorers, patterns)
                    .and_then(|plan| entry.bind(&recipe, plan, &host))
                {
                    Ok(done) => bound |= done,
                    Err(error) => errors.push(error),
                }
            }
        }
    }
    CheckReport {
        recipe: Some(recipe),
        errors,
        bound,
    }
}
