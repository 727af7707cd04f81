//! Plans: the modifiers for one model, and their binding to the model's parameters.

use std::collections::HashMap;
use std::sync::Arc;

use burn::module::ParamId;

use crate::modifier::{Effect, Freezer, Modifier, Pruner};
use crate::{ParamInfo, SparsityError};

/// The modifiers to apply to one model.
#[derive(Debug, Clone, Default)]
pub struct SparsityPlan {
    /// The modifiers. At a step where several are due, those that prune update first, then
    /// those that freeze, each group in this order.
    pub modifiers: Vec<Arc<dyn Modifier>>,
}

impl SparsityPlan {
    /// A plan with the given pruners.
    pub fn new(pruners: Vec<Pruner>) -> Self {
        Self {
            modifiers: pruners
                .into_iter()
                .map(|p| Arc::new(p) as Arc<dyn Modifier>)
                .collect(),
        }
    }

    /// Adds a pruner.
    pub fn with_pruner(self, pruner: Pruner) -> Self {
        self.with_modifier(Arc::new(pruner))
    }

    /// Adds a freezer.
    pub fn with_freezer(self, freezer: Freezer) -> Self {
        self.with_modifier(Arc::new(freezer))
    }

    /// Adds any modifier.
    pub fn with_modifier(mut self, modifier: Arc<dyn Modifier>) -> Self {
        self.modifiers.push(modifier);
        self
    }
}

/// One parameter with state: who prunes it and who freezes it (indices into
/// [`BoundPlan::modifiers`]).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) info: ParamInfo,
    pub(crate) pruner: Option<usize>,
    pub(crate) freezer: Option<usize>,
}

/// A plan bound to a model's parameters. Derived from the plan and the model alone, so it is
/// rebuilt rather than saved.
#[derive(Debug)]
pub(crate) struct BoundPlan {
    /// In update order: pruning modifiers, then freezing ones.
    pub(crate) modifiers: Vec<Arc<dyn Modifier>>,
    /// The parameters of each modifier (indices into `entries`, or into `whole` for
    /// whole-tensor freezers).
    pub(crate) targets: Vec<Vec<usize>>,
    /// Parameters with state, sorted by path (the order of the state's [`PathMap`]).
    ///
    /// [`PathMap`]: crate::state::PathMap
    pub(crate) entries: Vec<Entry>,
    /// Parameters frozen whole through burn's `require_grad = false`.
    pub(crate) whole: Vec<ParamInfo>,
}

fn overlap(path: &str, first: &str, second: &str) -> SparsityError {
    SparsityError::Overlap {
        path: path.to_string(),
        first: first.to_string(),
        second: second.to_string(),
    }
}

impl BoundPlan {
    /// Resolves every selector, validates every modifier and checks that no parameter is
    /// pruned by two modifiers or frozen by two, and that a tensor frozen whole is touched by
    /// nothing else.
    pub(crate) fn bind(plan: SparsityPlan, params: &[ParamInfo]) -> Result<Self, SparsityError> {
        let mut modifiers: Vec<Arc<dyn Modifier>> = plan.modifiers;
        modifiers.sort_by_key(|m| m.effect() != Effect::Prune);
        let mut pruned_by: HashMap<String, usize> = HashMap::new();
        let mut frozen_by: HashMap<String, usize> = HashMap::new();
        let mut whole_by: HashMap<String, usize> = HashMap::new();
        let mut selected: Vec<Vec<ParamInfo>> = Vec::new();
        for (index, modifier) in modifiers.iter().enumerate() {
            let name = modifier.name();
            modifier
                .schedule()
                .validate()
                .map_err(|source| SparsityError::Schedule {
                    modifier: name.to_string(),
                    source,
                })?;
            let targets = modifier.selector().resolve(params, name)?;
            modifier.bind(&targets)?;
            if modifier.needs_gradient()
                && let Some(path) = targets.iter().find(|t| whole_by.contains_key(&t.path))
            {
                return Err(SparsityError::modifier(
                    name,
                    format!(
                        "needs gradients, but `{}` is frozen whole and has none",
                        path.path
                    ),
                ));
            }
            for info in &targets {
                let taken = match modifier.effect() {
                    Effect::Prune => &mut pruned_by,
                    Effect::Freeze => &mut frozen_by,
                    Effect::FreezeWhole => &mut whole_by,
                };
                if let Some(&first) = taken.get(&info.path) {
                    return Err(overlap(&info.path, modifiers[first].name(), name));
                }
                taken.insert(info.path.clone(), index);
            }
            selected.push(targets);
        }
        for (path, &whole) in &whole_by {
            if let Some(&other) = pruned_by.get(path).or_else(|| frozen_by.get(path)) {
                return Err(overlap(
                    path,
                    modifiers[other].name(),
                    modifiers[whole].name(),
                ));
            }
        }
        let mut entries: Vec<Entry> = params
            .iter()
            .filter(|p| pruned_by.contains_key(&p.path) || frozen_by.contains_key(&p.path))
            .map(|p| Entry {
                info: p.clone(),
                pruner: pruned_by.get(&p.path).copied(),
                freezer: frozen_by.get(&p.path).copied(),
            })
            .collect();
        entries.sort_by(|a, b| a.info.path.cmp(&b.info.path));
        let whole: Vec<ParamInfo> = params
            .iter()
            .filter(|p| whole_by.contains_key(&p.path))
            .cloned()
            .collect();
        let targets = selected
            .iter()
            .map(|infos| {
                infos
                    .iter()
                    .map(|info| {
                        entries
                            .iter()
                            .position(|e| e.info.path == info.path)
                            .or_else(|| whole.iter().position(|w| w.path == info.path))
                            .expect("every target has an entry")
                    })
                    .collect()
            })
            .collect();
        Ok(Self {
            modifiers,
            targets,
            entries,
            whole,
        })
    }

    /// The entry of `path`.
    pub(crate) fn entry_index(&self, path: &str) -> Option<usize> {
        self.entries
            .binary_search_by(|e| e.info.path.as_str().cmp(path))
            .ok()
    }

    /// The entries (and pruning modifiers) a step's gradients and weights pass through,
    /// by burn's parameter id.
    pub(crate) fn lookup(&self, params: &[ParamInfo]) -> HashMap<ParamId, usize> {
        params
            .iter()
            .filter_map(|p| self.entry_index(&p.path).map(|i| (p.id, i)))
            .collect()
    }
}
