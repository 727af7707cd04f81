//! The pieces of a `llama` recipe, read once: the architecture, the tokenizer, the corpus.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ember_data::{
    Tokenizer, WindowBatch, WindowBatcher, WindowDataset, read_tokenizer, tokenize_file,
};
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
    /// It, read once (no padding, no truncation).
    pub reader: Tokenizer,
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
        let tokenizer = settings
            .tokenizer
            .clone()
            .unwrap_or_else(|| dir.as_ref().unwrap_or(&corpus).join("tokenizer.json"));
        // A folder's configuration is checked before the tokenizer is read.
        let pretrained = match &dir {
            Some(dir) => {
                settings.refuse_sizes_beside(dir)?;
                Some(LlamaConfig::from_file(dir.join("config.json"))?)
            }
            None => None,
        };
        let reader = read_tokenizer(&tokenizer)?;
        let config = match pretrained {
            Some(config) => config,
            None => settings.config(reader.get_vocab_size(true), seqlen)?,
        };
        config.check_sequence(seqlen)?;
        Ok(Self {
            config,
            dir,
            tokenizer,
            reader,
            corpus,
            seqlen,
        })
    }

    /// The windows of one split file (`train.txt`, `valid.txt`, `test.txt`).
    pub fn windows(&self, file: &str) -> Result<WindowDataset, TrainError> {
        self.text_windows(&self.corpus.join(file), self.seqlen)
    }

    /// The windows of `seqlen` tokens of the text file `path`, every token id checked against
    /// the model's vocabulary.
    pub fn text_windows(&self, path: &Path, seqlen: usize) -> Result<WindowDataset, TrainError> {
        let tokens = tokenize_file(&self.reader, path)?;
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
        Ok(WindowDataset::new(&tokens, seqlen, path)?)
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
