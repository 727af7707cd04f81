use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::store::{
    ApplyError, BurnToPyTorchAdapter, ChainAdapter, FloatCastAdapter, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, SafetensorsStore,
};
use burn::tensor::{DType, Device};

use super::{LlamaConfig, LlamaError, LlamaForCausalLM};

/// The shard index `transformers` writes beside sharded checkpoints.
const INDEX: &str = "model.safetensors.index.json";
/// A single-file checkpoint.
const SINGLE: &str = "model.safetensors";

/// The safetensors files of a Hugging Face model folder: `model.safetensors`, or every shard
/// that `model.safetensors.index.json` names, in order.
///
/// # Errors
///
/// [`LlamaError::Weights`]: neither file is there, the index is unreadable, or it names a
/// shard that is missing (the error names the shard and one tensor it should hold).
pub fn weight_files(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>, LlamaError> {
    let dir = dir.as_ref();
    let single = dir.join(SINGLE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join(INDEX);
    if !index.is_file() {
        return Err(LlamaError::weights(
            dir,
            format!("neither {SINGLE} nor {INDEX} is in the folder"),
        ));
    }
    let text = std::fs::read_to_string(&index).map_err(|error| {
        LlamaError::weights_caused(&index, format!("cannot read it: {error}"), error)
    })?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| LlamaError::weights_caused(&index, format!("not JSON: {error}"), error))?;
    let Some(map) = value.get("weight_map").and_then(|m| m.as_object()) else {
        return Err(LlamaError::weights(&index, "no `weight_map` object"));
    };
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for (tensor, file) in map {
        let Some(file) = file.as_str() else {
            return Err(LlamaError::weights(
                &index,
                format!("the shard of `{tensor}` is {file}, not a file name"),
            ));
        };
        if file.contains('/') || file.contains('\\') || file == ".." {
            return Err(LlamaError::weights(
                &index,
                format!("the shard `{file}` of `{tensor}` is not a file of the folder"),
            ));
        }
        files
            .entry(file.to_string())
            .or_insert_with(|| tensor.clone());
    }
    if files.is_empty() {
        return Err(LlamaError::weights(
            &index,
            "the weight_map names no tensor",
        ));
    }
    files
        .into_iter()
        .map(|(file, tensor)| {
            let path = dir.join(&file);
            if path.is_file() {
                Ok(path)
            } else {
                Err(LlamaError::weights(
                    &index,
                    format!("names the shard `{file}` (holding `{tensor}`), which is missing"),
                ))
            }
        })
        .collect()
}

/// The names of the tensors of one safetensors file.
fn tensor_names(path: &Path) -> Result<Vec<String>, LlamaError> {
    crate::safetensors_header::check(path).map_err(|(message, source)| match source {
        Some(error) => LlamaError::weights_caused(path, message, error),
        None => LlamaError::weights(path, message),
    })?;
    SafetensorsStore::from_file(path).keys().map_err(|error| {
        LlamaError::weights_caused(path, format!("cannot read the tensors: {error}"), error)
    })
}

/// How many names an error lists before it counts the rest.
const LISTED: usize = 8;

fn listed(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(LISTED)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        text.push_str(&format!(" and {} more", names.len() - LISTED));
    }
    text
}

impl LlamaForCausalLM {
    /// Loads a Hugging Face model folder: `config.json` and one safetensors file or its
    /// shards. Tensors are cast to the device's float type (F16 and BF16 checkpoints load as
    /// f32 on the CPU backends); `Linear` weights are transposed from PyTorch's layout.
    ///
    /// # Errors
    ///
    /// [`LlamaError::Config`] for the configuration; [`LlamaError::Weights`] naming the file
    /// and the tensors for a missing shard, a tensor the model needs that no file holds, one
    /// that no parameter takes, one held twice, or one of the wrong shape.
    pub fn load_hf(
        dir: impl AsRef<Path>,
        device: &Device,
    ) -> Result<(Self, LlamaConfig), LlamaError> {
        let dir = dir.as_ref();
        let config = LlamaConfig::from_file(dir.join("config.json"))?;
        let files = weight_files(dir)?;
        let mut model = config.init(device);
        let expected: BTreeSet<String> = model
            .collect(None, None, false)
            .into_iter()
            .map(|t| t.name)
            .collect();
        let float: DType = device.settings().float_dtype.into();
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut problems = Vec::new();
        for file in &files {
            for name in tensor_names(file)? {
                if let Some(first) = seen.insert(name.clone(), file.clone()) {
                    problems.push(format!(
                        "`{name}` is in both {} and {}",
                        first.display(),
                        file.display()
                    ));
                }
            }
            let adapter = ChainAdapter::new(PyTorchToBurnAdapter, FloatCastAdapter::to(float));
            let mut store = SafetensorsStore::from_file(file)
                .with_from_adapter(adapter)
                .validate(false)
                .allow_partial(true);
            let result = model.load_from(&mut store).map_err(|error| {
                LlamaError::weights_caused(file, format!("cannot load the tensors: {error}"), error)
            })?;
            for error in &result.errors {
                problems.push(match error {
                    ApplyError::ShapeMismatch {
                        path,
                        expected,
                        found,
                    } => format!(
                        "`{path}` is {found:?} in the file (PyTorch layout), the model needs \
                         {expected:?} (burn layout)"
                    ),
                    ApplyError::DTypeMismatch {
                        path,
                        expected,
                        found,
                    } => format!("`{path}`: the model takes {expected:?}, the file has {found:?}"),
                    ApplyError::AdapterError { path, message }
                    | ApplyError::LoadError { path, message } => format!("`{path}`: {message}"),
                });
            }
        }
        let missing: Vec<String> = expected
            .iter()
            .filter(|name| !seen.contains_key(*name))
            .cloned()
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{} tensor(s) the model needs are in no file: {}",
                missing.len(),
                listed(&missing)
            ));
        }
        // Older checkpoints save the rotary frequencies, a constant Ember computes.
        let unused: Vec<String> = seen
            .keys()
            .filter(|name| !expected.contains(*name) && !name.ends_with("rotary_emb.inv_freq"))
            .cloned()
            .collect();
        if !unused.is_empty() {
            problems.push(format!(
                "{} tensor(s) have no place in a {} of this config{}: {}",
                unused.len(),
                config.family.architecture(),
                if config.tie_word_embeddings {
                    " (tie_word_embeddings is true)"
                } else {
                    ""
                },
                listed(&unused)
            ));
        }
        if !problems.is_empty() {
            return Err(LlamaError::weights(dir, problems.join("; ")));
        }
        Ok((model, config))
    }

    /// Writes a Hugging Face folder that `transformers` loads: `config.json` (`config`'s)
    /// and `model.safetensors` (PyTorch layout and names, `format: pt`). Existing files are
    /// replaced.
    ///
    /// # Errors
    ///
    /// [`LlamaError::Weights`] if a file cannot be written.
    pub fn save_hf(&self, config: &LlamaConfig, dir: impl AsRef<Path>) -> Result<(), LlamaError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|error| {
            LlamaError::weights_caused(dir, format!("cannot create the folder: {error}"), error)
        })?;
        let config_path = dir.join("config.json");
        let text =
            serde_json::to_string_pretty(&config.to_hf_json()).expect("a JSON value serialises");
        std::fs::write(&config_path, text).map_err(|error| {
            LlamaError::weights_caused(&config_path, format!("cannot write it: {error}"), error)
        })?;
        let path = dir.join(SINGLE);
        let mut store = SafetensorsStore::from_file(&path)
            .with_to_adapter(BurnToPyTorchAdapter)
            .clear_metadata()
            .metadata("format", "pt")
            .overwrite(true);
        self.save_into(&mut store).map_err(|error| {
            LlamaError::weights_caused(&path, format!("cannot save the tensors: {error}"), error)
        })
    }
}
