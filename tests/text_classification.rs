//! Text classification end to end on flex with the real all-MiniLM-L6-v2: a GLUE-layout data
//! set the test writes, a dense phase, then distillation with global magnitude pruning of the
//! encoder's linear weights; the run is evaluated, exported for Hugging Face and read back.
//! Bad recipes and model folders fail with errors that name the problem.

mod common;
#[allow(dead_code)]
#[path = "common/minilm.rs"]
mod minilm;

use std::path::Path;

use burn::tensor::Device;
use ember::data::{TextBatch, TextTokenizer};
use ember::models::{BertConfig, BertForSequenceClassification};
use ember::sparsity::{SparsityReport, prune_count};
use ember::train::task::Task;
use ember::train::{Evaluation, Recipe, RunReport, TrainError, export_hf};
use ember::zoo::{TextClassification, registries};

const POSITIVE: [&str; 8] = [
    "a warm, funny and moving film",
    "brilliant acting and a gripping story",
    "one of the best movies of the year",
    "a delightful, charming surprise",
    "beautifully shot and deeply felt",
    "smart, witty and full of heart",
    "an absolute joy from start to finish",
    "the cast is superb and the script sparkles",
];
const NEGATIVE: [&str; 8] = [
    "a dull, lifeless mess",
    "boring, predictable and far too long",
    "one of the worst movies of the year",
    "the plot makes no sense at all",
    "flat characters and clumsy dialogue",
    "a tedious and forgettable sequel",
    "painfully unfunny from start to finish",
    "the script is lazy and the acting wooden",
];

/// `train.tsv` (48 rows) and `dev.tsv` (16 rows) in SST-2's layout.
fn write_glue(dir: &Path) {
    let rows = |repeat: usize| {
        let mut text = String::from("sentence\tlabel\n");
        for round in 0..repeat {
            for (p, n) in POSITIVE.iter().zip(NEGATIVE) {
                let suffix = if round == 0 { "" } else { " indeed" };
                text.push_str(&format!("{p}{suffix}\t1\n{n}{suffix}\t0\n"));
            }
        }
        text
    };
    std::fs::write(dir.join("train.tsv"), rows(3)).unwrap();
    std::fs::write(dir.join("dev.tsv"), rows(1)).unwrap();
}

const LINEAR: &str = r"re:bert\.encoder\.layers\.\d+\.(mha\.(query|key|value|output)|pwff\.linear_(inner|outer))\.weight";

fn recipe_text(data_dir: &Path, model_dir: &Path, extra: &str) -> String {
    format!(
        r#"
name = "minilm-glue-small"
seed = 3
epochs = 1
[model]
kind = "bert"
dir = "{model}"
[data]
source = "glue_tsv"
dir = "{data}"
batch_size = 16
max_len = 24
validation = 0.25
[optimizer]
kind = "adamw"
weight_decay = 0.0
[dense]
epochs = 1
lr = {{ kind = "constant", lr = 5e-5 }}
[lr]
kind = "sawtooth"
init = 5e-5
final = 1e-5
{extra}
"#,
        model = model_dir.display(),
        data = data_dir.display(),
    )
}

const PRUNE_AND_DISTILL: &str = r#"
[distill]
hardness = 0.5
temperature = 2.0
hidden = 1.0
[[modifiers]]
kind = "prune"
params = ['PARAMS']
scope = "global"
schedule = { kind = "cubic", init_sparsity = 0.6, final_sparsity = 0.6, start_epoch = 0, end_epoch = 0.5, every_epochs = 0.5 }
"#;

fn run(text: &str, out: &Path) -> Result<RunReport, TrainError> {
    let recipe = Recipe::from_toml(text, "test", &[])?;
    ember::train::run(&recipe, &common::options(out))
}

#[test]
fn a_distilled_pruned_minilm_classifier_trains_evaluates_and_exports() {
    let model_dir = minilm::model_dir();
    let data = tempfile::tempdir().unwrap();
    write_glue(data.path());
    let out = tempfile::tempdir().unwrap();
    let extra = PRUNE_AND_DISTILL.replace("PARAMS", LINEAR);
    let text = recipe_text(data.path(), &model_dir, &extra);
    let report = run(&text, out.path()).unwrap();

    // Exactly 60% of the encoder's 36 linear weights, one global ranking.
    let numel = 6 * (4 * 384 * 384 + 2 * 384 * 1536);
    assert_eq!(report.sparsity.selected_numel, numel);
    assert_eq!(report.sparsity.selected_zeros, prune_count(0.6, numel));
    assert_eq!(report.model, "bert");
    let embeddings = report
        .layers
        .iter()
        .find(|l| l.path == "bert.embeddings.word.weight")
        .expect("the embeddings are reported");
    assert!(!embeddings.selected);
    let per_layer: Vec<f64> = report
        .layers
        .iter()
        .filter(|l| l.selected)
        .map(|l| l.zeros as f64 / l.numel as f64)
        .collect();
    assert_eq!(per_layer.len(), 36);
    assert!(
        per_layer.iter().any(|&s| (s - 0.6).abs() > 0.01),
        "a global ranking gives layers different sparsities: {per_layer:?}"
    );
    let metrics = std::fs::read_to_string(out.path().join("metrics.csv")).unwrap();
    assert!(
        metrics.contains("\ndense,1,") && metrics.contains("\nsparse,1,"),
        "{metrics}"
    );

    // `ember eval`: the test split (dev.tsv, 16 rows) and predictions for given texts.
    let recipe = Recipe::load(&out.path().join("recipe.toml"), &[]).unwrap();
    let entry = ember::zoo::models().get("bert").unwrap();
    let device = Device::flex();
    match entry
        .evaluate(out.path(), &recipe, &registries(), &device, &[])
        .unwrap()
    {
        Evaluation::Accuracy { accuracy, examples } => {
            assert_eq!(examples, 16);
            assert!((accuracy - report.final_.accuracy).abs() < 1e-9);
        }
        other => panic!("{other:?}"),
    }
    let texts: Vec<String> = vec![POSITIVE[0].into(), NEGATIVE[1].into(), "é 😀".into()];
    let Evaluation::Predictions(predictions) = entry
        .evaluate(out.path(), &recipe, &registries(), &device, &texts)
        .unwrap()
    else {
        panic!("predictions expected");
    };
    assert_eq!(predictions.len(), 3);
    for p in &predictions {
        assert_eq!(p.probabilities.len(), 2);
        assert!((p.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    }

    // The sparse engine (every linear layer on the CSR kernels) gives the same accuracy and
    // the same logits to 1e-5 of the largest.
    match entry
        .evaluate_sparse(out.path(), &recipe, &registries(), &[])
        .unwrap()
    {
        Evaluation::Accuracy { accuracy, examples } => {
            assert_eq!(examples, 16);
            assert!((accuracy - report.final_.accuracy).abs() < 1e-9);
        }
        other => panic!("{other:?}"),
    }
    let Evaluation::Predictions(sparse) = entry
        .evaluate_sparse(out.path(), &recipe, &registries(), &texts)
        .unwrap()
    else {
        panic!("predictions expected");
    };
    for (d, s) in predictions.iter().zip(&sparse) {
        let scale = d.logits.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (a, b) in d.logits.iter().zip(&s.logits) {
            assert!((a - b).abs() <= 1e-5 * scale, "{a} vs {b}");
        }
        assert_eq!(d.class, s.class);
    }

    // The Hugging Face export loads back into a fresh model with identical logits and zeros.
    let export = out.path().join("hf");
    let written = export_hf(out.path(), &export, &registries()).unwrap();
    for file in ["model.safetensors", "config.json", "tokenizer.json"] {
        assert!(
            written.files.iter().any(|f| f == file),
            "{file} in {:?}",
            written.files
        );
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["architectures"][0], "BertForSequenceClassification");
    assert_eq!(config["id2label"].as_object().unwrap().len(), 2);
    let header = safetensors_header(&export.join("model.safetensors"));
    assert_eq!(header["__metadata__"]["format"], "pt");
    assert!(
        header
            .get("bert.encoder.layer.0.attention.self.query.weight")
            .is_some()
    );
    assert!(header.get("classifier.weight").is_some());

    let config = BertConfig::from_file(export.join("config.json")).unwrap();
    let reloaded: BertForSequenceClassification = config
        .init_classifier(2, &device)
        .load_hf_weights(export.join("model.safetensors"))
        .unwrap();
    let tokenizer = TextTokenizer::from_file(&export.join("tokenizer.json"), 24).unwrap();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = TextBatch::from_tokens(tokenizer.encode(&refs).unwrap(), vec![0; 3], &device);
    let logits: Vec<f32> = TextClassification::logits(&reloaded, &batch)
        .into_data()
        .iter::<f32>()
        .collect();
    let want: Vec<f64> = predictions.iter().flat_map(|p| p.logits.clone()).collect();
    for (got, want) in logits.iter().zip(&want) {
        assert!(
            (f64::from(*got) - want).abs() < 1e-5,
            "{logits:?} vs {want:?}"
        );
    }
    let zeros: std::collections::BTreeMap<String, usize> =
        SparsityReport::measure(&reloaded, &[], &Default::default(), 0)
            .layers
            .into_iter()
            .map(|layer| (layer.path, layer.zeros))
            .collect();
    for layer in &report.layers {
        assert_eq!(zeros.get(&layer.path), Some(&layer.zeros), "{}", layer.path);
    }

    // A second export replaces the first whole, and leaves no temporary folder behind.
    export_hf(out.path(), &export, &registries()).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("partial") || name.contains(".old-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // One-shot Wanda on the fine-tuned dense model: activations of every linear layer from
    // two calibration batches, each output unit of every encoder weight losing exactly half
    // of its inputs.
    let wanda = recipe_text(
        data.path(),
        &model_dir,
        &WANDA_PER_OUTPUT.replace("PARAMS", LINEAR),
    );
    let recipe = Recipe::from_toml(&wanda, "test", &[]).unwrap();
    let pruned = out.path().join("wanda");
    let entry = ember::zoo::models().get("bert").unwrap();
    let source = out.path().join("dense.bpk");
    let report = entry
        .prune(&recipe, &common::options(&pruned), &source, 2)
        .unwrap();
    assert_eq!(report.sparsity.selected_zeros, numel / 2);
    let tensors = ember::train::checkpoint_tensors(&pruned.join("model.bpk")).unwrap();
    let mut checked = 0;
    for tensor in tensors
        .iter()
        .filter(|t| t.name.starts_with("bert.encoder"))
    {
        let [inputs, outputs] = tensor.shape[..] else {
            continue;
        };
        for unit in 0..outputs {
            // burn's `[in, out]` layout: output unit `unit` is column `unit`.
            let zeros = (0..inputs)
                .filter(|i| tensor.values[i * outputs + unit] == 0.0)
                .count();
            assert_eq!(zeros, inputs / 2, "{} unit {unit}", tensor.name);
        }
        checked += 1;
    }
    assert_eq!(checked, 36);
    // The same Wanda layer by layer: each block scored on the inputs the pruned blocks before
    // it give. The first block's query, key and value read the embeddings, which no pruning
    // changes, so their masks are the whole-model pass's; the same counts everywhere.
    let layerwise = recipe_text(
        data.path(),
        &model_dir,
        &LAYERWISE_WANDA.replace("PARAMS", LINEAR),
    );
    let recipe_layerwise = Recipe::from_toml(&layerwise, "test", &[]).unwrap();
    let by_layer = out.path().join("layerwise");
    let report = entry
        .prune(&recipe_layerwise, &common::options(&by_layer), &source, 2)
        .unwrap();
    assert_eq!(report.sparsity.selected_zeros, numel / 2);
    let stages = std::fs::read_to_string(by_layer.join("layerwise.csv")).unwrap();
    assert_eq!(stages.lines().count(), 1 + 6 + 1, "{stages}");
    let sequential = ember::train::checkpoint_tensors(&by_layer.join("model.bpk")).unwrap();
    let mut differing = Vec::new();
    for (a, b) in sequential.iter().zip(&tensors) {
        assert_eq!(a.name, b.name);
        if !a.name.starts_with("bert.encoder") || a.shape.len() != 2 {
            continue;
        }
        let masks_differ = a
            .values
            .iter()
            .zip(&b.values)
            .filter(|(x, y)| (**x == 0.0) != (**y == 0.0))
            .count();
        differing.push((a.name.clone(), masks_differ));
    }
    for (name, count) in &differing {
        if name.starts_with("bert.encoder.layers.0.mha.") && !name.contains("output") {
            assert_eq!(*count, 0, "{name}");
        }
    }
    let later: usize = differing
        .iter()
        .filter(|(name, _)| !name.starts_with("bert.encoder.layers.0."))
        .map(|(_, count)| count)
        .sum();
    assert!(
        later > 0,
        "later blocks were scored on the dense activations: {differing:?}"
    );

    // Without calibration data Wanda has nothing to measure: an error, nothing written.
    let refused = out.path().join("refused");
    let err = entry
        .prune(&recipe, &common::options(&refused), &source, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("give calibration batches"), "{err}");
    assert!(!refused.exists());
}

const LAYERWISE_WANDA: &str = r#"
[[modifiers]]
kind = "layerwise"
params = ['PARAMS']
solver = "wanda"
pattern = "per_output"
sparsity = 0.5
"#;

const WANDA_PER_OUTPUT: &str = r#"
[[modifiers]]
kind = "prune"
params = ['PARAMS']
scorer = "wanda"
pattern = "per_output"
scope = "layer_wise"
schedule = { kind = "one_shot", sparsity = 0.5 }
"#;

/// The JSON header of a safetensors file.
fn safetensors_header(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + len]).unwrap()
}

fn invalid_field(result: Result<impl std::fmt::Debug, TrainError>) -> String {
    match result {
        Err(TrainError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn recipes_that_mix_models_and_data_are_refused_with_the_field() {
    let data = tempfile::tempdir().unwrap();
    let model = data.path();
    let text = recipe_text(data.path(), model, "");
    // What `ember check` and `ember run` refuse: the recipe's own ranges, then the family's.
    let checked = |text: &str| {
        Recipe::from_toml(text, "t", &[]).and_then(|recipe| {
            ember::train::check_recipe(recipe, &common::options(Path::new("unused"))).into_result()
        })
    };
    let with = |from: &str, to: &str| checked(&text.replace(from, to));
    assert_eq!(invalid_field(with("glue_tsv", "mnist")), "data.source");
    let as_mlp = format!(
        "kind = \"mlp\"\n[data]{}",
        text.split("[data]").nth(1).unwrap()
    );
    let as_mlp = format!("{}[model]\n{as_mlp}", text.split("[model]").next().unwrap());
    assert_eq!(invalid_field(checked(&as_mlp)), "data.source");
    assert_eq!(
        invalid_field(with("max_len = 24", "max_len = 2")),
        "data.max_len"
    );
    assert_eq!(
        invalid_field(with("validation = 0.25", "validation = 1.5")),
        "data.validation"
    );
    let distill_only = recipe_text(
        data.path(),
        model,
        "[distill]\nhardness = 1.0\ntemperature = 2.0",
    );
    let no_dense = distill_only.replace("[dense]\nepochs = 1\n", "[unused]\n");
    assert!(Recipe::from_toml(&no_dense, "t", &[]).is_err());
    let no_dense = distill_only.replace(
        "[dense]\nepochs = 1\nlr = { kind = \"constant\", lr = 5e-5 }\n",
        "",
    );
    assert_eq!(
        invalid_field(Recipe::from_toml(&no_dense, "t", &[])),
        "distill"
    );
    let hot = distill_only.replace("hardness = 1.0", "hardness = 1.5");
    assert_eq!(
        invalid_field(Recipe::from_toml(&hot, "t", &[])),
        "distill.hardness"
    );
}

#[test]
fn broken_model_folders_fail_before_training_and_name_the_file() {
    let source = minilm::model_dir();
    let data = tempfile::tempdir().unwrap();
    write_glue(data.path());
    let broken = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(source.join(file), broken.path().join(file)).unwrap();
    }
    let text = recipe_text(data.path(), broken.path(), "");
    let out = tempfile::tempdir().unwrap();
    let message = |result: Result<RunReport, TrainError>| match result {
        Err(error) => error.to_string(),
        Ok(_) => panic!("the run should fail"),
    };

    // Longer sequences than the model has positions for.
    let long = text.replace("max_len = 24", "max_len = 1000");
    let error = message(run(&long, out.path()));
    assert!(
        error.contains("data.max_len") && error.contains("512"),
        "{error}"
    );

    // A broken tokenizer.json.
    std::fs::write(broken.path().join("tokenizer.json"), "{ not json").unwrap();
    let error = message(run(&text, out.path()));
    assert!(error.contains("tokenizer.json"), "{error}");
    std::fs::remove_file(broken.path().join("tokenizer.json")).unwrap();
    let error = message(run(&text, out.path()));
    assert!(error.contains("tokenizer.json"), "{error}");
    std::fs::copy(
        source.join("tokenizer.json"),
        broken.path().join("tokenizer.json"),
    )
    .unwrap();

    // A config.json that disagrees with the weights (one layer too many).
    let config = std::fs::read_to_string(source.join("config.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&config).unwrap();
    let mut seven = json.clone();
    seven["num_hidden_layers"] = 7.into();
    std::fs::write(broken.path().join("config.json"), seven.to_string()).unwrap();
    let error = message(run(&text, out.path()));
    assert!(error.contains("encoder.layer.6"), "{error}");

    // A truncated model.safetensors.
    std::fs::write(broken.path().join("config.json"), config).unwrap();
    let weights = std::fs::read(source.join("model.safetensors")).unwrap();
    std::fs::write(
        broken.path().join("model.safetensors"),
        &weights[..weights.len() / 2],
    )
    .unwrap();
    let error = message(run(&text, out.path()));
    assert!(error.contains("model.safetensors"), "{error}");
    assert!(!out.path().join("model.bpk").exists());
}

/// `pattern = "heads"` takes the head count from the model's configuration (the `bert`
/// family registers it); a count that disagrees with the model is refused, naming both; a
/// runtime without the family's registries needs the count written.
#[test]
fn the_heads_pattern_takes_its_layout_from_the_model() {
    let data = tempfile::tempdir().unwrap();
    let model_dir = minilm::model_dir();
    let heads = |pattern: &str| {
        recipe_text(
            data.path(),
            &model_dir,
            &format!(
                r#"
[[modifiers]]
kind = "prune"
params = ['re:bert\.encoder\.layers\.\d+\.mha\.(query|key|value|output)\.weight']
scope = "layer_wise"
pattern = "{pattern}"
schedule = {{ kind = "one_shot", sparsity = 0.5 }}
"#
            ),
        )
    };
    let check = |text: &str, registries: ember::train::Registries| {
        let recipe = Recipe::from_toml(text, "t", &[]).unwrap();
        let options = ember::train::RunOptions::new("unused", Device::flex(), "flex", registries);
        ember::train::check_recipe(recipe, &options).into_result()
    };
    // all-MiniLM-L6-v2 has 12 heads.
    check(&heads("heads"), registries()).unwrap();
    check(&heads("heads:12"), registries()).unwrap();
    let error = check(&heads("heads:5"), registries())
        .unwrap_err()
        .to_string();
    assert!(error.contains("12") && error.contains('5'), "{error}");
    // The runtime's own registry knows no layout: the count must be written.
    let mut bare = ember::train::Registries::new(ember::zoo::models());
    bare.models = ember::train::ModelRegistry::default();
    bare.models.register("bert", NoLayout);
    let error = check(&heads("heads"), bare).unwrap_err().to_string();
    assert!(error.contains("heads:12"), "{error}");
}

/// The `bert` family without its registries' extension: what a runtime that does not know the
/// model's layout sees.
struct NoLayout;

impl ember::train::ModelEntry for NoLayout {
    fn validate(&self, recipe: &Recipe) -> Result<(), TrainError> {
        ember::zoo::models().get("bert")?.validate(recipe)
    }

    fn run(
        &self,
        recipe: &Recipe,
        options: &ember::train::RunOptions,
    ) -> Result<RunReport, TrainError> {
        ember::zoo::models().get("bert")?.run(recipe, options)
    }

    fn evaluate(
        &self,
        run_dir: &Path,
        recipe: &Recipe,
        registries: &ember::train::Registries,
        device: &Device,
        texts: &[String],
    ) -> Result<Evaluation, TrainError> {
        ember::zoo::models()
            .get("bert")?
            .evaluate(run_dir, recipe, registries, device, texts)
    }
}
