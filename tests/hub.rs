//! The Hugging Face hub download path (`ember::fetch::download_hub`) against a loopback HTTP
//! server written here: the hub's URL layout, byte-exact files, and the failures that must
//! leave no model folder behind (404, truncated body, oversized file, refused connection).
//!
//! `download_minilm_from_hub` only adds `HF_ENDPOINT` to `download_hub`; it is not called here
//! because setting an environment variable would race with the other tests' threads.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use common::http::{Hub, Quirk};
use common::names_in;

use ember::fetch::{FetchError, MINILM_HUB_FILES, MINILM_REPO, download_hub};

/// The files all-MiniLM-L6-v2 is downloaded as, in the order they are asked for.
const NAMES: [&str; 6] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
];

/// The request path of `file` on the hub: written out, not built from `MINILM_REPO`, so that a
/// wrong repository or layout fails the tests.
fn hub_path(file: &str) -> String {
    format!("/sentence-transformers/all-MiniLM-L6-v2/resolve/main/{file}")
}

/// all-MiniLM-L6-v2 at `main` from `endpoint` into `target`, as `download_minilm_from_hub` asks.
fn fetch(endpoint: &str, target: &Path) -> Result<PathBuf, FetchError> {
    download_hub(endpoint, MINILM_REPO, "main", MINILM_HUB_FILES, target)
}

/// Deterministic incompressible bytes, several read buffers long.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect()
}

/// A safetensors header (no tensors) followed by `len` bytes of noise: what Ember's check
/// of a downloaded weights file accepts.
fn safetensors_like(len: usize) -> Vec<u8> {
    let header = br#"{"__metadata__":{"format":"pt"}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend(noise(len));
    bytes
}

/// A stand-in model: 300 kB of weights (more than one read buffer) and small text files.
fn model_files() -> Vec<(&'static str, Vec<u8>)> {
    NAMES
        .iter()
        .map(|&name| {
            let bytes = match name {
                "model.safetensors" => safetensors_like(300_000),
                other => format!("{{\"file\": \"{other}\"}}\n").into_bytes(),
            };
            (name, bytes)
        })
        .collect()
}

/// `files` keyed by their request paths.
fn served(files: &[(&str, Vec<u8>)]) -> HashMap<String, Vec<u8>> {
    files
        .iter()
        .map(|(name, bytes)| (hub_path(name), bytes.clone()))
        .collect()
}

/// Neither `target` nor a `<target>.partial-<pid>` folder (nor anything else) is next to it.
fn assert_nothing_left(target: &Path) {
    assert!(
        !target.exists(),
        "{} exists after a failed download",
        target.display()
    );
    let parent = target.parent().expect("the target has a parent");
    assert_eq!(
        names_in(parent),
        Vec::<String>::new(),
        "a failed download left files next to the target"
    );
}

#[test]
fn every_file_arrives_byte_for_byte_from_the_hub_layout() {
    let files = model_files();
    let hub = Hub::start(served(&files), HashMap::new());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");

    let got = fetch(&hub.endpoint, &target).expect("the download");

    assert_eq!(got, target);
    for (name, bytes) in &files {
        let on_disk = std::fs::read(target.join(name)).expect("a downloaded file");
        assert!(on_disk == *bytes, "{name} differs from what was served");
    }
    let expected: Vec<String> = NAMES.iter().map(|name| hub_path(name)).collect();
    assert_eq!(hub.requests(), expected);
    assert_eq!(
        names_in(&dir.path().join("models")),
        vec!["all-MiniLM-L6-v2".to_string()],
        "only the model folder is left, no partial one"
    );
}

#[test]
fn a_missing_file_is_a_404_naming_its_url_and_leaves_nothing() {
    let files = model_files();
    let mut served = served(&files);
    served.remove(&hub_path("tokenizer.json"));
    let hub = Hub::start(served, HashMap::new());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");

    let error = fetch(&hub.endpoint, &target).expect_err("a 404 is an error");

    let url = format!("{}{}", hub.endpoint, hub_path("tokenizer.json"));
    assert!(
        error.message.contains(&format!("404 Not Found for {url}")),
        "{error}"
    );
    assert_nothing_left(&target);
    assert_eq!(
        hub.requests().len(),
        3,
        "the download stops at the first failed file"
    );
}

#[test]
fn a_body_shorter_than_its_content_length_is_an_error_and_leaves_nothing() {
    let files = model_files();
    let quirks = HashMap::from([(hub_path("model.safetensors"), Quirk::Truncate)]);
    let hub = Hub::start(served(&files), quirks);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");

    let error = fetch(&hub.endpoint, &target).expect_err("a truncated body is an error");

    let url = format!("{}{}", hub.endpoint, hub_path("model.safetensors"));
    assert!(error.message.contains("truncated"), "{error}");
    assert!(error.message.contains(&url), "{error}");
    assert_nothing_left(&target);
}

#[test]
fn a_file_over_4_gib_is_refused_from_its_content_length() {
    let files = model_files();
    let quirks = HashMap::from([(hub_path("model.safetensors"), Quirk::Huge)]);
    let hub = Hub::start(served(&files), quirks);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");

    let error = fetch(&hub.endpoint, &target).expect_err("a 5 GiB file is refused");

    let url = format!("{}{}", hub.endpoint, hub_path("model.safetensors"));
    assert!(error.message.contains(&url), "{error}");
    // Refused from the header, not found short while reading (the server sends no body).
    assert!(error.message.contains("4 GiB"), "{error}");
    assert!(!error.message.contains("truncated"), "{error}");
    assert_nothing_left(&target);
}

#[test]
fn a_complete_target_is_returned_without_any_request() {
    let files = model_files();
    let hub = Hub::start(served(&files), HashMap::new());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");
    std::fs::create_dir_all(&target).expect("the target folder");
    for name in NAMES {
        std::fs::write(target.join(name), b"already here").expect("a cached file");
    }

    let got = fetch(&hub.endpoint, &target).expect("the cached model");

    assert_eq!(got, target);
    assert_eq!(hub.requests(), Vec::<String>::new());
    for name in NAMES {
        assert_eq!(
            std::fs::read(target.join(name)).expect("a cached file"),
            b"already here",
            "{name} was rewritten"
        );
    }
}

#[test]
fn an_incomplete_target_is_replaced_and_a_trailing_slash_changes_no_url() {
    let files = model_files();
    let hub = Hub::start(served(&files), HashMap::new());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");
    std::fs::create_dir_all(&target).expect("the target folder");
    std::fs::write(target.join("config.json"), b"stale").expect("a stale file");

    let endpoint = format!("{}/", hub.endpoint);
    fetch(&endpoint, &target).expect("the download");

    for (name, bytes) in &files {
        let on_disk = std::fs::read(target.join(name)).expect("a downloaded file");
        assert!(on_disk == *bytes, "{name} differs from what was served");
    }
    let expected: Vec<String> = NAMES.iter().map(|name| hub_path(name)).collect();
    assert_eq!(hub.requests(), expected);
}

#[test]
fn a_refused_connection_is_an_error_naming_the_url() {
    // A port that was just free: bound, read and released again.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("a loopback port")
        .local_addr()
        .expect("its address")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let target = dir.path().join("models/all-MiniLM-L6-v2");

    let error = fetch(&endpoint, &target).expect_err("nobody listens");

    let url = format!("{endpoint}{}", hub_path("config.json"));
    assert!(error.message.contains(&url), "{error}");
    assert!(error.message.to_lowercase().contains("refused"), "{error}");
    assert_nothing_left(&target);
}

#[test]
fn an_html_page_served_with_200_is_refused_and_leaves_nothing() {
    let page = b"<!DOCTYPE html><html><body>Please sign in</body></html>".to_vec();
    for file in ["model.safetensors", "config.json"] {
        let mut files = model_files();
        for (name, bytes) in files.iter_mut() {
            if *name == file {
                *bytes = page.clone();
            }
        }
        let hub = Hub::start(served(&files), HashMap::new());
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("all-MiniLM-L6-v2");
        let error = fetch(&hub.endpoint, &target)
            .expect_err("an HTML page is not a model file")
            .to_string();
        assert!(
            error.contains("HTML page") && error.contains(file),
            "{file}: {error}"
        );
        assert_nothing_left(&target);
    }
}

/// A decoder from the hub, sharded (an index naming its shard) and in one file, served from
/// a loopback server: the folder `download_hub_model` fills loads as a Llama and computes what
/// the model that was served computes; a missing shard is an error naming its URL.
#[test]
fn a_decoder_downloads_sharded_or_whole_and_loads() {
    use burn::tensor::{Device, Int, Tensor, TensorData};
    use ember::models::{LlamaConfig, LlamaForCausalLM};

    let device = Device::flex();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = LlamaConfig::llama(40, 16, 2, 4, 2, 24, 32);
    let model = config.init(&device);
    let saved = dir.path().join("saved");
    model.save_hf(&config, &saved).expect("saved");
    let read = |name: &str| std::fs::read(saved.join(name)).expect("a saved file");
    let weights = read("model.safetensors");
    let index = serde_json::json!({
        "metadata": {"total_size": weights.len()},
        "weight_map": {
            "model.embed_tokens.weight": "model-00001-of-00001.safetensors",
            "lm_head.weight": "model-00001-of-00001.safetensors"
        }
    })
    .to_string()
    .into_bytes();
    let repo_path = |file: &str| format!("/tiny/llama/resolve/main/{file}");
    let tokenizer = b"{}".to_vec();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 5, 9, 3], [1, 4]), &device);
    let want: Vec<f32> = model
        .forward(ids.clone())
        .into_data()
        .iter::<f32>()
        .collect();
    for sharded in [true, false] {
        let mut files = HashMap::new();
        files.insert(repo_path("config.json"), read("config.json"));
        files.insert(repo_path("tokenizer.json"), tokenizer.clone());
        if sharded {
            files.insert(repo_path("model.safetensors.index.json"), index.clone());
            files.insert(
                repo_path("model-00001-of-00001.safetensors"),
                weights.clone(),
            );
        } else {
            files.insert(repo_path("model.safetensors"), weights.clone());
        }
        let hub = Hub::start(files, HashMap::new());
        let target = dir.path().join(format!("models/tiny-{sharded}"));
        ember::fetch::download_hub_model(&hub.endpoint, "tiny/llama", "main", &target)
            .expect("the download");
        let (back, _) = LlamaForCausalLM::load_hf(&target, &device).expect("the folder loads");
        let got: Vec<f32> = back
            .forward(ids.clone())
            .into_data()
            .iter::<f32>()
            .collect();
        assert_eq!(got, want, "sharded: {sharded}");
    }
    // The index names a shard the server does not have.
    let mut files = HashMap::new();
    files.insert(repo_path("config.json"), read("config.json"));
    files.insert(repo_path("tokenizer.json"), tokenizer);
    files.insert(repo_path("model.safetensors.index.json"), index);
    let hub = Hub::start(files, HashMap::new());
    let target = dir.path().join("models/broken");
    let error = ember::fetch::download_hub_model(&hub.endpoint, "tiny/llama", "main", &target)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("model-00001-of-00001.safetensors"),
        "{error}"
    );
    assert!(!target.exists(), "nothing half-written");
}
