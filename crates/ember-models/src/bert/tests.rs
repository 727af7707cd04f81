use std::collections::BTreeSet;
use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::nn::transformer::TransformerEncoder;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, ModuleStore, SafetensorsStore};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::{Value, json};

use super::*;

/// A two-layer BERT small enough to build in a blink.
fn tiny_json() -> Value {
    json!({
        "architectures": ["BertModel"],
        "vocab_size": 30,
        "hidden_size": 8,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "hidden_act": "gelu",
        "max_position_embeddings": 16,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "initializer_range": 0.5
    })
}

fn tiny() -> BertConfig {
    serde_json::from_value(tiny_json()).expect("the tiny config parses")
}

fn ints<A: Into<TensorData>>(data: A, device: &Device) -> Tensor<2, Int> {
    Tensor::from_ints(data, device)
}

/// Token ids, token types and an attention mask with padding at the end of the first row.
fn batch(device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<2, Int>) {
    (
        ints([[2, 5, 7, 9, 0], [3, 1, 4, 1, 5]], device),
        ints([[0, 0, 1, 1, 0], [0, 0, 0, 1, 1]], device),
        ints([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], device),
    )
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .expect("float tensor")
}

fn bits<const D: usize>(tensor: Tensor<D>) -> Vec<u32> {
    values(tensor).into_iter().map(f32::to_bits).collect()
}

fn assert_close(actual: &[f32], expected: &[f32], tolerance: f32) {
    assert_eq!(actual.len(), expected.len());
    for (index, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tolerance,
            "element {index}: {a} differs from {e} by more than {tolerance}"
        );
    }
}

/// Every tensor name of a Hugging Face `BertModel` checkpoint with `layers` layers.
fn hf_names(layers: usize) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [
        "embeddings.word_embeddings.weight",
        "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight",
        "embeddings.LayerNorm.weight",
        "embeddings.LayerNorm.bias",
        "pooler.dense.weight",
        "pooler.dense.bias",
    ]
    .map(String::from)
    .into();
    for n in 0..layers {
        for module in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "attention.output.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "output.LayerNorm",
        ] {
            for leaf in ["weight", "bias"] {
                names.insert(format!("encoder.layer.{n}.{module}.{leaf}"));
            }
        }
    }
    names
}

fn file_names(file: &Path) -> BTreeSet<String> {
    SafetensorsStore::from_file(file)
        .keys()
        .expect("readable safetensors")
        .into_iter()
        .collect()
}

/// Saves `model` in Hugging Face's names and layout through burn-store (the inverse
/// mapping and `BurnToPyTorchAdapter`), keeping the tensors `keep` accepts; it sees burn's
/// names after the adapter (a layer norm's `gamma` is already `weight`).
fn save_as_hf<M: Module>(model: &M, file: &Path, keep: fn(&str, &str) -> bool) {
    let mut store = SafetensorsStore::from_file(file)
        .with_to_adapter(BurnToPyTorchAdapter)
        .remap(NameMap::ember_to_hf().remapper())
        .with_predicate(keep);
    model
        .save_into(&mut store)
        .expect("the test file is written");
}

#[test]
fn saved_weights_load_back_bit_identical() {
    let device = Device::flex();
    let config = tiny();
    let dir = tempfile::tempdir().expect("temporary directory");
    let original = config.init(&device);
    original
        .save_hf_weights(dir.path().join("model.safetensors"))
        .expect("saved");
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_string(&config).expect("serialisable"),
    )
    .expect("config written");
    assert_eq!(
        file_names(&dir.path().join("model.safetensors")),
        hf_names(config.num_hidden_layers)
    );

    let loaded = load_hf(dir.path(), &device).expect("loads back");
    let (ids, types, mask) = batch(&device);
    let expected = original.forward(ids.clone(), types.clone(), mask.clone());
    let actual = loaded.forward(ids, types, mask);
    assert_eq!(bits(expected.clone()), bits(actual.clone()));
    assert_eq!(bits(original.pool(expected)), bits(loaded.pool(actual)));
}

#[test]
fn a_classifier_round_trips_under_the_bert_prefix() {
    let device = Device::flex();
    let config = tiny();
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("model.safetensors");
    let file = file.as_path();
    let original = config.init_classifier(3, &device);
    original.save_hf_weights(file).expect("saved");

    let mut expected_names: BTreeSet<String> = hf_names(config.num_hidden_layers)
        .into_iter()
        .map(|name| format!("bert.{name}"))
        .collect();
    expected_names.insert("classifier.weight".to_string());
    expected_names.insert("classifier.bias".to_string());
    assert_eq!(file_names(file), expected_names);

    let loaded = config
        .init_classifier(3, &device)
        .load_hf_weights(file)
        .expect("loads back");
    let (ids, types, mask) = batch(&device);
    assert_eq!(
        bits(original.logits(ids.clone(), types.clone(), mask.clone())),
        bits(loaded.logits(ids, types, mask))
    );

    // A plain encoder finds its tensors under `bert.` and has no place for the head.
    match config.init(&device).load_hf_weights(file) {
        Err(BertError::Unused { tensors, .. }) => {
            assert_eq!(tensors, ["classifier.bias", "classifier.weight"])
        }
        other => panic!("expected the head to be unused, got {other:?}"),
    }
}

#[test]
fn a_missing_tensor_is_named() {
    let device = Device::flex();
    let config = tiny();
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("model.safetensors");
    let file = file.as_path();
    save_as_hf(&config.init(&device), file, |path, _| {
        path != "encoder.layers.1.norm_2.weight"
    });

    match config.init(&device).load_hf_weights(file) {
        Err(BertError::Missing { tensors, .. }) => {
            assert_eq!(tensors, ["encoder.layer.1.output.LayerNorm.weight"])
        }
        other => panic!("expected a missing tensor, got {other:?}"),
    }
}

/// A BERT with one parameter too many.
#[derive(Module, Debug)]
struct WithExtra {
    embeddings: BertEmbeddings,
    encoder: TransformerEncoder,
    pooler: Linear,
    extra: Param<Tensor<1>>,
}

#[test]
fn an_extra_tensor_is_named() {
    let device = Device::flex();
    let config = tiny();
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("model.safetensors");
    let file = file.as_path();
    let bert = config.init(&device);
    let padded = WithExtra {
        embeddings: bert.embeddings,
        encoder: bert.encoder,
        pooler: bert.pooler,
        extra: Param::from_tensor(Tensor::zeros([3], &device)),
    };
    save_as_hf(&padded, file, |_, _| true);

    match config.init(&device).load_hf_weights(file) {
        Err(BertError::Unused { tensors, .. }) => assert_eq!(tensors, ["extra"]),
        other => panic!("expected an unused tensor, got {other:?}"),
    }
}

#[test]
fn weights_of_another_config_are_shape_errors() {
    let device = Device::flex();
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("model.safetensors");
    let file = file.as_path();
    tiny().init(&device).save_hf_weights(file).expect("saved");

    let mut wider = tiny();
    wider.intermediate_size = 24;
    match wider.init(&device).load_hf_weights(file) {
        Err(BertError::Shape { mismatches, .. }) => {
            let named: BTreeSet<String> = mismatches.iter().map(|m| m.tensor.clone()).collect();
            let expected: BTreeSet<String> = (0..2)
                .flat_map(|n| {
                    [
                        format!("encoder.layer.{n}.intermediate.dense.weight"),
                        format!("encoder.layer.{n}.intermediate.dense.bias"),
                        format!("encoder.layer.{n}.output.dense.weight"),
                    ]
                })
                .collect();
            assert_eq!(named, expected);
            let inner = mismatches
                .iter()
                .find(|m| m.tensor == "encoder.layer.0.intermediate.dense.weight")
                .expect("named");
            // burn's layout: [in, out].
            assert_eq!(inner.expected, vec![8, 24]);
            assert_eq!(inner.found, vec![8, 16]);
        }
        other => panic!("expected shape errors, got {other:?}"),
    }
}

#[test]
fn absurd_files_are_refused_before_reading() {
    let device = Device::flex();
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("model.safetensors");
    let file = file.as_path();
    let huge_header = [(u64::MAX / 2).to_le_bytes().as_slice(), b"{}".as_slice()].concat();
    let short_header = [1000u64.to_le_bytes().as_slice(), b"{}".as_slice()].concat();
    for (bytes, says) in [
        (Vec::new(), "8-byte"),
        (huge_header, "limit"),
        (short_header, "only 2 follow"),
    ] {
        std::fs::write(file, bytes).expect("written");
        match tiny().init(&device).load_hf_weights(file) {
            Err(error @ BertError::Weights { .. }) => {
                assert!(error.to_string().contains(says), "{error}")
            }
            other => panic!("expected a weights error, got {other:?}"),
        }
    }
}

#[test]
fn config_errors_name_the_field() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("config.json");
    let path = path.as_path();
    let with = |field: &str, value: Value| {
        let mut config = tiny_json();
        config[field] = value;
        config
    };
    let mut without_vocab = tiny_json();
    without_vocab
        .as_object_mut()
        .expect("an object")
        .remove("vocab_size");
    let cases = [
        (without_vocab, "vocab_size"),
        (with("hidden_act", json!("relu")), "hidden_act"),
        (with("num_attention_heads", json!(3)), "num_attention_heads"),
        (
            with("position_embedding_type", json!("relative_key")),
            "position_embedding_type",
        ),
        (
            with("hidden_dropout_prob", json!(1.5)),
            "hidden_dropout_prob",
        ),
        (with("intermediate_size", json!(0)), "intermediate_size"),
    ];
    for (config, field) in cases {
        std::fs::write(path, config.to_string()).expect("written");
        match BertConfig::from_file(path) {
            Err(error @ BertError::Config { .. }) => {
                assert!(error.to_string().contains(field), "{error}")
            }
            other => panic!("expected a config error naming {field}, got {other:?}"),
        }
    }
    // Absent optional keys take `transformers`' defaults, not burn's.
    let config = tiny();
    assert_eq!(config.pad_token_id, 0);
    assert_eq!(config.hidden_dropout_prob, 0.1);
    let mut defaults = tiny_json();
    defaults
        .as_object_mut()
        .expect("an object")
        .remove("layer_norm_eps");
    let defaults: BertConfig = serde_json::from_value(defaults).expect("parses");
    assert_eq!(defaults.layer_norm_eps, 1e-12);
}

#[test]
fn padding_changes_neither_the_tokens_nor_the_mean() {
    let device = Device::flex();
    let model = tiny().init(&device);
    let padded_mask = ints([[1, 1, 1, 0, 0]], &device);
    let plain_mask = ints([[1, 1, 1]], &device);
    let padded = model.forward(
        ints([[4, 9, 2, 0, 0]], &device),
        ints([[0, 1, 1, 0, 0]], &device),
        padded_mask.clone(),
    );
    let plain = model.forward(
        ints([[4, 9, 2]], &device),
        ints([[0, 1, 1]], &device),
        plain_mask.clone(),
    );
    assert_close(
        &values(padded.clone().narrow(1, 0, 3)),
        &values(plain.clone()),
        1e-5,
    );
    assert_close(
        &values(mean_pool(padded, padded_mask)),
        &values(mean_pool(plain, plain_mask)),
        1e-5,
    );
}

#[test]
fn dropout_sits_where_bert_draws_it() {
    let mut json = tiny_json();
    json["hidden_dropout_prob"] = json!(0.3);
    json["attention_probs_dropout_prob"] = json!(0.2);
    let config: BertConfig = serde_json::from_value(json).expect("the config parses");
    let bert = config.init(&Device::flex());
    assert_eq!(bert.embeddings.dropout.prob, 0.3);
    assert_eq!(bert.encoder.layers.len(), 2);
    for layer in &bert.encoder.layers {
        assert_eq!(layer.mha.dropout.prob, 0.2, "attention weights");
        assert_eq!(layer.dropout.prob, 0.3, "both residual branches");
        // BERT's intermediate output goes straight into the output projection.
        assert_eq!(layer.pwff.dropout.prob, 0.0, "after the activation");
    }
}

#[test]
fn the_layers_states_end_in_the_forward_output_and_feed_the_same_logits() {
    let device = Device::flex();
    let model = tiny().init_classifier(3, &device);
    let (ids, types, mask) = batch(&device);
    let states = model
        .bert
        .forward_layers(ids.clone(), types.clone(), mask.clone());
    assert_eq!(states.len(), 2, "one state per encoder layer");
    let last = model.bert.forward(ids.clone(), types.clone(), mask.clone());
    assert_eq!(bits(states[1].clone()), bits(last));
    // The first layer's output is not the last's: the list is per layer, not repeated.
    assert_ne!(bits(states[0].clone()), bits(states[1].clone()));
    let (logits, with_states) = model.logits_and_states(ids.clone(), types.clone(), mask.clone());
    assert_eq!(bits(logits), bits(model.logits(ids, types, mask)));
    assert_eq!(bits(with_states[0].clone()), bits(states[0].clone()));
}

/// Ember's step-by-step encoder is burn's `TransformerEncoder::forward` operation for
/// operation: without dropout (a plain device, or rates of zero on autodiff) the states are
/// the same to the bit once the activation is one both compute alike (ReLU), and within the
/// GELU kernel's error with BERT's GELU, which Ember computes on flex; with BERT's rates on
/// autodiff it drops, so the states differ.
#[test]
fn the_encoder_computes_burns_layers_to_the_bit_and_drops_while_training() {
    use burn::nn::activation::{Activation, Relu};
    use burn::nn::transformer::TransformerEncoderInput;

    use crate::test_support::floats;

    let bits = |t: Tensor<3>| floats(t).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let burns = |bert: &Bert, device: &Device| {
        let (ids, types, mask) = batch(device);
        let (embedded, padding) = bert.embed(ids, types, mask);
        bert.encoder
            .forward(TransformerEncoderInput::new(embedded).mask_pad(padding))
    };
    let embers = |bert: &Bert, device: &Device| {
        let (ids, types, mask) = batch(device);
        bert.forward(ids, types, mask)
    };
    let with_relu = |mut bert: Bert| {
        for layer in &mut bert.encoder.layers {
            layer.pwff.activation = Activation::Relu(Relu);
        }
        bert
    };
    let plain = Device::flex();
    let bert = tiny().init(&plain);
    let (got, want) = (floats(embers(&bert, &plain)), floats(burns(&bert, &plain)));
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{g} vs {w}");
    }
    let bert = with_relu(bert);
    assert_eq!(bits(embers(&bert, &plain)), bits(burns(&bert, &plain)));

    let autodiff = Device::flex().autodiff();
    let mut still = tiny();
    still.hidden_dropout_prob = 0.0;
    still.attention_probs_dropout_prob = 0.0;
    let bert = with_relu(still.init(&autodiff));
    assert_eq!(
        bits(embers(&bert, &autodiff)),
        bits(burns(&bert, &autodiff))
    );

    let mut dropping = tiny();
    dropping.hidden_dropout_prob = 0.5;
    let bert = with_relu(dropping.init(&autodiff));
    let (ids, types, mask) = batch(&autodiff);
    let (embedded, padding) = bert.embed(ids, types, mask);
    let without = bert
        .valid()
        .encoder
        .forward(TransformerEncoderInput::new(embedded.inner()).mask_pad(padding.inner()));
    assert_ne!(bits(embers(&bert, &autodiff).inner()), bits(without));
}
