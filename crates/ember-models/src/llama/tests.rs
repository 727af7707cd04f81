use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::{Value, json};

use super::*;
use crate::blocks::{Blocks, Capture, run_blocks};

fn tiny(tied: bool) -> LlamaConfig {
    let mut config = LlamaConfig::llama(50, 16, 2, 4, 2, 24, 32);
    config.tie_word_embeddings = tied;
    config
}

fn ids(device: &Device) -> Tensor<2, Int> {
    let values: Vec<i64> = (0..2 * 7).map(|i| (i * 7 + 3) % 50).collect();
    Tensor::from_data(TensorData::new(values, [2, 7]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

#[test]
fn blocks_give_the_logits_and_capture_seven_linears_per_layer() {
    let device = Device::flex();
    for tied in [false, true] {
        let model = tiny(tied).init(&device);
        let want = values(model.forward(ids(&device)).reshape([14, 50]));
        let mut capture = Capture::on();
        let got = values(run_blocks(&model, ids(&device), &mut capture));
        assert_eq!(got, want);
        let inputs = capture.into_inputs();
        assert_eq!(inputs.len(), 14 + usize::from(!tied));
        // The MLP's down projection reads the intermediate width; every input is a row per token.
        assert_eq!(inputs[6].1.dims(), [14, 24]);
        assert_eq!(inputs[6].0, "model.layers.0.mlp.down_proj.weight");
        assert_eq!(model.head_linears().len(), usize::from(!tied));
    }
}

#[test]
fn attention_is_causal() {
    let device = Device::flex();
    let model = tiny(false).init(&device);
    let full = values(model.forward(ids(&device)));
    // The first four positions do not see what follows them.
    let short = values(model.forward(ids(&device).narrow(1, 0, 4)));
    for b in 0..2 {
        for p in 0..4 {
            for v in 0..50 {
                let a = full[(b * 7 + p) * 50 + v];
                let c = short[(b * 4 + p) * 50 + v];
                assert!((a - c).abs() < 1e-5, "position {p}: {a} vs {c}");
            }
        }
    }
}

#[test]
fn saved_folders_load_back_bit_for_bit() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    for tied in [false, true] {
        let config = tiny(tied);
        let model = config.init(&device);
        model.save_hf(&config, dir.path()).unwrap();
        let (back, read) = LlamaForCausalLM::load_hf(dir.path(), &device).unwrap();
        assert_eq!(read.tie_word_embeddings, tied);
        assert_eq!(
            values(back.forward(ids(&device))),
            values(model.forward(ids(&device)))
        );
        assert_eq!(back.num_params(), model.num_params());
    }
}

/// A `config.json` as parsed.
type ConfigMap = serde_json::Map<String, Value>;

/// A change to a `config.json`.
type Edit = Box<dyn FnOnce(&mut ConfigMap)>;

fn config_error(edit: impl FnOnce(&mut ConfigMap)) -> String {
    let Value::Object(mut map) = tiny(false).to_hf_json() else {
        unreachable!()
    };
    edit(&mut map);
    LlamaConfig::from_map(map).unwrap_err()
}

#[test]
fn unsupported_settings_are_errors_naming_the_field() {
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|m| {
                m.insert(
                    "rope_scaling".into(),
                    json!({"rope_type": "linear", "factor": 2.0}),
                );
            }),
            "rope_scaling",
        ),
        (
            Box::new(|m| {
                m.insert("hidden_act".into(), json!("gelu"));
            }),
            "hidden_act",
        ),
        (
            Box::new(|m| {
                m.insert("num_key_value_heads".into(), json!(3));
            }),
            "num_key_value_heads",
        ),
        (
            Box::new(|m| {
                m.insert("model_type".into(), json!("gpt2"));
            }),
            "gpt2",
        ),
        (
            Box::new(|m| {
                m.insert("qk_layernorm".into(), json!(true));
            }),
            "qk_layernorm",
        ),
        (
            Box::new(|m| {
                m.remove("hidden_size");
            }),
            "hidden_size",
        ),
        (
            Box::new(|m| {
                m.insert(
                    "rope_parameters".into(),
                    json!({"rope_type": "yarn", "rope_theta": 1e4}),
                );
            }),
            "rope_parameters.rope_type",
        ),
    ];
    for (edit, named) in cases {
        let message = config_error(edit);
        assert!(message.contains(named), "{message}");
    }
}

#[test]
fn broken_folders_are_errors_naming_the_file_and_tensor() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let config = tiny(false);
    config.init(&device).save_hf(&config, dir.path()).unwrap();
    // A tied config reading an untied checkpoint: lm_head has no place.
    let mut tied = config.to_hf_json();
    tied["tie_word_embeddings"] = json!(true);
    std::fs::write(dir.path().join("config.json"), tied.to_string()).unwrap();
    let error = LlamaForCausalLM::load_hf(dir.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("lm_head.weight") && error.contains("tie_word_embeddings"),
        "{error}"
    );
    // A wider model: every projection is mis-shaped.
    let mut wide = config.to_hf_json();
    wide["intermediate_size"] = json!(32);
    std::fs::write(dir.path().join("config.json"), wide.to_string()).unwrap();
    let error = LlamaForCausalLM::load_hf(dir.path(), &device)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("model.layers.0.mlp.gate_proj.weight"),
        "{error}"
    );
    // An index naming a shard that is not there.
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        json!({"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}})
            .to_string(),
    )
    .unwrap();
    let error = weight_files(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("model-00002-of-00002.safetensors") && error.contains("missing"),
        "{error}"
    );
    // Sequences longer than the positions are refused.
    assert!(
        config
            .check_sequence(33)
            .unwrap_err()
            .to_string()
            .contains("32 positions")
    );
}
