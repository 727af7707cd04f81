use serde::{Deserialize, Serialize};

/// `[checkpoint]`: how often a run saves the state it can resume from (`ember run --resume`).
///
/// A checkpoint is always written at the end of every epoch; `every_steps` adds one every so
/// many optimizer steps within an epoch. The newest `keep` are kept; a finished run removes
/// them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSpec {
    /// Also checkpoint every this many optimizer steps (0: at epoch ends only).
    #[serde(default)]
    pub every_steps: u64,
    /// How many checkpoints to keep (at least 1).
    #[serde(default = "default_keep")]
    pub keep: usize,
}

fn default_keep() -> usize {
    2
}

impl Default for CheckpointSpec {
    fn default() -> Self {
        Self {
            every_steps: 0,
            keep: default_keep(),
        }
    }
}

impl CheckpointSpec {
    /// Whether this is the default (left out of a written recipe).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Range checks: `(field, value, message)` of the first problem.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String, &'static str)> {
        if self.keep == 0 {
            return Err(("checkpoint.keep", "0".into(), "must be at least 1"));
        }
        if self.keep > 1000 {
            return Err((
                "checkpoint.keep",
                self.keep.to_string(),
                "must be at most 1000 (each checkpoint is a copy of the model and optimizer)",
            ));
        }
        Ok(())
    }
}
