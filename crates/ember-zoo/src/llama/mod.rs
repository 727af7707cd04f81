//! `llama`: Llama-family decoder language models (Llama, Qwen2, Mistral) on a text corpus,
//! trained from scratch with the recipe's sizes or started from a Hugging Face folder; its
//! task ([`CausalLm`]), [`perplexity`] as the papers measure it, and the Hugging Face export.
//!
//! ```toml
//! [model]
//! kind = "llama"
//! # dir = "models/SmolLM-135M"   # a pretrained folder; else the sizes below (defaults shown)
//! hidden_size = 256
//! num_hidden_layers = 4
//! num_attention_heads = 8
//! num_key_value_heads = 4
//! intermediate_size = 688
//! # tokenizer = "…/tokenizer.json"   # default: the folder's, else the corpus's
//!
//! [data]
//! source = "kjv"      # or "corpus" with dir = a folder of train.txt, valid.txt, test.txt
//! seqlen = 128
//! ```

mod parts;
mod perplexity;
mod task;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ember_data::WindowBatch;
use ember_models::{LlamaConfig, LlamaForCausalLM};
use ember_sparsity::{Sparse, SparsityPlan};
use ember_train::layerwise::prune_layer_by_layer;
use ember_train::oneshot::PruneSource;
use ember_train::{
    Evaluation, ModelEntry, Recipe, Registries, RunOptions, RunReport, TrainError, load_run,
    prune_task, run_task, try_init_on_host,
};
use serde::Deserialize;

pub use parts::{DEFAULT_SEQLEN, LlamaParts};
pub use perplexity::{Perplexity, perplexity, text_windows};
pub use task::CausalLm;

/// `[model]` settings of `kind = "llama"`: the sizes of a model trained from scratch (with
/// `model.dir`, the folder's `config.json` gives them and these must be left out).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlamaSettings {
    /// Width of the hidden states (default 256).
    pub hidden_size: Option<usize>,
    /// Decoder layers (default 4).
    pub num_hidden_layers: Option<usize>,
    /// Query heads (default 8).
    pub num_attention_heads: Option<usize>,
    /// Key and value heads (default 4: grouped-query attention).
    pub num_key_value_heads: Option<usize>,
    /// Width of the SwiGLU MLP (default 688).
    pub intermediate_size: Option<usize>,
    /// Whether the head is the token embedding (default false).
    pub tie_word_embeddings: Option<bool>,
    /// The `tokenizer.json` (default: the model folder's, else the corpus folder's).
    pub tokenizer: Option<PathBuf>,
}

impl LlamaSettings {
    /// The first size given, if any (they conflict with a pretrained folder).
    fn size_given(&self) -> Option<&'static str> {
        [
            ("hidden_size", self.hidden_size.is_some()),
            ("num_hidden_layers", self.num_hidden_layers.is_some()),
            ("num_attention_heads", self.num_attention_heads.is_some()),
            ("num_key_value_heads", self.num_key_value_heads.is_some()),
            ("intermediate_size", self.intermediate_size.is_some()),
            ("tie_word_embeddings", self.tie_word_embeddings.is_some()),
        ]
        .into_iter()
        .find(|(_, given)| *given)
        .map(|(name, _)| name)
    }

    /// Refuses sizes given beside a pretrained folder `dir`, whose `config.json` sets them.
    pub fn refuse_sizes_beside(&self, dir: &Path) -> Result<(), TrainError> {
        match self.size_given() {
            None => Ok(()),
            Some(field) => Err(TrainError::Invalid {
                field: format!("model.{field}"),
                value: "(given)".into(),
                message: format!(
                    "the architecture comes from {}: leave the sizes out",
                    dir.join("config.json").display()
                ),
            }),
        }
    }

    /// The architecture of a model trained from scratch on a vocabulary of `vocab` tokens and
    /// windows of `seqlen`; sizes are checked, naming the field.
    pub fn config(&self, vocab: usize, seqlen: usize) -> Result<LlamaConfig, TrainError> {
        let hidden = self.hidden_size.unwrap_or(256);
        let layers = self.num_hidden_layers.unwrap_or(4);
        let heads = self.num_attention_heads.unwrap_or(8);
        let kv_heads = self.num_key_value_heads.unwrap_or(4);
        let intermediate = self.intermediate_size.unwrap_or(688);
        for (field, value, limit) in [
            ("model.hidden_size", hidden, 1 << 16),
            ("model.num_hidden_layers", layers, 1 << 10),
            ("model.num_attention_heads", heads, 1 << 10),
            ("model.num_key_value_heads", kv_heads, 1 << 10),
            ("model.intermediate_size", intermediate, 1 << 18),
        ] {
            crate::check_size(field, value, limit)?;
        }
        let bad = |field: &str, value: usize, message: String| TrainError::Invalid {
            field: field.into(),
            value: value.to_string(),
            message,
        };
        if !hidden.is_multiple_of(heads) || !(hidden / heads).is_multiple_of(2) {
            return Err(bad(
                "model.num_attention_heads",
                heads,
                format!("must split hidden_size {hidden} into heads of an even width"),
            ));
        }
        if !heads.is_multiple_of(kv_heads) {
            return Err(bad(
                "model.num_key_value_heads",
                kv_heads,
                format!("must divide num_attention_heads {heads}"),
            ));
        }
        let mut config =
            LlamaConfig::llama(vocab, hidden, layers, heads, kv_heads, intermediate, seqlen);
        config.tie_word_embeddings = self.tie_word_embeddings.unwrap_or(false);
        Ok(config)
    }
}

/// Llama-family decoders on a corpus.
pub(crate) struct LlamaEntry;

/// Whether `source` is a Hugging Face model folder rather than a run or a weights file.
fn is_hf_folder(source: &Path) -> bool {
    source.join("config.json").is_file()
        && !source.join("model.bpk").is_file()
        && !source.join("dense.bpk").is_file()
}

impl ModelEntry for LlamaEntry {
    fn validate(&self, recipe: &Recipe) -> Result<(), TrainError> {
        let settings: LlamaSettings = recipe.model.settings()?;
        if !recipe.data.source.is_corpus() {
            return Err(TrainError::Invalid {
                field: "data.source".into(),
                value: format!("{:?}", recipe.data.source),
                message: "a `llama` model reads running text: use `kjv` or `corpus`".into(),
            });
        }
        let seqlen = recipe.data.seqlen.unwrap_or(DEFAULT_SEQLEN);
        crate::check_size("data.seqlen", seqlen, 1 << 17)?;
        if seqlen < 2 {
            return Err(TrainError::Invalid {
                field: "data.seqlen".into(),
                value: seqlen.to_string(),
                message: "a window needs at least 2 tokens: one to read, one to predict".into(),
            });
        }
        match &recipe.model.dir {
            Some(dir) => settings.refuse_sizes_beside(dir)?,
            // The sizes alone (the vocabulary comes with the tokenizer).
            None => drop(settings.config(2, seqlen)?),
        }
        Ok(())
    }

    fn run(&self, recipe: &Recipe, options: &RunOptions) -> Result<RunReport, TrainError> {
        let parts = LlamaParts::of(recipe, None)?;
        let device = options.main_device()?;
        // Built (or read) on the host from the recipe seed: every backend starts alike.
        let model = try_init_on_host(recipe.weights_seed(), device, |host| match &parts.dir {
            Some(dir) => LlamaForCausalLM::load_hf(dir, host).map(|(model, _)| model),
            None => Ok(parts.architecture(host)),
        })?;
        let data = parts.data(recipe, device)?;
        run_task::<CausalLm>(recipe, options, model, data)
    }

    fn bind(
        &self,
        recipe: &Recipe,
        plan: SparsityPlan,
        device: &Device,
    ) -> Result<bool, TrainError> {
        if recipe.data.dir.is_none() {
            return Ok(false);
        }
        let parts = LlamaParts::of(recipe, None)?;
        Sparse::new(parts.architecture(device), plan)?;
        Ok(true)
    }

    fn evaluate(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        registries: &Registries,
        device: &Device,
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        if !texts.is_empty() {
            return Err(TrainError::Invalid {
                field: "--text".into(),
                value: texts[0].clone(),
                message: "a language model is evaluated by perplexity on its test split; for \
                          a text file of your own, use `ember perplexity RUN FILE`"
                    .into(),
            });
        }
        let parts = LlamaParts::of(recipe, None)?;
        let model = load_run::<CausalLm>(run_dir, recipe, parts.architecture(device), registries)?;
        let test = parts.windows("test.txt")?;
        let measured = perplexity(
            &model,
            parts.config.max_sequence(),
            &test,
            recipe.data.batch_size,
            device,
        )?;
        Ok(Evaluation::Perplexity {
            perplexity: measured.perplexity,
            loss: measured.loss,
            tokens: measured.tokens,
        })
    }

    fn prune(
        &self,
        recipe: &Recipe,
        options: &RunOptions,
        source: &Path,
        calibration: usize,
    ) -> Result<RunReport, TrainError> {
        let device = options.main_device()?;
        let hf = is_hf_folder(source);
        // The pruned run records the architecture it prunes: the folder's, or the source
        // run's `[model]`, so that `ember eval` and `ember export` of it rebuild the model.
        let mut recipe = recipe.clone();
        if hf {
            recipe.model.dir = Some(source.to_path_buf());
        } else if source.join("recipe.toml").is_file() {
            let trained = Recipe::load(&source.join("recipe.toml"), &[])?;
            if trained.model.name() != "llama" {
                return Err(TrainError::Invalid {
                    field: "source".into(),
                    value: source.display().to_string(),
                    message: format!("is a `{}` run, not a `llama` one", trained.model.name()),
                });
            }
            recipe.model = trained.model;
        }
        let recipe = &recipe;
        let parts = LlamaParts::of(recipe, None)?;
        let data = parts.data(recipe, device)?;
        let (model, from) = if hf {
            let (model, _) = LlamaForCausalLM::load_hf(source, device)?;
            (model, PruneSource::Loaded(source))
        } else {
            (parts.architecture(device), PruneSource::Checkpoint(source))
        };
        if recipe.prunes_layer_by_layer().is_some() {
            return prune_layer_by_layer::<CausalLm, _>(
                recipe,
                options,
                model,
                data,
                from,
                calibration,
                |batch: &WindowBatch| batch.tokens.clone(),
            );
        }
        prune_task::<CausalLm>(recipe, options, model, data, from, calibration, None)
    }

    fn write_hf(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        registries: &Registries,
        folder: &Path,
    ) -> Result<Vec<String>, TrainError> {
        let parts = LlamaParts::of(recipe, None)?;
        let host = Device::flex();
        let model = load_run::<CausalLm>(run_dir, recipe, parts.architecture(&host), registries)?;
        model.save_hf(&parts.config, folder)?;
        std::fs::copy(&parts.tokenizer, folder.join("tokenizer.json")).map_err(|error| {
            TrainError::Write {
                path: folder.join("tokenizer.json"),
                message: format!("cannot copy {}: {error}", parts.tokenizer.display()),
            }
        })?;
        Ok(vec![
            "config.json".into(),
            "model.safetensors".into(),
            "tokenizer.json".into(),
        ])
    }
}

/// The perplexity of a model folder or a finished `llama` run on the text file `text`, with
/// the papers' protocol: `path` is a Hugging Face folder (config, safetensors single or
/// sharded, `tokenizer.json`) or a run directory (its `recipe.toml`, final weights and the
/// recipe's tokenizer). `seqlen` defaults to the run's `data.seqlen`, or a folder's
/// positions capped at 2048.
///
/// # Errors
///
/// Any [`TrainError`]: an unreadable folder or run, a text shorter than one window, a window
/// longer than the model takes.
pub fn perplexity_of(
    path: &Path,
    text: &Path,
    seqlen: Option<usize>,
    batch: usize,
    device: &Device,
    registries: &Registries,
) -> Result<Perplexity, TrainError> {
    if path.join("recipe.toml").is_file() {
        let recipe = Recipe::load(&path.join("recipe.toml"), &[])?;
        if recipe.model.name() != "llama" {
            return Err(TrainError::Invalid {
                field: "model.kind".into(),
                value: recipe.model.name().into(),
                message: format!(
                    "{} is not a language model's run: perplexity needs a `llama` run",
                    path.display()
                ),
            });
        }
        let parts = LlamaParts::of(&recipe, None)?;
        let model = load_run::<CausalLm>(path, &recipe, parts.architecture(device), registries)?;
        let seqlen = seqlen.unwrap_or(parts.seqlen);
        parts.config.check_sequence(seqlen)?;
        let windows = parts.text_windows(text, seqlen)?;
        return perplexity(&model, parts.config.max_sequence(), &windows, batch, device);
    }
    let (model, config) = LlamaForCausalLM::load_hf(path, device)?;
    let seqlen = seqlen.unwrap_or(config.max_sequence().min(2048));
    config.check_sequence(seqlen)?;
    let windows = text_windows(&path.join("tokenizer.json"), text, seqlen)?;
    perplexity(&model, config.max_sequence(), &windows, batch, device)
}
