//! The pieces of a `bert` recipe, read once: settings, model folder, text data.

use std::sync::Arc;

use burn::tensor::Device;
use ember_data::{TextBatcher, TextSplits, TextTokenizer, read_glue_tsv, read_rotten_tomatoes};
use ember_models::{BertConfig, BertForSequenceClassification};
use ember_train::recipe::{SourceKind, TextDataPlan};
use ember_train::{Recipe, TaskData, TrainError};

use super::BertSettings;

/// The pieces of a `bert` recipe: model folder, classes and the text plan.
pub struct BertParts {
    /// The Hugging Face model folder.
    pub dir: std::path::PathBuf,
    /// Classes of the classification head.
    pub num_labels: usize,
    /// The text data set's settings.
    pub text: TextDataPlan,
    /// The encoder's `config.json`.
    pub config: BertConfig,
    /// The folder's `tokenizer.json`, truncating at `data.max_len`.
    pub tokenizer: Arc<TextTokenizer>,
}

impl BertParts {
    /// Reads the recipe's settings, the model folder's configuration and tokenizer.
    pub fn of(recipe: &Recipe) -> Result<Self, TrainError> {
        let settings: BertSettings = recipe.model.settings()?;
        let num_labels = settings.num_labels;
        let dir = recipe
            .model
            .dir
            .clone()
            .ok_or_else(|| TrainError::Invalid {
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
            num_labels,
            text,
            config,
            tokenizer,
        })
    }

    /// The recipe's batches: the training split limited as `data.train_limit` says (each class
    /// keeping its share), the validation and test splits.
    pub fn data(
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

    /// The seeded stratified splits, with the label count checked against the head.
    pub fn splits(&self) -> Result<TextSplits, TrainError> {
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
    pub fn architecture(&self, device: &Device) -> BertForSequenceClassification {
        self.config.init_classifier(self.num_labels, device)
    }
}
