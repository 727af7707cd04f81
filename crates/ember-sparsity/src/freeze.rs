//! Freezing: selected weights keep their values and are never updated.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ember_schedule::SparsitySchedule;

use crate::{Scope, Selector, SparsityError};

/// Which elements a freezer freezes.
#[derive(Debug, Clone)]
pub enum FreezeRule {
    /// Whole tensors, through burn's own `require_grad = false`: no gradient and no optimizer
    /// state is kept for them. Takes effect when the freezer is bound ([`Sparse::new`]).
    ///
    /// [`Sparse::new`]: crate::Sparse::new
    All,
    /// The largest-magnitude fraction given by the schedule.
    TopMagnitude,
    /// FreezeNet (Wimmer et al. 2020): at the scheduled step (normally 0, the initialisation),
    /// score every element by `|w·g|` on that step's batch and freeze the lowest-scored
    /// fraction at its current value; the rest stays trainable.
    FreezeNet,
    /// The elements listed per parameter path (flat indices), e.g. loaded with
    /// [`FreezeRule::mask_from_json`]. The schedule only says when; its fraction is ignored.
    Mask(Arc<BTreeMap<String, Vec<usize>>>),
}

impl FreezeRule {
    /// Reads a mask file: a JSON object mapping parameter paths to the flat indices to freeze,
    /// `{"layers.0.weight": [0, 17, 42]}`.
    pub fn mask_from_json(path: &Path) -> Result<Self, SparsityError> {
        let error = |message: String| SparsityError::MaskFile {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let indices: BTreeMap<String, Vec<usize>> =
            serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
        Ok(Self::Mask(Arc::new(indices)))
    }

    /// The rule's name in recipes and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::All => "all",
            Self::TopMagnitude => "top_magnitude",
            Self::FreezeNet => "freezenet",
            Self::Mask(_) => "mask",
        }
    }
}

/// A freezing modifier: which parameters, which rule, at what scope and on what schedule
/// (whose value is the frozen fraction).
#[derive(Debug, Clone)]
pub struct Freezer {
    /// A name for reports and error messages.
    pub name: String,
    /// The parameters to freeze.
    pub selector: Selector,
    /// Which elements.
    pub rule: FreezeRule,
    /// Layer-wise or global fractions.
    pub scope: Scope,
    /// When, and what fraction of the elements is frozen.
    pub schedule: SparsitySchedule,
}

impl Freezer {
    /// A freezer with global scope.
    pub fn new(
        name: &str,
        selector: Selector,
        rule: FreezeRule,
        schedule: SparsitySchedule,
    ) -> Self {
        Self {
            name: name.to_string(),
            selector,
            rule,
            scope: Scope::Global,
            schedule,
        }
    }

    /// The same freezer at another scope.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }
}
