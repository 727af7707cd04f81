use std::path::Path;

use serde_json::{Map, Value, json};

use super::LlamaError;

/// Which `transformers` class a checkpoint is: one implementation covers the three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecoderFamily {
    /// `LlamaForCausalLM` (`model_type: llama`): biases only with `attention_bias` or
    /// `mlp_bias`.
    Llama,
    /// `Qwen2ForCausalLM`: biases on the query, key and value projections.
    Qwen2,
    /// `MistralForCausalLM`, without a sliding window shorter than the sequences it reads.
    Mistral,
}

impl DecoderFamily {
    /// The `model_type` of `config.json`.
    pub fn model_type(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Qwen2 => "qwen2",
            Self::Mistral => "mistral",
        }
    }

    /// The `transformers` class that loads it.
    pub fn architecture(self) -> &'static str {
        match self {
            Self::Llama => "LlamaForCausalLM",
            Self::Qwen2 => "Qwen2ForCausalLM",
            Self::Mistral => "MistralForCausalLM",
        }
    }
}

/// The hyper-parameters of a Llama-family decoder, read from a Hugging Face `config.json`
/// (field names are `transformers`'). Fields that change the computation and that Ember does
/// not implement (`rope_scaling`, another activation, attention dropout, sliding-window
/// layers, …) and fields it does not know are errors naming them, never silent defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// Which class the checkpoint is.
    pub family: DecoderFamily,
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key and value heads (grouped-query attention when fewer than the query heads).
    pub num_key_value_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Epsilon of every RMSNorm.
    pub rms_norm_eps: f64,
    /// The base of the rotary position embedding.
    pub rope_theta: f64,
    /// The longest sequence the model takes.
    pub max_position_embeddings: usize,
    /// Whether the output head is the token embedding (no `lm_head` tensor).
    pub tie_word_embeddings: bool,
    /// Biases on the query, key and value projections.
    pub qkv_bias: bool,
    /// A bias on the attention's output projection.
    pub o_bias: bool,
    /// Biases on the MLP's projections.
    pub mlp_bias: bool,
    /// Mistral's and Qwen2's window: sequences longer than it are refused (within it,
    /// attention is plain causal attention).
    pub sliding_window: Option<usize>,
    raw: Option<Map<String, Value>>,
}

/// Keys that describe the file or generation, not the computation.
const IGNORED: &[&str] = &[
    "architectures",
    "model_type",
    "transformers_version",
    "torch_dtype",
    "dtype",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "initializer_range",
    "use_cache",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "max_window_layers",
];

impl LlamaConfig {
    /// A Llama (untied head, no biases, `rope_theta` 10,000, eps 1e-5) of the given sizes, for
    /// training from scratch.
    pub fn llama(
        vocab_size: usize,
        hidden_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        num_key_value_heads: usize,
        intermediate_size: usize,
        max_position_embeddings: usize,
    ) -> Self {
        Self {
            family: DecoderFamily::Llama,
            vocab_size,
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim: hidden_size / num_attention_heads.max(1),
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            max_position_embeddings,
            tie_word_embeddings: false,
            qkv_bias: false,
            o_bias: false,
            mlp_bias: false,
            sliding_window: None,
            raw: None,
        }
    }

    /// Reads and checks a `config.json`.
    ///
    /// # Errors
    ///
    /// [`LlamaError::Config`] naming the file and the field: unreadable, an unknown
    /// architecture, a missing size, an unsupported setting, an unknown field.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| LlamaError::Config {
            path: path.into(),
            message: format!("cannot read it: {error}"),
            source: Some(Box::new(error)),
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|error| LlamaError::Config {
            path: path.into(),
            message: format!("not JSON: {error}"),
            source: Some(Box::new(error)),
        })?;
        let Value::Object(map) = value else {
            return Err(LlamaError::config(path, "not a JSON object"));
        };
        Self::from_map(map).map_err(|message| LlamaError::config(path, message))
    }

    /// Reads a parsed `config.json`; the error names the field.
    pub fn from_map(map: Map<String, Value>) -> Result<Self, String> {
        let family = match map.get("model_type").and_then(Value::as_str) {
            Some("llama") => DecoderFamily::Llama,
            Some("qwen2") => DecoderFamily::Qwen2,
            Some("mistral") => DecoderFamily::Mistral,
            Some(other) => {
                return Err(format!(
                    "model_type `{other}` is not a supported decoder (llama, qwen2, mistral)"
                ));
            }
            None => return Err("`model_type` is missing".into()),
        };
        if let Some(architectures) = map.get("architectures") {
            let names: Vec<&str> = architectures
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if names != [family.architecture()] {
                return Err(format!(
                    "architectures {architectures} is not [\"{}\"], the class of model_type `{}`",
                    family.architecture(),
                    family.model_type()
                ));
            }
        }
        let mut reader = Reader {
            map: &map,
            used: Vec::new(),
        };
        for key in IGNORED {
            reader.used.push(key);
        }
        let vocab_size = reader.size("vocab_size")?;
        let hidden_size = reader.size("hidden_size")?;
        let intermediate_size = reader.size("intermediate_size")?;
        let num_hidden_layers = reader.size("num_hidden_layers")?;
        let num_attention_heads = reader.size("num_attention_heads")?;
        let num_key_value_heads = reader
            .optional_size("num_key_value_heads")?
            .unwrap_or(num_attention_heads);
        if !num_attention_heads.is_multiple_of(num_key_value_heads) {
            return Err(format!(
                "num_key_value_heads {num_key_value_heads} does not divide num_attention_heads \
                 {num_attention_heads}"
            ));
        }
        let head_dim = match reader.optional_size("head_dim")? {
            Some(d) => d,
            None if hidden_size.is_multiple_of(num_attention_heads) => {
                hidden_size / num_attention_heads
            }
            None => {
                return Err(format!(
                    "num_attention_heads {num_attention_heads} does not divide hidden_size \
                     {hidden_size} and head_dim is not given"
                ));
            }
        };
        if !head_dim.is_multiple_of(2) {
            return Err(format!(
                "head_dim {head_dim} is odd: rotary embeddings need pairs"
            ));
        }
        let rms_norm_eps = reader.number("rms_norm_eps")?.unwrap_or(1e-6);
        let rope_theta = reader.rope()?;
        let max_position_embeddings =
            reader
                .optional_size("max_position_embeddings")?
                .unwrap_or(match family {
                    DecoderFamily::Llama => 2048,
                    DecoderFamily::Qwen2 => 32768,
                    DecoderFamily::Mistral => 131_072,
                });
        let tie_word_embeddings = reader.flag("tie_word_embeddings")?.unwrap_or(false);
        match reader.string("hidden_act")? {
            None | Some("silu") => {}
            Some(other) => {
                return Err(format!("hidden_act `{other}` is not supported (only silu)"));
            }
        }
        if let Some(p) = reader.number("attention_dropout")?
            && p != 0.0
        {
            return Err(format!("attention_dropout {p} is not supported (only 0)"));
        }
        if let Some(tp) = reader.number("pretraining_tp")?
            && tp != 1.0
        {
            return Err(format!("pretraining_tp {tp} is not supported (only 1)"));
        }
        let (mut qkv_bias, mut o_bias, mut mlp_bias) = (false, false, false);
        let mut sliding_window = None;
        match family {
            DecoderFamily::Llama => {
                let attention = reader.flag("attention_bias")?.unwrap_or(false);
                (qkv_bias, o_bias) = (attention, attention);
                mlp_bias = reader.flag("mlp_bias")?.unwrap_or(false);
            }
            DecoderFamily::Qwen2 => {
                qkv_bias = true;
                if reader.flag("use_sliding_window")?.unwrap_or(false) {
                    return Err("use_sliding_window true is not supported".into());
                }
                // Only read when use_sliding_window is on.
                reader.optional_size("sliding_window").ok();
                reader.used.push("sliding_window");
                if let Some(types) = map.get("layer_types") {
                    reader.used.push("layer_types");
                    let all_full = types
                        .as_array()
                        .is_some_and(|a| a.iter().all(|t| t == "full_attention"));
                    if !all_full {
                        return Err(format!(
                            "layer_types {types} is not supported (only full_attention)"
                        ));
                    }
                }
            }
            DecoderFamily::Mistral => {
                sliding_window = reader.optional_size("sliding_window")?;
            }
        }
        if let Some(unknown) = map
            .keys()
            .find(|key| !key.starts_with('_') && !reader.used.contains(&key.as_str()))
        {
            return Err(format!(
                "field `{unknown}` is not supported by Ember's {} decoder",
                family.model_type()
            ));
        }
        Ok(Self {
            family,
            vocab_size,
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps,
            rope_theta,
            max_position_embeddings,
            tie_word_embeddings,
            qkv_bias,
            o_bias,
            mlp_bias,
            sliding_window,
            raw: Some(map),
        })
    }

    /// The longest sequence the model takes: its positions, or a shorter sliding window.
    pub fn max_sequence(&self) -> usize {
        self.sliding_window
            .map_or(self.max_position_embeddings, |w| {
                w.min(self.max_position_embeddings)
            })
    }

    /// Refuses a sequence of `len` tokens the model cannot read as trained.
    ///
    /// # Errors
    ///
    /// [`LlamaError::Input`] naming the limit (positions or sliding window).
    pub fn check_sequence(&self, len: usize) -> Result<(), LlamaError> {
        if len > self.max_position_embeddings {
            return Err(LlamaError::Input(format!(
                "a sequence of {len} tokens is longer than the model's {} positions \
                 (max_position_embeddings)",
                self.max_position_embeddings
            )));
        }
        if let Some(window) = self.sliding_window
            && len > window
        {
            return Err(LlamaError::Input(format!(
                "a sequence of {len} tokens is longer than the sliding window of {window}, \
                 which Ember does not implement"
            )));
        }
        Ok(())
    }

    /// The `config.json` to write beside exported weights: the file read, as it was, or, for
    /// a model built here, a complete `LlamaConfig` that `transformers` loads.
    pub fn to_hf_json(&self) -> Value {
        if let Some(raw) = &self.raw {
            return Value::Object(raw.clone());
        }
        json!({
            "architectures": [self.family.architecture()],
            "model_type": self.family.model_type(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": null,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.qkv_bias,
            "mlp_bias": self.mlp_bias,
            "attention_dropout": 0.0,
            "torch_dtype": "float32",
        })
    }
}

/// Reads fields of a config, remembering which it read.
struct Reader<'a> {
    map: &'a Map<String, Value>,
    used: Vec<&'a str>,
}

impl<'a> Reader<'a> {
    fn get(&mut self, key: &'a str) -> Option<&'a Value> {
        self.used.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn optional_size(&mut self, key: &'a str) -> Result<Option<usize>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => match value.as_u64() {
                Some(n) if n > 0 => Ok(Some(n as usize)),
                _ => Err(format!("`{key}` is {value}, not a positive integer")),
            },
        }
    }

    fn size(&mut self, key: &'a str) -> Result<usize, String> {
        self.optional_size(key)?
            .ok_or_else(|| format!("`{key}` is missing"))
    }

    fn number(&mut self, key: &'a str) -> Result<Option<f64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(Some)
                .ok_or_else(|| format!("`{key}` is {value}, not a non-negative number")),
        }
    }

    fn flag(&mut self, key: &'a str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_bool()
                .map(Some)
                .ok_or_else(|| format!("`{key}` is {value}, not true or false")),
        }
    }

    fn string(&mut self, key: &'a str) -> Result<Option<&'a str>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_str()
                .map(Some)
                .ok_or_else(|| format!("`{key}` is {value}, not a string")),
        }
    }

    /// `rope_theta` from `rope_parameters` (transformers 5) or the older `rope_theta` and
    /// `rope_scaling`; only the default (unscaled) rotary embedding is supported.
    fn rope(&mut self) -> Result<f64, String> {
        let mut theta = self.number("rope_theta")?;
        if let Some(scaling) = self.get("rope_scaling") {
            return Err(format!(
                "rope_scaling {scaling} is not supported (only the default rotary embedding)"
            ));
        }
        if let Some(parameters) = self.get("rope_parameters") {
            let Some(parameters) = parameters.as_object() else {
                return Err(format!("rope_parameters {parameters} is not an object"));
            };
            for (key, value) in parameters {
                match (key.as_str(), value) {
                    ("rope_type", Value::String(t)) if t == "default" => {}
                    ("rope_theta", v) if v.as_f64().is_some_and(|t| t > 0.0) => {
                        theta = v.as_f64();
                    }
                    ("partial_rotary_factor", v) if v.as_f64() == Some(1.0) => {}
                    _ => {
                        return Err(format!(
                            "rope_parameters.{key} = {value} is not supported (only the \
                             default rotary embedding)"
                        ));
                    }
                }
            }
        }
        let theta = theta.unwrap_or(10_000.0);
        if theta <= 0.0 {
            return Err(format!("rope_theta {theta} is not positive"));
        }
        Ok(theta)
    }
}
