//! A run directory belongs to one run: a lock held while the run is live, and no mixing of
//! an old run's files with a new one's.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::TrainError;

/// How a run treats a run directory that already holds files of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// Refuse a directory that holds another run's files.
    #[default]
    Fresh,
    /// Delete the previous run's files first (`--force`).
    Force,
    /// Continue the run in the directory from its newest checkpoint (`--resume`); its
    /// `recipe.toml` must be the recipe given.
    Resume,
}

/// The files and directories a run writes; a fresh run refuses a directory holding any.
pub const RUN_FILES: &[&str] = &[
    "recipe.toml",
    crate::files::MANIFEST,
    DEVICES_FILE,
    "report.json",
    "metrics.csv",
    "model.bpk",
    "dense.bpk",
    crate::trainer::checkpoint::DIR,
    "dense",
    "sparse",
    "sparsity.png",
    "sparsity.svg",
    "curves.png",
    "curves.svg",
];

/// The file that records the devices a run trains on (`flex`, `flex,flex`), so that a
/// resume knows a data-parallel run (which writes no checkpoints) from one it can continue.
pub const DEVICES_FILE: &str = "devices.txt";

/// The lock file's name in a run directory.
pub const LOCK_FILE: &str = ".lock";

/// Exclusive ownership of a run directory, released when dropped (or when the process dies:
/// the operating system drops the lock with the file handle, so a killed run never leaves a
/// stale lock behind).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Takes `dir` for a run: creates it, locks it (failing, with the holder's description, when
/// another live process holds it), then applies `start` to the files of an earlier run.
pub fn claim(dir: &Path, start: Start) -> Result<RunLock, TrainError> {
    let in_use = |message: String| TrainError::RunDir {
        dir: dir.to_path_buf(),
        message,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(in_use("it is a file, not a directory".into()));
    }
    if let Ok(link) = std::fs::read_link(dir)
        && !dir.exists()
    {
        return Err(in_use(format!(
            "it is a symbolic link to {}, which does not exist",
            link.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| in_use(format!("cannot create it: {e}")))?;
    let lock_path = dir.join(LOCK_FILE);
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| in_use(format!("cannot open {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(in_use(format!(
                "another run is using it ({}); wait for it to finish or choose another --out",
                if holder.is_empty() {
                    "holder unknown"
                } else {
                    holder
                }
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(in_use(format!("cannot lock {}: {e}", lock_path.display())));
        }
    }
    let holder = format!(
        "pid {}, `{}`",
        std::process::id(),
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = file.write_all(holder.as_bytes());
    let _ = file.sync_all();

    remove_stale_temporaries(dir);
    let present = present_run_files(dir);
    // A run that stopped before writing anything but its recipe (and the records of it) has
    // nothing to mix with.
    let outputs = present.iter().any(|name| {
        !["recipe.toml", crate::files::MANIFEST, DEVICES_FILE].contains(&name.as_str())
    });
    match start {
        Start::Fresh if outputs => {
            let resumable = present
                .iter()
                .any(|name| name == crate::trainer::checkpoint::DIR);
            return Err(in_use(format!(
                "it holds another run's files ({}); pass --force to delete them first, or \
                 choose another --out{}",
                present.join(", "),
                if resumable {
                    " (`ember run --resume DIR` continues that unfinished run)"
                } else {
                    ""
                }
            )));
        }
        Start::Force => {
            for name in &present {
                let path = dir.join(name);
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.map_err(|e| in_use(format!("cannot delete {}: {e}", path.display())))?;
            }
        }
        _ => {}
    }
    Ok(RunLock { _file: file })
}

/// Removes the temporary files (`.<name>.tmp-<pid>`) that a killed writer left in `dir`:
/// the lock is held, so no live writer owns one.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = name.starts_with('.')
            && name
                .rsplit_once(".tmp-")
                .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Refuses a `--force` run whose inputs (`dense.load`, a mask file, a data or model folder)
/// lie among the files `--force` would delete in `dir`: the run would delete what it reads.
pub fn refuse_inputs_inside(dir: &Path, inputs: &[(String, PathBuf)]) -> Result<(), TrainError> {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    for name in present_run_files(dir) {
        let doomed = canonical(&dir.join(&name));
        for (label, input) in inputs {
            if canonical(input).starts_with(&doomed) {
                return Err(TrainError::RunDir {
                    dir: dir.to_path_buf(),
                    message: format!(
                        "--force would delete {}, which `{label}` reads ({}); copy it out of \
                         the run directory, or choose another --out",
                        dir.join(&name).display(),
                        input.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The run files present in `dir`, in [`RUN_FILES`] order.
pub fn present_run_files(dir: &Path) -> Vec<String> {
    RUN_FILES
        .iter()
        .filter(|name| dir.join(name).exists())
        .map(|name| name.to_string())
        .collect()
}

/// The recipe a resumed run continues: `dir/recipe.toml` must exist (a run that wrote nothing
/// has nothing to resume).
pub fn recipe_path(dir: &Path) -> Result<PathBuf, TrainError> {
    let path = dir.join("recipe.toml");
    if path.is_file() {
        Ok(path)
    } else {
        Err(TrainError::RunDir {
            dir: dir.to_path_buf(),
            message: "it holds no recipe.toml: there is no run to resume there".into(),
        })
    }
}

/// Where the unfinished run in `dir` stands, from its newest checkpoint (for messages).
pub fn progress_of(dir: &Path) -> String {
    match crate::trainer::checkpoint::latest(dir).map(|c| (c.state(), c)) {
        Some((Ok(state), _)) => format!(
            "last checkpoint: {} phase, epoch {}, step {}",
            state.phase,
            state.last_epoch(),
            state.step
        ),
        Some((Err(e), _)) => format!("its newest checkpoint is unreadable: {e}"),
        None => "no checkpoint yet: a resumed run starts over".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_fails_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = claim(dir.path(), Start::Fresh).unwrap();
        let err = claim(dir.path(), Start::Fresh).unwrap_err().to_string();
        assert!(err.contains("another run is using it"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        claim(dir.path(), Start::Fresh).unwrap();
    }

    #[test]
    fn a_fresh_run_refuses_old_files_and_force_deletes_only_run_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("recipe.toml"), "").unwrap();
        claim(dir.path(), Start::Fresh).expect("a recipe alone is no output to mix with");
        std::fs::write(dir.path().join("report.json"), "{}").unwrap();
        std::fs::create_dir(dir.path().join("checkpoints")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = claim(dir.path(), Start::Fresh).unwrap_err().to_string();
        assert!(
            err.contains("recipe.toml, report.json, checkpoints"),
            "{err}"
        );
        assert!(err.contains("--force") && err.contains("--resume"), "{err}");
        claim(dir.path(), Start::Resume).unwrap();
        claim(dir.path(), Start::Force).unwrap();
        assert!(present_run_files(dir.path()).is_empty());
        assert!(
            dir.path().join("notes.txt").exists(),
            "other files are left alone"
        );
    }

    #[test]
    fn a_file_in_place_of_the_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        std::fs::write(&file, "x").unwrap();
        let err = claim(&file, Start::Fresh).unwrap_err().to_string();
        assert!(err.contains("is a file, not a directory"), "{err}");
    }
}
