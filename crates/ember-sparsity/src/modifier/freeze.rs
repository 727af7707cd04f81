//! Freezing: selected weights keep their values and are never updated.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ember_schedule::SparsitySchedule;

use super::{Effect, Modifier, TargetView};
use crate::pattern::Groups;
use crate::select::budget::{Budget, Candidate, choose};
use crate::{ParamInfo, Scope, Selector, SparsityError};

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

    fn error(&self, message: String) -> SparsityError {
        SparsityError::modifier(&self.name, message)
    }
}

impl Modifier for Freezer {
    fn name(&self) -> &str {
        &self.name
    }

    fn releases(&self) -> bool {
        // Updates start from the current flags and only add to them.
        false
    }

    fn effect(&self) -> Effect {
        match self.rule {
            FreezeRule::All => Effect::FreezeWhole,
            _ => Effect::Freeze,
        }
    }

    fn selector(&self) -> &Selector {
        &self.selector
    }

    fn schedule(&self) -> &SparsitySchedule {
        &self.schedule
    }

    fn bind(&self, targets: &[ParamInfo]) -> Result<(), SparsityError> {
        if self.scope == Scope::Erk {
            return Err(self.error("freezers take `global` or `layer_wise` scope".to_string()));
        }
        if let FreezeRule::Mask(mask) = &self.rule {
            for (path, indices) in mask.iter() {
                let Some(info) = targets.iter().find(|t| &t.path == path) else {
                    return Err(SparsityError::MaskMismatch {
                        modifier: self.name.clone(),
                        message: format!(
                            "`{path}` is not among the parameters the freezer selects"
                        ),
                    });
                };
                let numel = info.numel();
                if let Some(index) = indices.iter().find(|&&i| i >= numel) {
                    return Err(SparsityError::MaskMismatch {
                        modifier: self.name.clone(),
                        message: format!(
                            "index {index} is out of range for `{path}` ({numel} elements)"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    fn needs_gradient(&self) -> bool {
        matches!(self.rule, FreezeRule::FreezeNet)
    }

    fn update(
        &self,
        step: u64,
        targets: &[TargetView<'_>],
    ) -> Result<Vec<Vec<bool>>, SparsityError> {
        let mut candidates = Vec::with_capacity(targets.len());
        for target in targets {
            let path = &target.info.path;
            let weights = target.weights;
            // Freezing chooses the lowest scores, like pruning: already frozen elements come
            // first, pruned ones never.
            let mut frozen = target.frozen.clone();
            let scores: Vec<f32> = match &self.rule {
                // Freeze the largest magnitudes: the lowest of `-|w|`.
                FreezeRule::TopMagnitude => weights.iter().map(|w| -w.abs()).collect(),
                FreezeRule::FreezeNet => {
                    let grad = target
                        .gradient
                        .ok_or_else(|| SparsityError::MissingGradient {
                            modifier: self.name.clone(),
                            path: path.clone(),
                            step,
                        })?;
                    weights
                        .iter()
                        .zip(grad)
                        .map(|(w, g)| (w * g).abs())
                        .collect()
                }
                FreezeRule::Mask(mask) => {
                    for &index in mask.get(path).map(Vec::as_slice).unwrap_or(&[]) {
                        frozen[index] = true;
                    }
                    vec![0.0; weights.len()]
                }
                FreezeRule::All => {
                    return Err(self.error("whole-tensor freezing never updates".to_string()));
                }
            };
            candidates.push(Candidate {
                groups: Groups::elements(path, weights.len()),
                scores,
                pruned: Cow::Owned(frozen),
                frozen: Cow::Borrowed(&target.pruned),
                target: None,
            });
        }
        let (fraction, scope) = match &self.rule {
            // The mask decides: exactly the listed (and already frozen) elements.
            FreezeRule::Mask(_) => {
                let listed: usize = candidates
                    .iter()
                    .flat_map(|c| c.pruned.iter())
                    .filter(|&&f| f)
                    .count();
                let total: usize = candidates.iter().map(|c| c.scores.len()).sum();
                let fraction = if total == 0 {
                    0.0
                } else {
                    listed as f64 / total as f64
                };
                (fraction, Scope::Global)
            }
            _ => (self.schedule.sparsity(step), self.scope),
        };
        if scope == Scope::LayerWise {
            for c in &mut candidates {
                c.target = Some(fraction);
            }
        }
        Ok(choose(
            candidates,
            Budget {
                global: fraction,
                cap: 1.0,
                quota: None,
            },
        ))
    }
}
