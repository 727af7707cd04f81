//! The `bert` family's Hugging Face files: `BertForSequenceClassification` weights under
//! PyTorch's names and layout, its `config.json` and the tokenizer files.

use std::path::Path;

use burn::tensor::Device;
use ember_models::bert::{Direction, NameMap};
use ember_train::recipe::SourceKind;
use ember_train::{Recipe, Registries, TrainError, load_run};
use serde_json::{Map, Value};

use super::{BertParts, TextClassification};

/// Files of a Hugging Face model folder that describe its tokenizer, copied when present.
const TOKENIZER_FILES: [&str; 4] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
];

/// Writes the final model of the `bert` run in `run_dir` into `folder`: `model.safetensors`
/// (PyTorch names and layout, `format: pt` metadata), `config.json` (the pretrained model's,
/// with the architecture and the labels set) and the tokenizer files the model folder has.
pub(super) fn write_hf(
    run_dir: &Path,
    recipe: &Recipe,
    registries: &Registries,
    folder: &Path,
) -> Result<Vec<String>, TrainError> {
    let parts = BertParts::of(recipe)?;
    let device = Device::flex();
    let model =
        load_run::<TextClassification>(run_dir, recipe, parts.architecture(&device), registries)?;
    let write_error = |path: &Path, e: std::io::Error| TrainError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut files = Vec::new();
    model.save_hf_weights(folder.join("model.safetensors"))?;
    files.push("model.safetensors".to_string());

    let config = classifier_config(&parts.dir.join("config.json"), recipe, parts.num_labels)?;
    let path = folder.join("config.json");
    std::fs::write(&path, config).map_err(|e| write_error(&path, e))?;
    files.push("config.json".to_string());

    for file in TOKENIZER_FILES {
        let from = parts.dir.join(file);
        if from.is_file() {
            let to = folder.join(file);
            std::fs::copy(&from, &to).map_err(|e| write_error(&to, e))?;
            files.push(file.to_string());
        }
    }
    Ok(files)
}

/// The name of the burn tensor at `path` in the exported checkpoint.
pub(super) fn hf_tensor_name(path: &str) -> String {
    let renamed = NameMap::new(Direction::EmberToHf, "bert.", "bert.").rename(path);
    // burn's LayerNorm calls its parameters gamma and beta; PyTorch's, weight and bias.
    match renamed.rsplit_once('.') {
        Some((stem, "gamma")) => format!("{stem}.weight"),
        Some((stem, "beta")) => format!("{stem}.bias"),
        _ => renamed,
    }
}

/// The pretrained `config.json` with the classification head's architecture and labels.
fn classifier_config(
    path: &Path,
    recipe: &Recipe,
    num_labels: usize,
) -> Result<String, TrainError> {
    let error = |message: String| TrainError::LoadWeights {
        path: path.to_path_buf(),
        model: "bert".into(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let mut config: Map<String, Value> =
        serde_json::from_str(&text).map_err(|e| error(format!("not a JSON object: {e}")))?;
    let names: Vec<String> = match (recipe.data.source, num_labels) {
        (SourceKind::RottenTomatoes, 2) => vec!["rotten".into(), "fresh".into()],
        _ => (0..num_labels).map(|i| format!("LABEL_{i}")).collect(),
    };
    let id2label: Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (i.to_string(), Value::from(n.clone())))
        .collect();
    let label2id: Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), Value::from(i)))
        .collect();
    config.insert(
        "architectures".into(),
        Value::from(vec!["BertForSequenceClassification"]),
    );
    config.insert("id2label".into(), Value::Object(id2label));
    config.insert("label2id".into(), Value::Object(label2id));
    config.insert(
        "problem_type".into(),
        Value::from("single_label_classification"),
    );
    Ok(serde_json::to_string_pretty(&Value::Object(config)).expect("JSON serialises"))
}
