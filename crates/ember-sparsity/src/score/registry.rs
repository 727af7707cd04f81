use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Lamp, Magnitude, Movement, Random, Scorer, Snip, SnipMomentum, Wanda};
use crate::SparsityError;

type Factory = Arc<dyn Fn() -> Arc<dyn Scorer> + Send + Sync>;

/// Maps the scorer names used in recipes to scorers.
///
/// [`ScorerRegistry::default`] knows `magnitude`, `random`, `snip`, `snip_momentum`,
/// `movement`, `lamp` and `wanda`; register your own with
/// [`ScorerRegistry::register`].
#[derive(Clone)]
pub struct ScorerRegistry {
    factories: BTreeMap<String, Factory>,
}

impl std::fmt::Debug for ScorerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl Default for ScorerRegistry {
    fn default() -> Self {
        let mut registry = Self {
            factories: BTreeMap::new(),
        };
        registry.register("magnitude", || Arc::new(Magnitude));
        registry.register("random", || Arc::new(Random));
        registry.register("snip", || Arc::new(Snip));
        registry.register("snip_momentum", || Arc::new(SnipMomentum::default()));
        registry.register("movement", || Arc::new(Movement));
        registry.register("lamp", || Arc::new(Lamp));
        registry.register("wanda", || Arc::new(Wanda));
        registry
    }
}

impl ScorerRegistry {
    /// Makes `name` build a scorer with `factory` (replacing any earlier entry).
    pub fn register<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn() -> Arc<dyn Scorer> + Send + Sync + 'static,
    {
        self.factories.insert(name.to_string(), Arc::new(factory));
        self
    }

    /// The scorer registered as `name`.
    pub fn get(&self, name: &str) -> Result<Arc<dyn Scorer>, SparsityError> {
        self.factories
            .get(name)
            .map(|factory| factory())
            .ok_or_else(|| SparsityError::UnknownScorer {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.factories.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = ScorerRegistry::default()
            .get("magnitud")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("magnitud")
                && err.contains("lamp, magnitude, movement, random, snip, snip_momentum, wanda"),
            "{err}"
        );
    }
}
