//! How the models a run trains are checkpointed: the dense model as a module record, the
//! pruned one with its sparsity state (masks as bits, scores, step), matched by path.

use std::path::Path;

use ember_sparsity::Sparse;

use super::Resumable;
use crate::TrainError;
use crate::task::{Task, TaskModel};

impl<T: Task> Resumable for TaskModel<T> {
    fn save_to(&self, path: &Path) -> Result<(), TrainError> {
        burn::module::Module::save_file(self.clone(), path).map_err(|e| TrainError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        crate::files::seal(path)
    }

    fn load_from(self, path: &Path) -> Result<Self, TrainError> {
        crate::files::verify(path, true)?;
        burn::module::Module::try_load_file(self, path).map_err(|e| TrainError::ReadCheckpoint {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

impl<T: Task> Resumable for Sparse<TaskModel<T>> {
    fn save_to(&self, path: &Path) -> Result<(), TrainError> {
        self.save_checkpoint(path).map_err(|e| TrainError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    fn load_from(self, path: &Path) -> Result<Self, TrainError> {
        crate::files::verify(path, true)?;
        self.load_checkpoint(path)
            .map_err(|e| TrainError::ReadCheckpoint {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
    }
}
