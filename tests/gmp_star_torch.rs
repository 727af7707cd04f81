//! `scripts/gmp_star_torch.py`, the PyTorch reference for the MiniLM GMP\* recipe's pruning
//! phase (docs/results.md), follows Ember's schedules: run on a tiny random BERT for the
//! recipe's four epochs, it prunes at the optimizer steps Ember's schedule names, to the
//! sparsity Ember's cubic gives there, with Ember's sawtooth rate at every step, and ends
//! with exactly `round(0.8 · n)` zeros. Its test sentences are the ones
//! `TextSplits::write_jsonl` wrote.

#[path = "common/python.rs"]
mod python;

use std::path::Path;
use std::process::Command;

use ember::data::{TextDataset, TextItem, TextSplits};
use ember::train::Recipe;
use ember::train::recipe::{LrSpec, ModifierSpec, Steps};

const RECIPE: &str = "recipes/gmp-star-minilm-rt-full.toml";

/// A two-layer BERT of hidden size 16 and its WordPiece tokenizer, saved by `transformers`.
const TINY_BERT: &str = r#"
import sys, torch, transformers
out = sys.argv[1]
words = ["good", "bad", "film", "plot", "great", "dull", "fine", "slow"]
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
open(f"{out}/vocab.txt", "w").write("\n".join(vocab) + "\n")
transformers.BertTokenizerFast(f"{out}/vocab.txt").save_pretrained(out)
torch.manual_seed(0)
config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2,
    num_attention_heads=2, intermediate_size=32, max_position_embeddings=64, num_labels=2)
transformers.BertForSequenceClassification(config).save_pretrained(out)
"#;

fn sentences(n: usize) -> TextDataset {
    let words = [
        "good", "bad", "film", "plot", "great", "dull", "fine", "slow",
    ];
    TextDataset::new(
        (0..n)
            .map(|i| TextItem {
                text: (0..3 + i % 5)
                    .map(|j| words[(i * 7 + j * 3) % words.len()])
                    .collect::<Vec<_>>()
                    .join(" "),
                label: i % 2,
            })
            .collect(),
    )
}

#[test]
fn the_torch_reference_prunes_on_embers_schedules() {
    let Some(python) = python::python_with(
        &["torch", "transformers"],
        "the_torch_reference_prunes_on_embers_schedules",
    ) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recipe = Recipe::load(&root.join(RECIPE), &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (model, splits_dir) = (dir.path().join("model"), dir.path().join("splits"));
    std::fs::create_dir_all(&model).unwrap();
    let made = Command::new(&python)
        .args(["-c", TINY_BERT])
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // 50 training sentences in batches of 4: 13 steps per epoch, so half an epoch is 6.5
    // steps, which Ember rounds up (and Python's `round` would round down).
    let splits = TextSplits::stratified(sentences(62), 0.1, 0.1, 5);
    splits.write_jsonl(&splits_dir).unwrap();

    // The recipe's schedule and batch size, on a training split of a few batches.
    let batch_size = 4;
    let train = splits.train.items().len();
    let steps = Steps::data_parallel(train, batch_size, 1);
    let spec = match &recipe.modifiers[0] {
        ModifierSpec::Prune(prune) => &prune.schedule,
        other => panic!("the recipe's modifier is {other:?}, not a pruner"),
    };
    let schedule = spec.to_schedule(&steps);
    let ramp = spec.ramp_sparsities().unwrap();
    let epochs = recipe.epochs;
    let total = steps.at(epochs as f64);
    let updates = schedule.update_steps();
    let lr = recipe.lr.to_schedule(&steps, total, &updates);
    let epoch_of = |field: &str| {
        let (_, value) = spec
            .epochs()
            .into_iter()
            .find(|(name, _)| *name == field)
            .unwrap();
        value.to_string()
    };
    let (init, final_lr) = match &recipe.lr {
        LrSpec::Sawtooth { init, final_lr, .. } => (*init, *final_lr),
        other => panic!("the recipe's rate is {other:?}, not the sawtooth"),
    };
    let distill = recipe.distill.unwrap();
    let output = Command::new(&python)
        .arg(root.join("scripts/gmp_star_torch.py"))
        .arg("--model")
        .arg(&model)
        .arg("--splits")
        .arg(&splits_dir)
        .args(["--epochs", &epochs.to_string()])
        .args(["--batch-size", &batch_size.to_string()])
        .args([
            "--init",
            &ramp.0.to_string(),
            "--final",
            &ramp.1.to_string(),
        ])
        .args(["--every", &epoch_of("every_epochs")])
        .args(["--end", &epoch_of("end_epoch")])
        .args([
            "--lr",
            &init.to_string(),
            "--lr-final",
            &final_lr.to_string(),
        ])
        .args(["--hardness", &distill.hardness.to_string()])
        .args(["--temperature", &distill.temperature.to_string()])
        .args(["--threads", "1", "--trace"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    let pruning_steps: Vec<u64> = report["pruning_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert_eq!(pruning_steps, updates, "the pruning steps");
    assert_eq!(report["steps"].as_u64().unwrap(), total);
    for (step, sparsity) in updates
        .iter()
        .zip(report["sparsity_by_update"].as_array().unwrap())
    {
        let (ours, theirs) = (schedule.sparsity(*step), sparsity.as_f64().unwrap());
        assert!(
            (ours - theirs).abs() < 1e-12,
            "step {step}: {ours} against {theirs}"
        );
    }
    let rates = report["lr_by_step"].as_array().unwrap();
    assert_eq!(rates.len() as u64, total);
    for (step, rate) in rates.iter().enumerate() {
        let (ours, theirs) = (lr.lr(step as u64), rate.as_f64().unwrap());
        assert!(
            (ours - theirs).abs() < 1e-15,
            "step {step}: rate {ours} against {theirs}"
        );
    }
    // Two layers of four 16×16 and two 16×32 weights: 3,072 elements.
    let elements = report["elements"].as_u64().unwrap();
    assert_eq!(elements, 2 * (4 * 256 + 2 * 512));
    let zeros = report["zeros"].as_u64().unwrap();
    assert_eq!(zeros, (ramp.1 * elements as f64).round() as u64);
    let dense = report["dense_test_accuracy"].as_f64().unwrap();
    let test = splits.test.items().len() as f64;
    assert!(
        (dense * test / 100.0 - (dense * test / 100.0).round()).abs() < 1e-9,
        "an accuracy over the {test} test sentences: {dense}"
    );
}
