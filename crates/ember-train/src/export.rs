//! Exporting a run's model for the Python ecosystem.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde_json::{Map, Value};

use crate::recipe::{Recipe, SourceKind};
use crate::registry::{BertParts, load_run};
use crate::task::TextClassification;
use crate::{RunReport, TrainError};
use ember_models::bert::{Direction, NameMap};

/// Files of a Hugging Face model folder that describe its tokenizer, copied when present.
const TOKENIZER_FILES: [&str; 4] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
];

/// What [`export_hf`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct HfExport {
    /// The folder.
    pub dir: PathBuf,
    /// The files in it.
    pub files: Vec<String>,
}

/// Writes the final model of the `bert` run in `run_dir` as a Hugging Face
/// `BertForSequenceClassification` folder `out`: `model.safetensors` (PyTorch names and
/// layout, `format: pt` metadata), `config.json` (the pretrained model's, with the
/// architecture and the labels set) and the tokenizer files, so that
/// `transformers.AutoModelForSequenceClassification.from_pretrained(out)` loads it unchanged,
/// and `sparsity.json`, the zeros the run measured in every tensor under the file's names.
///
/// The folder is written beside `out` under a temporary name and renamed into place, so a
/// failed export leaves no half-written folder; an existing `out` is replaced only then.
///
/// # Errors
///
/// A run that is not a `bert` run, an unreadable recipe, model folder or checkpoint, and
/// failed writes, each naming the file.
pub fn export_hf(run_dir: &Path, out: &Path) -> Result<HfExport, TrainError> {
    // Only an earlier export (a folder whose every file its SHA256SUMS lists) is replaced.
    crate::files::refuse_to_replace(out, is_hf_export)?;
    let recipe = Recipe::load(&run_dir.join("recipe.toml"), &[])?;
    if recipe.model.name() != "bert" {
        return Err(TrainError::Invalid {
            field: "model.kind".into(),
            value: recipe.model.name().into(),
            message: "the Hugging Face export writes BERT-family models; this run trained \
                      an image model"
                .into(),
        });
    }
    let parts = BertParts::of(&recipe)?;
    let device = Device::flex();
    let model = load_run::<TextClassification>(run_dir, &recipe, parts.architecture(&device))?;

    let write_error = |path: &Path, e: std::io::Error| TrainError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
    let partial = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| write_error(&partial, e))?;
    }
    std::fs::create_dir_all(&partial).map_err(|e| write_error(&partial, e))?;
    let result = (|| {
        let mut files = Vec::new();
        model.save_hf_weights(partial.join("model.safetensors"))?;
        files.push("model.safetensors".to_string());

        let config = classifier_config(&parts.dir.join("config.json"), &recipe, parts.num_labels)?;
        let path = partial.join("config.json");
        std::fs::write(&path, config).map_err(|e| write_error(&path, e))?;
        files.push("config.json".to_string());

        let sparsity = hf_sparsity(run_dir)?;
        let path = partial.join("sparsity.json");
        std::fs::write(&path, sparsity).map_err(|e| write_error(&path, e))?;
        files.push("sparsity.json".to_string());

        for file in TOKENIZER_FILES {
            let from = parts.dir.join(file);
            if from.is_file() {
                let to = partial.join(file);
                std::fs::copy(&from, &to).map_err(|e| write_error(&to, e))?;
                files.push(file.to_string());
            }
        }
        // The sums beside the files (transformers ignores the extra file): `sha256sum -c
        // SHA256SUMS` in the folder checks every one.
        for file in &files {
            crate::files::record_file(&partial.join(file))?;
        }
        files.push(crate::MANIFEST.to_string());
        Ok::<_, TrainError>(files)
    })();
    let files = match result {
        Ok(files) => files,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(error);
        }
    };
    // Replace an older export only once the new one is whole.
    if out.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(out, &old).map_err(|e| write_error(out, e))?;
        std::fs::rename(&partial, out).map_err(|e| write_error(out, e))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&partial, out).map_err(|e| write_error(out, e))?;
    }
    Ok(HfExport {
        dir: out.to_path_buf(),
        files,
    })
}

/// Whether `dir` is a folder [`export_hf`] wrote: it holds `SHA256SUMS`, `sparsity.json` and
/// `config.json`, and nothing its manifest does not list.
fn is_hf_export(dir: &Path) -> bool {
    let (Ok(listed), Ok(entries)) = (crate::files::read_manifest(dir), std::fs::read_dir(dir))
    else {
        return false;
    };
    listed.contains_key("sparsity.json")
        && listed.contains_key("config.json")
        && entries.flatten().all(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name == crate::MANIFEST || listed.contains_key(&name)
        })
}

/// `sparsity.json`: the run's measured zeros per tensor (`report.json`), under the names
/// the exported checkpoint gives the tensors, so that anyone can check the file against the
/// run's claims (the round-trip xtask does, with `transformers`).
fn hf_sparsity(run_dir: &Path) -> Result<String, TrainError> {
    let path = run_dir.join("report.json");
    let error = |message: String| TrainError::LoadWeights {
        path: path.clone(),
        model: "bert".into(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| error(e.to_string()))?;
    let report: RunReport =
        serde_json::from_str(&text).map_err(|e| error(format!("not an Ember report: {e}")))?;
    let names = NameMap::new(Direction::EmberToHf, "bert.", "bert.");
    let tensors: Map<String, Value> = report
        .layers
        .iter()
        .map(|layer| {
            let renamed = names.rename(&layer.path);
            // burn's LayerNorm calls its parameters gamma and beta; PyTorch's, weight and bias.
            let name = match renamed.rsplit_once('.') {
                Some((stem, "gamma")) => format!("{stem}.weight"),
                Some((stem, "beta")) => format!("{stem}.bias"),
                _ => renamed,
            };
            let entry = serde_json::json!({
                "numel": layer.numel,
                "zeros": layer.zeros,
                "pruned": layer.selected,
            });
            (name, entry)
        })
        .collect();
    let summary = serde_json::json!({
        "sparsity": report.sparsity.ratio,
        "tensors": tensors,
    });
    Ok(serde_json::to_string_pretty(&summary).expect("JSON serialises"))
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
