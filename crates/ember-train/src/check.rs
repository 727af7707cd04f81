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
    match Recipe::load_unvalidated(path, overrides) {
        Ok(recipe) => check_recipe(recipe, options),
        Err(error) => CheckReport {
            recipe: None,
            errors: vec![error],
            bound: false,
        },
    }
}

/// [`check`] of a recipe already loaded: its values validated, then every modifier bound to
/// the model built on the host. [`run`](crate::run), [`Sweep`](crate::Sweep),
/// [`Lottery`](crate::Lottery) and [`prune_task`](crate::prune_task) call it before any data
/// is loaded or any step trained, so that they refuse at once what `ember check` refuses.
pub fn check_recipe(recipe: Recipe, options: &RunOptions) -> CheckReport {
    // A recipe whose values are out of range is not bound: its model may be one that must
    // not be built (a mistyped width of millions).
    if let Err(error) = recipe.validate() {
        return CheckReport {
            recipe: Some(recipe),
            errors: vec![error],
            bound: false,
        };
    }
    let mut errors = Vec::new();
    let mut bound = false;
    match options.registries.models.get(recipe.model.name()) {
        Err(error) => errors.push(error),
        // The family's own settings, sizes and data: a model with a mistyped width of
        // millions must not be built to bind the plan.
        Ok(entry) if let Err(error) = entry.validate(&recipe) => errors.push(error),
        // What the family adds to the registries (its attention layout) it reads from its
        // files, once its settings are known to be sound.
        Ok(entry) => match options.registries.for_recipe(&recipe) {
            Err(error) => errors.push(error),
            Ok(registries) => bound = bind(&recipe, entry.as_ref(), &registries, &mut errors),
        },
    }
    CheckReport {
        recipe: Some(recipe),
        errors,
        bound,
    }
}

/// Binds each modifier's plan alone, then all of them together, to the model `entry` builds
/// on the host, collecting every error; whether the plan was bound.
fn bind(
    recipe: &Recipe,
    entry: &dyn crate::ModelEntry,
    registries: &crate::Registries,
    errors: &mut Vec<TrainError>,
) -> bool {
    let host = Device::flex();
    let steps = Steps::new(1);
    let mut bound = false;
    let mut each_binds = true;
    for index in 0..recipe.modifiers.len() {
        let bound_one = recipe
            .plan_of(index, &steps, registries)
            .and_then(|plan| entry.bind(recipe, plan, &host));
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
            .plan(&steps, registries)
            .and_then(|plan| entry.bind(recipe, plan, &host))
        {
            Ok(done) => bound |= done,
            Err(error) => errors.push(error),
        }
    }
    bound
}

impl CheckReport {
    /// `Ok` when nothing was found; else the first problem, the others listed after it (each
    /// is one line of `ember check`'s output).
    pub fn into_result(self) -> Result<Recipe, TrainError> {
        let mut errors = self.errors.into_iter();
        match (errors.next(), self.recipe) {
            (None, Some(recipe)) => Ok(recipe),
            (Some(first), _) => {
                let rest: Vec<String> = errors.map(|e| e.to_string()).collect();
                if rest.is_empty() {
                    Err(first)
                } else {
                    Err(TrainError::Refused {
                        first: Box::new(first),
                        others: rest,
                    })
                }
            }
            (None, None) => unreachable!("a recipe that did not load has an error"),
        }
    }
}
