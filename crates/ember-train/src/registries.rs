//! Every name a recipe can use, resolved through one bundle of registries.

use ember_sparsity::solve::SolverRegistry;
use ember_sparsity::{PatternRegistry, ScorerRegistry};

use crate::ModelRegistry;
use crate::recipe::{ModifierKind, ModifierRegistry};

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

    /// The same registries with the modifier kind `name` added.
    pub fn with_modifier(mut self, name: &str, kind: impl ModifierKind + 'static) -> Self {
        self.modifiers.register(name, kind);
        self
    }
}
