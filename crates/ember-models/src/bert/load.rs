use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use burn::module::Module;
use burn::store::{
    ApplyError, BurnToPyTorchAdapter, ChainAdapter, FloatCastAdapter, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, SafetensorsStore,
};
use burn::tensor::{DType, Device};

use super::{
    Bert, BertConfig, BertError, BertForSequenceClassification, Direction, NameMap, ShapeMismatch,
};

/// The prefix of a BERT's tensors in `transformers`' task checkpoints.
const TASK_PREFIX: &str = "bert.";

/// Loads a Hugging Face BERT directory: `config.json` and `model.safetensors`.
///
/// # Errors
///
/// Any [`BertError`]: an unreadable or unsupported config, an unreadable weights file,
/// tensors missing from it or left over in it, shapes that differ from the config's.
pub fn load_hf(dir: impl AsRef<Path>, device: &Device) -> Result<Bert, BertError> {
    let dir = dir.as_ref();
    load_hf_files(
        dir.join("config.json"),
        dir.join("model.safetensors"),
        device,
    )
}

/// Loads a Hugging Face BERT from its `config.json` and its safetensors weights.
///
/// # Errors
///
/// As [`load_hf`].
pub fn load_hf_files(
    config: impl AsRef<Path>,
    weights: impl AsRef<Path>,
    device: &Device,
) -> Result<Bert, BertError> {
    BertConfig::from_file(config)?
        .init(device)
        .load_hf_weights(weights)
}

impl Bert {
    /// Replaces every parameter with the tensor of a Hugging Face safetensors checkpoint.
    ///
    /// The file is a `BertModel`'s (`embeddings.…`, `encoder.layer.N.…`, `pooler.dense.…`),
    /// or has the same names under `bert.` as `transformers`' task models write them.
    /// `Linear` weights are transposed from PyTorch's `[out, in]`, and tensors are cast to the
    /// device's float type. The only tensor that may be left over is the
    /// `embeddings.position_ids` buffer.
    ///
    /// # Errors
    ///
    /// [`BertError::Missing`], [`BertError::Unused`] and [`BertError::Shape`] name the
    /// tensors as the file names them; [`BertError::Weights`] covers an unreadable file.
    pub fn load_hf_weights(self, path: impl AsRef<Path>) -> Result<Self, BertError> {
        let path = path.as_ref();
        let names = tensor_names(path)?;
        let under_task_prefix = !names.contains("embeddings.word_embeddings.weight")
            && names.contains("bert.embeddings.word_embeddings.weight");
        let hf_prefix = if under_task_prefix { TASK_PREFIX } else { "" };
        load_weights(self, path, &names, hf_prefix, "")
    }

    /// Writes the parameters as a Hugging Face `BertModel` safetensors checkpoint, which
    /// `transformers` loads (PyTorch layout and names, `format: pt` metadata). An existing
    /// file is replaced.
    ///
    /// # Errors
    ///
    /// [`BertError::Weights`] if the file cannot be written.
    pub fn save_hf_weights(&self, path: impl AsRef<Path>) -> Result<(), BertError> {
        save_weights(self, path.as_ref(), "", "")
    }
}

impl BertForSequenceClassification {
    /// Replaces every parameter with the tensor of a `transformers`
    /// `BertForSequenceClassification` safetensors checkpoint (`bert.…` and `classifier.…`).
    ///
    /// To start a classifier from a plain `BertModel` checkpoint instead, load the encoder
    /// with [`Bert::load_hf_weights`] and add a head with [`BertConfig::with_classifier`].
    ///
    /// # Errors
    ///
    /// As [`Bert::load_hf_weights`].
    pub fn load_hf_weights(self, path: impl AsRef<Path>) -> Result<Self, BertError> {
        let path = path.as_ref();
        let names = tensor_names(path)?;
        load_weights(self, path, &names, TASK_PREFIX, TASK_PREFIX)
    }

    /// Writes the parameters as a `transformers` `BertForSequenceClassification` safetensors
    /// checkpoint. An existing file is replaced.
    ///
    /// # Errors
    ///
    /// [`BertError::Weights`] if the file cannot be written.
    pub fn save_hf_weights(&self, path: impl AsRef<Path>) -> Result<(), BertError> {
        save_weights(self, path.as_ref(), TASK_PREFIX, TASK_PREFIX)
    }
}

/// The names of the tensors in a safetensors file, as the file spells them.
fn tensor_names(path: &Path) -> Result<BTreeSet<String>, BertError> {
    check_header(path)?;
    let names = SafetensorsStore::from_file(path).keys().map_err(|error| {
        BertError::weights_caused(path, format!("cannot read the tensors: {error}"), error)
    })?;
    Ok(names.into_iter().collect())
}

/// [`crate::safetensors_header::check`] as a [`BertError`].
fn check_header(path: &Path) -> Result<(), BertError> {
    crate::safetensors_header::check(path).map_err(|(message, source)| match source {
        Some(error) => BertError::weights_caused(path, message, error),
        None => BertError::weights(path, message),
    })
}

/// Loads the tensors of `path` (whose names are `names`) into `model`, a BERT's names being
/// under `hf_prefix` in the file and under `ember_prefix` in the model.
fn load_weights<M: Module>(
    mut model: M,
    path: &Path,
    names: &BTreeSet<String>,
    hf_prefix: &str,
    ember_prefix: &str,
) -> Result<M, BertError> {
    let to_ember = NameMap::new(Direction::HfToEmber, hf_prefix, ember_prefix);
    let to_hf = NameMap::new(Direction::EmberToHf, hf_prefix, ember_prefix);
    // Every tensor of the file under the name the store will give it.
    let renamed: HashMap<String, &str> = names
        .iter()
        .map(|name| (to_ember.rename(name), name.as_str()))
        .collect();

    let device = model.devices().into_iter().next().unwrap_or_default();
    let float: DType = device.settings().float_dtype.into();
    let adapter = ChainAdapter::new(PyTorchToBurnAdapter, FloatCastAdapter::to(float));
    // No validation and partial loading: the store then reports every problem in its
    // result instead of failing on the first, and the errors below name them all.
    let mut store = SafetensorsStore::from_file(path)
        .with_from_adapter(adapter)
        .remap(to_ember.remapper())
        .validate(false)
        .allow_partial(true);
    let result = model.load_from(&mut store).map_err(|error| {
        BertError::weights_caused(path, format!("cannot load the tensors: {error}"), error)
    })?;

    let mut mismatches = Vec::new();
    let mut failures = Vec::new();
    for error in &result.errors {
        match error {
            ApplyError::ShapeMismatch {
                path: tensor,
                expected,
                found,
            } => mismatches.push(ShapeMismatch {
                tensor: file_name(tensor, &renamed, &to_hf),
                expected: expected.to_vec(),
                found: found.to_vec(),
            }),
            ApplyError::DTypeMismatch {
                path: tensor,
                expected,
                found,
            } => failures.push(format!(
                "{}: the model takes {expected:?}, the file has {found:?}",
                file_name(tensor, &renamed, &to_hf)
            )),
            ApplyError::AdapterError {
                path: tensor,
                message,
            }
            | ApplyError::LoadError {
                path: tensor,
                message,
            } => failures.push(format!(
                "{}: {message}",
                file_name(tensor, &renamed, &to_hf)
            )),
        }
    }
    if !failures.is_empty() {
        return Err(BertError::weights(path, failures.join("; ")));
    }
    if !mismatches.is_empty() {
        return Err(BertError::Shape {
            path: path.to_path_buf(),
            mismatches,
        });
    }
    if !result.missing.is_empty() {
        return Err(BertError::Missing {
            path: path.to_path_buf(),
            tensors: result
                .missing
                .iter()
                .map(|(tensor, _containers)| file_name(tensor, &renamed, &to_hf))
                .collect(),
        });
    }
    // The position ids are a constant buffer (`arange`) that `transformers` may save.
    let position_ids = format!("{hf_prefix}embeddings.position_ids");
    let unused: Vec<String> = result
        .unused
        .iter()
        .map(|tensor| {
            renamed
                .get(tensor)
                .map_or_else(|| tensor.clone(), |name| name.to_string())
        })
        .filter(|name| *name != position_ids)
        .collect();
    if !unused.is_empty() {
        return Err(BertError::Unused {
            path: path.to_path_buf(),
            tensors: unused,
        });
    }
    Ok(model)
}

/// Writes `model` to `path` in PyTorch's layout, a BERT's names going from under
/// `ember_prefix` in the model to under `hf_prefix` in the file.
fn save_weights<M: Module>(
    model: &M,
    path: &Path,
    hf_prefix: &str,
    ember_prefix: &str,
) -> Result<(), BertError> {
    let to_hf = NameMap::new(Direction::EmberToHf, hf_prefix, ember_prefix);
    // `transformers` refuses safetensors whose `format` is not "pt"; burn-store writes
    // "safetensors" unless told otherwise.
    let mut store = SafetensorsStore::from_file(path)
        .with_to_adapter(BurnToPyTorchAdapter)
        .remap(to_hf.remapper())
        .clear_metadata()
        .metadata("format", "pt")
        .overwrite(true);
    model.save_into(&mut store).map_err(|error| {
        BertError::weights_caused(path, format!("cannot save the tensors: {error}"), error)
    })
}

/// The name in the file of the model's parameter `model_path`: the file's own spelling when
/// it holds the tensor, else the name a Hugging Face checkpoint gives it.
///
/// burn's `LayerNorm` calls its parameters `gamma` and `beta`, PyTorch `weight` and `bias`
/// (the only parameters so named in a BERT are layer norms).
fn file_name(model_path: &str, renamed: &HashMap<String, &str>, to_hf: &NameMap) -> String {
    if let Some(name) = renamed.get(model_path) {
        return name.to_string();
    }
    let pytorch = match model_path.rsplit_once('.') {
        Some((parent, "gamma")) => format!("{parent}.weight"),
        Some((parent, "beta")) => format!("{parent}.bias"),
        _ => model_path.to_string(),
    };
    match renamed.get(&pytorch) {
        Some(name) => name.to_string(),
        None => to_hf.rename(&pytorch),
    }
}
