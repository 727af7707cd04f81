//! The models recipes can name, each with what it takes to train and evaluate it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use burn::data::dataset::Dataset;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use ember_data::{
    DatasetSource, ImageBatch, ImageBatcher, TextBatcher, TextDataset, TextSplits, TextTokenizer,
    read_glue_tsv, read_rotten_tomatoes,
};
use ember_models::{BertConfig, BertForSequenceClassification, LinearInputs};
use ember_sparsity::{Sparse, SparsityPlan};

use crate::recipe::{ModelSpec, Recipe, SourceKind, Steps, TextDataPlan};
use crate::task::{ImageClassification, Task, TaskModel, TextClassification};
use crate::{
    RunOptions, RunReport, SparseBert, SparseMlp, TaskData, TrainError, accuracy,
    checkpoint_tensors, init_on_host, prune_task, run_task,
};

/// One model kind: how a recipe naming it is trained and how its run is evaluated.
pub trait ModelEntry: Send + Sync {
    /// Loads the recipe's data, builds the model (identical initial weights on every backend)
    /// and runs it with [`run_task`].
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

    /// Evaluates the final model of the run in `run_dir` (`recipe.toml`, `model.bpk`) on
    /// `device`: the test-split accuracy, or, for text models, predictions for `texts` when
    /// any are given.
    fn evaluate(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
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
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        let _ = (run_dir, texts);
        Err(TrainError::Invalid {
            field: "--engine".into(),
            value: "sparse".into(),
            message: format!(
                "the sparse engine runs `mlp` and `bert` models; `{}` runs on the dense \
                 engine only",
                recipe.model.name()
            ),
        })
    }

    /// Prunes the model of `source` (a run directory or a weights file) one-shot with the
    /// recipe's pruners, no training, using `calibration` training batches for scorers that
    /// need gradients or activations ([`prune_task`]); writes a run directory to
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

/// Model kinds by name: `mlp`, `lenet5` and `bert` are built in.
#[derive(Clone)]
pub struct ModelRegistry {
    entries: BTreeMap<String, Arc<dyn ModelEntry>>,
}

impl core::fmt::Debug for ModelRegistry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl Default for ModelRegistry {
    fn default() -> Self {
        let mut registry = Self {
            entries: BTreeMap::new(),
        };
        registry.register(
            "mlp",
            ImageEntry {
                build: |spec, device| match spec {
                    ModelSpec::Mlp { hidden } => Some(ModelSpec::mlp_config(hidden).init(device)),
                    _ => None,
                },
                inputs: |model, images| model.linear_inputs(images),
                sparse_mlp: true,
            },
        );
        registry.register(
            "lenet5",
            ImageEntry {
                build: |spec, device| match spec {
                    ModelSpec::Lenet5 { hidden } => {
                        Some(ModelSpec::lenet5_config(hidden).init(device))
                    }
                    _ => None,
                },
                inputs: |model, images| model.linear_inputs(images),
                sparse_mlp: false,
            },
        );
        registry.register("bert", BertEntry);
        registry
    }
}

impl ModelRegistry {
    /// Adds (or replaces) the entry for `name`.
    pub fn register(&mut self, name: &str, entry: impl ModelEntry + 'static) {
        self.entries.insert(name.to_string(), Arc::new(entry));
    }

    /// The entry for `name`; the error lists the known names.
    pub fn get(&self, name: &str) -> Result<Arc<dyn ModelEntry>, TrainError> {
        self.entries
            .get(name)
            .cloned()
            .ok_or_else(|| TrainError::Invalid {
                field: "model.kind".into(),
                value: name.to_string(),
                message: format!(
                    "no such model; known: {}",
                    self.entries.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })
    }
}

/// An image model kind: `build` makes the architecture a `[model]` spec names on a device,
/// or `None` for a spec of another kind.
struct ImageEntry<M> {
    build: fn(&ModelSpec, &Device) -> Option<M>,
    /// The inputs of the model's linear layers ([`LinearInputs`]), for Wanda.
    inputs: fn(&M, Tensor<4>) -> Vec<(String, Tensor<2>)>,
    /// Whether the model is a stack of `layers.<i>` linear layers that [`SparseMlp`] runs.
    sparse_mlp: bool,
}
/// BERT-family encoders with a classification head.
struct BertEntry;

fn image_spec_error(recipe: &Recipe) -> TrainError {
    TrainError::Invalid {
        field: "model.kind".into(),
        value: recipe.model.name().into(),
        message: "this entry builds another model kind".into(),
    }
}

fn image_source(recipe: &Recipe) -> Result<DatasetSource, TrainError> {
    recipe.data.source().map_err(|message| TrainError::Invalid {
        field: "data".into(),
        value: format!("{:?}", recipe.data.source),
        message,
    })
}

/// The data of an image recipe: MNIST-family splits; `data.validation` of each class of the
/// training split held out (seeded by `data.split_seed`) for the per-epoch validation
/// metrics, the rest limited as `data.train_limit` says; the test split is touched only for
/// the report's final numbers.
fn image_data(recipe: &Recipe, options: &RunOptions) -> Result<TaskData<ImageBatch>, TrainError> {
    let splits = image_source(recipe)?.load()?;
    let invalid = |field: &str, value: String, message: String| TrainError::Invalid {
        field: field.into(),
        value,
        message,
    };
    // Ember's image models read MNIST's 28×28 images; another size is refused here rather
    // than found by a shape assertion inside the first forward pass.
    let (rows, cols) = (splits.train.rows(), splits.train.cols());
    if (rows, cols) != (28, 28) {
        return Err(invalid(
            "data",
            format!("{rows}×{cols} images"),
            format!(
                "the `{}` model takes 28×28 images (MNIST, Fashion-MNIST)",
                recipe.model.name()
            ),
        ));
    }
    // A split without examples would report an accuracy of nothing as 0%.
    for (split, len) in [
        ("training", splits.train.len()),
        ("test", splits.test.len()),
    ] {
        if len == 0 {
            return Err(invalid(
                "data",
                format!("{:?}", recipe.data.source),
                format!("its {split} split holds no images"),
            ));
        }
    }
    let (train, valid) = splits
        .train
        .split_validation(recipe.data.image_validation(), recipe.data.split_seed());
    let train = match recipe.data.train_limit {
        Some(limit) => train.evenly_spaced(limit),
        None => train,
    };
    Ok(TaskData::new(
        ImageBatcher,
        recipe.data.batch_size,
        recipe.seed,
        options.main_device()?,
        [train, valid, splits.test],
    ))
}

/// Runs an image model on [`image_data`].
fn run_image<M>(recipe: &Recipe, options: &RunOptions, model: M) -> Result<RunReport, TrainError>
where
    ImageClassification<M>: Task<Model = M, Batch = ember_data::ImageBatch>,
{
    let data = image_data(recipe, options)?;
    run_task::<ImageClassification<M>>(recipe, options, model, data)
}

/// The final model of a run, read back from its checkpoint into the architecture `model`.
pub(crate) fn load_run<T: Task>(
    run_dir: &Path,
    recipe: &Recipe,
    model: T::Model,
) -> Result<T::Model, TrainError> {
    let plan = recipe.plan(
        &Steps::new(1),
        &ember_sparsity::ScorerRegistry::default(),
        &ember_sparsity::PatternRegistry::default(),
    )?;
    let sparse = Sparse::new(TaskModel::<T>::new(model), plan)?;
    let path = run_dir.join("model.bpk");
    crate::files::verify(&path, true)?;
    Ok(sparse.load_checkpoint(&path)?.into_inner().into_inner())
}

fn evaluate_image<M>(
    run_dir: &Path,
    recipe: &Recipe,
    device: &Device,
    texts: &[String],
    model: M,
) -> Result<Evaluation, TrainError>
where
    ImageClassification<M>: Task<Model = M, Batch = ember_data::ImageBatch>,
{
    if !texts.is_empty() {
        return Err(TrainError::Invalid {
            field: "--text".into(),
            value: format!("{} texts", texts.len()),
            message: format!(
                "the `{}` model classifies images, not text",
                recipe.model.name()
            ),
        });
    }
    let model = load_run::<ImageClassification<M>>(run_dir, recipe, model)?;
    let test = image_source(recipe)?.load()?.test;
    let examples = burn::data::dataset::Dataset::len(&test);
    if examples == 0 {
        return Err(TrainError::Invalid {
            field: "data".into(),
            value: format!("{:?}", recipe.data.source),
            message: "its test split holds no images: there is nothing to evaluate".into(),
        });
    }
    let data = TaskData::new(
        ImageBatcher,
        recipe.data.batch_size,
        recipe.seed,
        device,
        [test.clone(), test.clone(), test],
    );
    Ok(Evaluation::Accuracy {
        accuracy: accuracy(&TaskModel::<ImageClassification<M>>::new(model), &data.test),
        examples,
    })
}

impl<M> ModelEntry for ImageEntry<M>
where
    ImageClassification<M>: Task<Model = M, Batch = ember_data::ImageBatch>,
    M: Module,
{
    fn bind(
        &self,
        recipe: &Recipe,
        plan: SparsityPlan,
        device: &Device,
    ) -> Result<bool, TrainError> {
        let model = (self.build)(&recipe.model, device).ok_or_else(|| image_spec_error(recipe))?;
        Sparse::new(model, plan)?;
        Ok(true)
    }

    fn prune(
        &self,
        recipe: &Recipe,
        options: &RunOptions,
        source: &Path,
        calibration: usize,
    ) -> Result<RunReport, TrainError> {
        let model = (self.build)(&recipe.model, options.main_device()?)
            .ok_or_else(|| image_spec_error(recipe))?;
        let data = image_data(recipe, options)?;
        let inputs = self.inputs;
        let inputs = move |model: &M, batch: &ImageBatch| inputs(model, batch.images.clone());
        prune_task::<ImageClassification<M>>(
            recipe,
            options,
            model,
            data,
            source,
            calibration,
            Some(&inputs),
        )
    }

    fn run(&self, recipe: &Recipe, options: &RunOptions) -> Result<RunReport, TrainError> {
        let device = options.main_device()?;
        // The initial weights are drawn on the host from the recipe seed, then moved: every
        // backend starts from identical weights.
        let model = init_on_host(recipe.weights_seed(), device, |host| {
            (self.build)(&recipe.model, host)
        })
        .ok_or_else(|| image_spec_error(recipe))?;
        run_image(recipe, options, model)
    }

    fn evaluate(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        device: &Device,
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        let model = (self.build)(&recipe.model, device).ok_or_else(|| image_spec_error(recipe))?;
        evaluate_image(run_dir, recipe, device, texts, model)
    }

    fn evaluate_sparse(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        if !self.sparse_mlp {
            return Err(TrainError::Invalid {
                field: "--engine".into(),
                value: "sparse".into(),
                message: format!(
                    "the sparse engine runs `mlp` and `bert` models; `{}` runs on the dense \
                     engine only",
                    recipe.model.name()
                ),
            });
        }
        if !texts.is_empty() {
            return Err(TrainError::Invalid {
                field: "--text".into(),
                value: format!("{} texts", texts.len()),
                message: format!(
                    "the `{}` model classifies images, not text",
                    recipe.model.name()
                ),
            });
        }
        let model = SparseMlp::from_tensors(&checkpoint_tensors(&run_dir.join("model.bpk"))?)?;
        let test = image_source(recipe)?.load()?.test;
        let items = (0..burn::data::dataset::Dataset::len(&test))
            .map(|i| burn::data::dataset::Dataset::get(&test, i))
            .collect::<Result<Vec<ember_data::ImageItem>, _>>()
            .map_err(|e| TrainError::Invalid {
                field: "data".into(),
                value: "test split".into(),
                message: e.to_string(),
            })?;
        Ok(Evaluation::Accuracy {
            accuracy: model.accuracy(&items, recipe.data.batch_size)?,
            examples: items.len(),
        })
    }
}

/// The pieces of a `bert` recipe: model folder, classes and the text plan.
pub(crate) struct BertParts {
    pub(crate) dir: std::path::PathBuf,
    pub(crate) num_labels: usize,
    pub(crate) text: TextDataPlan,
    pub(crate) config: BertConfig,
    pub(crate) tokenizer: Arc<TextTokenizer>,
}

impl BertParts {
    pub(crate) fn of(recipe: &Recipe) -> Result<Self, TrainError> {
        let ModelSpec::Bert { dir, num_labels } = &recipe.model else {
            return Err(image_spec_error(recipe));
        };
        let dir = dir.clone().ok_or_else(|| TrainError::Invalid {
            field: "model.dir".into(),
            value: "(missing)".into(),
            message: "needs a Hugging Face model folder (config.json, model.safetensors, \
                      tokenizer.json); `ember run` fills in all-MiniLM-L6-v2"
                .into(),
        })?;
        let text = recipe
            .data
            .text_plan()
            .map_err(|(field, message)| TrainError::Invalid {
                field: field.into(),
                value: format!("{:?}", recipe.data.dir),
                message,
            })?;
        let config = BertConfig::from_file(dir.join("config.json"))?;
        if text.max_len > config.max_position_embeddings {
            return Err(TrainError::Invalid {
                field: "data.max_len".into(),
                value: text.max_len.to_string(),
                message: format!(
                    "exceeds the model's {} position embeddings",
                    config.max_position_embeddings
                ),
            });
        }
        let tokenizer = Arc::new(TextTokenizer::from_file(
            &dir.join("tokenizer.json"),
            text.max_len,
        )?);
        Ok(Self {
            dir,
            num_labels: *num_labels,
            text,
            config,
            tokenizer,
        })
    }

    /// The seeded stratified splits, with the label count checked against the head.
    /// The recipe's batches: the training split limited as `data.train_limit` says (each class
    /// keeping its share), the validation and test splits.
    pub(crate) fn data(
        &self,
        recipe: &Recipe,
        device: &Device,
    ) -> Result<TaskData<ember_data::TextBatch>, TrainError> {
        let splits = self.splits()?;
        let train = match recipe.data.train_limit {
            Some(limit) => splits.train.stratified_subset(limit),
            None => splits.train,
        };
        Ok(TaskData::new(
            TextBatcher::new(self.tokenizer.clone()),
            recipe.data.batch_size,
            recipe.seed,
            device,
            [train, splits.validation, splits.test],
        ))
    }

    pub(crate) fn splits(&self) -> Result<TextSplits, TrainError> {
        let plan = &self.text;
        let (data, test) = match plan.source {
            SourceKind::RottenTomatoes => (
                read_rotten_tomatoes(&plan.dir.join("rotten_tomatoes_corpus_full.csv"))?,
                None,
            ),
            _ => (
                read_glue_tsv(&plan.dir.join("train.tsv"), self.num_labels)?,
                Some(read_glue_tsv(&plan.dir.join("dev.tsv"), self.num_labels)?),
            ),
        };
        let classes = data.class_counts().len();
        if classes > self.num_labels {
            return Err(TrainError::Invalid {
                field: "model.num_labels".into(),
                value: self.num_labels.to_string(),
                message: format!("the data set has {classes} classes"),
            });
        }
        let mut splits = TextSplits::stratified(data, plan.validation, plan.test, plan.split_seed);
        if let Some(test) = test {
            splits.test = test;
        }
        Ok(splits)
    }

    /// The architecture with a fresh head (weights not loaded).
    pub(crate) fn architecture(&self, device: &Device) -> BertForSequenceClassification {
        self.config.init_classifier(self.num_labels, device)
    }
}

impl ModelEntry for BertEntry {
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
            source,
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
        if matches!(recipe.model, ModelSpec::Bert { dir: None, .. }) {
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
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        let parts = BertParts::of(recipe)?;
        let model = SparseBert::from_tensors(
            &checkpoint_tensors(&run_dir.join("model.bpk"))?,
            parts.config.num_attention_heads,
            parts.config.layer_norm_eps,
        )?;
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
        let mut loaded = Ok(());
        let model = init_on_host(recipe.weights_seed(), device, |host| {
            let fresh = parts.architecture(host);
            let encoder = fresh.bert.clone();
            match encoder.load_hf_weights(&weights) {
                Ok(bert) => BertForSequenceClassification { bert, ..fresh },
                Err(error) => {
                    loaded = Err(error);
                    fresh
                }
            }
        });
        loaded?;
        let data = parts.data(recipe, device)?;
        run_task::<TextClassification>(recipe, options, model, data)
    }

    fn evaluate(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        device: &Device,
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        let parts = BertParts::of(recipe)?;
        let model = load_run::<TextClassification>(run_dir, recipe, parts.architecture(device))?;
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
