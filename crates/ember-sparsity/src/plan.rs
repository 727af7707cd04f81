use std::sync::Arc;

use ember_schedule::SparsitySchedule;
use serde::{Deserialize, Serialize};

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
}

impl SparsityPlan {
    /// A plan with the given pruners.
    pub fn new(pruners: Vec<Pruner>) -> Self {
        Self { pruners }
    }

    /// Adds a pruner.
    pub fn with_pruner(mut self, pruner: Pruner) -> Self {
        self.pruners.push(pruner);
        self
    }
}

/// One parameter under a pruner.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) info: ParamInfo,
    pub(crate) pruner: usize,
}

/// A plan bound to a model's parameters. Derived from the plan and the model alone, so it is
/// rebuilt rather than saved.
#[derive(Debug)]
pub(crate) struct BoundPlan {
    pub(crate) pruners: Vec<Pruner>,
    pub(crate) targets: Vec<Target>,
}

impl BoundPlan {
    pub(crate) fn bind(plan: SparsityPlan, params: &[ParamInfo]) -> Result<Self, SparsityError> {
        let mut targets: Vec<Target> = Vec::new();
        for (index, pruner) in plan.pruners.iter().enumerate() {
            pruner
                .schedule
                .validate()
                .map_err(|source| SparsityError::Schedule {
                    modifier: pruner.name.clone(),
                    source,
                })?;
            for info in pruner.selector.resolve(params, &pruner.name)? {
                if let Some(other) = targets.iter().find(|t| t.info.path == info.path) {
                    return Err(SparsityError::Overlap {
                        path: info.path,
                        first: plan.pruners[other.pruner].name.clone(),
                        second: pruner.name.clone(),
                    });
                }
                targets.push(Target {
                    info,
                    pruner: index,
                });
            }
        }
        Ok(Self {
            pruners: plan.pruners,
            targets,
        })
    }

    pub(crate) fn target_index(&self, path: &str) -> Option<usize> {
        self.targets.iter().position(|t| t.info.path == path)
    }
}
