//! Modifier kinds of one's own: `[[modifiers]] kind = "…"` names that are not built in resolve
//! through a [`ModifierRegistry`].

use std::collections::BTreeMap;
use std::sync::Arc;

use ember_sparsity::{PatternRegistry, ScorerRegistry, SparsityPlan};
use serde::{Deserialize, Serialize};

use super::Steps;
use crate::TrainError;

/// A `[[modifiers]]` entry whose `kind` is not built in: its name and every other key, read
/// by the kind's [`ModifierKind`] when the plan is built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomSpec {
    /// The kind's name in the [`ModifierRegistry`].
    pub kind: String,
    /// Every key of the entry but `kind`.
    #[serde(flatten)]
    pub settings: toml::Table,
}

impl CustomSpec {
    /// The settings read as the kind's own type `S` (a serde struct that should deny unknown
    /// fields); an unknown or mistyped key is an error naming `modifiers[index]`.
    pub fn settings<S: serde::de::DeserializeOwned>(&self, index: usize) -> Result<S, TrainError> {
        toml::Value::Table(self.settings.clone())
            .try_into()
            .map_err(|e: toml::de::Error| TrainError::Invalid {
                field: format!("modifiers[{index}]"),
                value: format!("kind = {:?}", self.kind),
                message: e.message().trim_end().to_string(),
            })
    }
}

/// What a modifier kind gets to build its modifier with.
#[derive(Debug, Clone, Copy)]
pub struct ModifierContext<'a> {
    /// The entry's index in `[[modifiers]]` (for default names and error fields).
    pub index: usize,
    /// Epochs to optimizer steps, for schedules written in epochs.
    pub steps: &'a Steps,
    /// The recipe's seed, for modifiers that draw at random.
    pub seed: u64,
    /// Epochs of the pruning phase (`epochs`): a schedule should end within them.
    pub epochs: usize,
    /// The scorers recipes may name.
    pub scorers: &'a ScorerRegistry,
    /// The patterns recipes may name.
    pub patterns: &'a PatternRegistry,
}

/// One modifier kind: turns its `[[modifiers]]` table into pruners, freezers or modifiers of
/// the plan. Register it with [`ModifierRegistry::register`] and name it from a recipe.
pub trait ModifierKind: Send + Sync {
    /// Adds what `spec` describes to `plan` (`with_pruner`, `with_freezer` or
    /// `with_modifier`). Every error of the entry's settings is reported here: the plan is
    /// built by `ember check` before anything trains.
    fn add(
        &self,
        plan: SparsityPlan,
        spec: &CustomSpec,
        context: &ModifierContext<'_>,
    ) -> Result<SparsityPlan, TrainError>;
}

impl<F> ModifierKind for F
where
    F: Fn(SparsityPlan, &CustomSpec, &ModifierContext<'_>) -> Result<SparsityPlan, TrainError>
        + Send
        + Sync,
{
    fn add(
        &self,
        plan: SparsityPlan,
        spec: &CustomSpec,
        context: &ModifierContext<'_>,
    ) -> Result<SparsityPlan, TrainError> {
        self(plan, spec, context)
    }
}

/// Modifier kinds beyond the built-in `prune`, `freeze`, `rigl`, `set`, `mask` and `layerwise`,
/// by name.
#[derive(Clone, Default)]
pub struct ModifierRegistry {
    kinds: BTreeMap<String, Arc<dyn ModifierKind>>,
}

impl core::fmt::Debug for ModifierRegistry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

/// The kinds every recipe can name without a registry.
pub const BUILT_IN_MODIFIERS: [&str; 6] = ["prune", "freeze", "rigl", "set", "mask", "layerwise"];

impl ModifierRegistry {
    /// Adds (or replaces) the kind `name`. A built-in name cannot be taken: the recipe would
    /// silently mean something else.
    ///
    /// # Panics
    ///
    /// When `name` is one of [`BUILT_IN_MODIFIERS`] (a programming error, found on the first
    /// run).
    pub fn register(&mut self, name: &str, kind: impl ModifierKind + 'static) {
        assert!(
            !BUILT_IN_MODIFIERS.contains(&name),
            "`{name}` is a built-in modifier kind; register yours under another name"
        );
        self.kinds.insert(name.to_string(), Arc::new(kind));
    }

    /// The kind `name`; the error lists every kind a recipe can name.
    pub fn get(&self, name: &str, index: usize) -> Result<Arc<dyn ModifierKind>, TrainError> {
        self.kinds.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = BUILT_IN_MODIFIERS
                .into_iter()
                .chain(self.kinds.keys().map(String::as_str))
                .collect();
            TrainError::Invalid {
                field: format!("modifiers[{index}].kind"),
                value: name.to_string(),
                message: format!("no such modifier kind; known: {}", known.join(", ")),
            }
        })
    }
}
