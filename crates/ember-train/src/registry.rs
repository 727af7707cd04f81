//! The model families recipes can name, each with what it takes to train and evaluate it.
//!
//! The runtime knows no family: a [`ModelRegistry`] maps `[model] kind` to a [`ModelEntry`]
//! that a crate registers (`ember_zoo::models()` holds Ember's own, `mlp`, `lenet5` and
//! `bert`), and every command dispatches through the registry it is given.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use burn::tensor::Device;
use ember_sparsity::{Sparse, SparsityPlan};

use crate::recipe::{Recipe, Steps};
use crate::task::{Task, TaskModel};
use crate::{Registries, RunOptions, RunReport, TrainError};

/// One model family: how a recipe naming it is checked, trained, evaluated and exported.
pub trait ModelEntry: Send + Sync {
    /// Checks the family's part of `recipe` that [`Recipe::validate`] cannot: `[model]`'s
    /// settings (read with [`ModelSpec::settings`](crate::recipe::ModelSpec::settings), unknown
    /// keys refused), their sizes, and that the data set is one the family reads. Runs before
    /// anything is built or loaded ([`check_recipe`](crate::check_recipe)), so an error here is
    /// what `ember check` and `ember run` print.
    fn validate(&self, recipe: &Recipe) -> Result<(), TrainError>;

    /// Loads the recipe's data, builds the model (identical initial weights on every backend)
    /// and runs it with [`run_task`](crate::run_task).
    fn run(&self, recipe: &Recipe, options: &RunOptions) -> Result<RunReport, TrainError>;

    /// Builds the recipe's model on `device` (no training, no data, no pretrained weights:
    /// their shapes come from the model's configuration) and binds `plan` to it, so that
    /// `ember check` reports every error of the plan that `run` would meet after its dense
    /// phase. Returns `false` for kinds that cannot be built without running.
    fn bind(
        &self,
        recipe: &Recipe,
        plan: SparsityPlan,
        device: &Device,
    ) -> Result<bool, TrainError> {
        let _ = (recipe, plan, device);
        Ok(false)
    }

    /// Evaluates the final model of the run in `run_dir` (`recipe.toml`, `model.bpk`, its
    /// modifiers resolved in `registries`) on `device`: the test-split accuracy, or, for text models, predictions for `texts` when
    /// any are given.
    fn evaluate(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        registries: &Registries,
        device: &Device,
        texts: &[String],
    ) -> Result<Evaluation, TrainError>;

    /// Evaluates the final model of the run in `run_dir` on Ember's sparse CPU kernels
    /// (`ember eval --engine sparse`): the test-split accuracy, or predictions for `texts`
    /// (text models). Kinds without a sparse engine refuse.
    fn evaluate_sparse(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        registries: &Registries,
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        let _ = (run_dir, registries, texts);
        Err(TrainError::Invalid {
            field: "--engine".into(),
            value: "sparse".into(),
            message: format!(
                "the `{}` family has no sparse engine: it runs on the dense engine only",
                recipe.model.name()
            ),
        })
    }

    /// Prunes the model of `source` (a run directory or a weights file) one-shot with the
    /// recipe's pruners, no training, using `calibration` training batches for scorers that
    /// need gradients or activations ([`prune_task`](crate::prune_task)); writes a run directory to
    /// `options.out_dir`. Kinds that cannot refuse, naming why.
    fn prune(
        &self,
        recipe: &Recipe,
        options: &RunOptions,
        source: &Path,
        calibration: usize,
    ) -> Result<RunReport, TrainError> {
        let _ = (options, source, calibration);
        Err(TrainError::Invalid {
            field: "model.kind".into(),
            value: recipe.model.name().into(),
            message: "this model kind prunes while training only: its entry does not \
                      implement one-shot pruning (`ember prune`)"
                .into(),
        })
    }

    /// The `ember fetch` item whose folder fills in `model.dir` when a recipe leaves it out
    /// (`minilm` for `bert`), or `None` for a family that reads no files or needs them named.
    fn fetch_dir(&self) -> Option<&'static str> {
        None
    }

    /// Writes the final model of the run in `run_dir` into `folder` as a Hugging Face model
    /// folder (weights with PyTorch names and layout, `config.json`, tokenizer files) and
    /// returns the names of the files written; [`export_hf`](crate::export_hf) adds
    /// `sparsity.json` and the checksums, and moves the folder into place. Families without a
    /// Hugging Face counterpart refuse.
    fn write_hf(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        registries: &Registries,
        folder: &Path,
    ) -> Result<Vec<String>, TrainError> {
        let _ = (run_dir, registries, folder);
        Err(TrainError::Invalid {
            field: "model.kind".into(),
            value: recipe.model.name().into(),
            message: "this model family has no Hugging Face export".into(),
        })
    }

    /// The name a tensor at `path` in the burn model has in the family's Hugging Face
    /// checkpoint (`sparsity.json` of [`export_hf`](crate::export_hf) lists them so).
    fn hf_tensor_name(&self, path: &str) -> String {
        path.to_string()
    }

    /// Adds what the family knows to the registries a recipe of it resolves in, such as a
    /// `heads` pattern with its attention layout (projection names, head counts); called
    /// through [`Registries::for_recipe`] wherever a recipe's plan is built.
    fn extend_registries(
        &self,
        recipe: &Recipe,
        registries: &mut Registries,
    ) -> Result<(), TrainError> {
        let _ = (recipe, registries);
        Ok(())
    }

    /// The first `count` sentences of the recipe's test split, for models that read text
    /// (`ember eval --sample`); other models refuse.
    fn test_texts(&self, recipe: &Recipe, count: usize) -> Result<Vec<String>, TrainError> {
        let _ = count;
        Err(TrainError::Invalid {
            field: "--sample".into(),
            value: recipe.model.name().into(),
            message: "this model's examples are not sentences".into(),
        })
    }
}

/// What [`ModelEntry::evaluate`] found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evaluation {
    /// Top-1 accuracy, in percent, over the test split.
    Accuracy {
        /// Percent correct.
        accuracy: f64,
        /// Examples in the test split.
        examples: usize,
    },
    /// One prediction per given text.
    Predictions(Vec<Prediction>),
    /// A language model's perplexity over the test split's windows.
    Perplexity {
        /// `exp` of the mean next-token loss.
        perplexity: f64,
        /// The mean next-token cross-entropy, in nats.
        loss: f64,
        /// Tokens predicted.
        tokens: usize,
    },
}

/// The model's answer for one text.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// The text.
    pub text: String,
    /// The most probable class.
    pub class: usize,
    /// Softmax probabilities of every class.
    pub probabilities: Vec<f64>,
    /// The raw logits.
    pub logits: Vec<f64>,
}

/// Model families by name. It starts empty: the runtime names no family. A crate registers its
/// own ([`ModelRegistry::register`]); `ember_zoo::models()` is the registry with Ember's.
#[derive(Clone, Default)]
pub struct ModelRegistry {
    entries: BTreeMap<String, Arc<dyn ModelEntry>>,
}

impl core::fmt::Debug for ModelRegistry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl ModelRegistry {
    /// Adds (or replaces) the entry for `name`.
    pub fn register(&mut self, name: &str, entry: impl ModelEntry + 'static) {
        self.entries.insert(name.to_string(), Arc::new(entry));
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// The entry for `name`; the error lists the known names.
    pub fn get(&self, name: &str) -> Result<Arc<dyn ModelEntry>, TrainError> {
        self.entries
            .get(name)
            .cloned()
            .ok_or_else(|| TrainError::Invalid {
                field: "model.kind".into(),
                value: name.to_string(),
                message: if self.entries.is_empty() {
                    "no model family is registered: run with a registry that holds it \
                     (`ember_zoo::models()` has Ember's own)"
                        .into()
                } else {
                    format!("no such model family; known: {}", self.names().join(", "))
                },
            })
    }
}

/// The final model of a run, read back from its checkpoint (`model.bpk`, its checksums
/// verified) into the architecture `model`; the recipe's modifiers are resolved in
/// `registries`.
pub fn load_run<T: Task>(
    run_dir: &Path,
    recipe: &Recipe,
    model: T::Model,
    registries: &Registries,
) -> Result<T::Model, TrainError> {
    let plan = recipe.plan(&Steps::new(1), &registries.for_recipe(recipe)?)?;
    let path = run_dir.join("model.bpk");
    crate::files::verify(&path, true)?;
    // Binding the plan reads the architecture's weights, which draws them.
    let sparse = crate::init::with_host_rng(|| Sparse::new(TaskModel::<T>::new(model), plan))?;
    Ok(sparse.load_checkpoint(&path)?.into_inner().into_inner())
}
