//! The Hugging Face export of any family that has one: the folder is written beside its
//! destination and moved into place whole, with `sparsity.json` and checksums; the family's
//! entry writes its own files ([`ModelEntry::write_hf`]).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::{ModelEntry, Recipe, Registries, RunReport, TrainError};

/// What [`export_hf`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct HfExport {
    /// The folder.
    pub dir: PathBuf,
    /// The files in it.
    pub files: Vec<String>,
}

/// Writes the final model of the run in `run_dir` as a Hugging Face model folder `out`: the
/// files of its family's [`ModelEntry::write_hf`] (for `bert`, `model.safetensors` with
/// PyTorch names and layout, `config.json` with the architecture and labels, and the tokenizer
/// files, which `transformers.AutoModelForSequenceClassification.from_pretrained(out)` loads
/// unchanged), `sparsity.json` (the zeros the run measured in every tensor, under the file's
/// names) and `SHA256SUMS`. The family and the recipe's modifiers are looked up in
/// `registries`.
///
/// The folder is written beside `out` under a temporary name and renamed into place, so a
/// failed export leaves no half-written folder; an existing `out` is replaced only then.
///
/// # Errors
///
/// A run whose family has no Hugging Face export or is not registered, an unreadable
/// recipe, model folder or checkpoint, and failed writes, each naming the file.
pub fn export_hf(
    run_dir: &Path,
    out: &Path,
    registries: &Registries,
) -> Result<HfExport, TrainError> {
    // Only an earlier export (a folder whose every file its SHA256SUMS lists) is replaced.
    crate::files::refuse_to_replace(out, is_hf_export)?;
    let recipe = Recipe::load(&run_dir.join("recipe.toml"), &[])?;
    let entry = registries.models.get(recipe.model.name())?;

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
        let mut files = entry.write_hf(run_dir, &recipe, registries, &partial)?;
        let sparsity = hf_sparsity(run_dir, entry.as_ref())?;
        let path = partial.join("sparsity.json");
        std::fs::write(&path, sparsity).map_err(|e| write_error(&path, e))?;
        files.push("sparsity.json".to_string());

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
fn hf_sparsity(run_dir: &Path, entry: &dyn ModelEntry) -> Result<String, TrainError> {
    let path = run_dir.join("report.json");
    let error = |message: String| TrainError::LoadWeights {
        path: path.clone(),
        model: "(exported)".into(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| error(e.to_string()))?;
    let report: RunReport =
        serde_json::from_str(&text).map_err(|e| error(format!("not an Ember report: {e}")))?;
    let tensors: Map<String, Value> = report
        .layers
        .iter()
        .map(|layer| {
            let name = entry.hf_tensor_name(&layer.path);
            let counts = serde_json::json!({
                "numel": layer.numel,
                "zeros": layer.zeros,
                "pruned": layer.selected,
            });
            (name, counts)
        })
        .collect();
    let summary = serde_json::json!({
        "sparsity": report.sparsity.ratio,
        "tensors": tensors,
    });
    Ok(serde_json::to_string_pretty(&summary).expect("JSON serialises"))
}
