use std::path::PathBuf;

use ember_data::DatasetSource;
use serde::{Deserialize, Serialize};

/// Where the examples come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The 5,000-image MNIST subset embedded in Ember (4,500 train / 500 test).
    Embedded,
    /// Full MNIST from `dir` (IDX files, raw or gzip); without `dir`, from Ember's cache
    /// (`ember fetch mnist`).
    Mnist,
    /// Fashion-MNIST from `dir`; without `dir`, from Ember's cache (`ember fetch
    /// fashion-mnist`) or else Debian's `/usr/share/datasets/fashion-mnist`.
    FashionMnist,
    /// The Rotten Tomatoes snippets (`dir/rotten_tomatoes_corpus_full.csv`: fresh = 1,
    /// rotten = 0), split train / validation / test by class with `split_seed`. `ember run`
    /// fills in `dir` from Ember's cache (fetching it first) when it is omitted.
    RottenTomatoes,
    /// A GLUE single-sentence task in SST-2's layout: `dir/train.tsv` is split into train
    /// and validation, `dir/dev.tsv` is the test split (GLUE's own test labels are hidden).
    GlueTsv,
    /// A text corpus for language models: `dir/train.txt`, `dir/valid.txt` and
    /// `dir/test.txt` (UTF-8), each tokenized once and cut into windows of `seqlen` tokens.
    Corpus,
    /// The King James Bible as such a corpus (`ember fetch kjv`: split by chapter, with a
    /// byte-level BPE `tokenizer.json` trained on its training split). `ember run` fills in
    /// `dir` from Ember's cache (fetching it first) when it is omitted.
    Kjv,
}

impl SourceKind {
    /// Whether the examples are sentences rather than images.
    pub fn is_text(self) -> bool {
        matches!(self, Self::RottenTomatoes | Self::GlueTsv)
    }

    /// Whether the data set is running text for a language model.
    pub fn is_corpus(self) -> bool {
        matches!(self, Self::Corpus | Self::Kjv)
    }
}

/// `[data]`: the data set and how it is batched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// The data set.
    pub source: SourceKind,
    /// The directory of `mnist` / `fashion_mnist` files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Images per batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Use only `train_limit` training images, evenly spaced over the training split so that
    /// every class keeps its share (for quick experiments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Text only: tokens per sentence, `[CLS]` and `[SEP]` included (default 128). Each
    /// batch is padded only to its longest sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// Corpora only: tokens per window (default 128); the test split's windows are the
    /// perplexity protocol's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seqlen: Option<usize>,
    /// The share of each class of the training split held out for the per-epoch validation
    /// metrics (default 0.1; images may use 0, leaving the validation columns empty). The
    /// test split is used only for the final numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<f64>,
    /// Text only, Rotten Tomatoes: the share of each class held out for the test split
    /// (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<f64>,
    /// The seed of the stratified splits (default 42), independent of the run's seed so that
    /// every run of a comparison sees the same split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
}

/// How a text data set is read, tokenized and split.
#[derive(Debug, Clone, PartialEq)]
pub struct TextDataPlan {
    /// The data set.
    pub source: SourceKind,
    /// Its folder.
    pub dir: PathBuf,
    /// Tokens per sentence.
    pub max_len: usize,
    /// Held-out share for validation.
    pub validation: f64,
    /// Held-out share for test (Rotten Tomatoes).
    pub test: f64,
    /// Split seed.
    pub split_seed: u64,
}

fn default_batch_size() -> usize {
    128
}

impl DataSpec {
    /// The validation share of an image training split (default 0.1).
    pub fn image_validation(&self) -> f64 {
        self.validation.unwrap_or(0.1)
    }

    /// The seed of the stratified splits (default 42).
    pub fn split_seed(&self) -> u64 {
        self.split_seed.unwrap_or(42)
    }

    /// The image data source this spec names: `dir`, or for `mnist` and `fashion_mnist`
    /// without one, the folder in Ember's cache. A text source is an error.
    pub fn source(&self) -> Result<DatasetSource, String> {
        match (self.source, &self.dir) {
            (SourceKind::RottenTomatoes | SourceKind::GlueTsv, _) => {
                Err("a text data set feeds a text model (`[model] kind = \"bert\"`)".to_string())
            }
            (SourceKind::Corpus | SourceKind::Kjv, _) => {
                Err("a text corpus feeds a language model (`[model] kind = \"llama\"`)".to_string())
            }
            (SourceKind::Embedded, _) => Ok(DatasetSource::Embedded),
            (SourceKind::Mnist, Some(dir)) => Ok(DatasetSource::Mnist(dir.clone())),
            (SourceKind::FashionMnist, Some(dir)) => Ok(DatasetSource::FashionMnist(dir.clone())),
            // No folder: Ember's cache, which `ember fetch` fills.
            (SourceKind::Mnist, None) => DatasetSource::mnist_in_cache().map_err(|e| e.to_string()),
            (SourceKind::FashionMnist, None) => {
                DatasetSource::fashion_mnist_in_cache().map_err(|e| e.to_string())
            }
        }
    }

    /// How the text data set this spec names is read and split; the error names what is
    /// missing or out of range.
    pub fn text_plan(&self) -> Result<TextDataPlan, (&'static str, String)> {
        if !self.source.is_text() {
            return Err((
                "data.source",
                "an image data set feeds an image model (`mlp`, `lenet5`)".to_string(),
            ));
        }
        let dir = self.dir.clone().ok_or((
            "data.dir",
            "needs the data set's folder (`ember run` fills in Rotten Tomatoes from its cache; \
             `ember fetch rotten-tomatoes` downloads it)"
                .to_string(),
        ))?;
        let max_len = self.max_len.unwrap_or(128);
        if max_len < 3 {
            return Err((
                "data.max_len",
                "must be at least 3: [CLS], one token and [SEP]".to_string(),
            ));
        }
        let validation = self.validation.unwrap_or(0.1);
        let test = match self.source {
            SourceKind::GlueTsv => 0.0,
            _ => self.test.unwrap_or(0.1),
        };
        for (field, share) in [("data.validation", validation), ("data.test", test)] {
            if !(0.0..1.0).contains(&share) {
                return Err((field, "must lie in [0, 1)".to_string()));
            }
        }
        if validation + test >= 1.0 {
            return Err((
                "data.validation",
                "validation + test must leave some training data (sum < 1)".to_string(),
            ));
        }
        Ok(TextDataPlan {
            source: self.source,
            dir,
            max_len,
            validation,
            test,
            split_seed: self.split_seed(),
        })
    }
}
