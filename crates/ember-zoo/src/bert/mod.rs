//! `bert`: a pretrained BERT-family encoder (BERT, MiniLM, …) from a Hugging Face folder
//! with a fresh classification head, on text data sets; its task
//! ([`TextClassification`]), its Hugging Face export and its sparse engine ([`SparseBert`]).
//!
//! ```toml
//! [model]
//! kind = "bert"
//! dir = "models/all-MiniLM-L6-v2"   # omitted: `ember run` fetches all-MiniLM-L6-v2
//! num_labels = 2                    # the default
//! ```

mod export;
mod parts;
mod sparse;
mod task;

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use ember_data::{TextBatcher, TextDataset};
use ember_models::{BertForSequenceClassification, LinearInputs};
use ember_sparsity::pattern::{HeadLayout, Heads};
use ember_sparsity::{Pattern, Sparse, SparsityPlan};
use ember_train::layerwise::prune_layer_by_layer;
use ember_train::oneshot::PruneSource;
use ember_train::task::{Task, TaskModel};
use ember_train::{
    Evaluation, ModelEntry, Prediction, Recipe, Registries, RunOptions, RunReport, TaskData,
    TrainError, accuracy, load_run, prune_task, run_task, try_init_on_host,
};
use serde::Deserialize;

pub use parts::BertParts;
pub use sparse::SparseBert;
pub use task::TextClassification;

/// `[model]` settings of `kind = "bert"` (the folder is `model.dir`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BertSettings {
    /// Classes of the classification head (default 2).
    #[serde(default = "default_num_labels")]
    pub num_labels: usize,
}

fn default_num_labels() -> usize {
    2
}

/// BERT-family encoders with a classification head.
pub(crate) struct BertEntry;

impl ModelEntry for BertEntry {
    fn validate(&self, recipe: &Recipe) -> Result<(), TrainError> {
        let settings: BertSettings = recipe.model.settings()?;
        crate::check_size("model.num_labels", settings.num_labels, 1 << 16)?;
        if !recipe.data.source.is_text() {
            return Err(TrainError::Invalid {
                field: "data.source".into(),
                value: format!("{:?}", recipe.data.source),
                message: "a `bert` model reads sentences: use `rotten_tomatoes` or `glue_tsv`"
                    .into(),
            });
        }
        Ok(())
    }

    fn extend_registries(
        &self,
        recipe: &Recipe,
        registries: &mut Registries,
    ) -> Result<(), TrainError> {
        // Without a folder yet (`ember run` fills it in) there is no configuration to read;
        // `heads:H` still works.
        let Some(dir) = &recipe.model.dir else {
            registries.patterns.register("heads", |args: &str| {
                let heads: usize = args.parse().map_err(|_| {
                    "`heads` alone takes the head count from the model's config.json, and \
                     `model.dir` is not given yet (`ember run` fills it in): give `model.dir`, \
                     or write `heads:H`"
                        .to_string()
                })?;
                Ok(std::sync::Arc::new(Heads::new(heads)) as std::sync::Arc<dyn Pattern>)
            });
            return Ok(());
        };
        let config = ember_models::BertConfig::from_file(dir.join("config.json"))?;
        let heads = config.num_attention_heads;
        registries.patterns.register("heads", move |args: &str| {
            let layout = if args.is_empty() {
                HeadLayout::burn(heads)
            } else {
                let given: usize = args
                    .parse()
                    .map_err(|_| format!("`{args}` is not a whole number of heads"))?;
                if given != heads {
                    return Err(format!(
                        "the model has {heads} attention heads, not {given}: write `heads`"
                    ));
                }
                HeadLayout::burn(heads)
            };
            Ok(std::sync::Arc::new(Heads { layout }) as std::sync::Arc<dyn Pattern>)
        });
        Ok(())
    }

    fn fetch_dir(&self) -> Option<&'static str> {
        Some("minilm")
    }

    fn write_hf(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        registries: &Registries,
        folder: &Path,
    ) -> Result<Vec<String>, TrainError> {
        export::write_hf(run_dir, recipe, registries, folder)
    }

    fn hf_tensor_name(&self, path: &str) -> String {
        export::hf_tensor_name(path)
    }

    fn prune(
        &self,
        recipe: &Recipe,
        options: &RunOptions,
        source: &Path,
        calibration: usize,
    ) -> Result<RunReport, TrainError> {
        let parts = BertParts::of(recipe)?;
        let device = options.main_device()?;
        let model = parts.architecture(device);
        let data = parts.data(recipe, device)?;
        if recipe.prunes_layer_by_layer().is_some() {
            return prune_layer_by_layer::<TextClassification, _>(
                recipe,
                options,
                model,
                data,
                PruneSource::Checkpoint(source),
                calibration,
                |batch: &ember_data::TextBatch| {
                    (
                        batch.input_ids.clone(),
                        batch.token_type_ids.clone(),
                        batch.attention_mask.clone(),
                    )
                },
            );
        }
        let inputs = |model: &BertForSequenceClassification, batch: &ember_data::TextBatch| {
            model.linear_inputs((
                batch.input_ids.clone(),
                batch.token_type_ids.clone(),
                batch.attention_mask.clone(),
            ))
        };
        prune_task::<TextClassification>(
            recipe,
            options,
            model,
            data,
            PruneSource::Checkpoint(source),
            calibration,
            Some(&inputs),
        )
    }

    fn bind(
        &self,
        recipe: &Recipe,
        plan: SparsityPlan,
        device: &Device,
    ) -> Result<bool, TrainError> {
        if recipe.model.dir.is_none() {
            // `ember run` fills the directory in from the cache; nothing to build yet.
            return Ok(false);
        }
        let parts = BertParts::of(recipe)?;
        Sparse::new(parts.architecture(device), plan)?;
        Ok(true)
    }

    fn evaluate_sparse(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        registries: &Registries,
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        let parts = BertParts::of(recipe)?;
        // The run's model read back (checksums verified) into the architecture, on the host:
        // the engine reads its layers from the module itself.
        let host = Device::flex();
        let model =
            load_run::<TextClassification>(run_dir, recipe, parts.architecture(&host), registries)?;
        let model = SparseBert::from_model(&model, parts.config.layer_norm_eps)?;
        // Every sentence unpadded: its tokens are the first `mask` positions of its row.
        let logits = |texts: &[&str]| -> Result<Vec<Vec<f32>>, TrainError> {
            let tokens = parts.tokenizer.encode(texts)?;
            (0..tokens.batch)
                .map(|i| {
                    let row = i * tokens.len..(i + 1) * tokens.len;
                    let valid = tokens.attention_mask[row.clone()]
                        .iter()
                        .filter(|m| **m == 1)
                        .count();
                    let row = row.start..row.start + valid;
                    model.logits(&tokens.input_ids[row.clone()], &tokens.token_type_ids[row])
                })
                .collect()
        };
        if texts.is_empty() {
            let test: TextDataset = parts.splits()?.test;
            let mut correct = 0;
            for chunk in test.items().chunks(recipe.data.batch_size.max(1)) {
                let refs: Vec<&str> = chunk.iter().map(|item| item.text.as_str()).collect();
                for (item, row) in chunk.iter().zip(logits(&refs)?) {
                    let row: Vec<f64> = row.iter().map(|v| f64::from(*v)).collect();
                    correct += usize::from(argmax(&row) == item.label);
                }
            }
            let examples = test.items().len();
            return Ok(Evaluation::Accuracy {
                accuracy: if examples == 0 {
                    0.0
                } else {
                    100.0 * correct as f64 / examples as f64
                },
                examples,
            });
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let predictions = texts
            .iter()
            .zip(logits(&refs)?)
            .map(|(text, row)| {
                let logits: Vec<f64> = row.iter().map(|v| f64::from(*v)).collect();
                let max = logits.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v));
                let exp: Vec<f64> = logits.iter().map(|v| (v - max).exp()).collect();
                let sum: f64 = exp.iter().sum();
                let probabilities: Vec<f64> = exp.iter().map(|e| e / sum).collect();
                Prediction {
                    text: text.clone(),
                    class: argmax(&probabilities),
                    probabilities,
                    logits,
                }
            })
            .collect();
        Ok(Evaluation::Predictions(predictions))
    }

    fn test_texts(&self, recipe: &Recipe, count: usize) -> Result<Vec<String>, TrainError> {
        let test = BertParts::of(recipe)?.splits()?.test;
        Ok(test
            .items()
            .iter()
            .take(count)
            .map(|item| item.text.clone())
            .collect())
    }

    fn run(&self, recipe: &Recipe, options: &RunOptions) -> Result<RunReport, TrainError> {
        let parts = BertParts::of(recipe)?;
        let device = options.main_device()?;
        // The pretrained encoder is read on the host and the head drawn there from the recipe
        // seed, so every backend starts from the same weights.
        let weights = parts.dir.join("model.safetensors");
        let model = try_init_on_host(recipe.weights_seed(), device, |host| {
            let fresh = parts.architecture(host);
            let bert = fresh.bert.clone().load_hf_weights(&weights)?;
            Ok::<_, ember_models::BertError>(BertForSequenceClassification { bert, ..fresh })
        })?;
        let data = parts.data(recipe, device)?;
        run_task::<TextClassification>(recipe, options, model, data)
    }

    fn evaluate(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        registries: &Registries,
        device: &Device,
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        let parts = BertParts::of(recipe)?;
        let model = load_run::<TextClassification>(
            run_dir,
            recipe,
            parts.architecture(device),
            registries,
        )?;
        if texts.is_empty() {
            let test: TextDataset = parts.splits()?.test;
            let examples = burn::data::dataset::Dataset::len(&test);
            let data = TaskData::new(
                TextBatcher::new(parts.tokenizer.clone()),
                recipe.data.batch_size,
                recipe.seed,
                device,
                [test.clone(), test.clone(), test],
            );
            return Ok(Evaluation::Accuracy {
                accuracy: accuracy(&TaskModel::<TextClassification>::new(model), &data.test),
                examples,
            });
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tokens = parts.tokenizer.encode(&refs)?;
        let batch = ember_data::TextBatch::from_tokens(tokens, vec![0; texts.len()], device);
        let logits = TextClassification::logits(&model.valid(), &batch);
        let probabilities = burn::tensor::activation::softmax(logits.clone(), 1);
        let rows = |t: burn::tensor::Tensor<2>| -> Vec<Vec<f64>> {
            let [_, classes] = t.dims();
            let values: Vec<f32> = t.into_data().iter::<f32>().collect();
            values
                .chunks(classes)
                .map(|row| row.iter().map(|&v| f64::from(v)).collect())
                .collect()
        };
        let predictions = texts
            .iter()
            .zip(rows(logits).into_iter().zip(rows(probabilities)))
            .map(|(text, (logits, probabilities))| Prediction {
                text: text.clone(),
                class: argmax(&probabilities),
                probabilities,
                logits,
            })
            .collect();
        Ok(Evaluation::Predictions(predictions))
    }
}

fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}
