use std::path::Path;

use serde::{Deserialize, Serialize};

use super::BertError;

/// The hyper-parameters of a BERT encoder, read from a Hugging Face `config.json`.
///
/// Field names are those of `transformers.BertConfig`, so the file deserialises as it is; keys
/// Ember does not use (`architectures`, `model_type`, `use_cache`…) are ignored. Sizes are
/// required; the rest default to `BertConfig`'s own defaults, as `transformers` does when a key
/// is absent. [`from_file`](Self::from_file) validates what it reads; build the model with
/// [`init`](Self::init).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Tokens in the vocabulary (rows of the word embedding).
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer inside each encoder layer.
    pub intermediate_size: usize,
    /// The feed-forward activation. Only `"gelu"` (the exact, erf-based GELU) is accepted.
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    /// Dropout after the embeddings and inside the encoder. Only active while training.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on the attention weights (after the softmax). Only active while training.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// The longest sequence the position embedding covers.
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Segment types (rows of the token-type embedding).
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    /// Epsilon of every layer norm. BERT uses 1e-12, not burn's default of 1e-5.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// The padding token.
    #[serde(default)]
    pub pad_token_id: usize,
    /// Standard deviation of the normal initialisation of fresh weights.
    #[serde(default = "default_initializer_range")]
    pub initializer_range: f64,
    /// How positions are embedded. Only `"absolute"` (learned, BERT's own) is supported.
    #[serde(default = "default_position_embedding_type")]
    pub position_embedding_type: String,
    /// Dropout before a classification head; `None` means `hidden_dropout_prob`.
    #[serde(default)]
    pub classifier_dropout: Option<f64>,
}

fn default_hidden_act() -> String {
    "gelu".to_string()
}

fn default_dropout() -> f64 {
    0.1
}

fn default_max_position_embeddings() -> usize {
    512
}

fn default_type_vocab_size() -> usize {
    2
}

fn default_layer_norm_eps() -> f64 {
    1e-12
}

fn default_initializer_range() -> f64 {
    0.02
}

fn default_position_embedding_type() -> String {
    "absolute".to_string()
}

/// The most parameters a config may describe (BERT-large has 3.4·10⁸).
const MAX_PARAMETERS: u128 = 4_000_000_000;

impl BertConfig {
    /// Reads and validates a Hugging Face `config.json`.
    ///
    /// # Errors
    ///
    /// [`BertError::Config`] if the file cannot be read, is not JSON, lacks a required field
    /// or has a value Ember cannot honour; the message names the field.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, BertError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| BertError::Config {
            path: path.to_path_buf(),
            message: format!("cannot read the file: {error}"),
            source: Some(error.into()),
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|error| BertError::Config {
            path: path.to_path_buf(),
            message: format!("not a BERT config: {error}"),
            source: Some(error.into()),
        })?;
        config
            .validate()
            .map_err(|message| BertError::config(path, message))?;
        Ok(config)
    }

    /// Checks that every value can be honoured by [`init`](Self::init).
    ///
    /// # Errors
    ///
    /// A message naming the first offending field.
    pub fn validate(&self) -> Result<(), String> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((field, _)) = sizes.iter().find(|(_, size)| *size == 0) {
            return Err(format!("`{field}` must be positive, not 0"));
        }
        // Bounded before anything is allocated: a damaged or hostile config is an error, not
        // an abort on a terabyte allocation.
        let h = self.hidden_size as u128;
        let parameters = (self.vocab_size as u128
            + self.max_position_embeddings as u128
            + self.type_vocab_size as u128)
            * h
            + self.num_hidden_layers as u128 * (4 * h * h + 2 * h * self.intermediate_size as u128);
        if parameters > MAX_PARAMETERS {
            return Err(format!(
                "the sizes give a model of {parameters} parameters, more than the \
                 {MAX_PARAMETERS} Ember loads (check `vocab_size`, `hidden_size`, \
                 `num_hidden_layers` and `intermediate_size`)"
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "`hidden_size` ({}) is not a multiple of `num_attention_heads` ({})",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.hidden_act != "gelu" {
            return Err(format!(
                "`hidden_act` is {:?}; only \"gelu\" (the exact GELU) is supported",
                self.hidden_act
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "`position_embedding_type` is {:?}; only \"absolute\" is supported",
                self.position_embedding_type
            ));
        }
        let probabilities = [
            ("hidden_dropout_prob", Some(self.hidden_dropout_prob)),
            (
                "attention_probs_dropout_prob",
                Some(self.attention_probs_dropout_prob),
            ),
            ("classifier_dropout", self.classifier_dropout),
        ];
        for (field, probability) in probabilities {
            if let Some(p) = probability
                && !(p.is_finite() && (0.0..1.0).contains(&p))
            {
                return Err(format!("`{field}` ({p}) must lie in [0, 1)"));
            }
        }
        for (field, value) in [
            ("layer_norm_eps", self.layer_norm_eps),
            ("initializer_range", self.initializer_range),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("`{field}` ({value}) must be positive and finite"));
            }
        }
        if self.pad_token_id >= self.vocab_size {
            return Err(format!(
                "`pad_token_id` ({}) is outside the vocabulary (`vocab_size` {})",
                self.pad_token_id, self.vocab_size
            ));
        }
        Ok(())
    }

    /// The dropout rate before a classification head: `classifier_dropout`, or else
    /// `hidden_dropout_prob`, as in `transformers`.
    pub fn classifier_dropout_prob(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }
}
