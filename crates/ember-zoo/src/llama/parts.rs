//! The pieces of a `llama` recipe, read once: the architecture, the tokenizer, the corpus.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ember_data::{WindowBatch, WindowBatcher, WindowDataset, read_tokenizer, tokenize_file};
use ember_models::{LlamaConfig, LlamaForCausalLM};
use ember_train::{Recipe, TaskData, TrainError};

use super::LlamaSettings;

/// Tokens per window when `data.seqlen` is not given.
pub const DEFAULT_SEQLEN: usize = 128;

fn invalid(field: &str, value: impl ToString, message: impl Into<String>) -> TrainError {
    TrainError::Invalid {
        field: field.into(),
        value: value.to_string(),
        message: message.into(),
    }
}

/// What a `llama` recipe builds and reads.
pub struct LlamaParts {
    /// The architecture: a Hugging Face folder's `config.json`, or the recipe's sizes.
    pub config: LlamaConfig,
    /// The pretrained folder, when the model starts from one.
    pub dir: Option<PathBuf>,
    /// The `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// The corpus folder (`train.txt`, `valid.txt`, `test.txt`).
    pub corpus: PathBuf,
    /// Tokens per window.
    pub seqlen: usize,
}

impl LlamaParts {
    /// Reads the recipe's settings with the model folder `dir` (`model.dir`, or the folder
    /// `ember prune` was given) and checks them against the corpus and the tokenizer.
    pub fn of(recipe: &Recipe, dir: Option<&Path>) -> Result<Self, TrainError> {
        let settings: LlamaSettings = recipe.model.settings()?;
        let seqlen = recipe.data.seqlen.unwrap_or(DEFAULT_SEQLEN);
        let corpus = recipe.data.dir.clone().ok_or_else(|| {
            invalid(
                "data.dir",
                "(missing)",
                "needs the corpus folder (train.txt, valid.txt, test.txt); `ember run` fills \
                 in the King James Bible for `source = \"kjv\"`",
            )
        })?;
        let dir = dir
            .map(Path::to_path_buf)
            .or_else(|| recipe.model.dir.clone());
        let (config, tokenizer) = match &dir {
            Some(dir) => {
                if let Some(field) = settings.size_given() {
                    return Err(invalid(
                        &format!("model.{field}"),
                        "(given)",
                        format!(
                            "the architecture comes from {}: leave the sizes out",
                            dir.join("config.json").display()
                        ),
                    ));
                }
                let config = LlamaConfig::from_file(dir.join("config.json"))?;
                let tokenizer = settings
                    .tokenizer
                    .clone()
                    .unwrap_or_else(|| dir.join("tokenizer.json"));
                (config, tokenizer)
            }
            None => {
                let tokenizer = settings
                    .tokenizer
                    .clone()
                    .unwrap_or_else(|| corpus.join("tokenizer.json"));
                let vocab = read_tokenizer(&tokenizer)?.get_vocab_size(true);
                (settings.config(vocab, seqlen)?, tokenizer)
            }
        };
        config.check_sequence(seqlen)?;
        Ok(Self {
            config,
            dir,
            tokenizer,
            corpus,
            seqlen,
        })
    }

    /// The windows of one split file (`train.txt`, `valid.txt`, `test.txt`).
    pub fn windows(&self, file: &str) -> Result<WindowDataset, TrainError> {
        let tokenizer = read_tokenizer(&self.tokenizer)?;
        let path = self.corpus.join(file);
        let tokens = tokenize_file(&tokenizer, &path)?;
        if let Some(&bad) = tokens
            .iter()
            .find(|&&t| t as usize >= self.config.vocab_size)
        {
            return Err(invalid(
                "model.tokenizer",
                self.tokenizer.display(),
                format!(
                    "gives token id {bad}, outside the model's vocabulary of {}",
                    self.config.vocab_size
                ),
            ));
        }
        Ok(WindowDataset::new(&tokens, self.seqlen, &path)?)
    }

    /// The recipe's batches: training windows (the first `data.train_limit` when given),
    /// validation and test windows.
    pub fn data(
        &self,
        recipe: &Recipe,
        device: &Device,
    ) -> Result<TaskData<WindowBatch>, TrainError> {
        let mut train = self.windows("train.txt")?;
        if let Some(limit) = recipe.data.train_limit {
            train = train.take(limit);
        }
        Ok(TaskData::new(
            WindowBatcher,
            recipe.data.batch_size,
            recipe.seed,
            device,
            [train, self.windows("valid.txt")?, self.windows("test.txt")?],
        ))
    }

    /// The architecture, fresh (weights not loaded).
    pub fn architecture(&self, device: &Device) -> LlamaForCausalLM {
        self.config.init(device)
    }
}
