//! Training checkpoints: everything a killed run needs to continue as if it had never stopped.
//!
//! A checkpoint is a directory `checkpoints/<phase>-<step>` of the run directory holding
//! `model.bpk` (the model, with its sparsity state in the pruning phase), `optimizer.bpk`,
//! `scheduler.bpk` and `state.json` ([`TrainingState`]: position in the data, partial epoch
//! sums, the metric rows so far). It is written under a `.partial-` name and renamed into
//! place once every file is complete, so a crash in the middle of a write leaves the previous
//! checkpoint as the latest one; leftovers of such crashes are removed on the next write.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub(crate) use crate::evaluate::EpochSums;
use crate::{EpochRow, TrainError};

/// The layout version of [`TrainingState`]; a checkpoint of another version is refused.
pub(crate) const FORMAT: u32 = 1;

/// The subdirectory of a run directory that holds its checkpoints.
pub(crate) const DIR: &str = "checkpoints";

/// Where training stood when a checkpoint was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrainingState {
    /// [`FORMAT`] when written.
    pub format: u32,
    /// `dense` or `sparse`.
    pub phase: String,
    /// The epoch in progress, from 1 (`epochs + 1` once the phase is over).
    pub epoch: usize,
    /// Batches of `epoch` already trained on.
    pub batches_done: usize,
    /// Optimizer steps of the phase so far.
    pub step: u64,
    /// The training sums of the epoch in progress.
    pub sums: EpochSums,
    /// Every metric row of the run so far, earlier phases included.
    pub rows: Vec<EpochRow>,
    /// The run's seed, so that a checkpoint of another run (another seed) is refused
    /// rather than continued (absent in checkpoints of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl TrainingState {
    /// The last epoch trained on, even partly (from 1): the epoch in progress, or the one
    /// just finished when no batch of the next has run.
    pub fn last_epoch(&self) -> usize {
        self.epoch
            .saturating_sub(usize::from(self.batches_done == 0))
            .max(1)
    }
}

/// Phase order: a later phase's checkpoint is newer than any of an earlier phase.
fn phase_rank(phase: &str) -> u8 {
    match phase {
        "dense" => 0,
        _ => 1,
    }
}

/// One complete checkpoint on disk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Checkpoint {
    /// Its directory.
    pub dir: PathBuf,
    /// Its phase.
    pub phase: String,
    /// The phase's optimizer step when it was written.
    pub step: u64,
}

impl Checkpoint {
    /// The model file.
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.bpk")
    }

    /// The optimizer state file.
    pub fn optimizer(&self) -> PathBuf {
        self.dir.join("optimizer.bpk")
    }

    /// The learning-rate scheduler file.
    pub fn scheduler(&self) -> PathBuf {
        self.dir.join("scheduler.bpk")
    }

    /// Reads `state.json`, refusing another format version.
    pub fn state(&self) -> Result<TrainingState, TrainError> {
        let path = self.dir.join("state.json");
        let error = |message: String| TrainError::ReadCheckpoint {
            path: path.clone(),
            message,
        };
        let text = crate::read_recorded(&path)?;
        let state: TrainingState =
            serde_json::from_str(&text).map_err(|e| error(format!("not a training state: {e}")))?;
        if state.format != FORMAT {
            return Err(error(format!(
                "format {} (this Ember reads format {FORMAT})",
                state.format
            )));
        }
        if state.phase != self.phase {
            return Err(error(format!(
                "the state says phase `{}`, the directory `{}`",
                state.phase, self.phase
            )));
        }
        Ok(state)
    }

    fn parse(dir: PathBuf) -> Option<Self> {
        let name = dir.file_name()?.to_str()?;
        let (phase, step) = name.rsplit_once('-')?;
        if !matches!(phase, "dense" | "sparse") || !dir.is_dir() {
            return None;
        }
        Some(Self {
            phase: phase.to_string(),
            step: step.parse().ok()?,
            dir,
        })
    }

    fn order(&self) -> (u8, u64) {
        (phase_rank(&self.phase), self.step)
    }
}

/// The complete checkpoints of `run_dir`, oldest first.
pub(crate) fn list(run_dir: &Path) -> Vec<Checkpoint> {
    let Ok(entries) = std::fs::read_dir(run_dir.join(DIR)) else {
        return Vec::new();
    };
    let mut found: Vec<Checkpoint> = entries
        .flatten()
        .filter_map(|entry| Checkpoint::parse(entry.path()))
        .collect();
    found.sort_by_key(Checkpoint::order);
    found
}

/// The newest complete checkpoint of `run_dir`, if any.
pub(crate) fn latest(run_dir: &Path) -> Option<Checkpoint> {
    list(run_dir).pop()
}

/// Writes a checkpoint of `phase` at `step` into `run_dir`: `write_files` fills a fresh
/// directory with the model, optimizer and scheduler files, then `state.json` is added and
/// the directory renamed into place. Only the newest `keep` checkpoints are kept.
pub(crate) fn write(
    run_dir: &Path,
    state: &TrainingState,
    keep: usize,
    write_files: impl FnOnce(&Checkpoint) -> Result<(), TrainError>,
) -> Result<Checkpoint, TrainError> {
    let root = run_dir.join(DIR);
    let name = format!("{}-{:09}", state.phase, state.step);
    let io = |path: &Path, e: std::io::Error| TrainError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(&root).map_err(|e| io(&root, e))?;
    remove_partials(&root);
    let partial = Checkpoint {
        dir: root.join(format!(".partial-{name}")),
        phase: state.phase.clone(),
        step: state.step,
    };
    std::fs::create_dir(&partial.dir).map_err(|e| io(&partial.dir, e))?;
    write_files(&partial)?;
    crate::pause::point(|| format!("checkpoint-write:{}", state.step));
    let json = serde_json::to_string_pretty(state).expect("a training state always serialises");
    crate::files::write_recorded(&partial.dir.join("state.json"), json.as_bytes())?;
    let done = Checkpoint {
        dir: root.join(&name),
        ..partial.clone()
    };
    if done.dir.exists() {
        // The same step written again (a resumed run re-reaching it): the new one replaces it.
        std::fs::remove_dir_all(&done.dir).map_err(|e| io(&done.dir, e))?;
    }
    std::fs::rename(&partial.dir, &done.dir).map_err(|e| io(&done.dir, e))?;
    sync_dir(&root);
    let all = list(run_dir);
    for old in all.iter().take(all.len().saturating_sub(keep.max(1))) {
        std::fs::remove_dir_all(&old.dir).map_err(|e| io(&old.dir, e))?;
    }
    Ok(done)
}

/// Removes every checkpoint of `run_dir` (a finished run needs none).
pub(crate) fn remove_all(run_dir: &Path) -> Result<(), TrainError> {
    let root = run_dir.join(DIR);
    match std::fs::remove_dir_all(&root) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(TrainError::Write {
            path: root,
            message: e.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Removes `.partial-*` directories: checkpoints whose writer was killed.
fn remove_partials(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".partial-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Flushes a directory's entries (the rename) to disk, where the platform allows it.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(phase: &str, step: u64) -> TrainingState {
        TrainingState {
            format: FORMAT,
            phase: phase.into(),
            epoch: 1,
            batches_done: step as usize,
            step,
            sums: EpochSums::default(),
            rows: Vec::new(),
            seed: Some(1),
        }
    }

    #[test]
    fn keeps_the_newest_and_orders_phases_before_steps() {
        let dir = tempfile::tempdir().unwrap();
        for (phase, step) in [("dense", 5), ("dense", 10), ("sparse", 2), ("sparse", 4)] {
            write(dir.path(), &state(phase, step), 2, |c| {
                std::fs::write(c.model(), b"m").map_err(|e| TrainError::Write {
                    path: c.model(),
                    message: e.to_string(),
                })
            })
            .unwrap();
        }
        let kept: Vec<(String, u64)> = list(dir.path())
            .into_iter()
            .map(|c| (c.phase, c.step))
            .collect();
        assert_eq!(kept, [("sparse".into(), 2), ("sparse".into(), 4)]);
        let newest = latest(dir.path()).unwrap();
        assert_eq!(newest.state().unwrap(), state("sparse", 4));
    }

    #[test]
    fn a_partial_checkpoint_is_never_the_latest_and_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &state("dense", 3), 2, |_| Ok(())).unwrap();
        let partial = dir.path().join(DIR).join(".partial-dense-000000007");
        std::fs::create_dir_all(&partial).unwrap();
        assert_eq!(latest(dir.path()).unwrap().step, 3);
        write(dir.path(), &state("dense", 8), 2, |_| Ok(())).unwrap();
        assert!(!partial.exists());
    }

    #[test]
    fn a_damaged_or_foreign_state_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = write(dir.path(), &state("dense", 3), 2, |_| Ok(())).unwrap();
        // Edited behind Ember's back: the manifest names it.
        std::fs::write(c.dir.join("state.json"), b"{\"format\": 99").unwrap();
        let err = c.state().unwrap_err().to_string();
        assert!(
            err.contains("state.json") && err.contains("SHA256SUMS"),
            "{err}"
        );
        // Recorded, but not a state.
        crate::files::write_recorded(&c.dir.join("state.json"), b"{\"format\": 99").unwrap();
        let err = c.state().unwrap_err().to_string();
        assert!(
            err.contains("state.json") && err.contains("not a training state"),
            "{err}"
        );
        let mut future = state("dense", 3);
        future.format = 99;
        crate::files::write_recorded(
            &c.dir.join("state.json"),
            serde_json::to_string(&future).unwrap().as_bytes(),
        )
        .unwrap();
        let err = c.state().unwrap_err().to_string();
        assert!(err.contains("format 99"), "{err}");
    }
}
