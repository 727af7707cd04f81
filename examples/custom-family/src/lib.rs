//! A model family and a modifier kind of one's own, registered beside Ember's and named from a
//! TOML recipe (`recipe.toml` here):
//!
//! - `logreg`: multinomial logistic regression on 28×28 images, one `Linear` layer from the
//!   pixels to the classes, with an optional bias (`[model] kind = "logreg"`);
//! - `gmp_star`: a shorthand modifier: global magnitude pruning of `params` to `sparsity` over
//!   `epochs`, opening with a jump to `jump`·`sparsity` and following GMP\*'s cubic ramp, one
//!   update per epoch (`[[modifiers]] kind = "gmp_star"`).
//!
//! [`registries`] is Ember's registries with both added; `src/main.rs` hands them to
//! `ember_cli::main_with`, which gives the whole `ember` command line for them:
//!
//! ```sh
//! cargo run --release -p ember-example-custom-family -- run examples/custom-family/recipe.toml
//! ```

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use ember::models::ImageClassifier;
use ember::prelude::{Pruner, Scope, Selector, SparsitySchedule};
use ember::sparsity::SparsityPlan;
use ember::train::recipe::{CustomSpec, ModelSpec, ModifierContext};
use ember::train::{Registries, TrainError};
use ember::zoo::ImageFamily;
use serde::Deserialize;

/// Multinomial logistic regression: the logits are one affine map of the pixels.
#[derive(Module, Debug)]
pub struct LogReg {
    /// Pixels to classes.
    pub linear: Linear,
}

impl ImageClassifier for LogReg {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.linear.forward(images.flatten(1, 3))
    }
}

/// `[model]` settings of `kind = "logreg"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRegSettings {
    /// Whether the layer has a bias (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

fn yes() -> bool {
    true
}

fn check(spec: &ModelSpec) -> Result<(), TrainError> {
    spec.refuse_dir()?;
    spec.settings::<LogRegSettings>().map(|_| ())
}

fn build(spec: &ModelSpec, device: &Device) -> Result<LogReg, TrainError> {
    let settings: LogRegSettings = spec.settings()?;
    Ok(LogReg {
        linear: LinearConfig::new(28 * 28, 10)
            .with_bias(settings.bias)
            .init(device),
    })
}

/// `[[modifiers]]` settings of `kind = "gmp_star"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GmpStarSettings {
    /// Parameter patterns to prune.
    pub params: Vec<String>,
    /// The final sparsity.
    pub sparsity: f64,
    /// Epochs from the first update to the last.
    pub epochs: f64,
    /// The first update's share of `sparsity` (default 0.7, GMP\*'s large opening jump).
    #[serde(default = "default_jump")]
    pub jump: f64,
}

fn default_jump() -> f64 {
    0.7
}

/// Builds the `gmp_star` pruner of entry `spec`.
pub fn gmp_star(
    plan: SparsityPlan,
    spec: &CustomSpec,
    context: &ModifierContext<'_>,
) -> Result<SparsityPlan, TrainError> {
    let settings: GmpStarSettings = spec.settings(context.index)?;
    let field = |name: &str| format!("modifiers[{}].{name}", context.index);
    if !(settings.epochs >= 1.0 && settings.epochs <= context.epochs as f64) {
        return Err(TrainError::Invalid {
            field: field("epochs"),
            value: settings.epochs.to_string(),
            message: format!(
                "must lie in [1, {}], the pruning phase's epochs",
                context.epochs
            ),
        });
    }
    if !(0.0..=1.0).contains(&settings.jump) {
        return Err(TrainError::Invalid {
            field: field("jump"),
            value: settings.jump.to_string(),
            message: "must lie in [0, 1]".into(),
        });
    }
    let schedule = SparsitySchedule::cubic(
        settings.jump * settings.sparsity,
        settings.sparsity,
        0,
        context.steps.at(settings.epochs),
        context.steps.per_epoch(),
    );
    // The schedule names its own bad field (a sparsity of 1.5, say).
    schedule.validate().map_err(|e| TrainError::Invalid {
        field: field("sparsity"),
        value: settings.sparsity.to_string(),
        message: e.to_string(),
    })?;
    let name = format!("gmp_star{}", context.index);
    let pruner = Pruner::magnitude(&name, Selector::new(settings.params), schedule)
        .with_scope(Scope::Global);
    Ok(plan.with_pruner(pruner))
}

/// Ember's registries (its model families, built-in modifiers, scorers and patterns) with
/// `logreg` and `gmp_star` added.
pub fn registries() -> Registries {
    let mut registries = ember::zoo::registries().with_modifier("gmp_star", gmp_star);
    registries.models.register(
        "logreg",
        ImageFamily::new(check, build)
            // The layer's input is the image itself: what Wanda weighs the weights with.
            .with_linear_inputs(|_: &LogReg, images| {
                vec![("linear.weight".to_string(), images.flatten(1, 3))]
            }),
    );
    registries
}
