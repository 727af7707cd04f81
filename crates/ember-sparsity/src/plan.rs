use std::sync::Arc;

use ember_schedule::SparsitySchedule;
use serde::{Deserialize, Serialize};

pub use crate::freeze::{FreezeRule, Freezer};
use crate::score::{Magnitude, Scorer};
use crate::{ParamInfo, Selector, SparsityError};

/// How much sparsity each selected tensor gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every tensor is pruned to the target sparsity on its own.
    LayerWise,
    /// One threshold across all selected tensors: the target holds for their union, and
    /// tensors with many low scores lose more (GMP\*'s global magnitude pruning).
    #[default]
    Global,
}

/// The shape of what is removed together.
///
/// Ember prunes single elements today; N:M, block and structured patterns are planned as
/// further variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Any element may be removed on its own.
    #[default]
    Unstructured,
}

/// A pruning modifier: which parameters, how to score them, at what scope and on what schedule.
#[derive(Debug, Clone)]
pub struct Pruner {
    /// A name for reports and error messages.
    pub name: String,
    /// The parameters to prune.
    pub selector: Selector,
    /// How elements are ranked.
    pub scorer: Arc<dyn Scorer>,
    /// Layer-wise or global.
    pub scope: Scope,
    /// What is removed together.
    pub pattern: Pattern,
    /// When and how much.
    pub schedule: SparsitySchedule,
    /// Seed for scorers that draw random numbers.
    pub seed: u64,
}

impl Pruner {
    /// Global magnitude pruning of the parameters `selector` picks, on `schedule` — the GMP
    /// modifier.
    pub fn magnitude(name: &str, selector: Selector, schedule: SparsitySchedule) -> Self {
        Self {
            name: name.to_string(),
            selector,
            scorer: Arc::new(Magnitude),
            scope: Scope::Global,
            pattern: Pattern::Unstructured,
            schedule,
            seed: 0,
        }
    }

    /// The same pruner with another scorer.
    pub fn with_scorer(mut self, scorer: Arc<dyn Scorer>) -> Self {
        self.scorer = scorer;
        self
    }

    /// The same pruner at another scope.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// The same pruner with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// The modifiers to apply to one model.
#[derive(Debug, Clone, Default)]
pub struct SparsityPlan {
    /// Pruning modifiers, applied in order at each step where they are due.
    pub pruners: Vec<Pruner>,
    /// Freezing modifiers, applied after the pruners at each step where they are due.
    pub freezers: Vec<Freezer>,
}

impl SparsityPlan {
    /// A plan with the given pruners.
    pub fn new(pruners: Vec<Pruner>) -> Self {
        Self {
            pruners,
            freezers: Vec::new(),
        }
    }

    /// Adds a pruner.
    pub fn with_pruner(mut self, pruner: Pruner) -> Self {
        self.pruners.push(pruner);
        self
    }

    /// Adds a freezer.
    pub fn with_freezer(mut self, freezer: Freezer) -> Self {
        self.freezers.push(freezer);
        self
    }
}

/// One parameter under a modifier (a pruner or a freezer, by index).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) info: ParamInfo,
    pub(crate) modifier: usize,
}

/// A plan bound to a model's parameters. Derived from the plan and the model alone, so it is
/// rebuilt rather than saved.
#[derive(Debug)]
pub(crate) struct BoundPlan {
    pub(crate) pruners: Vec<Pruner>,
    pub(crate) freezers: Vec<Freezer>,
    /// Parameters with a keep-mask, one per pruned parameter.
    pub(crate) targets: Vec<Target>,
    /// Parameters frozen element by element, one per frozen parameter.
    pub(crate) freeze_targets: Vec<Target>,
    /// Parameters frozen whole through burn's `require_grad = false`.
    pub(crate) whole: Vec<Target>,
}

fn bind_modifier(
    name: &str,
    selector: &Selector,
    schedule: &SparsitySchedule,
    params: &[ParamInfo],
) -> Result<Vec<ParamInfo>, SparsityError> {
    schedule
        .validate()
        .map_err(|source| SparsityError::Schedule {
            modifier: name.to_string(),
            source,
        })?;
    selector.resolve(params, name)
}

fn check_overlap(
    taken: &[(String, String)],
    info: &ParamInfo,
    name: &str,
) -> Result<(), SparsityError> {
    match taken.iter().find(|(path, _)| *path == info.path) {
        Some((_, first)) => Err(SparsityError::Overlap {
            path: info.path.clone(),
            first: first.clone(),
            second: name.to_string(),
        }),
        None => Ok(()),
    }
}

fn check_mask(
    mask: &std::collections::BTreeMap<String, Vec<usize>>,
    info: &ParamInfo,
    name: &str,
) -> Result<(), SparsityError> {
    let numel = info.numel();
    match mask
        .get(&info.path)
        .and_then(|indices| indices.iter().find(|&&i| i >= numel))
    {
        Some(index) => Err(SparsityError::MaskMismatch {
            modifier: name.to_string(),
            message: format!(
                "index {index} is out of range for `{}` ({numel} elements)",
                info.path
            ),
        }),
        None => Ok(()),
    }
}

impl BoundPlan {
    pub(crate) fn bind(plan: SparsityPlan, params: &[ParamInfo]) -> Result<Self, SparsityError> {
        let (mut targets, mut freeze_targets, mut whole) = (Vec::new(), Vec::new(), Vec::new());
        // A parameter is pruned by at most one pruner and frozen by at most one freezer; a
        // whole-tensor freeze excludes every other modifier.
        let mut pruned: Vec<(String, String)> = Vec::new();
        let mut frozen: Vec<(String, String)> = Vec::new();
        for (index, pruner) in plan.pruners.iter().enumerate() {
            for info in bind_modifier(&pruner.name, &pruner.selector, &pruner.schedule, params)? {
                check_overlap(&pruned, &info, &pruner.name)?;
                pruned.push((info.path.clone(), pruner.name.clone()));
                targets.push(Target {
                    info,
                    modifier: index,
                });
            }
        }
        for (index, freezer) in plan.freezers.iter().enumerate() {
            for info in bind_modifier(&freezer.name, &freezer.selector, &freezer.schedule, params)?
            {
                check_overlap(&frozen, &info, &freezer.name)?;
                if matches!(freezer.rule, FreezeRule::All) {
                    check_overlap(&pruned, &info, &freezer.name)?;
                }
                if let FreezeRule::Mask(mask) = &freezer.rule {
                    check_mask(mask, &info, &freezer.name)?;
                }
                frozen.push((info.path.clone(), freezer.name.clone()));
                let target = Target {
                    info,
                    modifier: index,
                };
                match freezer.rule {
                    FreezeRule::All => whole.push(target),
                    _ => freeze_targets.push(target),
                }
            }
        }
        for freezer in &plan.freezers {
            if let FreezeRule::Mask(mask) = &freezer.rule
                && let Some(path) = mask.keys().find(|p| !frozen.iter().any(|(f, _)| f == *p))
            {
                return Err(SparsityError::MaskMismatch {
                    modifier: freezer.name.clone(),
                    message: format!("`{path}` is not among the parameters the freezer selects"),
                });
            }
        }
        Ok(Self {
            pruners: plan.pruners,
            freezers: plan.freezers,
            targets,
            freeze_targets,
            whole,
        })
    }

    /// The index of the keep-mask of `path`.
    pub(crate) fn target_index(&self, path: &str) -> Option<usize> {
        self.targets.iter().position(|t| t.info.path == path)
    }

    /// The index of the frozen state of `path`.
    pub(crate) fn freeze_index(&self, path: &str) -> Option<usize> {
        self.freeze_targets.iter().position(|t| t.info.path == path)
    }

    /// Whether `path` is frozen whole.
    pub(crate) fn is_whole_frozen(&self, path: &str) -> bool {
        self.whole.iter().any(|t| t.info.path == path)
    }
}
