//! Every name a recipe can use, resolved through one bundle of registries.

use ember_oneshot::solve::SolverRegistry;
use ember_sparsity::{PatternRegistry, ScorerRegistry};

use crate::recipe::{ModifierKind, ModifierRegistry};
use crate::{ModelRegistry, Recipe, TrainError};

/// The registries a run resolves a recipe's names with: `[model] kind` in `models`,
/// `[[modifiers]] kind` beyond the built-in ones in `modifiers`, `scorer` in `scorers` and
/// `pattern` in `patterns`. `ember_zoo::registries()` is the bundle the `ember` binary runs
/// with; a program adds its own entries to it.
#[derive(Debug, Clone, Default)]
pub struct Registries {
    /// Model families.
    pub models: ModelRegistry,
    /// Modifier kinds of one's own.
    pub modifiers: ModifierRegistry,
    /// Scorers (the built-in ones and any registered).
    pub scorers: ScorerRegistry,
    /// Patterns (the built-in ones and any registered).
    pub patterns: PatternRegistry,
    /// One-shot solvers of `layerwise` modifiers (`magnitude`, `wanda` and any registered).
    pub solvers: SolverRegistry,
}

impl Registries {
    /// The model families of `models`, the built-in modifiers, scorers and patterns.
    pub fn new(models: ModelRegistry) -> Self {
        Self {
            models,
            ..Self::default()
        }
    }

    /// These registries with what the recipe's model family adds to them
    /// ([`ModelEntry::extend_registries`](crate::ModelEntry::extend_registries)); unchanged
    /// for a family that is not registered (its name is refused where it is looked up).
    pub fn for_recipe(&self, recipe: &Recipe) -> Result<Registries, TrainError> {
        let mut extended = self.clone();
        if let Ok(entry) = self.models.get(recipe.model.name()) {
            entry.extend_registries(recipe, &mut extended)?;
        }
        Ok(extended)
    }

    /// The same registries with the modifier kind `name` added.
    pub fn with_modifier(mut self, name: &str, kind: impl ModifierKind + 'static) -> Self {
        self.modifiers.register(name, kind);
        self
    }
}
