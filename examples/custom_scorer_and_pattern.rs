//! A scorer with state and a new pattern, both registered by name and used from a recipe.
//!
//! ```sh
//! cargo run --example custom_scorer_and_pattern
//! ```
//! `EmaSaliency` keeps an exponential moving average of `|w·g|` on the device at every step;
//! `PairedOutputs` removes adjacent output units two at a time. The example trains
//! LeNet-300-100 on 1,024 embedded MNIST images for one dense epoch, prunes its first two weight
//! matrices to 50% global sparsity in pairs of outputs after one more epoch, trains one more,
//! and checks that every pruned matrix lost whole pairs of outputs.

use std::sync::Arc;

use burn::tensor::{Device, Tensor};
use ember::sparsity::pattern::{Groups, PatternInput};
use ember::sparsity::{Pattern, ScoreContext, Scorer};
use ember::train::{Recipe, RunOptions};

/// `|w·g|` (SNIP's saliency) averaged over the steps since the last update:
/// `acc ← beta·acc + (1 - beta)·|w·g|`, on the device, with no host copy.
///
/// The engine restarts the accumulator at zero after every update, so the weights of the `k`
/// steps since then sum to `1 - beta^k`: the same for every element, so the ranking holds.
#[derive(Debug)]
struct EmaSaliency {
    /// The weight of the past.
    beta: f64,
}

impl Scorer for EmaSaliency {
    fn name(&self) -> &str {
        "ema_saliency"
    }

    fn accumulates(&self) -> bool {
        true
    }

    fn accumulate(
        &self,
        accumulator: Tensor<1>,
        weight: Tensor<1>,
        gradient: Tensor<1>,
    ) -> Tensor<1> {
        accumulator
            .mul_scalar(self.beta)
            .add((weight * gradient).abs().mul_scalar(1.0 - self.beta))
    }

    fn score(&self, ctx: &ScoreContext<'_>) -> Vec<f32> {
        match ctx.accumulated {
            Some(ema) => ema.to_vec(),
            // Never the case for a scorer that accumulates; magnitude is a safe fallback.
            None => ctx.weights.iter().map(|w| w.abs()).collect(),
        }
    }
}

/// Adjacent output units `2k` and `2k + 1` (PyTorch rows of `[out, in]`; burn columns of the
/// `[in, out]` `Linear` weight) are removed together.
#[derive(Debug)]
struct PairedOutputs;

impl Pattern for PairedOutputs {
    fn name(&self) -> String {
        "paired_outputs".to_string()
    }

    fn check(&self, param: &PatternInput<'_>) -> Result<(), String> {
        match param.shape {
            [_, outputs] if param.layer_type == "Linear" && outputs.is_multiple_of(2) => Ok(()),
            _ => Err(format!(
                "`{}` must be a Linear weight with an even number of outputs; it is a {} \
                 parameter of shape {:?}",
                param.path, param.layer_type, param.shape
            )),
        }
    }

    fn groups(&self, param: &PatternInput<'_>) -> Groups {
        let outputs = param.shape[1];
        // Flat index `i * outputs + o` in burn's layout: the output is `flat % outputs`.
        Groups::from_fn(param.path, param.numel(), outputs / 2, |flat| {
            (flat % outputs) / 2
        })
    }
}

/// `recipes/quickstart.toml`, made small.
const RECIPE: &str = r#"
name = "custom_scorer_and_pattern"
seed = 1
epochs = 2

[model]
kind = "mlp"

[data]
source = "embedded"
batch_size = 64
train_limit = 1024

[dense]
epochs = 1
lr = { kind = "constant", lr = 1e-3 }

[lr]
kind = "constant"
lr = 5e-4

[[modifiers]]
kind = "prune"
name = "ema_pairs"
params = ['re:layers\.[01]\.weight']
scorer = "ema_saliency"
pattern = "paired_outputs"
scope = "global"
schedule = { kind = "one_shot", sparsity = 0.5, at_epoch = 1 }
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = std::env::temp_dir().join("ember-custom-scorer-and-pattern");
    let mut options = RunOptions::new(
        out_dir.clone(),
        Device::flex(),
        "flex",
        ember::zoo::registries(),
    );
    options
        .registries
        .scorers
        .register("ema_saliency", || Arc::new(EmaSaliency { beta: 0.9 }));
    options
        .registries
        .patterns
        .register("paired_outputs", |args: &str| {
            if args.is_empty() {
                Ok(Arc::new(PairedOutputs) as Arc<dyn Pattern>)
            } else {
                Err(format!("takes no arguments, got `{args}`"))
            }
        });

    let recipe = Recipe::from_toml(RECIPE, "custom_scorer_and_pattern", &[])?;
    let report = ember::train::run(&recipe, &options)?;
    print!("{}", report.summary());
    println!(
        "sparsity ratio {:.4}; run directory {}",
        report.sparsity.ratio,
        out_dir.display()
    );

    // The report counts zeros per tensor. A pruned output pair of an `[in, out]` weight is
    // `2·in` zeros, and `in = numel / outputs`, where `outputs` is the bias's length.
    if report.sparsity.selected_zeros == 0 {
        return Err("nothing was pruned".into());
    }
    for layer in report.layers.iter().filter(|l| l.selected) {
        let bias = layer.path.replace(".weight", ".bias");
        let outputs = report
            .layers
            .iter()
            .find(|l| l.path == bias)
            .map(|l| l.numel)
            .ok_or_else(|| format!("no bias `{bias}` in the report"))?;
        let pair = 2 * (layer.numel / outputs);
        println!(
            "{}: {} of {} output pairs removed",
            layer.path,
            layer.zeros / pair,
            outputs / 2
        );
        if layer.zeros % pair != 0 {
            return Err(format!(
                "`{}` has {} zeros, not a whole number of output pairs of {pair} elements",
                layer.path, layer.zeros
            )
            .into());
        }
    }
    Ok(())
}
